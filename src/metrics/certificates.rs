//! The per-certificate series of `/metrics` (expiry, renewal moment, failures in a row), kept in
//! memory: filled by the edge tables' full loads and kept current by the change events each
//! instance applies, so a scrape reads no certificate record from Redis.
//!
//! Only while there are at most `METRICS_PER_CERTIFICATE_LIMIT` certificates: above it (or with
//! 0) the series are left out and only the counts by status are exported.

use std::collections::HashMap;
use std::sync::RwLock;

use time::OffsetDateTime;

use crate::certs::model::CertificateRecord;

/// What one certificate contributes to the series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    /// The current certificate's notAfter.
    pub expires_at: Option<OffsetDateTime>,
    /// When it is to be renewed.
    pub renewal_at: Option<OffsetDateTime>,
    /// Failed renewals in a row.
    pub renewal_failures: u32,
}

impl Figures {
    fn of(record: &CertificateRecord) -> Figures {
        Figures {
            expires_at: record.expires_at.as_deref().and_then(crate::timefmt::parse),
            renewal_at: record
                .next_renewal_at
                .as_deref()
                .and_then(crate::timefmt::parse),
            renewal_failures: record.renewal_failures,
        }
    }
}

/// Every certificate's [`Figures`], while they are few enough to export.
#[derive(Debug)]
pub struct CertificateSeries {
    limit: usize,
    /// `None`: not loaded yet, or more certificates than the limit.
    by_name: RwLock<Option<HashMap<String, Figures>>>,
}

impl CertificateSeries {
    /// Series for at most `limit` certificates (`METRICS_PER_CERTIFICATE_LIMIT`).
    pub fn new(limit: usize) -> CertificateSeries {
        CertificateSeries {
            limit,
            by_name: RwLock::new(None),
        }
    }

    /// Whether a full load should read the records for `count` certificates.
    pub fn wants(&self, count: usize) -> bool {
        self.limit > 0 && count <= self.limit
    }

    /// After a full load: every record, or `None` when there were too many to read.
    pub fn replace_all(&self, records: Option<&[CertificateRecord]>) {
        let fresh = records.map(|records| {
            records
                .iter()
                .map(|r| (r.cert_name.clone(), Figures::of(r)))
                .collect()
        });
        *self.write() = fresh;
    }

    /// A certificate written (as re-read after its change event).
    pub fn upsert(&self, record: &CertificateRecord) {
        let mut held = self.write();
        let Some(by_name) = held.as_mut() else { return };
        if by_name.len() >= self.limit && !by_name.contains_key(&record.cert_name) {
            // One more than the limit: only the counts from now on (a full load decides again).
            *held = None;
            return;
        }
        by_name.insert(record.cert_name.clone(), Figures::of(record));
    }

    /// A certificate deleted.
    pub fn remove(&self, name: &str) {
        if let Some(by_name) = self.write().as_mut() {
            by_name.remove(name);
        }
    }

    /// The series to export, by name; `None` when they are left out.
    pub fn snapshot(&self) -> Option<Vec<(String, Figures)>> {
        let held = self.by_name.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(String, Figures)> = held
            .as_ref()?
            .iter()
            .map(|(name, figures)| (name.clone(), figures.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Some(all)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<HashMap<String, Figures>>> {
        self.by_name.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, failures: u32) -> CertificateRecord {
        serde_json::from_value(serde_json::json!({
            "cert_name": name, "domains": [format!("{name}.test")], "issuer": "self-signed",
            "key_type": "ecdsa-p256", "status": "active", "owner_token_hash": "sha256:00",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "expires_at": "2027-01-01T00:00:00Z", "renewal_failures": failures,
        }))
        .unwrap()
    }

    #[test]
    fn kept_current_and_left_out_above_the_limit() {
        let series = CertificateSeries::new(2);
        assert_eq!(series.snapshot(), None, "nothing before the first load");
        series.replace_all(Some(&[record("a", 0)]));
        series.upsert(&record("b", 3));
        let names: Vec<String> = series
            .snapshot()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(series.snapshot().unwrap()[1].1.renewal_failures, 3);
        series.remove("a");
        series.upsert(&record("c", 0));
        series.upsert(&record("d", 0));
        assert_eq!(series.snapshot(), None, "three is over the limit of two");
        assert!(series.wants(2) && !series.wants(3));
        assert!(!CertificateSeries::new(0).wants(0), "0 turns them off");
    }
}
