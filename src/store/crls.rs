//! CRLs fetched from routes' `client_auth.crl_urls`, shared by the cluster: the last one fetched
//! from each URL, and the lock one instance holds while it fetches (`cluster::crl_fetch`).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use fred::prelude::{Expiration, HashesInterface, KeysInterface, SetOptions};

use super::reads::ClusterReads;
use super::{StoreResult, StoreWriter};

/// A URL's key part: a digest, so any URL makes a short, safe key.
fn digest(url: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
    hex::encode(&hash.as_ref()[..16])
}

/// A CRL as stored: DER and when it was fetched (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrl {
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// When it was fetched (Unix milliseconds).
    pub fetched_at: i64,
}

impl ClusterReads<'_> {
    /// The CRL last fetched from `url` by any instance.
    pub async fn crl(self, url: &str) -> StoreResult<Option<StoredCrl>> {
        let fields: HashMap<String, String> =
            self.client.hgetall(self.keys.crl(&digest(url))).await?;
        let (Some(der), Some(fetched_at)) = (fields.get("der"), fields.get("fetched_at")) else {
            return Ok(None);
        };
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .map_err(|e| super::StoreError::Corrupt {
                key: self.keys.crl(&digest(url)),
                detail: e.to_string(),
            })?;
        Ok(Some(StoredCrl {
            der,
            fetched_at: fetched_at.parse().unwrap_or(0),
        }))
    }
}

impl StoreWriter {
    /// Stores the CRL just fetched from `url`.
    pub async fn put_crl(&self, url: &str, crl: &StoredCrl) -> StoreResult<()> {
        let der = base64::engine::general_purpose::STANDARD.encode(&crl.der);
        let fields = vec![
            ("url", url.to_owned()),
            ("der", der),
            ("fetched_at", crl.fetched_at.to_string()),
        ];
        let _: i64 = self
            .client
            .hset(self.keys.crl(&digest(url)), fields)
            .await?;
        Ok(())
    }

    /// Takes the fetch lock of `url` for `ttl`; `false` while another instance holds it.
    pub async fn lock_crl_fetch(&self, url: &str, owner: &str, ttl: Duration) -> StoreResult<bool> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let set: Option<String> = self
            .client
            .set(
                self.keys.crl_fetch_lock(&digest(url)),
                owner,
                Some(Expiration::PX(ms)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Releases the fetch lock of `url` (the fetch is stored; the next due one may take it).
    pub async fn unlock_crl_fetch(&self, url: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .del(self.keys.crl_fetch_lock(&digest(url)))
            .await?;
        Ok(())
    }
}
