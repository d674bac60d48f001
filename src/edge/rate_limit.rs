//! Rate limits counted once for the cluster (a route's `rate_limit`; `docs/edge.md`, "Rate
//! limits") without a Redis round trip per request.
//!
//! Each route and client key has one GCRA bucket in Redis (`store::rate_limits`). An instance
//! takes a small lease of tokens from it — `max(1, burst / 50)` — and spends them locally;
//! when the bucket has none, Redis says how long until the next one, and the instance answers
//! `429` locally until then. A lease is spent within [`LEASE`] or dropped, so tokens taken
//! early are never spent late: in any window a cluster of N instances lets through at most the
//! limit plus N leases (100/10 s on three instances: at most 106), and unused leases make it
//! let through slightly less, never more.
//!
//! When Redis cannot be reached the limit is not enforced (an edge must not go down with its
//! counter); a warning says so, at most every ten seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::routes::rate_limit::{LimitKey, RateLimit};
use crate::store::Store;

/// How long a leased token may be spent.
pub const LEASE: Duration = Duration::from_secs(1);
/// Buckets kept in memory before idle ones are swept; above it (after a sweep) new keys are
/// counted in Redis directly, without a local lease.
const MOST_BUCKETS: usize = 100_000;

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit.
    Pass,
    /// Over it: `429`, to be tried again after this.
    Limited(Duration),
}

/// The instance's rate limiter: local leases of every route's buckets.
pub struct RateLimiter {
    store: Store,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
}

/// One route and key's local share.
#[derive(Default)]
struct Bucket {
    local: Mutex<Local>,
    /// One lease request to Redis at a time per bucket; the others wait for its answer.
    refill: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Local {
    tokens: u64,
    lease_until: Option<Instant>,
    refused_until: Option<Instant>,
}

impl Local {
    /// Spends a local token, or says the bucket is refusing; `None`: ask Redis.
    fn spend(&mut self, now: Instant) -> Option<Verdict> {
        if let Some(until) = self.refused_until.filter(|u| *u > now) {
            return Some(Verdict::Limited(until - now));
        }
        if self.tokens > 0 && self.lease_until.is_some_and(|u| u > now) {
            self.tokens -= 1;
            return Some(Verdict::Pass);
        }
        None
    }

    /// Holds nothing worth keeping at `now` (Redis has the bucket's state).
    fn idle(&self, now: Instant) -> bool {
        self.lease_until.is_none_or(|u| u <= now) && self.refused_until.is_none_or(|u| u <= now)
    }
}

/// The key a request is counted under: the client's address, or the header's value (requests
/// without it share the empty key).
pub fn key_of(limit: &RateLimit, headers: &HeaderMap, client: IpAddr) -> String {
    match limit.limit_key() {
        LimitKey::ClientIp => client.to_canonical().to_string(),
        LimitKey::Header(name) => headers
            .get(&name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
    }
}

impl RateLimiter {
    /// A limiter spending the cluster's buckets in `store`.
    pub fn new(store: Store) -> RateLimiter {
        RateLimiter {
            store,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request of `route` counted under `key` may pass.
    pub async fn admit(&self, route: &str, limit: &RateLimit, key: &str) -> Verdict {
        let bucket = self.bucket(route, key);
        if let Some(verdict) = lock(&bucket.local).spend(Instant::now()) {
            return verdict;
        }
        // Boxed: only requests that ask Redis carry the lease request's state.
        Box::pin(self.lease(&bucket, route, limit, key)).await
    }

    /// Asks Redis for a lease (one caller per bucket at a time; the others find its tokens).
    async fn lease(&self, bucket: &Bucket, route: &str, limit: &RateLimit, key: &str) -> Verdict {
        let _turn = bucket.refill.lock().await;
        if let Some(verdict) = lock(&bucket.local).spend(Instant::now()) {
            return verdict;
        }
        if self.store.is_down() {
            warn_unenforced("Redis is down");
            return Verdict::Pass;
        }
        let want = (limit.burst() / 50).max(1);
        let taken = self
            .store
            .rate_limits()
            .take(route, key, want, limit.interval_ms(), limit.burst())
            .await;
        let now = Instant::now();
        let mut local = lock(&bucket.local);
        match taken {
            Ok(taken) if taken.granted > 0 => {
                local.tokens = taken.granted - 1;
                local.lease_until = Some(now + LEASE);
                local.refused_until = None;
                Verdict::Pass
            }
            Ok(taken) => {
                let wait = Duration::from_millis(taken.wait_ms.max(1));
                local.refused_until = Some(now + wait);
                Verdict::Limited(wait)
            }
            Err(e) => {
                warn_unenforced(&e.to_string());
                Verdict::Pass
            }
        }
    }

    /// The bucket of `route` and `key`, made when missing (idle ones swept when there are many).
    fn bucket(&self, route: &str, key: &str) -> Arc<Bucket> {
        let id = format!("{route}\u{0}{key}");
        let mut buckets = lock(&self.buckets);
        if let Some(bucket) = buckets.get(&id) {
            return bucket.clone();
        }
        if buckets.len() >= MOST_BUCKETS {
            let now = Instant::now();
            buckets.retain(|_, b| Arc::strong_count(b) > 1 || !lock(&b.local).idle(now));
            if buckets.len() >= MOST_BUCKETS {
                return Arc::new(Bucket::default());
            }
        }
        buckets.entry(id).or_default().clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Warns that limits are not enforced, at most every ten seconds.
fn warn_unenforced(why: &str) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = crate::timefmt::now().unix_timestamp().max(0) as u64;
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 10
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            why,
            "rate limits are not enforced while Redis cannot be reached"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_tokens_are_spent_within_their_lease_and_refusals_last_their_wait() {
        let now = Instant::now();
        let mut local = Local {
            tokens: 2,
            lease_until: Some(now + LEASE),
            refused_until: None,
        };
        assert_eq!(local.spend(now), Some(Verdict::Pass));
        assert_eq!(local.spend(now), Some(Verdict::Pass));
        assert_eq!(local.spend(now), None, "spent: ask Redis");
        local.tokens = 5;
        assert_eq!(
            local.spend(now + LEASE),
            None,
            "an expired lease is not spent"
        );
        local.refused_until = Some(now + Duration::from_millis(300));
        assert_eq!(
            local.spend(now + Duration::from_millis(100)),
            Some(Verdict::Limited(Duration::from_millis(200)))
        );
        assert!(!local.idle(now) && local.idle(now + LEASE));
    }

    #[test]
    fn requests_are_counted_by_address_or_header() {
        let limit = |key: &str| RateLimit {
            requests: 1,
            per_seconds: 1,
            burst: None,
            key: key.to_owned(),
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "k1".parse().unwrap());
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(key_of(&limit("client_ip"), &headers, mapped), "10.0.0.1");
        assert_eq!(key_of(&limit("header:x-api-key"), &headers, mapped), "k1");
        assert_eq!(key_of(&limit("header:x-other"), &headers, mapped), "");
    }
}
