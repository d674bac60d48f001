//! The SNI certificate cache (`docs/edge.md`, "Choosing the certificate").
//!
//! Readers (every handshake) take a read lock on the indexes for a few hash lookups: a cached name
//! never waits on Redis, and writers hold the lock only for work proportional to one certificate
//! (not to the cache: with 10,000 cached and most handshakes missing, rebuilding an immutable
//! snapshot per miss held the handshake rate to 0.14× of one name's). A name not in the cache is looked up in Redis on demand (through its
//! hostname claim, which lists the certificates naming it) and cached; a miss is remembered for
//! [`NEGATIVE_TTL`] so unknown names cost no Redis round trip each. The cache holds at most
//! `max_entries` certificates and evicts beyond that by CLOCK (an approximate least recently used).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::certified::ServedCert;
use super::shared_loads::SharedLoads;
use crate::store::Store;

/// How long an unknown name is remembered as unknown.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Most names remembered as unknown (a flood of random SNI names cannot grow it without bound).
const NEGATIVE_MAX: usize = 100_000;

/// The cached certificates and the indexes a handshake reads.
#[derive(Default)]
struct Inner {
    by_name: HashMap<String, Arc<ServedCert>>,
    /// A name → the cached certificates naming it exactly.
    exact: HashMap<String, Vec<Arc<ServedCert>>>,
    /// `example.com` → the cached certificates for `*.example.com`.
    wildcard: HashMap<String, Vec<Arc<ServedCert>>>,
    /// Certificates in the order they were cached, with the clock then: the eviction queue
    /// (CLOCK: one used since it was queued gets a second round instead of leaving).
    queue: VecDeque<(Arc<ServedCert>, u64)>,
}

/// Whose certificates may serve a handshake.
#[derive(Clone, Copy, Debug)]
pub enum Servable<'a> {
    /// Anyone's (a host without a route).
    Any,
    /// Only those of `owner` (the route's) or of the admin (`None` while not known).
    OwnedBy {
        /// The route owner's token hash.
        owner: &'a str,
        /// The admin token's hash.
        admin: Option<&'a str>,
    },
}

impl Servable<'_> {
    fn allows(&self, cert: &ServedCert) -> bool {
        match self {
            Servable::Any => true,
            Servable::OwnedBy { owner, admin } => {
                let held_by = cert.record.owner_token_hash.as_str();
                held_by == *owner || Some(held_by) == *admin
            }
        }
    }
}

/// Of several cached certificates for one name that may serve it, the one that lasts longer.
fn best<'c>(
    held: Option<&'c Vec<Arc<ServedCert>>>,
    servable: &Servable<'_>,
) -> Option<&'c Arc<ServedCert>> {
    held?
        .iter()
        .filter(|c| servable.allows(c))
        .max_by_key(|c| c.not_after)
}

impl Inner {
    fn from_certs(certs: impl IntoIterator<Item = Arc<ServedCert>>) -> Inner {
        let mut inner = Inner::default();
        for cert in certs {
            inner.add(cert, 0);
        }
        inner
    }

    fn select(
        &self,
        host: Option<&str>,
        route_cert: Option<&str>,
        servable: &Servable<'_>,
    ) -> Option<&Arc<ServedCert>> {
        route_cert
            .and_then(|name| self.by_name.get(name))
            .or_else(|| {
                let host = host?;
                best(self.exact.get(host), servable).or_else(|| {
                    let (_, parent) = host.split_once('.')?;
                    best(self.wildcard.get(parent), servable)
                })
            })
    }

    /// Caches `cert` (replacing one of the same name); `clock` is now.
    fn add(&mut self, cert: Arc<ServedCert>, clock: u64) {
        self.remove(&cert.cert_name);
        for domain in &cert.domains {
            let (map, key) = match domain.strip_prefix("*.") {
                Some(suffix) => (&mut self.wildcard, suffix),
                None => (&mut self.exact, domain.as_str()),
            };
            map.entry(key.to_owned()).or_default().push(cert.clone());
        }
        self.by_name.insert(cert.cert_name.clone(), cert.clone());
        self.queue.push_back((cert, clock));
        // Entries of replaced or removed certificates leave the queue when they reach its front;
        // compact it when they pile up (many renewals and no eviction).
        if self.queue.len() > 2 * self.by_name.len() + 1024 {
            let by_name = &self.by_name;
            self.queue
                .retain(|(c, _)| by_name.get(&c.cert_name).is_some_and(|h| Arc::ptr_eq(h, c)));
        }
    }

    fn remove(&mut self, cert_name: &str) -> bool {
        let Some(old) = self.by_name.remove(cert_name) else {
            return false;
        };
        for domain in &old.domains {
            let (map, key) = match domain.strip_prefix("*.") {
                Some(suffix) => (&mut self.wildcard, suffix),
                None => (&mut self.exact, domain.as_str()),
            };
            if let Some(held) = map.get_mut(key) {
                held.retain(|c| !Arc::ptr_eq(c, &old));
                if held.is_empty() {
                    map.remove(key);
                }
            }
        }
        true
    }

