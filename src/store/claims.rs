//! Hostname claims: a hostname belongs to the owner of the first certificate or route naming it,
//! and a wildcard covers only names its owner may use.
//!
//! `claim:{host}` is a hash with `owner` (the token hash) and one field per object naming the
//! host (`cert:<name>`, `route:<host>`); it disappears with its last reference, so the hostname
//! is free again. Beside each wildcard's claim, `claim-children:{*.parent}` (same hash tag, so
//! one script reads both, Redis Cluster included) maps every exact name one label under
//! `parent` to its owner. So:
//! - a wildcard is refused when another owner holds a name it would cover (the children), and
//! - an exact name is refused when another owner holds the wildcard that covers it;
//!
//! both checks are atomic with the write they guard. The admin may name anything.

use std::net::IpAddr;

use fred::prelude::{HashesInterface, LuaInterface};

use super::reads::CertReads;
use super::{StoreResult, StoreWriter};

/// Claims `KEYS[1]` for `ARGV[1]` as reference `ARGV[2]` (`ARGV[3]` = '1': the admin, who may
/// name anything). 0: another owner holds it.
const CLAIM: &str = r#"
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] and ARGV[3] ~= '1' then return 0 end
if not owner then redis.call('HSET', KEYS[1], 'owner', ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[2], '1')
return 1
"#;

/// [`CLAIM`] for a wildcard `KEYS[1]` whose children are `KEYS[2]`: also refused (`{2, name}`)
/// when a name it covers belongs to another owner. `{1}`: claimed; `{0}`: the wildcard itself
/// is another owner's.
const CLAIM_WILDCARD: &str = r#"
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] and ARGV[3] ~= '1' then return {0, ''} end
if ARGV[3] ~= '1' then
  local children = redis.call('HGETALL', KEYS[2])
  for i = 1, #children, 2 do
    if children[i + 1] ~= ARGV[1] then return {2, children[i]} end
  end
end
if not owner then redis.call('HSET', KEYS[1], 'owner', ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[2], '1')
return {1, ''}
"#;

/// Registers exact name `ARGV[2]` (owner `ARGV[1]`) among the children of the wildcard claim
/// `KEYS[1]` (children `KEYS[2]`); 0 when that wildcard is another owner's (and `ARGV[3]` is
/// not '1', the admin).
const CLAIM_UNDER: &str = r#"
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] and ARGV[3] ~= '1' then return 0 end
redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1])
return 1
"#;

/// Drops reference `ARGV[1]` from claim `KEYS[1]`; 2 when that was its last (the claim is gone).
const RELEASE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) return 2 end
return 1
"#;

/// Who names a hostname: a certificate or a route.
#[derive(Debug, Clone, Copy)]
pub enum ClaimRef<'a> {
    /// The certificate of this name.
    Cert(&'a str),
    /// The route of this hostname.
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

/// Why a hostname could not be claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another owner holds this very name.
    Taken(String),
    /// The name is under a wildcard another owner holds.
    CoveredBy {
        /// The name asked for.
        name: String,
        /// The other owner's wildcard that covers it.
        wildcard: String,
    },
    /// The wildcard would cover a name another owner holds.
    Covers {
        /// The wildcard asked for.
        wildcard: String,
        /// The other owner's name under it.
        name: String,
    },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Taken(name) => write!(f, "hostname {name} belongs to another token"),
            Conflict::CoveredBy { name, wildcard } => write!(
                f,
                "hostname {name} is covered by {wildcard}, which belongs to another token"
            ),
            Conflict::Covers { wildcard, name } => write!(
                f,
                "{wildcard} would cover {name}, which belongs to another token"
            ),
        }
    }
}

/// The wildcard that would cover exact name `host` (`*.parent`), if it can have one.
fn covering_wildcard(host: &str) -> Option<String> {
    if host.starts_with("*.") || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (_, parent) = host.split_once('.')?;
    parent.contains('.').then(|| format!("*.{parent}"))
}

impl CertReads<'_> {
    /// Names of the certificates that name `hostname` (from its claim), for on-demand loading.
    pub async fn naming(self, hostname: &str) -> StoreResult<Vec<String>> {
        let fields: Vec<String> = self.client.hkeys(self.keys.claim(hostname)).await?;
        Ok(fields
            .into_iter()
            .filter_map(|f| f.strip_prefix("cert:").map(str::to_owned))
            .collect())
    }
}

