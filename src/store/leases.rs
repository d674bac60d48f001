//! Leases: one worker per certificate across every instance sharing Redis.
//!
//! `SET NX PX` with a random value takes the lease; the holder extends it while it works and
//! releases it with compare-and-delete, so it can never remove a lease another worker holds.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface, LuaInterface, SetOptions};

use super::{StoreResult, StoreWriter};

const EXTEND: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl StoreWriter {
    /// Takes the certificate's lease for `ttl` if nobody holds it.
    pub async fn acquire_lease(&self, name: &str, value: &str, ttl: Duration) -> StoreResult<bool> {
        let set: Option<String> = self
            .client
            .set(
                self.keys.cert_lease(name),
                value,
                Some(Expiration::PX(millis(ttl))),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Extends a lease the caller holds; `false` if it was lost.
    pub async fn extend_lease(&self, name: &str, value: &str, ttl: Duration) -> StoreResult<bool> {
        let keys = vec![self.keys.cert_lease(name)];
        let args = vec![value.to_owned(), millis(ttl).to_string()];
        let n: i64 = self.client.eval(EXTEND, keys, args).await?;
        Ok(n == 1)
    }

    /// Releases a lease the caller holds (compare-and-delete).
    pub async fn release_lease(&self, name: &str, value: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .eval(RELEASE, vec![self.keys.cert_lease(name)], vec![value])
            .await?;
        Ok(())
    }
}
