//! Compressed certificate messages (RFC 8879) kept by their content, so that a chain is
//! compressed once while it is being served, not once per handshake.
//!
//! rustls' own cache (`CompressionCache`) finds an entry by comparing it with every entry kept,
//! which bounds it to a few hundred chains; with handshakes spread over more certificates than
//! that, nearly every handshake compressed its chain again, ≈ 60 µs of CPU a handshake (brotli
//! allocates and clears its tables for each call), and one worker did 0.79× the handshakes of
//! the same load without compression (10,000 names, `BENCH_SECTIONS=scale`). Here an entry is
//! found by the SHA-256 of the uncompressed message, so the cache can hold as many chains as the
//! certificate cache: the bound is in bytes ([`BYTES_KEPT`]), and eviction is by CLOCK (an
//! entry served since its last round gets another).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use aws_lc_rs::digest::{digest, SHA256};

/// Compressed bytes kept at most, with [`ENTRY_OVERHEAD`] counted per entry: ≈ 12,000 chains of
/// an ECDSA leaf and an RSA intermediate (≈ 1.3 KiB compressed).
pub const BYTES_KEPT: usize = 16 << 20;

/// What an entry costs beyond its bytes: the digest in the map and in the queue, the map's slot.
const ENTRY_OVERHEAD: usize = 96;

/// An entry's key: the algorithm's code point and the SHA-256 of the uncompressed message.
type Key = (u16, [u8; 32]);

/// The key of `uncompressed` compressed by `algorithm`.
pub fn key_of(algorithm: u16, uncompressed: &[u8]) -> Key {
    let mut sha = [0u8; 32];
    sha.copy_from_slice(digest(&SHA256, uncompressed).as_ref());
    (algorithm, sha)
}

struct Entry {
    compressed: Box<[u8]>,
    /// Served since the CLOCK hand last passed it.
    used: bool,
}

/// What keeping `compressed_len` bytes costs against the budget.
fn cost_of(compressed_len: usize) -> usize {
    compressed_len + ENTRY_OVERHEAD
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys in the order the CLOCK hand visits them.
    queue: VecDeque<Key>,
    bytes: usize,
}

/// The kept compressions, bounded to `budget` bytes.
pub struct CompressedChains {
    inner: Mutex<Inner>,
    budget: usize,
}

impl CompressedChains {
    /// An empty cache that keeps at most `budget` bytes (entries counted with their overhead).
    pub fn new(budget: usize) -> Self {
        CompressedChains {
            inner: Mutex::default(),
            budget,
        }
    }

    /// The compression kept under `key`, copied (rustls takes it by value).
    pub fn get(&self, key: &Key) -> Option<Vec<u8>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entries.get_mut(key)?;
        entry.used = true;
        Some(entry.compressed.to_vec())
    }

    /// Keeps `compressed` under `key`, evicting what has not been served since the hand last
    /// passed until the cache is within its budget. A compression larger than the whole budget
    /// is not kept.
    pub fn insert(&self, key: Key, compressed: &[u8]) {
        let cost = cost_of(compressed.len());
        if cost > self.budget {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = Entry {
            compressed: compressed.into(),
            used: false,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            // Two handshakes compressed the same chain at once: the first one's is replaced.
            inner.bytes -= cost_of(old.compressed.len());
        } else {
            inner.queue.push_back(key);
        }
        inner.bytes += cost;
        while inner.bytes > self.budget {
            let Some(oldest) = inner.queue.pop_front() else {
                break;
            };
            // The queue holds each kept key once, so the entry is there.
            match inner.entries.get_mut(&oldest) {
                Some(entry) if entry.used => {
                    entry.used = false;
                    inner.queue.push_back(oldest);
                }
                _ => {
                    if let Some(gone) = inner.entries.remove(&oldest) {
                        inner.bytes -= cost_of(gone.compressed.len());
                    }
                }
            }
        }
    }

    /// Entries kept (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().entries.len()
    }
}

impl std::fmt::Debug for CompressedChains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompressedChains")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_compression_is_found_by_content_and_algorithm() {
        let chains = CompressedChains::new(BYTES_KEPT);
        let key = key_of(2, b"chain");
        assert_eq!(chains.get(&key), None);
        chains.insert(key, b"compressed");
        assert_eq!(
            chains.get(&key_of(2, b"chain")).as_deref(),
            Some(&b"compressed"[..])
        );
        assert_eq!(chains.get(&key_of(1, b"chain")), None);
        assert_eq!(chains.get(&key_of(2, b"other chain")), None);
    }

    #[test]
    fn the_budget_evicts_what_was_not_served_since_the_hand_passed() {
        // Room for three entries of 100 bytes.
        let chains = CompressedChains::new(3 * cost_of(100));
        let keys: Vec<Key> = (0..4u8).map(|i| key_of(1, &[i])).collect();
        for key in &keys[..3] {
            chains.insert(*key, &[0; 100]);
        }
        assert!(chains.get(&keys[0]).is_some());
        chains.insert(keys[3], &[0; 100]);
        assert_eq!(chains.len(), 3);
        assert!(
            chains.get(&keys[0]).is_some(),
            "served, so it got a second round"
        );
        assert!(chains.get(&keys[1]).is_none(), "the oldest not served left");
        assert!(chains.get(&keys[2]).is_some());
        assert!(chains.get(&keys[3]).is_some());
    }

    #[test]
    fn the_same_chain_kept_twice_is_counted_once() {
        let chains = CompressedChains::new(2 * cost_of(100));
        let (a, b) = (key_of(1, b"a"), key_of(1, b"b"));
        chains.insert(a, &[0; 100]);
        chains.insert(a, &[1; 100]);
        chains.insert(b, &[0; 100]);
        assert_eq!(chains.len(), 2);
        assert_eq!(chains.get(&a), Some(vec![1; 100]));
    }

    #[test]
    fn a_compression_larger_than_the_budget_is_not_kept() {
        let chains = CompressedChains::new(100);
        chains.insert(key_of(1, b"a"), &[0; 100]);
        assert_eq!(chains.len(), 0);
    }
}
