//! The instance's background tasks, kept by name so none is lost: a task that ends with an
//! error or panics is logged (a bare `tokio::spawn` drops both), and shutdown waits for all.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

/// The handles of every long-running task one instance spawned.
#[derive(Default)]
pub struct Tasks {
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Spawns a task whose end is not an error.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.running.push((name, tokio::spawn(task)));
    }

    /// Spawns a task that may fail; its error is logged with the task's name when it ends.
    pub fn spawn_fallible<E: std::fmt::Display>(
        &mut self,
        name: &'static str,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) {
        self.spawn(name, async move {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "background task ended with an error");
            }
        });
    }

    /// Waits up to `grace` for every task to end (after shutdown fired); logs those that
    /// panicked and aborts those still running.
    pub async fn join_all(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_panic() => {
                    tracing::error!(task = name, "background task panicked")
                }
                Ok(Err(_)) => {}
                Err(_) => {
                    tracing::warn!(
                        task = name,
                        "background task still running at exit; aborted"
                    );
                    handle.abort();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_aborts_what_outlives_the_grace() {
        let mut tasks = Tasks::new();
        tasks.spawn("quick", async {});
        tasks.spawn_fallible("fails", async { Err::<(), _>("boom") });
        tasks.spawn("forever", std::future::pending());
        let started = std::time::Instant::now();
        tasks.join_all(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
