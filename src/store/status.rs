//! Generation status records (`cert:{name}:status`).
//!
//! One hash per certificate describes its latest generation. It lives without expiry while the
//! generation waits or runs (it is part of the durable record of pending work) and expires
//! `CERT_STATUS_RETENTION_SECONDS` after the generation ends.

use std::collections::HashMap;
use std::time::Duration;

use fred::prelude::{HashesInterface, LuaInterface};

use super::reads::CertReads;
use super::{StoreError, StoreResult, StoreWriter};
use crate::certs::model::{GenerationState, GenerationStatus};

/// Starts a new `pending` generation unless one is waiting or running (then the caller joins it).
const BEGIN_OR_JOIN: &str = concat!(
    pending_status_lua!(),
    "return start_pending(KEYS[1], ARGV[1], ARGV[2])\n"
);

/// Marks the generation `generating`, if the caller holds the lease, and counts the attempt.
const MARK_GENERATING: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local s = redis.call('HGET', KEYS[1], 'status')
if s ~= 'pending' and s ~= 'generating' then return -2 end
redis.call('HSET', KEYS[1], 'status', 'generating', 'message', ARGV[2], 'started_at', ARGV[3], 'updated_at', ARGV[3])
redis.call('PERSIST', KEYS[1])
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"#;

/// Ends the generation and starts the retention countdown.
const FINISH: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'message', ARGV[2], 'finished_at', ARGV[3], 'updated_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"#;

/// Writes a finished generation's status back where Redis has none (after a data loss), with
/// the rest of its retention: `ARGV` holds field/value pairs, the retention in ms last.
const RESTORE_FINISHED: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = #ARGV
for i = 1, n - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[n])
return 1
"#;

/// Outcome of asking to start a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// A new generation was queued.
    Started,
    /// A generation is already waiting or running; the request joins it.
    Joined,
}

/// Outcome of claiming a pending generation for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkGenerating {
    /// This is attempt number n (1 for a first run, more after interrupted runs).
    Attempt(u32),
    /// The generation has ended or was deleted: nothing to do.
    NotRunning,
    /// Another worker holds the lease: this one must stop.
    LeaseLost,
}

impl CertReads<'_> {
    /// The latest generation status, or `None` (never created, or retention over).
    pub async fn generation_status(self, name: &str) -> StoreResult<Option<GenerationStatus>> {
        let key = self.keys.cert_status(name);
        let map: HashMap<String, String> = self.client.hgetall(&key).await?;
        if map.is_empty() {
            return Ok(None);
        }
        let field = |f: &str| map.get(f).cloned();
        let status = field("status")
            .and_then(|s| s.parse::<GenerationState>().ok())
            .ok_or_else(|| StoreError::Corrupt {
                key: key.clone(),
                detail: "missing or unknown status".into(),
            })?;
        Ok(Some(GenerationStatus {
            status,
            message: field("message").unwrap_or_default(),
            created_at: field("created_at").unwrap_or_default(),
            updated_at: field("updated_at").unwrap_or_default(),
            started_at: field("started_at"),
            finished_at: field("finished_at"),
        }))
    }
}

/// Starts a renewal only if the certificate is still due at the time the caller saw
/// (`next_renewal_at` unchanged) and no generation is under way: of several instances whose
/// renewal loops see the same due certificate, exactly one starts it.
const BEGIN_IF_DUE: &str = concat!(
    pending_status_lua!(),
    r#"
local rec = redis.call('HGET', KEYS[1], 'record')
if not rec then return -1 end
local r = cjson.decode(rec)
if r['next_renewal_at'] ~= ARGV[1] then return -2 end
return start_pending(KEYS[2], ARGV[2], ARGV[3])
"#
);

/// Marks an active certificate `expired` if it still has the expiry the caller saw.
const MARK_EXPIRED: &str = r#"
local rec = redis.call('HGET', KEYS[1], 'record')
if not rec then return 0 end
local r = cjson.decode(rec)
if r['status'] ~= 'active' or r['expires_at'] ~= ARGV[1] then return 0 end
r['status'] = 'expired'
r['updated_at'] = ARGV[2]
redis.call('HSET', KEYS[1], 'record', cjson.encode(r))
return 1
"#;

