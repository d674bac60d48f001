//! `/certificates/…`: create, list, show, status, renew, delete (`docs/api.md`, "Certificates").

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::body::ApiJson;
use super::certificate_lists::name_owners;
use super::error::ApiError;
use super::AdminState;
use crate::certs::issuer::RevocationReason;
use crate::certs::model::{
    CertificateRecord, CertificateView, ChallengeKind, DnsProviderKind, GenerationStatus,
    IssuerKind, KeyType,
};
use crate::certs::validate;
use crate::lifecycle::{Created, Deleted, RevokeError};
use crate::timefmt;

/// The body of both create endpoints: `domain` for `POST /certificates/`, `domains` for
/// `POST /certificates/multi-domain` (each endpoint refuses the other's field).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    cert_name: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    domains: Option<Vec<String>>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    staging: bool,
    #[serde(default)]
    acme_directory_url: Option<String>,
    #[serde(default)]
    issuer: Option<IssuerKind>,
    #[serde(default)]
    key_type: Option<KeyType>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    dns_provider: Option<String>,
}

/// `POST /certificates/`: one domain.
pub async fn create_single(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    if body.domains.is_some() {
        return Err(ApiError::invalid(
            "domains",
            "unknown field `domains` here; use POST /certificates/multi-domain",
        ));
    }
    let domain = body
        .domain
        .take()
        .ok_or_else(|| ApiError::invalid("domain", "missing field `domain`"))?;
    create(state, caller, "domain", vec![domain], body).await
}

/// `POST /certificates/multi-domain`: 1 to 100 domains.
pub async fn create_multi(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    if body.domain.is_some() {
        return Err(ApiError::invalid(
            "domain",
            "unknown field `domain` here; send `domains`",
        ));
    }
    let domains = body
        .domains
        .take()
        .ok_or_else(|| ApiError::invalid("domains", "missing field `domains`"))?;
    create(state, caller, "domains", domains, body).await
}

async fn create(
    state: AdminState,
    caller: Caller,
    domains_field: &str,
    domains: Vec<String>,
    options: CreateBody,
) -> Result<impl IntoResponse, ApiError> {
    let cert_name = options.cert_name.clone();
    validate::cert_name(&cert_name)?;
    let issuer = options.issuer.unwrap_or(IssuerKind::Acme);
    let challenge = challenge_for(&state, issuer, options.challenge.as_deref())?;
    let dns_provider = dns_provider_for(&state, challenge, options.dns_provider.as_deref())?;
    let domains = validate::domains(
        domains_field,
        &domains,
        validate::NameRules::new(issuer, challenge),
    )?;
    let email = options.email.as_deref().map(validate::email).transpose()?;
    let directory_url = directory_for(&state, &caller, issuer, &options)?;
    let profile = profile_for(&state, directory_url.as_deref(), options.profile.as_deref()).await?;
    if state.store.certs().get(&cert_name).await?.is_some() {
        return Err(name_taken(&cert_name));
    }
    let now = timefmt::now_string();
    let record = CertificateRecord {
        email,
        acme_directory_url: directory_url,
        staging: options.staging,
        profile,
        challenge,
        dns_provider,
        ..CertificateRecord::pending(
            &cert_name,
            domains,
            issuer,
            options
                .key_type
                .unwrap_or(state.config.certificates.key_type),
            &caller.token_hash,
            &now,
        )
    };
    match state
        .lifecycle
        .create_certificate(&record, caller.is_admin)
        .await?
    {
        Created::Queued => {}
        Created::NameTaken => return Err(name_taken(&cert_name)),
        Created::HostnameClaimed(host) => return Err(hostname_claimed(&host)),
    }
    Ok(accepted(&cert_name, "pending"))
}

/// The ACME directory the certificate is ordered from: `acme_directory_url` (admin only), else
/// the staging or production one; none for the self-signed issuer.
fn directory_for(
    state: &AdminState,
    caller: &Caller,
    issuer: IssuerKind,
    options: &CreateBody,
) -> Result<Option<String>, ApiError> {
    Ok(match (&options.acme_directory_url, issuer) {
        (Some(_), _) if !caller.is_admin => {
            return Err(ApiError::Forbidden(
                "only the admin token may set acme_directory_url".into(),
            ))
        }
        (Some(url), _) if !is_https_url(url) => {
            return Err(ApiError::invalid(
                "acme_directory_url",
                "must be an https:// URL",
            ))
        }
        (_, IssuerKind::SelfSigned) => None,
        (Some(url), IssuerKind::Acme) => Some(url.clone()),
        (None, IssuerKind::Acme) if options.staging => Some(state.config.acme.staging_url.clone()),
        (None, IssuerKind::Acme) => Some(state.config.acme.directory_url.clone()),
    })
}

