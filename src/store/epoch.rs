//! Detecting that Redis lost its data, and writing back what an instance still holds.
//!
//! The first instance writes a random `epoch`; every instance remembers it. If Redis later
//! answers without it (restarted empty, flushed, failed over to an empty replica), instances
//! know their in-memory tables are now the best copy: they keep serving, delete nothing, and
//! write their certificates, keys, routes and hostname claims back where absent.

use fred::prelude::{Expiration, KeysInterface, LuaInterface, SetOptions, SetsInterface};

use super::reads::ClusterReads;
use super::{encode, StoreResult, StoreWriter};
use crate::certs::model::CertificateRecord;
use crate::routes::Route;
use crate::secret::Secret;

const RESTORE_CERT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'private_key', ARGV[2])
return 1
"#;

impl ClusterReads<'_> {
    /// The epoch now in Redis (`None`: Redis lost its data).
    pub async fn epoch(self) -> StoreResult<Option<String>> {
        Ok(self
            .client
            .get(format!("{}epoch", self.keys.prefix()))
            .await?)
    }
}

impl StoreWriter {
    /// Sets the epoch unless there is one; returns the epoch in force.
    pub async fn ensure_epoch(&self, candidate: &str) -> StoreResult<String> {
        let key = format!("{}epoch", self.keys.prefix());
        let _: Option<String> = self
            .client
            .set(
                &key,
                candidate,
                None::<Expiration>,
                Some(SetOptions::NX),
                false,
            )
            .await?;
        let current: Option<String> = self.client.get(&key).await?;
        Ok(current.unwrap_or_else(|| candidate.to_owned()))
    }

    /// Writes a certificate with its key back if Redis has no record by that name.
    pub async fn restore_certificate(
        &self,
        record: &CertificateRecord,
        key: &Secret,
    ) -> StoreResult<bool> {
        let keys = vec![self.keys.cert(&record.cert_name)];
        let args = vec![encode(record), self.seal_cert_key(&record.cert_name, key)];
        let written: i64 = self.client.eval(RESTORE_CERT, keys, args).await?;
        let _: i64 = self
            .client
            .sadd(self.keys.cert_index(), record.cert_name.as_str())
            .await?;
        self.index_name(super::name_pages::Listed::Certificates, &record.cert_name)
            .await?;
        self.claim_hostnames(
            &record.domains,
            &record.owner_token_hash,
            super::claims::ClaimRef::Cert(&record.cert_name),
            true,
        )
        .await?;
        self.index_owner(&record.cert_name, &record.owner_token_hash)
            .await?;
        if written == 1 {
            self.count_status_change(&record.cert_name, None, Some(record.status))
                .await?;
        }
        Ok(written == 1)
    }

    /// Writes a route back if its hostname has none.
    pub async fn restore_route(&self, route: &Route) -> StoreResult<bool> {
        let written = self.create_route(route).await?;
        self.claim_hostnames(
            std::slice::from_ref(&route.hostname),
            &route.owner_token_hash,
            super::claims::ClaimRef::Route(&route.hostname),
            true,
        )
        .await?;
        Ok(written)
    }
}
