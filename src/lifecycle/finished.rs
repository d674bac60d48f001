//! The statuses of generations this instance finished, kept for their retention time
//! (`CERT_STATUS_RETENTION_SECONDS`) so that the data-loss guard can write them back: after
//! Redis lost its data, `GET /certificates/{name}/status` still answers what became of a
//! generation that ended a moment before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Lifecycle;
use crate::certs::model::GenerationStatus;
use crate::store::StoreResult;

/// Finished statuses by certificate name, each with the moment its retention ends.
#[derive(Default)]
pub(super) struct FinishedStatuses(Mutex<HashMap<String, (GenerationStatus, Instant)>>);

impl FinishedStatuses {
    /// Keeps `status` of `name` until `retention` has passed (replacing an earlier one);
    /// forgets the expired ones.
    pub(super) fn remember(&self, name: &str, status: GenerationStatus, retention: Duration) {
        let now = Instant::now();
        let mut held = self.0.lock().expect("finished statuses lock");
        held.retain(|_, (_, until)| *until > now);
        held.insert(name.to_owned(), (status, now + retention));
    }

    /// The statuses still within their retention, with the time left.
    fn live(&self) -> Vec<(String, GenerationStatus, Duration)> {
        let now = Instant::now();
        self.0
            .lock()
            .expect("finished statuses lock")
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(name, (status, until))| (name.clone(), status.clone(), *until - now))
            .collect()
    }
}

impl Lifecycle {
    /// Writes back the finished statuses this instance holds where Redis has none (the
    /// data-loss guard's write-back); how many were written.
    pub async fn write_back_finished_statuses(&self) -> StoreResult<usize> {
        let mut written = 0;
        for (name, status, remaining) in self.inner.finished.live() {
            if self
                .inner
                .store
                .restore_finished_status(&name, &status, remaining)
                .await?
            {
                written += 1;
            }
        }
        Ok(written)
    }
}
