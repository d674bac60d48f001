//! dns-01 through PowerDNS Authoritative's HTTP API (`PDNS_API_URL`, `PDNS_API_KEY`,
//! `PDNS_SERVER_ID`): the `_acme-challenge` TXT rrset is read and replaced with the challenge's
//! value added (a certificate for `example.com` and `*.example.com` needs two values under one
//! name) or removed, in the zone the server holds that is the longest suffix of the name.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::certs::issuer::IssueError;
use crate::config::PowerDnsApi;
use crate::tls::outbound::BodyClient;

/// One API call's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// TTL of the challenge records.
const RECORD_TTL: u32 = 60;

/// Publishes and removes challenge records through the PowerDNS API.
pub struct PowerDns {
    settings: PowerDnsApi,
    client: BodyClient,
}

impl std::fmt::Debug for PowerDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerDns")
            .field("api", &self.settings.url)
            .field("server_id", &self.settings.server_id)
            .finish_non_exhaustive()
    }
}

/// The record's owner for `name`, fully qualified.
fn owner(name: &str) -> String {
    format!("_acme-challenge.{}.", name.trim_start_matches("*."))
}

impl PowerDns {
    /// A provider talking to the API in `settings`.
    pub fn new(settings: PowerDnsApi) -> PowerDns {
        PowerDns {
            settings,
            client: crate::tls::outbound::body_client(REQUEST_TIMEOUT),
        }
    }

    /// Adds `value` to the TXT rrset proving `name`.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        let fqdn = owner(name);
        let zone = self.zone_for(&fqdn).await?;
        self.add_at(&zone, &fqdn, value).await
    }

    /// Adds `value` to the TXT rrset of `owner` (no trailing dot): a dns-persist-01 record,
    /// which stays and is not noted for the sweep.
    pub async fn add_persistent(&self, owner: &str, value: &str) -> Result<(), IssueError> {
        let fqdn = format!("{owner}.");
        let zone = self.zone_for(&fqdn).await?;
        self.add_at(&zone, &fqdn, value).await
    }

    /// Adds `value` to the TXT rrset under `fqdn` in `zone` (kept when already there).
    async fn add_at(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), IssueError> {
        let mut values = self.txt_values(zone, fqdn).await?;
        let quoted = format!("\"{value}\"");
        if !values.contains(&quoted) {
            values.push(quoted);
        }
        self.replace(zone, fqdn, &values, "adding").await
    }

    /// Removes `value` from it (the rrset goes when it was the last).
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        let fqdn = owner(name);
        let zone = self.zone_for(&fqdn).await?;
        let quoted = format!("\"{value}\"");
        let values: Vec<String> = self
            .txt_values(&zone, &fqdn)
            .await?
            .into_iter()
            .filter(|v| v != &quoted)
            .collect();
        self.replace(&zone, &fqdn, &values, "removing").await
    }

    /// The server's zone that is the longest suffix of `fqdn`.
    async fn zone_for(&self, fqdn: &str) -> Result<String, IssueError> {
        let zones = self
            .call(Method::GET, "zones", None, "listing zones")
            .await?;
        zones
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|z| z["name"].as_str())
            .filter(|zone| fqdn.ends_with(&format!(".{zone}")) || fqdn == *zone)
            .max_by_key(|zone| zone.len())
            .map(str::to_owned)
            .ok_or_else(|| {
                IssueError::Rejected(format!(
                    "PowerDNS server {:?} at {} holds no zone for {fqdn}",
                    self.settings.server_id, self.settings.url
                ))
            })
    }

    /// The TXT values (quoted, as PowerDNS stores them) under `fqdn` now.
    async fn txt_values(&self, zone: &str, fqdn: &str) -> Result<Vec<String>, IssueError> {
        let path = format!("zones/{zone}");
        let zone_data = self
            .call(Method::GET, &path, None, "reading the zone")
            .await?;
        Ok(zone_data["rrsets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["name"] == fqdn && r["type"] == "TXT")
            .flat_map(|r| r["records"].as_array().cloned().unwrap_or_default())
            .filter_map(|record| record["content"].as_str().map(str::to_owned))
            .collect())
    }

    /// Replaces the TXT rrset under `fqdn` with `values` (deletes it when empty).
    async fn replace(
        &self,
        zone: &str,
        fqdn: &str,
        values: &[String],
        doing: &str,
    ) -> Result<(), IssueError> {
        let rrset = if values.is_empty() {
            json!({ "name": fqdn, "type": "TXT", "changetype": "DELETE" })
        } else {
            let records: Vec<Value> = values
                .iter()
                .map(|v| json!({ "content": v, "disabled": false }))
                .collect();
            json!({ "name": fqdn, "type": "TXT", "ttl": RECORD_TTL, "changetype": "REPLACE", "records": records })
        };
        let body = json!({ "rrsets": [rrset] });
        let what = format!("{doing} the dns-01 record {fqdn}");
        self.call(Method::PATCH, &format!("zones/{zone}"), Some(body), &what)
            .await?;
        tracing::debug!(fqdn, zone, doing, "dns-01 record changed through PowerDNS");
        Ok(())
    }

    /// One API call under `/api/v1/servers/{id}/`; its JSON answer (`null` when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        doing: &str,
    ) -> Result<Value, IssueError> {
        let url = format!(
            "{}/api/v1/servers/{}/{path}",
            self.settings.url.trim_end_matches('/'),
            self.settings.server_id
        );
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(&url)
            .header("x-api-key", self.settings.api_key.expose())
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .map_err(|e| IssueError::Rejected(format!("PDNS_API_URL {url}: {e}")))?;
        let unreachable = |e: String| {
            IssueError::Transient(format!("PowerDNS API {url} unreachable when {doing}: {e}"))
        };
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unreachable("no answer in time".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            return Ok(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        let detail = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let hint = if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            " (check PDNS_API_KEY)"
        } else {
            ""
        };
        let error =
            format!("the PowerDNS API at {url} answered {status} when {doing}{hint}: {detail}");
        Err(if status.is_server_error() {
            IssueError::Transient(error)
        } else {
            IssueError::Rejected(error)
        })
    }
}
