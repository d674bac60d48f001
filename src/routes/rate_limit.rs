//! `rate_limit` on a route: how many requests a client may make, counted once for the whole
//! cluster (`docs/edge.md`, "Rate limits").

use serde::{Deserialize, Serialize};

use crate::certs::validate::FieldError;

/// The largest `requests` and `burst`.
pub const MOST_REQUESTS: u64 = 1_000_000;
/// The longest `per_seconds` (a day).
pub const LONGEST_PERIOD: u64 = 86_400;

/// A route's rate limit: `requests` per `per_seconds` on average, up to `burst` at once, for
/// each value of `key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per period, on average.
    #[serde(deserialize_with = "super::whole_number::deserialize")]
    pub requests: u64,
    /// The period, in seconds.
    #[serde(deserialize_with = "super::whole_number::deserialize")]
    pub per_seconds: u64,
    /// Requests allowed at once after a quiet period (default: `requests`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::whole_number::optional"
    )]
    pub burst: Option<u64>,
    /// What is counted: `client_ip`, or `header:NAME` (requests without the header share one
    /// bucket).
    #[serde(default = "client_ip")]
    pub key: String,
}

fn client_ip() -> String {
    "client_ip".to_owned()
}

/// What a rate limit counts requests by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitKey {
    /// The client's address (as `ip_rules` see it).
    ClientIp,
    /// A request header's value, e.g. an API key.
    Header(http::HeaderName),
}

impl RateLimit {
    /// Requests allowed at once.
    pub fn burst(&self) -> u64 {
        self.burst.unwrap_or(self.requests)
    }

    /// Milliseconds between two requests at the average rate (at least 1).
    pub fn interval_ms(&self) -> u64 {
        (self.per_seconds * 1000 / self.requests).max(1)
    }

    /// The parsed `key`.
    pub fn limit_key(&self) -> LimitKey {
        match self.key.strip_prefix("header:") {
            Some(name) => http::HeaderName::from_bytes(name.as_bytes())
                .map_or(LimitKey::ClientIp, LimitKey::Header),
            None => LimitKey::ClientIp,
        }
    }

    /// Checks the numbers and the key; an error naming the field.
    pub fn check(&self) -> Result<(), FieldError> {
        let range = |field: &str, value: u64, most: u64| {
            if (1..=most).contains(&value) {
                Ok(())
            } else {
                Err(FieldError::new(
                    &format!("rate_limit.{field}"),
                    format!("must be between 1 and {most}"),
                ))
            }
        };
        range("requests", self.requests, MOST_REQUESTS)?;
        range("per_seconds", self.per_seconds, LONGEST_PERIOD)?;
        if let Some(burst) = self.burst {
            range("burst", burst, MOST_REQUESTS)?;
        }
        let header_ok = self.key.strip_prefix("header:").is_some_and(|name| {
            !name.is_empty() && http::HeaderName::from_bytes(name.as_bytes()).is_ok()
        });
        if self.key != "client_ip" && !header_ok {
            return Err(FieldError::new(
                "rate_limit.key",
                "client_ip, or header:NAME with a valid header name",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(requests: u64, per_seconds: u64, key: &str) -> RateLimit {
        RateLimit {
            requests,
            per_seconds,
            burst: None,
            key: key.to_owned(),
        }
    }

    #[test]
    fn numbers_and_keys_are_checked_naming_the_field() {
        assert!(limit(100, 10, "client_ip").check().is_ok());
        assert!(limit(5, 1, "header:x-api-key").check().is_ok());
        assert_eq!(
            limit(0, 10, "client_ip").check().unwrap_err().field,
            "rate_limit.requests"
        );
        assert_eq!(
            limit(1, 0, "client_ip").check().unwrap_err().field,
            "rate_limit.per_seconds"
        );
        assert_eq!(
            limit(1, 1, "cookie").check().unwrap_err().field,
            "rate_limit.key"
        );
        assert_eq!(
            limit(1, 1, "header:").check().unwrap_err().field,
            "rate_limit.key"
        );
        assert_eq!(
            limit(1, 1, "header:bad name").check().unwrap_err().field,
            "rate_limit.key"
        );
        let mut bursty = limit(1, 1, "client_ip");
        bursty.burst = Some(0);
        assert_eq!(bursty.check().unwrap_err().field, "rate_limit.burst");
    }

    #[test]
    fn whole_numbers_are_taken_as_json_writes_them() {
        let parsed: RateLimit =
            serde_json::from_str(r#"{"requests": 10.0, "per_seconds": 2, "burst": null}"#).unwrap();
        assert_eq!(
            (parsed.requests, parsed.per_seconds, parsed.burst),
            (10, 2, None)
        );
        assert_eq!(parsed.key, "client_ip");
        assert!(
            serde_json::from_str::<RateLimit>(r#"{"requests": 1.5, "per_seconds": 2}"#).is_err()
        );
        let shown = serde_json::to_value(&parsed).unwrap();
        assert!(shown.get("burst").is_none(), "{shown}");
    }

    #[test]
    fn the_average_rate_is_an_interval_and_burst_defaults_to_requests() {
        let l = limit(100, 10, "client_ip");
        assert_eq!((l.interval_ms(), l.burst()), (100, 100));
        assert_eq!(limit(5_000, 1, "client_ip").interval_ms(), 1);
        assert_eq!(
            limit(1, 1, "header:X-Api-Key").limit_key(),
            LimitKey::Header(http::HeaderName::from_static("x-api-key"))
        );
    }
}