/// The profile to order with: the one asked for, else `ACME_PROFILE`, checked against what the
/// CA at `directory` lists; none for the self-signed issuer (which refuses one).
async fn profile_for(
    state: &AdminState,
    directory: Option<&str>,
    requested: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match (directory, requested) {
        (None, Some(_)) => Err(ApiError::invalid(
            "profile",
            "profiles are offered by ACME CAs; the self-signed issuer has none",
        )),
        (None, None) => Ok(None),
        (Some(directory), requested) => {
            let profile = requested
                .map(str::to_owned)
                .or(state.config.acme.profile.clone());
            if let Some(name) = &profile {
                check_profile(state, directory, name).await?;
            }
            Ok(profile)
        }
    }
}

/// Refuses a profile the CA at `directory` does not list, naming the ones it does.
async fn check_profile(state: &AdminState, directory: &str, name: &str) -> Result<(), ApiError> {
    if !crate::config::is_profile_name(name) {
        return Err(ApiError::invalid(
            "profile",
            "must be 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    let offered = match state.profiles.profiles(directory).await {
        Ok(offered) => offered,
        Err(why) => {
            // The CA cannot be asked now; its own answer to the order will say if the profile
            // is wrong. A CA that is down must not stop certificates from being recorded.
            tracing::warn!(profile = name, error = %why, "profile not checked: the CA's directory is unreadable");
            return Ok(());
        }
    };
    if offered.contains_key(name) {
        return Ok(());
    }
    let list = if offered.is_empty() {
        "it offers no profiles".to_owned()
    } else {
        format!(
            "it offers: {}",
            offered.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    Err(ApiError::unavailable(
        "profile",
        format!("the CA at {directory} has no profile {name:?}; {list}"),
    ))
}

/// `403` for a hostname that another token's certificate or route named first, or that its
/// wildcard covers (or, for a wildcard, one of its names).
pub(super) fn hostname_claimed(conflict: &crate::store::claims::Conflict) -> ApiError {
    ApiError::Forbidden(conflict.to_string())
}

/// An absolute `https://` URL with a host that the ACME client can use as it is (instant-acme
/// panics on a URL that does not parse: the fuzzer found one).
fn is_https_url(url: &str) -> bool {
    url.parse::<http::Uri>()
        .is_ok_and(|u| u.scheme_str() == Some("https") && u.host().is_some_and(|h| !h.is_empty()))
}

fn name_taken(name: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!("a certificate named {name:?} exists"),
        routes: None,
    }
}

fn accepted(name: &str, status: &str) -> impl IntoResponse {
    let body = json!({
        "cert_name": name,
        "status": status,
        "status_url": format!("/certificates/{name}/status"),
    });
    (StatusCode::ACCEPTED, Json(body))
}

/// Parses a `true`/`false` query flag, naming it when it is neither.
pub(super) fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid(name, "must be true or false")),
    }
}

/// `GET /certificates/{name}[?pem=true][&chain=true]`.
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<CertificateView>, ApiError> {
    let pem = flag(&query, "pem")?;
    let chain = flag(&query, "chain")?;
    let (record, key) = state
        .store
        .certs()
        .get_with_key(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    let owner = caller.owns(&record.owner_token_hash);
    let mut view = record.view(owner);
    if pem {
        if !owner {
            return Err(ApiError::Forbidden(
                "only the owner of this certificate or the admin may read its private key".into(),
            ));
        }
        view.fullchain_pem = record.fullchain_pem.clone();
        view.private_key_pem = key;
    }
    if chain {
        view.chain = Some(
            record
                .fullchain_pem
                .as_deref()
                .and_then(|pem| crate::certs::pem::chain_entries(pem).ok())
                .unwrap_or_default(),
        );
    }
    name_owners(&state, std::slice::from_mut(&mut view)).await?;
    Ok(Json(view))
}

/// Certificate `name`, when it exists and `caller` owns it (or is the admin).
pub(super) async fn owned_record(
    state: &AdminState,
    caller: &Caller,
    name: &str,
) -> Result<CertificateRecord, ApiError> {
    let record = state
        .store
        .certs()
        .get(name)
        .await?
        .ok_or_else(|| not_found(name))?;
    caller.require_owner(&record.owner_token_hash, "this certificate")?;
    Ok(record)
}

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("no certificate named {name:?}"))
}

/// `GET /certificates/{name}/status`: the latest generation, kept for the retention period.
pub async fn status(
    State(state): State<AdminState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<GenerationStatus>, ApiError> {
    state
        .store
        .certs()
        .generation_status(&name)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no generation status for {name:?} (none, or retention over)"
            ))
        })
}

