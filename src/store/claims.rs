//! Hostname claims: a hostname belongs to the owner of the first certificate or route naming it.
//!
//! `claim:{host}` is a hash with `owner` (the token hash) and one field per object naming the
//! host (`cert:<name>`, `route:<host>`). Claiming and releasing are single-key scripts; the claim
//! disappears with its last reference, so the hostname is free again.

use fred::prelude::LuaInterface;

use super::{Store, StoreResult};

const CLAIM: &str = r#"
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] and ARGV[3] ~= '1' then return 0 end
if not owner then redis.call('HSET', KEYS[1], 'owner', ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[2], '1')
return 1
"#;

const RELEASE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) end
return 1
"#;

/// Who names a hostname: a certificate or a route.
#[derive(Debug, Clone, Copy)]
pub enum ClaimRef<'a> {
    Cert(&'a str),
    Route(&'a str),
}

impl ClaimRef<'_> {
    fn field(&self) -> String {
        match self {
            ClaimRef::Cert(name) => format!("cert:{name}"),
            ClaimRef::Route(host) => format!("route:{host}"),
        }
    }
}

impl Store {
    /// Claims every hostname for `owner`, all or nothing. Returns the first hostname owned by
    /// someone else (then nothing stays claimed by this call); the admin may name any hostname.
    pub async fn claim_hostnames(
        &self,
        hostnames: &[String],
        owner: &str,
        by: ClaimRef<'_>,
        is_admin: bool,
    ) -> StoreResult<Option<String>> {
        let field = by.field();
        let admin = if is_admin { "1" } else { "0" };
        for (i, host) in hostnames.iter().enumerate() {
            let args = vec![owner, field.as_str(), admin];
            let ok: i64 = self
                .client
                .eval(CLAIM, vec![self.keys.claim(host)], args)
                .await?;
            if ok == 0 {
                self.release_hostnames(&hostnames[..i], by).await?;
                return Ok(Some(host.clone()));
            }
        }
        Ok(None)
    }

    /// Drops one object's references to its hostnames.
    pub async fn release_hostnames(
        &self,
        hostnames: &[String],
        by: ClaimRef<'_>,
    ) -> StoreResult<()> {
        let field = by.field();
        for host in hostnames {
            let _: i64 = self
                .client
                .eval(RELEASE, vec![self.keys.claim(host)], vec![field.as_str()])
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Names of the certificates that name `hostname` (from its claim), for on-demand loading.
    pub async fn certificates_naming(&self, hostname: &str) -> StoreResult<Vec<String>> {
        use fred::prelude::HashesInterface;
        let fields: Vec<String> = self.client.hkeys(self.keys.claim(hostname)).await?;
        Ok(fields
            .into_iter()
            .filter_map(|f| f.strip_prefix("cert:").map(str::to_owned))
            .collect())
    }
}