    /// Evicts until at most `max` are cached: the oldest in the queue not used since it was
    /// queued (a used one is queued again, once per round), never `keep` (the certificate just
    /// cached, which the handshake waiting for it is about to select). O(1) per eviction on
    /// average.
    fn evict_to(&mut self, max: usize, clock: u64, keep: &str) {
        let mut second_chances = self.queue.len();
        while self.by_name.len() > max {
            let Some((cert, queued)) = self.queue.pop_front() else {
                break;
            };
            let live = self
                .by_name
                .get(&cert.cert_name)
                .is_some_and(|held| Arc::ptr_eq(held, &cert));
            if !live {
                continue;
            }
            if cert.cert_name == keep {
                self.queue.push_back((cert, clock));
                continue;
            }
            if second_chances > 0 && cert.last_used.load(Ordering::Relaxed) > queued {
                second_chances -= 1;
                self.queue.push_back((cert, clock));
                continue;
            }
            self.remove(&cert.cert_name);
        }
    }
}

/// The edge's certificates by name, loaded from Redis and bounded to `CERT_CACHE_SIZE` (least recently used out), with a short negative cache for names Redis does not have.
pub struct CertCache {
    inner: RwLock<Inner>,
    negative: Mutex<HashMap<String, Instant>>,
    /// Misses being loaded from Redis: concurrent ones for a name share one load.
    loading: SharedLoads,
    clock: AtomicU64,
    max_entries: usize,
    store: Store,
}

