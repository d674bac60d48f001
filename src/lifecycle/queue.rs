//! The in-memory work queue: wakes a worker for a name, at most `CERT_GEN_MAX_WORKERS` at once
//! per issuer lane.
//! Redis's `jobs` set stays the record of what is pending; this only says "look now".

use tokio::sync::mpsc;

use super::Lifecycle;
use crate::certs::model::{GenerationState, IssuerKind};
use crate::shutdown::Shutdown;

impl Lifecycle {
    /// Wakes a worker for `name` unless it is already queued or running here.
    pub(super) fn enqueue(&self, name: &str) {
        let fresh = self
            .inner
            .local
            .lock()
            .expect("lifecycle lock")
            .insert(name.to_owned());
        if fresh && self.inner.wake.send(name.to_owned()).is_err() {
            self.inner
                .local
                .lock()
                .expect("lifecycle lock")
                .remove(name);
        }
    }

    /// Takes names off the queue and runs each under a worker permit.
    pub(super) async fn dispatch(
        self,
        mut queue: mpsc::UnboundedReceiver<String>,
        shutdown: Shutdown,
    ) {
        loop {
            let name = tokio::select! {
                name = queue.recv() => match name { Some(n) => n, None => return },
                _ = shutdown.wait() => return,
            };
            let lifecycle = self.clone();
            tokio::spawn(async move {
                // Whatever becomes of the run — done, refused, or a panic — the name leaves the
                // local set, so the recovery loop can queue it here again.
                let queued = Queued {
                    lifecycle: &lifecycle,
                    name: &name,
                };
                // The lane is chosen by the record's issuer (ACME when it cannot be read: the
                // job then finds out for itself).
                let kind = match lifecycle.inner.store.certs().get(&name).await {
                    Ok(Some(record)) => record.issuer,
                    _ => IssuerKind::Acme,
                };
                let Ok(permit) = lifecycle.inner.lanes.get(kind).acquire_owned().await else {
                    return;
                };
                let run = std::panic::AssertUnwindSafe(lifecycle.run_job(&name));
                if futures_util::FutureExt::catch_unwind(run).await.is_err() {
                    tracing::error!(cert_name = %name, "generation panicked; its lease runs out and it is taken over");
                }
                drop(permit);
                drop(queued);
                // A renewal requested while this run was finishing found the name still local.
                if let Ok(Some(s)) = lifecycle.inner.store.certs().generation_status(&name).await {
                    if s.status == GenerationState::Pending {
                        lifecycle.enqueue(&name);
                    }
                }
            });
        }
    }
}

/// A name queued or running here; dropping it (at the run's end, or unwinding from a panic)
/// takes the name out of the local set.
struct Queued<'a> {
    lifecycle: &'a Lifecycle,
    name: &'a str,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.lifecycle
            .inner
            .local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(self.name);
    }
}
