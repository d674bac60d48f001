//! A value that must never be printed: private keys, tokens, key authorizations, passwords,
//! and the key bytes of an EAB HMAC or a TSIG secret.
//!
//! `Debug` prints `[redacted]`, so a secret inside a struct that is logged or debug-printed is
//! not leaked. There is no `Display` (a secret cannot be put into a message by `{}`) and no
//! `Serialize`: read the value with [`Secret::expose`], on purpose, or — for the one API answer
//! that carries a private key — serialise a field with [`expose_option`].

use std::fmt;

/// An owned secret with a redacting `Debug`: a string by default, or key bytes
/// (`Secret<Vec<u8>>`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T = String>(T);

impl Secret {
    /// Wraps a secret text.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself; call sites are the places that may see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret<Vec<u8>> {
    /// Wraps secret bytes (a MAC key, a TSIG secret).
    pub fn bytes(value: Vec<u8>) -> Self {
        Secret(value)
    }

    /// The key bytes themselves; call sites are the places that may see them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `#[serde(serialize_with = "expose_option")]`: writes an optional secret's value. Only a
/// field that an API answer deliberately carries (a private key for its owner) uses it.
pub fn expose_option<S: serde::Serializer>(
    value: &Option<Secret>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(secret) => serializer.serialize_some(secret.expose()),
        None => serializer.serialize_none(),
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, Debug)]
    struct Answer {
        #[serde(serialize_with = "expose_option")]
        key: Option<Secret>,
    }

    #[test]
    fn key_bytes_never_print() {
        let key = Secret::bytes(b"hmac key".to_vec());
        assert_eq!(format!("{key:?}"), "[redacted]");
        assert_eq!(key.expose(), b"hmac key");
    }

    #[test]
    fn debug_redacts_and_only_the_marked_field_serialises() {
        let answer = Answer {
            key: Some(Secret::new("-----BEGIN PRIVATE KEY-----")),
        };
        assert!(!format!("{answer:?}").contains("PRIVATE"));
        let json = serde_json::to_string(&answer).unwrap();
        assert!(json.contains("PRIVATE"), "{json}");
    }
}