/// `POST /certificates/{name}/renew` → `202`; joins a generation already under way.
pub async fn renew(
    State(state): State<AdminState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    owned_record(&state, &caller, &name).await?;
    state.lifecycle.renew(&name, "renewal requested").await?;
    let current = state.store.certs().generation_status(&name).await?;
    let word = current.map_or("pending", |s| s.status.as_str());
    tracing::info!(cert_name = %name, "renewal requested");
    Ok(accepted(&name, word))
}

/// The validation method of a new certificate: `http-01` unless the body names another. Only
/// ACME certificates have one; `dns-01` needs the DNS update settings.
fn challenge_for(
    state: &AdminState,
    issuer: IssuerKind,
    requested: Option<&str>,
) -> Result<ChallengeKind, ApiError> {
    let Some(text) = requested else {
        return Ok(ChallengeKind::Http01);
    };
    let challenge: ChallengeKind = text.parse().map_err(|()| {
        let known: Vec<&str> = ChallengeKind::ALL.iter().map(|c| c.as_str()).collect();
        ApiError::invalid("challenge", format!("must be one of {}", known.join(", ")))
    })?;
    if issuer == IssuerKind::SelfSigned {
        return Err(ApiError::invalid(
            "challenge",
            "the self-signed issuer validates nothing; challenges are for ACME certificates",
        ));
    }
    let no_provider = state.config.acme.configured_dns_providers().is_empty();
    if challenge == ChallengeKind::Dns01 && no_provider {
        return Err(ApiError::unavailable(
            "challenge",
            "dns-01 needs DNS_UPDATE_SERVER, DNS_TSIG_KEY_NAME and DNS_TSIG_SECRET, or PDNS_API_URL and PDNS_API_KEY, or DNS_EXEC_PROGRAM, set on the instances",
        ));
    }
    Ok(challenge)
}

/// `dns_provider`: one of the providers configured here, for a dns-01 or dns-persist-01
/// certificate only.
fn dns_provider_for(
    state: &AdminState,
    challenge: ChallengeKind,
    requested: Option<&str>,
) -> Result<Option<DnsProviderKind>, ApiError> {
    let Some(text) = requested else {
        return Ok(None);
    };
    if !challenge.is_dns() {
        return Err(ApiError::invalid(
            "dns_provider",
            format!("only dns-01 and dns-persist-01 publish DNS records, not {challenge}"),
        ));
    }
    let kind: DnsProviderKind = text.parse().map_err(|()| {
        let known: Vec<&str> = DnsProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::invalid(
            "dns_provider",
            format!("must be one of {}", known.join(", ")),
        )
    })?;
    if !state.config.acme.configured_dns_providers().contains(&kind) {
        return Err(ApiError::unavailable(
            "dns_provider",
            format!("the dns-01 provider {text} is not configured on the instances"),
        ));
    }
    Ok(Some(kind))
}

/// The body of `POST /certificates/{name}/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /certificates/{name}/revoke` → `202`: revoked at the CA, renewal started. `409` for a
/// certificate no CA holds; `502` when the CA refuses or cannot be reached (nothing changed).
pub async fn revoke(
    State(state): State<AdminState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let reason = match body.reason.as_deref() {
        None => RevocationReason::Unspecified,
        Some(text) => text.parse().map_err(|()| {
            let known: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.as_str()).collect();
            ApiError::invalid("reason", format!("must be one of {}", known.join(", ")))
        })?,
    };
    let record = owned_record(&state, &caller, &name).await?;
    let begin = state
        .lifecycle
        .revoke_certificate(&record, reason)
        .await
        .map_err(|e| match e {
            RevokeError::NothingToRevoke(detail) => ApiError::Conflict {
                detail,
                routes: None,
            },
            RevokeError::Ca(e) => ApiError::CaUnavailable(format!("the CA did not revoke it: {e}")),
            RevokeError::Storage(e) => e.into(),
        })?;
    tracing::info!(cert_name = %name, reason = reason.as_str(), renewal = ?begin, "certificate revoked");
    let current = state.store.certs().generation_status(&name).await?;
    let word = current.map_or("pending", |s| s.status.as_str());
    Ok(accepted(&name, word))
}

/// `DELETE /certificates/{name}[?force=true]` → `204`; `409` while routes use it, unless forced.
pub async fn remove(
    State(state): State<AdminState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let force = flag(&query, "force")?;
    let record = owned_record(&state, &caller, &name).await?;
    match state.lifecycle.delete_certificate(&record, force).await? {
        Deleted::Deleted => {}
        Deleted::InUse(routes) => {
            return Err(ApiError::Conflict {
                detail: format!(
                    "routes use certificate {name:?}; delete them first or pass force=true"
                ),
                routes: Some(routes),
            })
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
