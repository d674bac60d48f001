//! What a CA's directory says about it (`meta`): the certificate profiles it offers (the ACME
//! profiles extension, `meta.profiles`), so that a create naming a profile the CA does not list
//! is refused at once with the list; and the domain names it identifies itself by
//! (`meta.caaIdentities`), which a dns-persist-01 record names. Cached for an hour per
//! directory URL.

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

/// The `meta` of each directory URL asked for, with when it was read.
pub struct ProfileCatalog {
    http: AcmeHttp,
    cache: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
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
        let meta = self.meta(directory_url).await?;
        Ok(meta["profiles"]
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
            .unwrap_or_default())
    }

    /// The domain names the CA of `directory_url` identifies itself by (`meta.caaIdentities`,
    /// RFC 8555 §7.1.1), in its order; empty when it lists none.
    pub async fn issuer_domain_names(&self, directory_url: &str) -> Result<Vec<String>, String> {
        let meta = self.meta(directory_url).await?;
        Ok(meta["caaIdentities"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The directory's `meta` object (`null` when it has none), from the cache when fresh.
    async fn meta(&self, directory_url: &str) -> Result<serde_json::Value, String> {
        if let Some((at, meta)) = self
            .cache
            .lock()
            .expect("directory cache")
            .get(directory_url)
        {
            if at.elapsed() < CACHE_FOR {
                return Ok(meta.clone());
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
        let meta = directory["meta"].clone();
        self.cache
            .lock()
            .expect("directory cache")
            .insert(directory_url.to_owned(), (Instant::now(), meta.clone()));
        Ok(meta)
    }
}
