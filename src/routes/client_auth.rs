//! `client_auth` on a route (mTLS): the handshake for the route's hostname asks for a client
//! certificate and verifies it against the route's CA certificates (and CRLs). The record as
//! stored and shown, and its checks; `tls::client_auth` builds the verifier.

use serde::{Deserialize, Serialize};

use crate::certs::validate::FieldError;

/// Whether a client without a valid certificate is let through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMode {
    /// A handshake without a certificate the CA verifies fails.
    #[default]
    Require,
    /// A certificate is asked for and verified when sent; a client that sends none gets through
    /// unauthenticated (and nothing is forwarded for it).
    Request,
}

/// A route's client certificate policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    /// `require` (default) or `request`.
    #[serde(default)]
    pub mode: ClientAuthMode,
    /// The CA certificates (PEM) a client certificate must chain to.
    pub ca_pem: String,
    /// Certificate revocation lists (PEM) of those CAs: a listed certificate is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_pem: Option<String>,
    /// Where CRLs are fetched from (`http://` or `https://`): one instance fetches each for
    /// the cluster, at the CRL's `nextUpdate` or every `CRL_REFRESH_SECONDS`, whichever is
    /// sooner, and every instance uses it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crl_urls: Vec<String>,
    /// What a handshake meets while a CRL is past its `nextUpdate` (or a URL's CRL was never
    /// fetched): `deny` (default) refuses every certificate, `allow` ignores that CRL.
    #[serde(default, skip_serializing_if = "CrlStale::is_deny")]
    pub crl_stale: CrlStale,
    /// Send the verified certificate upstream as RFC 9440 `Client-Cert` (and its chain as
    /// `Client-Cert-Chain`).
    #[serde(default)]
    pub forward: bool,
}

/// A route's answer to a CRL it cannot trust to be current.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrlStale {
    /// Fail closed: no certificate is accepted while the CRL is stale or missing.
    #[default]
    Deny,
    /// Fail open: the stale or missing CRL is left out of the check.
    Allow,
}

impl CrlStale {
    fn is_deny(&self) -> bool {
        *self == CrlStale::Deny
    }
}

/// Most `crl_urls` on one route.
pub const MAX_CRL_URLS: usize = 8;

/// Longest `ca_pem` or `crl_pem` accepted (a route body is at most 64 KiB).
pub const MAX_PEM_BYTES: usize = 32 * 1024;

/// DER certificates of a PEM text; an error naming `field` when there are none or one is
/// unreadable.
pub fn certificates(
    field: &str,
    pem: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, FieldError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_bytes()).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(FieldError::new(field, "holds no PEM certificate")),
        Err(e) => Err(FieldError::new(field, format!("unreadable PEM: {e}"))),
    }
}

/// DER CRLs of a PEM text; an error naming `field` when there are none or one is unreadable.
pub fn crls(
    field: &str,
    pem: &str,
) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>, FieldError> {
    let crls: Result<Vec<_>, _> = rustls_pemfile::crls(&mut pem.as_bytes()).collect();
    match crls {
        Ok(crls) if !crls.is_empty() => Ok(crls),
        Ok(_) => Err(FieldError::new(field, "holds no PEM X509 CRL")),
        Err(e) => Err(FieldError::new(field, format!("unreadable PEM: {e}"))),
    }
}

/// Checks sizes and the CRL URLs. The PEM texts are read once, where the verifier is built
/// from them (`tls::client_auth::verifier`, which names the field at fault).
pub fn check(auth: &ClientAuth) -> Result<(), FieldError> {
    if auth.ca_pem.len() > MAX_PEM_BYTES {
        return Err(FieldError::new(
            "client_auth.ca_pem",
            format!("at most {MAX_PEM_BYTES} bytes"),
        ));
    }
    if let Some(crl) = &auth.crl_pem {
        if crl.len() > MAX_PEM_BYTES {
            return Err(FieldError::new(
                "client_auth.crl_pem",
                format!("at most {MAX_PEM_BYTES} bytes"),
            ));
        }
    }
    if auth.crl_urls.len() > MAX_CRL_URLS {
        return Err(FieldError::new(
            "client_auth.crl_urls",
            format!("at most {MAX_CRL_URLS} URLs"),
        ));
    }
    for (i, url) in auth.crl_urls.iter().enumerate() {
        if auth.crl_urls[..i].contains(url) {
            return Err(FieldError::new(
                "client_auth.crl_urls",
                format!("{url:?} is listed twice"),
            ));
        }
        let parsed = url.parse::<http::Uri>().ok().filter(|u| {
            matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some()
        });
        if parsed.is_none() || url.len() > 2048 {
            return Err(FieldError::new(
                "client_auth.crl_urls",
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
    }
    Ok(())
}
