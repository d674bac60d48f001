//! Misses for one name share one load. A burst of handshakes for a name that is not cached
//! (after a restart with more certificates than `CERT_CACHE_SIZE`, or after an eviction) makes
//! one round of Redis reads and one key parse, not one per handshake.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// The loads in flight, by name.
#[derive(Default)]
pub struct SharedLoads {
    by_name: Mutex<HashMap<String, Arc<OnceCell<()>>>>,
}

impl SharedLoads {
    /// Runs `load` for `name`, or waits for the one already running. Should the task running
    /// it go away (its handshake timed out), a waiting one runs it instead.
    pub async fn share<F: Future<Output = ()>>(&self, name: &str, load: impl FnOnce() -> F) {
        let flight = self.lock().entry(name.to_owned()).or_default().clone();
        let _leave = Leave {
            loads: self,
            name,
            flight: &flight,
        };
        flight.get_or_init(load).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<()>>>> {
        self.by_name
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Forgets a load once one of its tasks is done with it (or gone): the next miss for the name
/// loads again, and the map holds only the loads in flight.
struct Leave<'a> {
    loads: &'a SharedLoads,
    name: &'a str,
    flight: &'a Arc<OnceCell<()>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut by_name = self.loads.lock();
        if by_name
            .get(self.name)
            .is_some_and(|f| Arc::ptr_eq(f, self.flight))
        {
            by_name.remove(self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Ten concurrent misses for one name run one load; a later miss runs its own.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_misses_for_one_name_run_one_load() {
        let loads = Arc::new(SharedLoads::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let miss = |name: &'static str| {
            let (loads, runs) = (loads.clone(), runs.clone());
            tokio::spawn(async move {
                loads
                    .share(name, || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    })
                    .await
            })
        };
        let misses: Vec<_> = (0..10).map(|_| miss("a.test")).collect();
        let other = miss("b.test");
        for m in misses {
            m.await.unwrap();
        }
        other.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one load per name");
        assert!(loads.lock().is_empty(), "finished loads are forgotten");
        miss("a.test").await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    /// A load whose task went away is run by one that waited for it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_waiting_miss_runs_the_load_its_first_task_dropped() {
        let loads = SharedLoads::default();
        let runs = AtomicUsize::new(0);
        let load = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let first = tokio::time::timeout(Duration::from_millis(5), loads.share("a.test", load));
        let second = loads.share("a.test", load);
        let (first, ()) = tokio::join!(first, second);
        assert!(first.is_err(), "the first miss timed out");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
