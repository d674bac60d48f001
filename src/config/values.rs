//! Parsing raw setting values: the TOML file, and typed accessors whose errors name the
//! variable and what it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use super::{ConfigError, LogFormat, RawValues, RedisUrl, KNOWN};
use crate::certs::model::KeyType;
use crate::secret::Secret;

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
        if !KNOWN.contains(&name.as_str()) || key != key.to_ascii_lowercase() {
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

    pub(super) fn number(
        &self,
        name: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => self.fail(name, &format!("a whole number from {min} to {max}")),
        }
    }

    pub(super) fn seconds(
        &self,
        name: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, min, max)
            .map(Duration::from_secs)
    }

    pub(super) fn url(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let text = self.get(name).unwrap_or(default);
        if text.starts_with("https://") || text.starts_with("http://") {
            Ok(text.to_owned())
        } else {
            self.fail(name, "an http:// or https:// URL")
        }
    }

    pub(super) fn file(&self, name: &str) -> Result<Option<PathBuf>, ConfigError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(path) if Path::new(path).is_file() => Ok(Some(PathBuf::from(path))),
            Some(_) => self.fail(name, "the path of a readable PEM file"),
        }
    }

    pub(super) fn addr(&self, name: &str, default: &str) -> Result<SocketAddr, ConfigError> {
        match self.get(name).unwrap_or(default).parse() {
            Ok(addr) => Ok(addr),
            Err(_) => self.fail(
                name,
                "an IP address and port, such as 0.0.0.0:443 or [::]:443",
            ),
        }
    }

    pub(super) fn rsa_key_size(&self) -> Result<u32, ConfigError> {
        match self.get("RSA_KEY_SIZE").unwrap_or("2048") {
            "2048" => Ok(2048),
            "3072" => Ok(3072),
            "4096" => Ok(4096),
            _ => self.fail("RSA_KEY_SIZE", "2048, 3072 or 4096"),
        }
    }

    pub(super) fn key_type(&self) -> Result<KeyType, ConfigError> {
        match self.get("KEY_TYPE").unwrap_or("rsa").parse() {
            Ok(kind) => Ok(kind),
            Err(_) => self.fail("KEY_TYPE", "rsa or ecdsa-p256"),
        }
    }

    pub(super) fn redis_url(&self) -> Result<RedisUrl, ConfigError> {
        let url = self.get("REDIS_URL").unwrap_or("redis://127.0.0.1:6379");
        let schemes = [
            "redis://",
            "rediss://",
            "redis-cluster://",
            "rediss-cluster://",
        ];
        if schemes.iter().any(|s| url.starts_with(s))
            && fred::types::config::Config::from_url(url).is_ok()
        {
            Ok(RedisUrl::new(url))
        } else {
            // The value may carry a password: echo it redacted.
            Err(ConfigError {
                variable: "REDIS_URL".into(),
                accepts:
                    "a redis://, rediss:// or redis-cluster:// URL such as redis://127.0.0.1:6379"
                        .into(),
                got: super::redact_url(url),
            })
        }
    }

    pub(super) fn key_prefix(&self) -> Result<String, ConfigError> {
        let prefix = self.get("REDIS_KEY_PREFIX").unwrap_or("certgate:");
        let ok = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '{' && c != '}');
        if ok {
            Ok(prefix.to_owned())
        } else {
            self.fail(
                "REDIS_KEY_PREFIX",
                "1 to 64 printable characters without braces",
            )
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
                accepts: "at least 24 printable characters without spaces".into(),
                got: "[redacted]".into(),
            }),
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
                Err(_) => {
                    return self.fail(name, "comma-separated CIDRs such as 10.0.0.0/8,::1/128")
                }
            }
        }
        Ok(nets)
    }

    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some("true") | Some("1") | Some("yes") => Ok(true),
            Some("false") | Some("0") | Some("no") => Ok(false),
            Some(_) => self.fail(name, "true or false"),
        }
    }

    pub(super) fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.get("LOG_FORMAT").unwrap_or("text") {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => self.fail("LOG_FORMAT", "text or json"),
        }
    }

    pub(super) fn log_level(&self) -> Result<String, ConfigError> {
        let level = self.get("LOG_LEVEL").unwrap_or("info");
        let simple = ["error", "warn", "info", "debug", "trace", "off"];
        if simple.contains(&level) || tracing_subscriber::EnvFilter::try_new(level).is_ok() {
            Ok(level.to_owned())
        } else {
            self.fail(
                "LOG_LEVEL",
                "error, warn, info, debug, trace or a tracing filter",
            )
        }
    }
}
