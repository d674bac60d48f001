//! Random identifiers: lease values, lock values, epochs, and the one id of this instance.

/// `n` random bytes as hex, from the system RNG.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG available");
    hex::encode(bytes)
}

/// This process's identity among the instances sharing one Redis: made once at start-up and
/// handed to everything that tags what it writes (lease values, change events), so an instance
/// has one id, not one per component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceId(String);

impl InstanceId {
    /// A fresh random id (8 bytes, 16 hex characters).
    pub fn generate() -> InstanceId {
        InstanceId(random_hex(8))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
