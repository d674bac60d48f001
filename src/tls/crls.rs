//! CRLs fetched from routes' `client_auth.crl_urls`, as the edge's handshakes use them: kept in
//! memory, filled by the cluster's fetcher (`cluster::crl_fetch`, one instance fetches each URL
//! for all and shares it through Redis), versioned so that a client-certificate route's TLS
//! configuration is rebuilt when one of its CRLs changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::pki_types::CertificateRevocationListDer;

/// One fetched CRL.
#[derive(Debug, PartialEq, Eq)]
pub struct FetchedCrl {
    /// The CRL, DER.
    pub der: CertificateRevocationListDer<'static>,
    /// Its `nextUpdate` (Unix seconds), when it has one.
    pub next_update: Option<i64>,
    /// When it was fetched (Unix milliseconds).
    pub fetched_at: i64,
}

impl FetchedCrl {
    /// Reads `der` as a CRL: an error when it is not one.
    pub fn parse(der: Vec<u8>, fetched_at: i64) -> Result<FetchedCrl, String> {
        let next_update = match x509_parser::parse_x509_crl(&der) {
            Ok((_, crl)) => crl.next_update().map(|t| t.timestamp()),
            Err(e) => return Err(format!("not a DER CRL: {e}")),
        };
        Ok(FetchedCrl {
            der: CertificateRevocationListDer::from(der),
            next_update,
            fetched_at,
        })
    }

    /// Past its `nextUpdate` at `now` (Unix seconds).
    pub fn is_stale(&self, now: i64) -> bool {
        self.next_update.is_some_and(|next| next <= now)
    }
}

/// The fetched CRLs by URL, and which URLs routes name.
#[derive(Default)]
pub struct CrlCache {
    entries: RwLock<HashMap<String, Arc<FetchedCrl>>>,
    /// Bumped at every change of `entries`.
    generation: AtomicU64,
    /// The URLs the routes name now (set by the fetcher at each pass).
    wanted: RwLock<BTreeSet<String>>,
}

impl CrlCache {
    /// The CRL fetched from `url`, if any.
    pub fn get(&self, url: &str) -> Option<Arc<FetchedCrl>> {
        self.entries.read().expect("crl cache").get(url).cloned()
    }

    /// Keeps `crl` for `url` (a change bumps the generation; the same CRL again does not).
    pub fn put(&self, url: &str, crl: FetchedCrl) {
        let mut entries = self.entries.write().expect("crl cache");
        if entries.get(url).is_some_and(|kept| kept.der == crl.der) {
            return;
        }
        entries.insert(url.to_owned(), Arc::new(crl));
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes so far: a configuration built at one generation is stale at another.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Records the URLs routes name now, and forgets the CRLs of the others.
    pub fn set_wanted(&self, urls: BTreeSet<String>) {
        let mut entries = self.entries.write().expect("crl cache");
        let before = entries.len();
        entries.retain(|url, _| urls.contains(url));
        if entries.len() != before {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        *self.wanted.write().expect("crl cache") = urls;
    }

    /// The URLs routes name whose CRL is missing or past its `nextUpdate` at `now`.
    pub fn stale(&self, now: i64) -> Vec<String> {
        let wanted = self.wanted.read().expect("crl cache");
        wanted
            .iter()
            .filter(|url| self.get(url).is_none_or(|crl| crl.is_stale(now)))
            .cloned()
            .collect()
    }
}