impl StoreWriter {
    async fn claim_one(
        &self,
        host: &str,
        owner: &str,
        by: ClaimRef<'_>,
        is_admin: bool,
    ) -> StoreResult<Option<Conflict>> {
        let field = by.field();
        let admin = if is_admin { "1" } else { "0" };
        let args = vec![owner, field.as_str(), admin];
        if host.starts_with("*.") {
            let keys = vec![self.keys.claim(host), self.keys.claim_children(host)];
            let (code, name): (i64, String) = self.client.eval(CLAIM_WILDCARD, keys, args).await?;
            return Ok(match code {
                1 => None,
                2 => Some(Conflict::Covers {
                    wildcard: host.to_owned(),
                    name,
                }),
                _ => Some(Conflict::Taken(host.to_owned())),
            });
        }
        let claimed: i64 = self
            .client
            .eval(CLAIM, vec![self.keys.claim(host)], args)
            .await?;
        if claimed == 0 {
            return Ok(Some(Conflict::Taken(host.to_owned())));
        }
        let Some(wildcard) = covering_wildcard(host) else {
            return Ok(None);
        };
        let keys = vec![
            self.keys.claim(&wildcard),
            self.keys.claim_children(&wildcard),
        ];
        let under: i64 = self
            .client
            .eval(CLAIM_UNDER, keys, vec![owner, host, admin])
            .await?;
        if under == 0 {
            self.release_hostnames(std::slice::from_ref(&host.to_owned()), by)
                .await?;
            return Ok(Some(Conflict::CoveredBy {
                name: host.to_owned(),
                wildcard,
            }));
        }
        Ok(None)
    }

    /// Claims every hostname for `owner`, all or nothing; the first conflict is returned (then
    /// nothing stays claimed by this call). The admin may name any hostname.
    pub async fn claim_hostnames(
        &self,
        hostnames: &[String],
        owner: &str,
        by: ClaimRef<'_>,
        is_admin: bool,
    ) -> StoreResult<Option<Conflict>> {
        for (i, host) in hostnames.iter().enumerate() {
            if let Some(conflict) = self.claim_one(host, owner, by, is_admin).await? {
                self.release_hostnames(&hostnames[..i], by).await?;
                return Ok(Some(conflict));
            }
        }
        Ok(None)
    }

    /// Drops one object's references to its hostnames; a name no longer named by anything
    /// leaves its wildcard's children too.
    pub async fn release_hostnames(
        &self,
        hostnames: &[String],
        by: ClaimRef<'_>,
    ) -> StoreResult<()> {
        let field = by.field();
        for host in hostnames {
            let released: i64 = self
                .client
                .eval(RELEASE, vec![self.keys.claim(host)], vec![field.as_str()])
                .await?;
            if released == 2 {
                if let Some(wildcard) = covering_wildcard(host) {
                    let _: i64 = self
                        .client
                        .hdel(self.keys.claim_children(&wildcard), host.as_str())
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Registers exact names with their owners among their wildcards' children where they are
    /// missing (the start-up scan's repair: claims written before the children existed, or a
    /// child removed by a release racing a new claim of the same name).
    pub async fn index_claim_children(&self, owned: &[(String, String)]) -> StoreResult<()> {
        let pipeline = self.client.pipeline();
        let mut any = false;
        for (host, owner) in owned {
            if let Some(wildcard) = covering_wildcard(host) {
                let _: () = pipeline
                    .hsetnx(
                        self.keys.claim_children(&wildcard),
                        host.as_str(),
                        owner.as_str(),
                    )
                    .await?;
                any = true;
            }
        }
        if any {
            let _: Vec<fred::types::Value> = pipeline.all().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wildcard_covering_a_name_is_one_label_up() {
        assert_eq!(
            covering_wildcard("b.example.com").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(
            covering_wildcard("x.bw.example.com").as_deref(),
            Some("*.bw.example.com")
        );
        // No wildcard directly under a top-level domain, of a wildcard, or of an address.
        assert_eq!(covering_wildcard("example.com"), None);
        assert_eq!(covering_wildcard("*.example.com"), None);
        assert_eq!(covering_wildcard("192.0.2.7"), None);
        assert_eq!(covering_wildcard("localhost"), None);
    }
}
