//! A string that must never be printed: private keys, tokens, key authorizations.
//!
//! `Debug` and `Display` print `[redacted]`, so a secret that slips into a `tracing` field or an
//! error message is not leaked. Read the value with [`Secret::expose`], on purpose.

use std::fmt;

/// An owned secret string with a redacting `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself; call sites are the places that may see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}
