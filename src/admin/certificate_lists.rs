//! `GET /certificates/`: one page of certificates, optionally only those with a status or an
//! owner (walked in that index in Redis); owners shown by name.

use std::collections::HashMap;

use axum::extract::{Query, State};

use super::auth::Caller;
use super::error::ApiError;
use super::pages::Page;
use super::AdminState;
use crate::certs::model::{CertStatus, CertificateView};
use crate::store::name_pages::CertFilter;

/// `GET /certificates/`: every certificate, without PEM fields.
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    let page = Page::from_query(&query)?;
    let filter = list_filter(&state, &caller, &query).await?;
    let found = match &filter {
        None => {
            state
                .store
                .certificates_page(page.after.as_deref(), page.limit)
                .await?
        }
        Some((filter, _)) => {
            state
                .store
                .certificates_page_where(filter, page.after.as_deref(), page.limit)
                .await?
        }
    };
    let mut views: Vec<CertificateView> = found
        .items
        .iter()
        .map(|r| r.view(caller.owns(&r.owner_token_hash)))
        .collect();
    name_owners(&state, &mut views).await?;
    let path = match &filter {
        None => "/certificates/".to_owned(),
        Some((_, query)) => format!("/certificates/?{query}"),
    };
    Ok(page.answer(&path, views, found.next_after))
}

/// `?status=` or `?owner=` (not both), as an index filter and the query text that repeats it
/// in the next page's link. `owner=me` is the caller; the admin may also name `admin` or a
/// token; other tokens may ask for their own only.
async fn list_filter(
    state: &AdminState,
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<Option<(CertFilter, String)>, ApiError> {
    match (query.get("status"), query.get("owner")) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "owner",
            "filter by status or by owner, not both",
        )),
        (Some(status), None) => {
            let parsed = match status.as_str() {
                "pending" => CertStatus::Pending,
                "active" => CertStatus::Active,
                "failed" => CertStatus::Failed,
                "expired" => CertStatus::Expired,
                _ => {
                    return Err(ApiError::invalid(
                        "status",
                        "must be pending, active, failed or expired",
                    ))
                }
            };
            Ok(Some((
                CertFilter::Status(parsed),
                format!("status={status}"),
            )))
        }
        (None, Some(owner)) => {
            let hash = match owner.as_str() {
                "me" => caller.token_hash.clone(),
                _ if !caller.is_admin => {
                    return Err(ApiError::Forbidden(
                        "a token other than the admin may list by owner=me only".into(),
                    ))
                }
                "admin" => state.admin_hash().await?,
                name => state
                    .store
                    .list_tokens()
                    .await?
                    .into_iter()
                    .find(|t| t.name == name)
                    .map(|t| t.token_hash)
                    .ok_or_else(|| {
                        ApiError::invalid("owner", format!("no token named {name:?}"))
                    })?,
            };
            let shown = if owner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                owner.clone()
            } else {
                "me".to_owned()
            };
            Ok(Some((CertFilter::Owner(hash), format!("owner={shown}"))))
        }
    }
}

/// Fills in `owner` (by name) wherever `owner_token_hash` is shown: `admin`, the token's name,
/// or the owner as stored when it is not a token (`on-demand`).
pub(super) async fn name_owners(
    state: &AdminState,
    views: &mut [CertificateView],
) -> Result<(), ApiError> {
    if views.iter().all(|v| v.owner_token_hash.is_none()) {
        return Ok(());
    }
    let admin = state.admin_hash().await?;
    let tokens: HashMap<String, String> = state
        .store
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| (t.token_hash, t.name))
        .collect();
    for view in views.iter_mut() {
        let Some(hash) = &view.owner_token_hash else {
            continue;
        };
        view.owner = Some(if *hash == admin {
            "admin".to_owned()
        } else if let Some(name) = tokens.get(hash) {
            name.clone()
        } else if !hash.starts_with("sha256:") {
            hash.clone()
        } else {
            "(deleted token)".to_owned()
        });
    }
    Ok(())
}