impl StoreWriter {
    /// Writes a finished generation's status back unless the certificate has one, expiring
    /// after `remaining`; `true` when written.
    pub async fn restore_finished_status(
        &self,
        name: &str,
        status: &GenerationStatus,
        remaining: Duration,
    ) -> StoreResult<bool> {
        let mut args: Vec<String> = Vec::new();
        let fields = [
            ("status", Some(status.status.as_str().to_owned())),
            ("message", Some(status.message.clone())),
            ("created_at", Some(status.created_at.clone())),
            ("updated_at", Some(status.updated_at.clone())),
            ("started_at", status.started_at.clone()),
            ("finished_at", status.finished_at.clone()),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                args.push(field.to_owned());
                args.push(value);
            }
        }
        args.push(remaining.as_millis().max(1).to_string());
        let written: i64 = self
            .client
            .eval(RESTORE_FINISHED, vec![self.keys.cert_status(name)], args)
            .await?;
        Ok(written == 1)
    }

    /// Starts a `pending` generation, or reports that one is already under way.
    pub async fn begin_generation(
        &self,
        name: &str,
        message: &str,
        now: &str,
    ) -> StoreResult<Begin> {
        let keys = vec![self.keys.cert_status(name)];
        let started: i64 = self
            .client
            .eval(BEGIN_OR_JOIN, keys, vec![message, now])
            .await?;
        Ok(if started == 1 {
            Begin::Started
        } else {
            Begin::Joined
        })
    }

    /// Moves a waiting generation to `generating` under the caller's lease.
    pub async fn mark_generating(
        &self,
        name: &str,
        lease_value: &str,
        message: &str,
        now: &str,
    ) -> StoreResult<MarkGenerating> {
        let keys = vec![self.keys.cert_status(name), self.keys.cert_lease(name)];
        let n: i64 = self
            .client
            .eval(MARK_GENERATING, keys, vec![lease_value, message, now])
            .await?;
        Ok(match n {
            -1 => MarkGenerating::LeaseLost,
            n if n < 0 => MarkGenerating::NotRunning,
            n => MarkGenerating::Attempt(u32::try_from(n).unwrap_or(u32::MAX)),
        })
    }

    /// Ends a generation as `completed` or `failed`; the status expires after `retention`.
    pub async fn finish_generation(
        &self,
        name: &str,
        state: GenerationState,
        message: &str,
        now: &str,
        retention: Duration,
    ) -> StoreResult<()> {
        let keys = vec![self.keys.cert_status(name)];
        let ms = retention.as_millis().to_string();
        let _: i64 = self
            .client
            .eval(FINISH, keys, vec![state.as_str(), message, now, &ms])
            .await?;
        self.note_event(&super::recent_events::RecentEvent {
            at: now.to_owned(),
            kind: "certificate".into(),
            name: name.to_owned(),
            outcome: state.as_str().to_owned(),
            message: message.to_owned(),
        })
        .await;
        Ok(())
    }

    /// Starts the renewal of a certificate due at `due` (its `next_renewal_at`); `true` if this
    /// call started it.
    pub async fn begin_renewal_if_due(
        &self,
        name: &str,
        due: &str,
        now: &str,
    ) -> StoreResult<bool> {
        let keys = vec![self.keys.cert(name), self.keys.cert_status(name)];
        let started: i64 = self
            .client
            .eval(BEGIN_IF_DUE, keys, vec![due, "renewal due", now])
            .await?;
        Ok(started == 1)
    }

    /// Marks a certificate expired; `true` if this call changed it.
    pub async fn mark_expired(&self, name: &str, expires_at: &str, now: &str) -> StoreResult<bool> {
        let keys = vec![self.keys.cert(name)];
        let changed: i64 = self
            .client
            .eval(MARK_EXPIRED, keys, vec![expires_at, now])
            .await?;
        Ok(changed == 1)
    }
}
