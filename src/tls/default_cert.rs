//! The certificate served for names nothing covers: self-signed, valid `SELF_SIGNED_DAYS`, made
//! at start-up, never stored, and renewed like any other certificate (when a third of its
//! lifetime remains, or `RENEWAL_THRESHOLD_DAYS` before expiry for a long one) by swapping it in
//! place, so a handshake always finds a valid one.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use super::certified::build;
use crate::certs::issuer::IssueRequest;
use crate::certs::model::KeyType;
use crate::certs::{pem, schedule, self_signed};
use crate::shutdown::Shutdown;

/// The name the default certificate carries (a reserved TLD: it never matches a real host).
pub const DEFAULT_NAME: &str = "certgate.invalid";

/// One default certificate and when it falls due.
struct Current {
    key: Arc<CertifiedKey>,
    due: OffsetDateTime,
}

/// The default certificate, swapped whole when renewed.
pub struct DefaultCert {
    current: ArcSwap<Current>,
    validity_days: u32,
    threshold_days: u32,
}

impl DefaultCert {
    /// Makes the first one.
    pub fn new(validity_days: u32, threshold_days: u32) -> DefaultCert {
        DefaultCert {
            current: ArcSwap::from_pointee(make(validity_days, threshold_days)),
            validity_days,
            threshold_days,
        }
    }

    /// The certificate to serve now.
    pub fn key(&self) -> Arc<CertifiedKey> {
        self.current.load().key.clone()
    }

    /// Replaces the certificate when it is due at `now`; whether it did.
    pub fn renew_if_due(&self, now: OffsetDateTime) -> bool {
        if self.current.load().due > now {
            return false;
        }
        self.current
            .store(Arc::new(make(self.validity_days, self.threshold_days)));
        tracing::info!("default certificate renewed");
        true
    }

    /// Checks hourly (or sooner, for a short validity) until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) {
        let period = Duration::from_secs(3600);
        loop {
            let due = self.current.load().due;
            let wait = (due - OffsetDateTime::now_utc())
                .try_into()
                .unwrap_or(Duration::ZERO)
                .min(period);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait() => return,
            }
            self.renew_if_due(OffsetDateTime::now_utc());
        }
    }
}

fn make(validity_days: u32, threshold_days: u32) -> Current {
    let request = IssueRequest {
        cert_name: "default".into(),
        domains: vec![DEFAULT_NAME.into()],
        key_type: KeyType::EcdsaP256,
        rsa_key_size: 2048,
        email: None,
        directory_url: None,
        profile: None,
        challenge: Default::default(),
        dns_provider: None,
        replacing_pem: None,
    };
    let issued = self_signed::sign(&request, validity_days).expect("ECDSA self-signed certificate");
    let leaf = pem::leaf_info(&issued.fullchain_pem).expect("own certificate parses");
    let (key, _) = build(&issued.fullchain_pem, issued.private_key_pem.expose())
        .expect("own certificate parses");
    Current {
        key,
        due: schedule::renewal_due_at(leaf.not_before, leaf.not_after, threshold_days),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewed_once_due_and_not_before() {
        let default = DefaultCert::new(1, 30);
        let first = default.key();
        assert!(!default.renew_if_due(OffsetDateTime::now_utc()));
        assert!(Arc::ptr_eq(&first, &default.key()));
        let later = OffsetDateTime::now_utc() + time::Duration::hours(17);
        assert!(default.renew_if_due(later));
        assert!(!Arc::ptr_eq(&first, &default.key()));
    }
}
