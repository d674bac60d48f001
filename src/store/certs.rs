//! Certificate records and private keys.
//!
//! A certificate lives in one hash, `cert:{name}`, with the fields `record` (JSON) and
//! `private_key` (PEM). Issuance writes both with one `HSET` inside a Lua script that first checks
//! the writer's lease, so a crash never leaves half a certificate and a stalled worker whose lease
//! ran out cannot overwrite newer work.

use fred::prelude::{HashesInterface, KeysInterface, LuaInterface, SetsInterface};

use super::reads::CertReads;
use super::{decode, encode, StoreResult, StoreWriter};
use crate::certs::model::{CertificateRecord, GenerationStatus};
use crate::secret::Secret;

/// What became of a write guarded by a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardedWrite {
    /// Written.
    Stored,
    /// The lease is held by someone else (or expired): the result is stale and was dropped.
    LeaseLost,
    /// The certificate was deleted meanwhile.
    Deleted,
}

/// Creates the record and its `pending` status together, unless the name exists.
const CREATE: &str = concat!(
    pending_status_lua!(),
    r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1])
reset_pending(KEYS[2], ARGV[2], ARGV[3])
return 1
"#
);

/// Replaces the record (and the key, when given) if the caller still holds the lease.
const GUARDED_WRITE: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lease_lost' end
if redis.call('EXISTS', KEYS[1]) == 0 then return 'deleted' end
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], 'record', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'record', ARGV[2], 'private_key', ARGV[3])
end
return 'stored'
"#;

impl CertReads<'_> {
    /// The record, or `None` if no certificate has that name.
    pub async fn get(self, name: &str) -> StoreResult<Option<CertificateRecord>> {
        let key = self.keys.cert(name);
        let json: Option<String> = self.client.hget(&key, "record").await?;
        json.map(|j| decode(&key, &j)).transpose()
    }

    /// The record and its private key (absent until the first issuance completes).
    pub async fn get_with_key(
        self,
        name: &str,
    ) -> StoreResult<Option<(CertificateRecord, Option<Secret>)>> {
        let key = self.keys.cert(name);
        let (json, private_key): (Option<String>, Option<String>) = self
            .client
            .hmget(&key, vec!["record", "private_key"])
            .await?;
        match json {
            None => Ok(None),
            Some(json) => {
                let private_key = private_key.and_then(|k| self.open_cert_key(name, k));
                Ok(Some((decode(&key, &json)?, private_key)))
            }
        }
    }

    /// Every certificate name in the index, sorted.
    pub async fn names(self) -> StoreResult<Vec<String>> {
        let mut names: Vec<String> = self.client.smembers(self.keys.cert_index()).await?;
        names.sort();
        Ok(names)
    }

    /// Every certificate record, sorted by name. Index entries without a record (left by a crash
    /// between the two writes) are skipped.
    pub async fn list(self) -> StoreResult<Vec<CertificateRecord>> {
        let names = self.certs().names().await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.client.pipeline();
        for name in &names {
            let _: () = pipeline.hget(self.keys.cert(name), "record").await?;
        }
        let values: Vec<Option<String>> = pipeline.all().await?;
        let mut out = Vec::with_capacity(values.len());
        for (name, json) in names.iter().zip(values) {
            if let Some(json) = json {
                out.push(decode(&self.keys.cert(name), &json)?);
            }
        }
        Ok(out)
    }

    /// Every certificate with its private key, for warming the edge's cache; at most `limit`.
    pub async fn list_with_keys(
        self,
        limit: usize,
    ) -> StoreResult<Vec<(CertificateRecord, Option<Secret>)>> {
        let mut names = self.certs().names().await?;
        names.truncate(limit);
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(1000) {
            let pipeline = self.client.pipeline();
            for name in chunk {
                let _: () = pipeline
                    .hmget(self.keys.cert(name), vec!["record", "private_key"])
                    .await?;
            }
            let values: Vec<(Option<String>, Option<String>)> = pipeline.all().await?;
            for (name, (json, key)) in chunk.iter().zip(values) {
                if let Some(json) = json {
                    let key = key.and_then(|k| self.open_cert_key(name, k));
                    out.push((decode(&self.keys.cert(name), &json)?, key));
                }
            }
        }
        Ok(out)
    }
}

impl StoreWriter {
    /// Creates a certificate record with a `pending` generation status. `false` if the name is
    /// taken (that check and the write are one atomic step, which makes `409` race-free).
    pub async fn create_certificate(
        &self,
        record: &CertificateRecord,
        status: &GenerationStatus,
    ) -> StoreResult<bool> {
        let name = &record.cert_name;
        let keys = vec![self.keys.cert(name), self.keys.cert_status(name)];
        let args = vec![
            encode(record),
            status.message.clone(),
            status.created_at.clone(),
        ];
        let created: i64 = self.client.eval(CREATE, keys, args).await?;
        if created == 1 {
            let _: i64 = self
                .client
                .sadd(self.keys.cert_index(), name.as_str())
                .await?;
            self.index_name(super::name_pages::Listed::Certificates, name)
                .await?;
            self.index_owner(name, &record.owner_token_hash).await?;
            self.count_status_change(name, None, Some(record.status))
                .await?;
        }
        Ok(created == 1)
    }

    /// Writes an issuance result (record and, when given, the new private key) in one atomic
    /// step, only while `lease_value` still holds the certificate's lease.
    pub async fn write_certificate_guarded(
        &self,
        record: &CertificateRecord,
        private_key: Option<&Secret>,
        lease_value: &str,
    ) -> StoreResult<GuardedWrite> {
        let name = &record.cert_name;
        let keys = vec![self.keys.cert(name), self.keys.cert_lease(name)];
        let key_pem = private_key
            .map(|k| self.seal_cert_key(name, k))
            .unwrap_or_default();
        let args = vec![lease_value.to_owned(), encode(record), key_pem];
        let outcome: String = self.client.eval(GUARDED_WRITE, keys, args).await?;
        Ok(match outcome.as_str() {
            "stored" => GuardedWrite::Stored,
            "deleted" => GuardedWrite::Deleted,
            _ => GuardedWrite::LeaseLost,
        })
    }

    /// Deletes a certificate with its key, status and lease (one slot, one `DEL`), then drops it
    /// from the index. A worker still running finds it gone and discards its result.
    pub async fn delete_certificate(&self, name: &str) -> StoreResult<bool> {
        let keys = vec![
            self.keys.cert(name),
            self.keys.cert_status(name),
            self.keys.cert_lease(name),
        ];
        let existing: Option<String> = self.client.hget(&keys[0], "record").await?;
        let record = existing
            .as_deref()
            .and_then(|json| super::decode::<CertificateRecord>(&keys[0], json).ok());
        let status = record.as_ref().map(|r| r.status);
        if let Some(record) = &record {
            self.unindex_owner(name, &record.owner_token_hash).await?;
        }
        let _: i64 = self.client.del(keys).await?;
        let _: i64 = self.client.srem(self.keys.cert_index(), name).await?;
        self.unindex_name(super::name_pages::Listed::Certificates, name)
            .await?;
        let _: i64 = self.client.srem(self.keys.jobs(), name).await?;
        self.count_status_change(name, status, None).await?;
        Ok(existing.is_some())
    }
}
