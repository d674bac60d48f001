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
