//! Cluster-wide rate limits (a route's `rate_limit`): one GCRA state per route and client key,
//! from which instances take tokens a few at a time (`edge::rate_limit` spends them locally).
//! These are counters the edge spends, not records: the edge's only write, through this handle.

use fred::prelude::LuaInterface;

use super::{Store, StoreResult};

/// Takes up to `ARGV[1]` tokens from a GCRA bucket (emission interval `ARGV[2]` ms, capacity
/// `ARGV[3]` ms of intervals) on Redis's own clock, so every instance shares one time. Returns
/// `{granted, wait_ms}`: `wait_ms` is how long until the next token when none was granted.
const TAKE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local room = math.floor((now + capacity - tat) / interval)
local granted = math.min(want, room)
if granted <= 0 then
  return {0, tat + interval - now - capacity}
end
tat = tat + granted * interval
redis.call('SET', KEYS[1], tat, 'PX', tat - now)
return {granted, 0}
"#;

/// The rate-limit buckets.
#[derive(Clone, Copy)]
pub struct RateLimitCounters<'a>(&'a Store);

impl Store {
    /// The rate-limit buckets (the edge's only write).
    pub fn rate_limits(&self) -> RateLimitCounters<'_> {
        RateLimitCounters(self)
    }
}

/// What a take returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Tokens granted (at most those asked for).
    pub granted: u64,
    /// With none granted: milliseconds until the next one.
    pub wait_ms: u64,
}

impl RateLimitCounters<'_> {
    /// Takes up to `want` tokens from `route`'s bucket for `key` (a client address or a
    /// header's value, hashed when long), which fills one token per `interval_ms` up to
    /// `burst` tokens.
    pub async fn take(
        self,
        route: &str,
        key: &str,
        want: u64,
        interval_ms: u64,
        burst: u64,
    ) -> StoreResult<Taken> {
        let bucket = self.0.keys.rate_limit(route, key);
        let (granted, wait_ms): (u64, u64) = self
            .0
            .client
            .eval(
                TAKE,
                vec![bucket],
                vec![
                    want.to_string(),
                    interval_ms.to_string(),
                    (interval_ms * burst).to_string(),
                ],
            )
            .await?;
        Ok(Taken { granted, wait_ms })
    }
}
