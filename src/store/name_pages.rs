//! Certificate names in a lexically ordered index (`certs:by_name`, a sorted set with every
//! score 0), for `GET /certificates/` one page at a time: a cursor is the last name of the
//! previous page, so a walk is stable while certificates come and go (each name present
//! throughout appears exactly once) and no page reads more than its own records.
//!
//! Written beside the name set (`certs`) on create and delete; rebuilt from it once per start.

use fred::prelude::{SetsInterface, SortedSetsInterface};

use super::{Store, StoreResult};
use crate::certs::model::CertificateRecord;

/// One page of certificates and the cursor of the next (the page's last name), if any.
pub struct CertificatePage {
    pub records: Vec<CertificateRecord>,
    pub next_after: Option<String>,
}

impl Store {
    pub(super) async fn index_name(&self, name: &str) -> StoreResult<()> {
        let _: i64 = self
            .client
            .zadd(
                self.keys.cert_names(),
                None,
                None,
                false,
                false,
                (0.0, name),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn unindex_name(&self, name: &str) -> StoreResult<()> {
        let _: i64 = self.client.zrem(self.keys.cert_names(), name).await?;
        Ok(())
    }

    /// Up to `limit` certificates whose names sort after `after` (from the start: `None`).
    pub async fn certificates_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<CertificatePage> {
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let mut names: Vec<String> = self
            .client
            .zrangebylex(
                self.keys.cert_names(),
                min,
                "+",
                Some((0, limit as i64 + 1)),
            )
            .await?;
        let more = names.len() > limit;
        names.truncate(limit);
        let next_after = more.then(|| names.last().cloned()).flatten();
        let records = self
            .get_certificates(&names)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(CertificatePage {
            records,
            next_after,
        })
    }

    /// Rebuilds the ordered name index from the name set; the number of names.
    pub async fn rebuild_name_index(&self) -> StoreResult<usize> {
        let names: Vec<String> = self.client.smembers(self.keys.cert_index()).await?;
        let indexed: Vec<String> = self
            .client
            .zrange(self.keys.cert_names(), 0, -1, None, false, None, false)
            .await?;
        for chunk in names.chunks(1000) {
            let members: Vec<(f64, String)> = chunk.iter().map(|n| (0.0, n.clone())).collect();
            let _: i64 = self
                .client
                .zadd(self.keys.cert_names(), None, None, false, false, members)
                .await?;
        }
        let known: std::collections::HashSet<&String> = names.iter().collect();
        for name in indexed.iter().filter(|n| !known.contains(n)) {
            self.unindex_name(name).await?;
        }
        Ok(names.len())
    }
}
