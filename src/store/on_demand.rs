//! On-demand issuance state shared by every instance: the allow patterns, the ask URL's cached
//! answers, the cluster-wide order rate, and per-name back-off after a failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::{Expiration, HashesInterface, KeysInterface, LuaInterface, SetsInterface};

use super::reads::OnDemandReads;
use super::{StoreResult, StoreWriter};

/// Admits one more order if fewer than `ARGV[2]` were admitted in the last minute (a sliding
/// window of timestamps in a sorted set); `1` when admitted.
const ADMIT: &str = r#"
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], 61000)
return 1
"#;

/// Counts a failure of a name once per back-off period: if the name is not backing off now,
/// its failure count goes up and it backs off for `min(60 s × 2^(n-1), 1 day)`. Returns the
/// back-off end (ms).
const BACK_OFF: &str = r#"
local now = tonumber(ARGV[1])
local untilms = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untilms > now then return untilms end
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local wait = math.min(60000 * 2 ^ (n - 1), 86400000)
untilms = now + wait
redis.call('HSET', KEYS[1], 'until', untilms)
redis.call('PEXPIRE', KEYS[1], wait + 86400000)
return untilms
"#;

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl OnDemandReads<'_> {
    /// Every allow pattern, sorted.
    pub async fn patterns(self) -> StoreResult<Vec<String>> {
        let mut patterns: Vec<String> = self.client.smembers(self.keys.on_demand_allow()).await?;
        patterns.sort();
        Ok(patterns)
    }

    /// The ask URL's remembered answer for `name`: `Some(true)` allowed, `Some(false)` refused.
    pub async fn asked(self, name: &str) -> StoreResult<Option<bool>> {
        let answer: Option<String> = self.client.get(self.keys.on_demand_ask(name)).await?;
        Ok(answer.map(|a| a == "allow"))
    }

    /// Whether some handshake holds the right to order `name`.
    pub async fn order_locked(self, name: &str) -> StoreResult<bool> {
        let n: i64 = self.client.exists(self.keys.on_demand_order(name)).await?;
        Ok(n > 0)
    }

    /// Whether `name` is backing off after a failed on-demand issuance.
    pub async fn backing_off(self, name: &str) -> StoreResult<bool> {
        let until: Option<i64> = self
            .client
            .hget(self.keys.on_demand_backoff(name), "until")
            .await?;
        Ok(until.is_some_and(|u| u > now_millis()))
    }
}

impl StoreWriter {
    /// Adds `pattern` to the on-demand allow list; false when it was there.
    pub async fn on_demand_allow(&self, pattern: &str) -> StoreResult<bool> {
        let added: i64 = self
            .client
            .sadd(self.keys.on_demand_allow(), pattern)
            .await?;
        Ok(added == 1)
    }

    /// Removes `pattern` from the allow list; false when it was not there.
    pub async fn on_demand_disallow(&self, pattern: &str) -> StoreResult<bool> {
        let removed: i64 = self
            .client
            .srem(self.keys.on_demand_allow(), pattern)
            .await?;
        Ok(removed == 1)
    }

    /// Remembers the ask URL's answer for `ttl`.
    pub async fn remember_on_demand_answer(
        &self,
        name: &str,
        allowed: bool,
        ttl: Duration,
    ) -> StoreResult<()> {
        let answer = if allowed { "allow" } else { "deny" };
        self.set_expiring(self.keys.on_demand_ask(name), answer, ttl)
            .await
    }

    /// Admits one new on-demand order under the cluster-wide rate (`per_minute`).
    pub async fn admit_on_demand_order(&self, name: &str, per_minute: u64) -> StoreResult<bool> {
        let member = format!("{}:{name}", crate::ids::random_hex(4));
        let admitted: i64 = self
            .client
            .eval(
                ADMIT,
                vec![self.keys.on_demand_rate()],
                vec![now_millis().to_string(), per_minute.to_string(), member],
            )
            .await?;
        Ok(admitted == 1)
    }

    /// Takes the right to order `name` (one handshake in the cluster at a time) for `ttl`.
    pub async fn lock_on_demand_order(&self, name: &str, ttl: Duration) -> StoreResult<bool> {
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let set: Option<String> = self
            .client
            .set(
                self.keys.on_demand_order(name),
                "1",
                Some(Expiration::PX(millis)),
                Some(fred::prelude::SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Releases the cluster-wide order lock of on-demand name `name`.
    pub async fn unlock_on_demand_order(&self, name: &str) -> StoreResult<()> {
        let _: i64 = self.client.del(self.keys.on_demand_order(name)).await?;
        Ok(())
    }

    /// Records a failed on-demand issuance of `name` (once per back-off period, whichever
    /// instance reports it).
    pub async fn on_demand_failed(&self, name: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .eval(
                BACK_OFF,
                vec![self.keys.on_demand_backoff(name)],
                vec![now_millis().to_string()],
            )
            .await?;
        Ok(())
    }
}
