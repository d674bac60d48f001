//! The certificate profiles a CA offers (the ACME profiles extension: `meta.profiles` of its
//! directory), read from the directory and cached for an hour per directory URL, so that a
//! create naming a profile the CA does not list is refused at once with the list.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use instant_acme::{BodyWrapper, HttpClient};

use super::http::AcmeHttp;

/// How long a directory's profile list is trusted.
const CACHE_FOR: Duration = Duration::from_secs(3600);

/// Profile name → description.
pub type Profiles = BTreeMap<String, String>;

/// The profiles of each directory URL asked for, with when they were read.
pub struct ProfileCatalog {
    http: AcmeHttp,
    cache: Mutex<HashMap<String, (Instant, Profiles)>>,
}

impl ProfileCatalog {
    /// An empty catalog; directories are read on first use.
    pub fn new(http: AcmeHttp) -> ProfileCatalog {
        ProfileCatalog {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The profiles `directory_url` lists (empty when the CA has no profiles extension); the
    /// error says why the directory could not be read.
    pub async fn profiles(&self, directory_url: &str) -> Result<Profiles, String> {
        if let Some((at, profiles)) = self.cache.lock().expect("profile cache").get(directory_url) {
            if at.elapsed() < CACHE_FOR {
                return Ok(profiles.clone());
            }
        }
        let request = http::Request::get(directory_url)
            // RFC 8555 §6.1: every ACME request carries one (Pebble refuses those without).
            .header(
                http::header::USER_AGENT,
                concat!("certgate/", env!("CARGO_PKG_VERSION")),
            )
            .body(BodyWrapper::<Bytes>::from(Vec::new()))
            .map_err(|e| format!("bad directory URL: {e}"))?;
        let mut response = self
            .http
            .request(request)
            .await
            .map_err(|e| format!("cannot read the ACME directory {directory_url}: {e}"))?;
        if !response.parts.status.is_success() {
            return Err(format!(
                "the ACME directory {directory_url} answered {}",
                response.parts.status
            ));
        }
        let body = response
            .body
            .into_bytes()
            .await
            .map_err(|e| format!("cannot read the ACME directory {directory_url}: {e}"))?;
        let directory: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the ACME directory {directory_url} is not JSON: {e}"))?;
        let profiles: Profiles = directory["meta"]["profiles"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(name, description)| {
                        (
                            name.clone(),
                            description.as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.cache
            .lock()
            .expect("profile cache")
            .insert(directory_url.to_owned(), (Instant::now(), profiles.clone()));
        Ok(profiles)
    }
}
