//! The SNI certificate cache (`docs/edge.md`, "Choosing the certificate").
//!
//! Readers (every handshake) load an immutable [`Snapshot`] through `ArcSwap`: a cached name never
//! waits on Redis or a lock. A name not in the cache is looked up in Redis on demand (through its
//! hostname claim, which lists the certificates naming it) and cached; a miss is remembered for
//! [`NEGATIVE_TTL`] so unknown names cost no Redis round trip each. The cache holds at most
//! `max_entries` certificates and evicts the least recently used beyond that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::certified::ServedCert;
use crate::store::Store;

/// How long an unknown name is remembered as unknown.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Most names remembered as unknown (a flood of random SNI names cannot grow it without bound).
const NEGATIVE_MAX: usize = 100_000;

/// One immutable view of the cache.
#[derive(Default)]
struct Snapshot {
    by_name: HashMap<String, Arc<ServedCert>>,
    exact: HashMap<String, Arc<ServedCert>>,
    /// `example.com` → the certificate for `*.example.com`.
    wildcard: HashMap<String, Arc<ServedCert>>,
}

impl Snapshot {
    fn build(by_name: HashMap<String, Arc<ServedCert>>) -> Snapshot {
        let mut exact: HashMap<String, Arc<ServedCert>> = HashMap::new();
        let mut wildcard: HashMap<String, Arc<ServedCert>> = HashMap::new();
        for cert in by_name.values() {
            for domain in &cert.domains {
                let (map, key) = match domain.strip_prefix("*.") {
                    Some(suffix) => (&mut wildcard, suffix),
                    None => (&mut exact, domain.as_str()),
                };
                // Two certificates for one name: serve the one that lasts longer.
                let better = map
                    .get(key)
                    .is_none_or(|held| cert.not_after > held.not_after);
                if better {
                    map.insert(key.to_owned(), cert.clone());
                }
            }
        }
        Snapshot {
            by_name,
            exact,
            wildcard,
        }
    }
}

pub struct CertCache {
    snapshot: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    negative: Mutex<HashMap<String, Instant>>,
    clock: AtomicU64,
    max_entries: usize,
    store: Store,
}

impl CertCache {
    pub fn new(store: Store, max_entries: usize) -> CertCache {
        CertCache {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            writer: Mutex::new(()),
            negative: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(1),
            max_entries: max_entries.max(1),
            store,
        }
    }

    /// The certificate for a handshake: the route's certificate when it names one that is cached,
    /// else an exact name, else a wildcard. Never waits.
    pub fn select(&self, host: Option<&str>, route_cert: Option<&str>) -> Option<Arc<ServedCert>> {
        let snap = self.snapshot.load();
        let found = route_cert
            .and_then(|name| snap.by_name.get(name))
            .or_else(|| {
                let host = host?;
                snap.exact.get(host).or_else(|| {
                    host.split_once('.')
                        .and_then(|(_, parent)| snap.wildcard.get(parent))
                })
            })
            .cloned();
        if let Some(cert) = &found {
            cert.touch(self.clock.fetch_add(1, Ordering::Relaxed));
        }
        found
    }

    /// Number of cached certificates.
    pub fn len(&self) -> usize {
        self.snapshot.load().by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every cached certificate.
    pub fn all(&self) -> Vec<Arc<ServedCert>> {
        self.snapshot.load().by_name.values().cloned().collect()
    }

    /// Makes sure a handshake for `host` finds its certificate in the cache, loading it from
    /// Redis when it is not there and the name is not known to be unknown.
    pub async fn ensure(&self, host: &str, route_cert: Option<&str>) {
        if self.select(Some(host), route_cert).is_some() || self.recently_unknown(host) {
            return;
        }
        if self.store.is_down() {
            // Redis is known to be unreachable: the default certificate now, not after the
            // command timeout (and not remembered as unknown: the name may well exist).
            return;
        }
        let mut candidates = Vec::new();
        if let Some(name) = route_cert {
            candidates.push(name.to_owned());
        }
        let parent_wildcard = host
            .split_once('.')
            .map(|(_, parent)| format!("*.{parent}"));
        for claim in std::iter::once(host.to_owned()).chain(parent_wildcard) {
            match self.store.certificates_naming(&claim).await {
                Ok(names) => candidates.extend(names),
                Err(e) => {
                    tracing::debug!(host, error = %e, "on-demand certificate lookup failed");
                    return;
                }
            }
        }
        let mut found = false;
        for name in candidates {
            if let Ok(Some((record, key))) = self.store.get_certificate_with_key(&name).await {
                if let Some(cert) =
                    ServedCert::from_record(&record, key.as_ref().map(|k| k.expose()))
                {
                    found |= cert.covers(host) || route_cert == Some(name.as_str());
                    self.insert(cert);
                }
            }
        }
        if !found {
            self.remember_unknown(host);
        }
    }

    fn recently_unknown(&self, host: &str) -> bool {
        let negative = self.negative.lock().expect("negative cache lock");
        negative
            .get(host)
            .is_some_and(|at| at.elapsed() < NEGATIVE_TTL)
    }

    fn remember_unknown(&self, host: &str) {
        let mut negative = self.negative.lock().expect("negative cache lock");
        if negative.len() >= NEGATIVE_MAX {
            negative.retain(|_, at| at.elapsed() < NEGATIVE_TTL);
            if negative.len() >= NEGATIVE_MAX {
                negative.clear();
            }
        }
        negative.insert(host.to_owned(), Instant::now());
    }

    /// Forgets that these names were unknown (a certificate or route for them just appeared).
    pub fn forget_unknown<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut negative = self.negative.lock().expect("negative cache lock");
        for name in names {
            negative.remove(name);
            if let Some(suffix) = name.strip_prefix("*.") {
                negative.retain(|host, _| {
                    host.split_once('.')
                        .is_none_or(|(_, parent)| parent != suffix)
                });
            }
        }
    }

    /// Adds or replaces a certificate (by name), evicting the least recently used beyond the bound.
    pub fn insert(&self, cert: Arc<ServedCert>) {
        self.forget_unknown(cert.domains.iter().map(String::as_str));
        let _guard = self.writer.lock().expect("cert cache lock");
        let mut by_name = self.snapshot.load().by_name.clone();
        cert.touch(self.clock.fetch_add(1, Ordering::Relaxed));
        by_name.insert(cert.cert_name.clone(), cert);
        while by_name.len() > self.max_entries {
            let oldest = by_name
                .iter()
                .min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed))
                .map(|(name, _)| name.clone());
            match oldest {
                Some(name) => by_name.remove(&name),
                None => break,
            };
        }
        self.snapshot.store(Arc::new(Snapshot::build(by_name)));
    }

    pub fn remove(&self, cert_name: &str) {
        let _guard = self.writer.lock().expect("cert cache lock");
        let mut by_name = self.snapshot.load().by_name.clone();
        if by_name.remove(cert_name).is_some() {
            self.snapshot.store(Arc::new(Snapshot::build(by_name)));
        }
    }

    /// Replaces the whole cache (start-up warm-up, full resync), keeping at most the bound.
    pub fn replace_all(&self, certs: Vec<Arc<ServedCert>>) {
        let _guard = self.writer.lock().expect("cert cache lock");
        let by_name = certs
            .into_iter()
            .take(self.max_entries)
            .map(|c| (c.cert_name.clone(), c))
            .collect();
        self.snapshot.store(Arc::new(Snapshot::build(by_name)));
        self.negative.lock().expect("negative cache lock").clear();
    }
}
