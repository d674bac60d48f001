//! Parsing raw setting values: the TOML file, and typed accessors whose errors name the
//! variable and what it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use super::settings::{is_known, setting, Default, Kind};
use super::tls::TlsPolicy;
use super::{ConfigError, Eab, OnDemand, RawValues, RedisUrl};
use crate::secret::Secret;

mod dns01;

pub(super) fn read_toml(path: &Path) -> Result<RawValues, ConfigError> {
    let bad = |accepts: String| ConfigError {
        variable: "--config".into(),
        accepts,
        got: path.display().to_string(),
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("a readable TOML file ({e})")))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| bad(format!("valid TOML ({})", e.message())))?;
    let mut raw = RawValues::new();
    for (key, value) in table {
        let name = key.to_ascii_uppercase();
        if !is_known(&name) || key != key.to_ascii_lowercase() {
            return Err(ConfigError {
                variable: key,
                accepts: "one of the documented lower-case keys (see config/example.toml)".into(),
                got: scalar(&value),
            });
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
            other => scalar(&other),
        };
        raw.insert(name, text);
    }
    Ok(raw)
}

/// A TOML scalar as the text an environment variable would hold.
fn scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => "<nested value>".to_owned(),
    }
}

/// Typed accessors over the raw values; each error names its variable.
pub(super) struct Values<'a>(pub(super) &'a RawValues);

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim())
    }

    fn fail<T>(&self, name: &str, accepts: &str) -> Result<T, ConfigError> {
        Err(ConfigError {
            variable: name.into(),
            accepts: accepts.into(),
            got: self.get(name).unwrap_or_default().into(),
        })
    }

    /// The value given for `name`, else its default from the table (`None`: unset).
    fn value(&self, name: &str) -> Option<&str> {
        self.get(name).or(match setting(name).default {
            Default::Value(v) => Some(v),
            Default::Unset { .. } | Default::Cores => None,
        })
    }

    /// Fails naming `name` and what its table entry accepts.
    fn refuse<T>(&self, name: &str) -> Result<T, ConfigError> {
        self.fail(name, &setting(name).accepts())
    }

    /// A [`Kind::Number`] or [`Kind::Seconds`] setting, checked against its range.
    pub(super) fn number(&self, name: &str) -> Result<u64, ConfigError> {
        let (min, max) = match setting(name).kind {
            Kind::Number { min, max, .. } | Kind::Seconds { min, max } => (min, max),
            other => panic!("{name} is {other:?}, not a number"),
        };
        let text = match (self.value(name), setting(name).default) {
            (Some(text), _) => text,
            (None, Default::Cores) => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                return Ok((cores as u64).clamp(min, max));
            }
            (None, _) => panic!("{name} has no default"),
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => self.refuse(name),
        }
    }

    pub(super) fn seconds(&self, name: &str) -> Result<Duration, ConfigError> {
        self.number(name).map(Duration::from_secs)
    }

    pub(super) fn url(&self, name: &str) -> Result<String, ConfigError> {
        let text = self.value(name).unwrap_or_default();
        let absolute = text
            .parse::<http::Uri>()
            .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
        if (text.starts_with("https://") || text.starts_with("http://")) && absolute {
            Ok(text.to_owned())
        } else {
            self.refuse(name)
        }
    }

    pub(super) fn file(&self, name: &str) -> Result<Option<PathBuf>, ConfigError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(path) if Path::new(path).is_file() => Ok(Some(PathBuf::from(path))),
            Some(_) => self.refuse(name),
        }
    }

    pub(super) fn addr(&self, name: &str) -> Result<SocketAddr, ConfigError> {
        match self.value(name).unwrap_or_default().parse() {
            Ok(addr) => Ok(addr),
            Err(_) => self.refuse(name),
        }
    }

    /// A [`Kind::Choice`] setting: the chosen word, parsed into `T`.
    pub(super) fn choice<T: std::str::FromStr>(&self, name: &str) -> Result<T, ConfigError> {
        let Kind::Choice(words) = setting(name).kind else {
            panic!("{name} is not a choice");
        };
        let word = self.value(name).unwrap_or_default();
        match (words.contains(&word), word.parse()) {
            (true, Ok(value)) => Ok(value),
            _ => self.refuse(name),
        }
    }

    pub(super) fn redis_url(&self) -> Result<RedisUrl, ConfigError> {
        let url = self.value("REDIS_URL").unwrap_or_default();
        let schemes = [
            "redis://",
            "rediss://",
            "redis-cluster://",
            "rediss-cluster://",
            "redis-sentinel://",
            "rediss-sentinel://",
        ];
        if schemes.iter().any(|s| url.starts_with(s))
            && fred::types::config::Config::from_url(&super::redis_url::fred_url(url)).is_ok()
        {
            Ok(RedisUrl::new(url))
        } else {
            // The value may carry a password: echo it redacted.
            Err(ConfigError {
                variable: "REDIS_URL".into(),
                accepts: setting("REDIS_URL").accepts(),
                got: super::redact_url(url),
            })
        }
    }

    pub(super) fn key_prefix(&self) -> Result<String, ConfigError> {
        let prefix = self.value("REDIS_KEY_PREFIX").unwrap_or_default();
        let ok = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '{' && c != '}');
        if ok {
            Ok(prefix.to_owned())
        } else {
            self.refuse("REDIS_KEY_PREFIX")
        }
    }

    pub(super) fn admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        match self.0.get("ADMIN_TOKEN") {
            None => Ok(None),
            Some(token) if token.len() >= 24 && token.chars().all(|c| c.is_ascii_graphic()) => {
                Ok(Some(Secret::new(token.clone())))
            }
            Some(_) => Err(ConfigError {
                variable: "ADMIN_TOKEN".into(),
                accepts: setting("ADMIN_TOKEN").accepts(),
                got: "[redacted]".into(),
            }),
        }
    }

    /// An External Account Binding: both variables or neither.
    pub(super) fn eab(&self, kid_name: &str, key_name: &str) -> Result<Option<Eab>, ConfigError> {
        let kid = self.get(kid_name).unwrap_or_default();
        let key = self.get(key_name).unwrap_or_default();
        match (kid.is_empty(), key.is_empty()) {
            (true, true) => Ok(None),
            (false, false) => match decode_key(key) {
                Some(bytes) => Ok(Some(Eab {
                    kid: kid.to_owned(),
                    hmac_key: Secret::bytes(bytes),
                })),
                None => Err(ConfigError {
                    variable: key_name.into(),
                    accepts: setting(key_name).accepts(),
                    got: "[redacted]".into(),
                }),
            },
            _ => Err(ConfigError {
                variable: format!("{kid_name} and {key_name}"),
                accepts: "both set, or neither".into(),
                got: if kid.is_empty() {
                    format!("{key_name} set, {kid_name} empty")
                } else {
                    format!("{kid_name} set, {key_name} empty")
                },
            }),
        }
    }

    /// An optional `ip:port` (empty: `None`).
    pub(super) fn socket_addr(
        &self,
        name: &str,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let text = self.get(name).unwrap_or_default().trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| ConfigError {
            variable: name.into(),
            accepts: "ip:port (e.g. 10.0.0.2:53 or [fd00::2]:53), or empty".into(),
            got: text.into(),
        })
    }

    /// The on-demand settings, when `ON_DEMAND=true`.
    pub(super) fn on_demand(&self) -> Result<Option<OnDemand>, ConfigError> {
        if !self.flag("ON_DEMAND")? {
            return Ok(None);
        }
        let optional_url = |name: &str, schemes: &[&str]| -> Result<Option<String>, ConfigError> {
            let text = self.get(name).unwrap_or_default().trim();
            if text.is_empty() {
                return Ok(None);
            }
            let ok = schemes.iter().any(|s| text.starts_with(s))
                && text
                    .parse::<http::Uri>()
                    .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
            if ok {
                Ok(Some(text.trim_end_matches('/').to_owned()))
            } else {
                Err(ConfigError {
                    variable: name.into(),
                    accepts: format!("empty, or a URL starting with {}", schemes.join(" or ")),
                    got: text.into(),
                })
            }
        };
        Ok(Some(OnDemand {
            ask_url: optional_url("ON_DEMAND_ASK_URL", &["http://", "https://"])?,
            ask_allow_ttl: self.seconds("ON_DEMAND_ASK_ALLOW_TTL_SECONDS")?,
            ask_deny_ttl: self.seconds("ON_DEMAND_ASK_DENY_TTL_SECONDS")?,
            handshake_wait: self.seconds("ON_DEMAND_HANDSHAKE_WAIT")?,
            rate_per_minute: self.number("ON_DEMAND_RATE")?,
            max_concurrent: self.number("ON_DEMAND_MAX_CONCURRENT")? as usize,
            upstream: optional_url("ON_DEMAND_UPSTREAM", &["http://"])?,
            challenge: self.choice("ON_DEMAND_CHALLENGE")?,
        }))
    }

    pub(super) fn profile(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.value(name).unwrap_or_default() {
            "" => Ok(None),
            p if is_profile_name(p) => Ok(Some(p.to_owned())),
            _ => self.refuse(name),
        }
    }

    pub(super) fn cidrs(&self, name: &str) -> Result<Vec<IpNet>, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(Vec::new());
        };
        let mut nets = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from));
            match net {
                Ok(net) => nets.push(net),
                Err(_) => return self.refuse(name),
            }
        }
        Ok(nets)
    }

    /// A comma-separated list of [`Kind::List`]'s words (the default when unset), no word twice.
    pub(super) fn list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let Kind::List(words) = setting(name).kind else {
            unreachable!("{name} is not a list setting")
        };
        let text = match (self.get(name), setting(name).default) {
            (Some(given), _) if !given.trim().is_empty() => given,
            (_, Default::Value(default)) => default,
            _ => "",
        };
        let mut chosen: Vec<String> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !words.contains(&item) || chosen.iter().any(|c| c == item) {
                return self.refuse(name);
            }
            chosen.push(item.to_owned());
        }
        if chosen.is_empty() {
            return self.refuse(name);
        }
        Ok(chosen)
    }

    /// A [`Kind::MediaTypes`] list (the default when unset): each `type/subtype` or `type/*`,
    /// lower-cased.
    pub(super) fn media_types(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let text = self.value(name).unwrap_or_default();
        let mut types = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            match item.split_once('/') {
                Some((kind, sub)) if token(kind) && (sub == "*" || token(sub)) => {
                    types.push(item.to_ascii_lowercase())
                }
                _ => return self.refuse(name),
            }
        }
        Ok(types)
    }

    /// `KEY_ENCRYPTION_KEYS`: the key file read and checked now (a bad line fails start-up,
    /// named); `None` when unset.
    pub(super) fn sealer(
        &self,
    ) -> Result<Option<std::sync::Arc<crate::sealing::Sealer>>, ConfigError> {
        let name = "KEY_ENCRYPTION_KEYS";
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(path) => crate::sealing::Sealer::load(Path::new(path))
                .map(|sealer| Some(std::sync::Arc::new(sealer)))
                .map_err(|why| ConfigError {
                    variable: name.into(),
                    accepts: why,
                    got: path.into(),
                }),
        }
    }

    /// A [`Kind::Text`] setting, its default when unset.
    pub(super) fn text(&self, name: &str) -> String {
        self.value(name).unwrap_or_default().to_owned()
    }

    pub(super) fn tls_policy(&self) -> Result<TlsPolicy, ConfigError> {
        Ok(TlsPolicy {
            key_exchange_groups: self.list("TLS_KEY_EXCHANGE_GROUPS")?,
            min_version: self.choice("TLS_MIN_VERSION")?,
            cert_compression: self.flag("TLS_CERT_COMPRESSION")?,
            crl_refresh: self.seconds("CRL_REFRESH_SECONDS")?,
        })
    }

    pub(super) fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        let given = self.get(name).filter(|v| !v.is_empty());
        let default = match setting(name).default {
            Default::Value(v) => Some(v),
            _ => None,
        };
        match given.or(default) {
            Some("true") | Some("1") | Some("yes") => Ok(true),
            Some("false") | Some("0") | Some("no") => Ok(false),
            _ => self.refuse(name),
        }
    }

    pub(super) fn log_level(&self) -> Result<String, ConfigError> {
        let level = self.value("LOG_LEVEL").unwrap_or_default();
        let simple = ["error", "warn", "info", "debug", "trace", "off"];
        if simple.contains(&level) || tracing_subscriber::EnvFilter::try_new(level).is_ok() {
            Ok(level.to_owned())
        } else {
            self.refuse("LOG_LEVEL")
        }
    }
}

/// A CA profile name as certgate accepts one: 1 to 64 letters, digits, '.', '_' or '-'.
pub fn is_profile_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A key in base64 or base64url, padding optional; `None` when it is neither or empty.
fn decode_key(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let bare = text.trim().trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(bare)
        .or_else(|_| URL_SAFE_NO_PAD.decode(bare))
        .ok()
        .filter(|bytes| !bytes.is_empty())
}