impl CertCache {
    /// An empty cache reading from `store`, holding at most `max_entries`.
    pub fn new(store: Store, max_entries: usize) -> CertCache {
        CertCache {
            inner: RwLock::new(Inner::default()),
            negative: Mutex::new(HashMap::new()),
            loading: SharedLoads::default(),
            clock: AtomicU64::new(1),
            max_entries: max_entries.max(1),
            store,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The certificate for a handshake: the route's certificate when it names one that is cached,
    /// else an exact name, else a wildcard, of those `servable` allows. Never waits on Redis.
    pub fn select(
        &self,
        host: Option<&str>,
        route_cert: Option<&str>,
        servable: &Servable<'_>,
    ) -> Option<Arc<ServedCert>> {
        let found = self.read().select(host, route_cert, servable).cloned();
        if let Some(cert) = &found {
            cert.touch(self.clock.fetch_add(1, Ordering::Relaxed));
        }
        found
    }

    /// Number of cached certificates.
    pub fn len(&self) -> usize {
        self.read().by_name.len()
    }

    /// Holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every cached certificate.
    pub fn all(&self) -> Vec<Arc<ServedCert>> {
        self.read().by_name.values().cloned().collect()
    }

    /// Makes sure a handshake for `host` finds its certificate in the cache, loading it from
    /// Redis when it is not there and the name is not known to be unknown.
    pub async fn ensure(&self, host: &str, route_cert: Option<&str>, servable: &Servable<'_>) {
        if self.select(Some(host), route_cert, servable).is_some() || self.recently_unknown(host) {
            return;
        }
        if self.store.is_down() {
            // Redis is known to be unreachable: the default certificate now, not after the
            // command timeout (and not remembered as unknown: the name may well exist).
            return;
        }
        // Boxed: the Redis reads' state would otherwise size every handshake's future.
        Box::pin(
            self.loading
                .share(host, || self.load(host, route_cert, servable)),
        )
        .await
    }

    /// The miss path of [`Self::ensure`]: finds the certificates naming `host` in Redis.
    async fn load(&self, host: &str, route_cert: Option<&str>, servable: &Servable<'_>) {
        let mut candidates = Vec::new();
        if let Some(name) = route_cert {
            candidates.push(name.to_owned());
        }
        let parent_wildcard = host
            .split_once('.')
            .map(|(_, parent)| format!("*.{parent}"));
        // Both claims at once: a miss waits for one Redis round trip here, not two.
        let (exact, wildcard) = tokio::join!(self.store.certs().naming(host), async {
            match &parent_wildcard {
                Some(claim) => self.store.certs().naming(claim).await,
                None => Ok(Vec::new()),
            }
        });
        match (exact, wildcard) {
            (Ok(exact), Ok(wildcard)) => {
                // The route's certificate usually names the host too: loaded once.
                for name in exact.into_iter().chain(wildcard) {
                    if !candidates.contains(&name) {
                        candidates.push(name);
                    }
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(host, error = %e, "on-demand certificate lookup failed");
                return;
            }
        }
        let mut found = false;
        for name in candidates {
            if let Ok(Some((record, key))) = self.store.certs().get_with_key(&name).await {
                if let Some(cert) =
                    ServedCert::from_record(&record, key.as_ref().map(|k| k.expose()))
                {
                    found |= (cert.covers(host) && servable.allows(&cert))
                        || route_cert == Some(name.as_str());
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

    /// Adds or replaces a certificate (by name), evicting beyond the bound (the least recently
    /// used, approximately: see [`Inner::evict_to`]).
    pub fn insert(&self, cert: Arc<ServedCert>) {
        self.forget_unknown(cert.domains.iter().map(String::as_str));
        let clock = self.clock.fetch_add(1, Ordering::Relaxed);
        cert.touch(clock);
        let name = cert.cert_name.clone();
        let mut inner = self.write();
        inner.add(cert, clock);
        inner.evict_to(self.max_entries, clock, &name);
    }

    /// Forgets `cert_name` (deleted, or changed and to be reloaded).
    pub fn remove(&self, cert_name: &str) {
        self.write().remove(cert_name);
    }

    /// Replaces the whole cache (start-up warm-up, full resync), keeping at most the bound.
    pub fn replace_all(&self, certs: Vec<Arc<ServedCert>>) {
        let fresh = Inner::from_certs(certs.into_iter().take(self.max_entries));
        *self.write() = fresh;
        self.negative.lock().expect("negative cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str, domains: &[&str], not_after_days: i64) -> Arc<ServedCert> {
        Arc::new(ServedCert::for_test(name, domains, not_after_days))
    }

    #[test]
    fn exact_before_wildcard_and_the_longer_lasting_of_two() {
        let mut inner = Inner::default();
        inner.add(cert("wild", &["*.example.com"], 90), 1);
        inner.add(cert("short", &["a.example.com"], 10), 2);
        inner.add(cert("long", &["a.example.com"], 60), 3);
        let name = |inner: &Inner, host: &str| {
            inner
                .select(Some(host), None, &Servable::Any)
                .map(|c| c.cert_name.clone())
        };
        assert_eq!(name(&inner, "a.example.com").as_deref(), Some("long"));
        assert_eq!(name(&inner, "b.example.com").as_deref(), Some("wild"));
        assert_eq!(name(&inner, "example.com"), None);
        assert!(inner.remove("long"));
        assert_eq!(name(&inner, "a.example.com").as_deref(), Some("short"));
        inner.remove("short");
        assert_eq!(name(&inner, "a.example.com").as_deref(), Some("wild"));
    }

    #[test]
    fn a_routed_host_is_served_only_by_its_route_owners_or_the_admins_certificates() {
        let owned = |name: &str, domains: &[&str], owner: &str| {
            let mut cert = ServedCert::for_test(name, domains, 90);
            cert.record.owner_token_hash = owner.to_owned();
            Arc::new(cert)
        };
        let mut inner = Inner::default();
        inner.add(owned("a-wild", &["*.example.com"], "sha256:a"), 1);
        inner.add(owned("b-exact", &["b.example.com"], "sha256:b"), 2);
        let name = |inner: &Inner, host: &str, servable: Servable<'_>| {
            inner
                .select(Some(host), None, &servable)
                .map(|c| c.cert_name.clone())
        };
        let of_b = Servable::OwnedBy {
            owner: "sha256:b",
            admin: Some("sha256:admin"),
        };
        // B's route c.example.com: A's wildcard covers it but may not serve it.
        assert_eq!(name(&inner, "c.example.com", of_b), None);
        assert_eq!(
            name(&inner, "b.example.com", of_b).as_deref(),
            Some("b-exact")
        );
        // A host without a route, or A's own route: the wildcard serves.
        assert_eq!(
            name(&inner, "c.example.com", Servable::Any).as_deref(),
            Some("a-wild")
        );
        let of_a = Servable::OwnedBy {
            owner: "sha256:a",
            admin: None,
        };
        assert_eq!(
            name(&inner, "c.example.com", of_a).as_deref(),
            Some("a-wild")
        );
        // The admin's wildcard serves every tenant's routes.
        inner.add(owned("admin-wild", &["*.example.com"], "sha256:admin"), 3);
        assert_eq!(
            name(&inner, "c.example.com", of_b).as_deref(),
            Some("admin-wild")
        );
    }

    #[test]
    fn eviction_keeps_the_bound_and_spares_what_was_used() {
        let mut inner = Inner::default();
        for i in 0..100u64 {
            inner.add(cert(&format!("c{i}"), &[&format!("h{i}.test")], 90), i + 1);
        }
        // c0 was used after it was queued: it gets a second round.
        inner.by_name["c0"].touch(500);
        inner.add(cert("new", &["new.test"], 90), 501);
        inner.evict_to(100, 501, "new");
        assert_eq!(inner.by_name.len(), 100);
        assert!(inner.by_name.contains_key("c0"), "used since queued");
        assert!(inner.by_name.contains_key("new"), "just cached");
        assert!(!inner.by_name.contains_key("c1"), "the oldest unused left");
        assert!(inner
            .select(Some("h1.test"), None, &Servable::Any)
            .is_none());
        // Replacing many times does not grow the queue without bound.
        for i in 0..10_000u64 {
            inner.add(cert("new", &["new.test"], 90), 600 + i);
        }
        assert!(inner.queue.len() <= 2 * inner.by_name.len() + 1024 + 1);
    }
}
