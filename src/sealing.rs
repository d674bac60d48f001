//! Private keys encrypted at rest (`KEY_ENCRYPTION_KEYS`, `docs/operations.md`, "Keys at rest"):
//! envelope encryption of every private key certgate stores in Redis — certificate keys and
//! ACME account keys — with AES-256-GCM from aws-lc-rs.
//!
//! A sealed value reads `sealed:v1:<key id>:<base64 of nonce, ciphertext and tag>`. The Redis
//! key and field it is stored under are the associated data, so a value copied into another
//! record does not open there. Values written before encryption was turned on (plain PEM or
//! JSON) are read as they are and sealed at their next write (or by `certgate keys rotate`).
//! A value no configured key opens is never returned garbled: the read says so, by name, and
//! the registry here lets `/health` and `/metrics` report it until a read succeeds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;

use crate::secret::Secret;

/// The prefix of a sealed value (format version 1).
const PREFIX: &str = "sealed:v1:";

/// The configured keys, the current one (which seals) first.
pub struct Sealer {
    keys: Vec<(String, LessSafeKey)>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Sealer").field("key_ids", &ids).finish()
    }
}

/// Why a stored value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Sealed with a key id no configured key has.
    #[error("sealed with key {0:?}, which KEY_ENCRYPTION_KEYS does not hold")]
    UnknownKey(String),
    /// The key is there but the value does not open with it (altered, or moved from another
    /// record).
    #[error("does not open with key {0:?} (altered, or copied from another record)")]
    Tampered(String),
    /// Sealed, but encryption is not configured on this instance.
    #[error("sealed with key {0:?}, and KEY_ENCRYPTION_KEYS is not set")]
    NoKeys(String),
}

impl Sealer {
    /// Reads a key file: one `id:base64key` per line (32-byte keys; `#` comments and blank
    /// lines skipped), the first the current one. An error names the line and never shows key
    /// material.
    pub fn load(path: &Path) -> Result<Sealer, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        Sealer::parse(&text).map_err(|(line, why)| match line {
            0 => why.to_owned(),
            n => format!("line {n}: {why}"),
        })
    }

    fn parse(text: &str) -> Result<Sealer, (usize, &'static str)> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((id, encoded)) = line.split_once(':') else {
                return Err((i + 1, "expected id:base64key"));
            };
            let id_ok = (1..=32).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err((i + 1, "the id must be 1 to 32 letters, digits, '-' or '_'"));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err((i + 1, "this id is listed twice"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| (i + 1, "the key is not base64"))?;
            let bytes = Secret::bytes(bytes);
            let unbound = UnboundKey::new(&AES_256_GCM, bytes.expose())
                .map_err(|_| (i + 1, "the key must be 32 bytes (openssl rand -base64 32)"))?;
            keys.push((id.to_owned(), LessSafeKey::new(unbound)));
        }
        if keys.is_empty() {
            return Err((0, "no key in the file"));
        }
        Ok(Sealer { keys })
    }

    /// The current key's id.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// `plain` sealed under the current key, bound to `aad` (the Redis key and field).
    pub fn seal(&self, aad: &str, plain: &str) -> String {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random source works");
        let mut sealed = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM seals any length certgate stores");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{id}:{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Whether `stored` is sealed under the current key already.
    pub fn is_current(&self, stored: &str) -> bool {
        key_id(stored) == Some(self.current_id())
    }

    fn open_sealed(&self, aad: &str, id: &str, body: &str) -> Result<Secret, Unreadable> {
        let Some((_, key)) = self.keys.iter().find(|(known, _)| known == id) else {
            return Err(Unreadable::UnknownKey(id.to_owned()));
        };
        let tampered = || Unreadable::Tampered(id.to_owned());
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| tampered())?;
        if bytes.len() < NONCE_LEN {
            return Err(tampered());
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| tampered())?;
        let plain = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out)
            .map_err(|_| tampered())?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| tampered())
    }
}

/// The key id a stored value is sealed under (`None`: not sealed).
pub fn key_id(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(PREFIX)?
        .split_once(':')
        .map(|(id, _)| id)
}

