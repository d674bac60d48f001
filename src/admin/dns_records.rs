//! `GET /certificates/{name}/dns-records`: what the operator publishes once, before issuance can
//! succeed, for a certificate validated by dns-persist-01.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::certificates::owned_record;
use super::error::ApiError;
use super::AdminState;
use crate::certs::issuer::IssueError;
use crate::certs::model::ChallengeKind;

/// How long the answer may wait for the CA's directory.
const CA_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /certificates/{name}/dns-records` → `200 {cert_name, challenge, records: [{domains,
/// name, type, value}]}`; `409` for a certificate validated otherwise, or whose ACME account
/// its first order has not registered yet; `502` when the CA's directory cannot be read within
/// 5 s (the records name the CA).
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = owned_record(&state, &caller, &name).await?;
    if record.challenge != ChallengeKind::DnsPersist01 {
        return Err(ApiError::Conflict {
            detail: format!(
                "{name:?} is validated by {}, which publishes its own records per order; only \
                 dns-persist-01 certificates have records to publish once",
                record.challenge
            ),
            routes: None,
        });
    }
    let asked = tokio::time::timeout(CA_WAIT, state.lifecycle.dns_records(&record)).await;
    let records = match asked {
        Ok(Ok(Some(records))) => records,
        Ok(Ok(None)) => {
            return Err(ApiError::Conflict {
                detail: format!(
                    "{name:?} has no ACME account yet: its first order registers it, and the \
                     records name it; ask again once a generation has run"
                ),
                routes: None,
            })
        }
        Ok(Err(IssueError::Storage(e))) => return Err(e.into()),
        Ok(Err(other)) => {
            return Err(ApiError::CaUnavailable(format!(
                "the records name the CA and the ACME account, which could not be read: {other}"
            )))
        }
        Err(_) => {
            return Err(ApiError::CaUnavailable(format!(
            "the CA's directory did not answer within {} s (the records name the CA); try again",
            CA_WAIT.as_secs()
        )))
        }
    };
    Ok(Json(json!({
        "cert_name": name,
        "challenge": record.challenge.as_str(),
        "records": records,
    })))
}
