//! `REDIS_URL`, which may carry a password: kept whole for connecting, shown redacted
//! everywhere else (`Debug`, logs).

use std::fmt;

/// The Redis URL of `REDIS_URL`. `Debug` and [`RedisUrl::redacted`] replace any user and
/// password; [`RedisUrl::expose`] gives the whole URL to the one caller that connects.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Wraps a Redis URL (its password is redacted in `Debug`).
    pub fn new(url: impl Into<String>) -> RedisUrl {
        RedisUrl(url.into())
    }

    /// The URL with its credentials, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with `user:password@` replaced, for logs.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A URL with anything before `@` in its authority replaced by `[redacted]`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://[redacted]@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// `REDIS_URL` as fred reads it. A Sentinel URL may be written as operators list sentinels,
/// `redis-sentinel://[user:pass@]host:port[,host:port…]/SERVICE`; fred wants the first sentinel
/// as the host, the others as `node=` parameters and the service as `sentinelServiceName`.
/// Any other URL (and a Sentinel URL already in fred's form) passes unchanged.
pub fn fred_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if !scheme.ends_with("-sentinel") || rest.contains('?') {
        return url.to_owned();
    }
    let (credentials, rest) = match rest.rsplit_once('@') {
        Some((credentials, rest)) => (format!("{credentials}@"), rest),
        None => (String::new(), rest),
    };
    let Some((hosts, service)) = rest.split_once('/') else {
        return url.to_owned();
    };
    let mut hosts = hosts.split(',').filter(|h| !h.is_empty());
    let Some(first) = hosts.next() else {
        return url.to_owned();
    };
    let nodes: String = hosts.map(|h| format!("&node={h}")).collect();
    format!("{scheme}://{credentials}{first}?sentinelServiceName={service}{nodes}")
}

#[cfg(test)]
mod sentinel_url_tests {
    use super::fred_url;

    #[test]
    fn a_list_of_sentinels_and_a_service_become_fred_parameters() {
        assert_eq!(
            fred_url("redis-sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/certgate"),
            "redis-sentinel://10.0.0.1:26379?sentinelServiceName=certgate&node=10.0.0.2:26379&node=10.0.0.3:26379"
        );
        assert_eq!(
            fred_url("rediss-sentinel://u:p@s1:26379/main"),
            "rediss-sentinel://u:p@s1:26379?sentinelServiceName=main"
        );
        for unchanged in [
            "redis://127.0.0.1:6379",
            "redis-sentinel://s1:26379?sentinelServiceName=x",
        ] {
            assert_eq!(fred_url(unchanged), unchanged);
        }
    }
}