/// Opens a stored value: a sealed one with `sealer`, a plain one as it is. A failure is
/// recorded under `name` (the record's name, for `/health`); a success clears it.
pub fn open(
    sealer: Option<&Sealer>,
    name: &str,
    aad: &str,
    stored: String,
) -> Result<Secret, Unreadable> {
    let result = match stored
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once(':'))
    {
        None => Ok(Secret::new(stored)),
        Some((id, body)) => match sealer {
            Some(sealer) => sealer.open_sealed(aad, id, body),
            None => Err(Unreadable::NoKeys(id.to_owned())),
        },
    };
    let mut unreadable = registry();
    match &result {
        Ok(_) => {
            unreadable.remove(name);
        }
        Err(why) => {
            if unreadable
                .insert(name.to_owned(), why.to_string())
                .is_none()
            {
                tracing::error!(record = name, why = %why, "a stored private key cannot be opened; it is not served");
            }
        }
    }
    result
}

/// `value` sealed when a sealer is configured, else as it is.
pub fn seal_if(sealer: Option<&Sealer>, aad: &str, value: &str) -> String {
    match sealer {
        Some(sealer) => sealer.seal(aad, value),
        None => value.to_owned(),
    }
}

static UNREADABLE: LazyLock<Mutex<BTreeMap<String, String>>> = LazyLock::new(Default::default);

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<String, String>> {
    UNREADABLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The records whose key could not be opened at their last read, with why.
pub fn unreadable() -> Vec<(String, String)> {
    registry()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn a_sealed_value_opens_only_under_its_own_name_and_key() {
        let sealer = Sealer::parse(K1).unwrap();
        let sealed = sealer.seal("cert:{a}#private_key", "-----BEGIN PRIVATE KEY-----");
        assert!(sealed.starts_with("sealed:v1:k1:") && !sealed.contains("BEGIN"));
        assert_ne!(
            sealed,
            sealer.seal("cert:{a}#private_key", "-----BEGIN PRIVATE KEY-----")
        );
        let opened = open(Some(&sealer), "a", "cert:{a}#private_key", sealed.clone()).unwrap();
        assert_eq!(opened.expose(), "-----BEGIN PRIVATE KEY-----");
        let moved = open(Some(&sealer), "b", "cert:{b}#private_key", sealed.clone());
        assert_eq!(moved.unwrap_err(), Unreadable::Tampered("k1".into()));
        assert!(unreadable().iter().any(|(name, _)| name == "b"));
        let other = Sealer::parse(K2).unwrap();
        let unknown = open(Some(&other), "c", "cert:{a}#private_key", sealed.clone());
        assert_eq!(unknown.unwrap_err(), Unreadable::UnknownKey("k1".into()));
        assert!(open(None, "d", "cert:{a}#private_key", sealed).is_err());
        // Plain values pass as they are.
        let plain = open(Some(&sealer), "e", "x", "-----BEGIN".to_owned()).unwrap();
        assert_eq!(plain.expose(), "-----BEGIN");
    }

    #[test]
    fn the_first_key_seals_and_older_ones_still_open() {
        let old = Sealer::parse(K1).unwrap();
        let sealed = old.seal("aad", "secret");
        let rotated = Sealer::parse(&format!("{K2}\n# the old one\n{K1}\n")).unwrap();
        assert_eq!(rotated.current_id(), "k2");
        assert!(!rotated.is_current(&sealed));
        assert_eq!(
            open(Some(&rotated), "f", "aad", sealed).unwrap().expose(),
            "secret"
        );
        assert!(rotated.is_current(&rotated.seal("aad", "secret")));
    }

    #[test]
    fn a_malformed_file_names_the_line_and_never_the_key() {
        let err = |text: &str| Sealer::parse(text).map(|_| ()).unwrap_err();
        assert_eq!(err("").0, 0);
        assert_eq!(
            err(&format!("{K1}\nk2 no colon")),
            (2, "expected id:base64key")
        );
        assert_eq!(err("k1:not*base64").0, 1);
        assert_eq!(
            err("k1:AAEC").1,
            "the key must be 32 bytes (openssl rand -base64 32)"
        );
        assert_eq!(err(&format!("{K1}\n{K1}")), (2, "this id is listed twice"));
        assert_eq!(err("bad id:AAEC").0, 1);
        let debug = format!("{:?}", Sealer::parse(K1).unwrap());
        assert!(debug.contains("k1") && !debug.contains("AAEC"), "{debug}");
    }
}
