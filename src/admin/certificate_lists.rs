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
                .certs()
                .page(page.after.as_deref(), page.limit)
                .await?
        }
        Some((filter, _)) => {
            state
                .store
                .certs()
                .page_where(filter, page.after.as_deref(), page.limit)
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

/// `?status=` and `?owner=` (either, or both: the certificates matching both), as an index
/// filter and the query text that repeats it in the next page's link. `owner=me` is the
/// caller; the admin may also name `admin` or a token; other tokens may ask for their own only.
async fn list_filter(
    state: &AdminState,
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<Option<(CertFilter, String)>, ApiError> {
    let status = match query.get("status").map(String::as_str) {
        None => None,
        Some("pending") => Some(CertStatus::Pending),
        Some("active") => Some(CertStatus::Active),
        Some("failed") => Some(CertStatus::Failed),
        Some("expired") => Some(CertStatus::Expired),
        Some(_) => {
            return Err(ApiError::invalid(
                "status",
                "must be pending, active, failed or expired",
            ))
        }
    };
    let owner = match query.get("owner") {
        None => None,
        Some(owner) => Some((owner_hash(state, caller, owner).await?, owner)),
    };
    let mut repeated = Vec::new();
    if let Some(status) = &status {
        repeated.push(format!(
            "status={}",
            crate::store::status_counts::field(*status)
        ));
    }
    if let Some((_, owner)) = &owner {
        let shown = if owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            owner.as_str()
        } else {
            "me"
        };
        repeated.push(format!("owner={shown}"));
    }
    if status.is_none() && owner.is_none() {
        return Ok(None);
    }
    let filter = CertFilter {
        status,
        owner: owner.map(|(hash, _)| hash),
    };
    Ok(Some((filter, repeated.join("&"))))
}

/// The token hash `?owner=` names: `me`; for the admin also `admin` or a token's name (`409`
/// when no token has that name).
async fn owner_hash(state: &AdminState, caller: &Caller, owner: &str) -> Result<String, ApiError> {
    match owner {
        "me" => Ok(caller.token_hash.clone()),
        _ if !caller.is_admin => Err(ApiError::Forbidden(
            "a token other than the admin may list by owner=me only".into(),
        )),
        "admin" => state.admin_hash().await,
        name => state
            .store
            .tokens()
            .list()
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.token_hash)
            .ok_or_else(|| ApiError::unavailable("owner", format!("no token named {name:?}"))),
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
        .tokens()
        .list()
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
