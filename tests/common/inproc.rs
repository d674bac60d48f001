//! certgate in the test's own process: the same `app::run` the binary runs, on listeners bound
//! to `127.0.0.1:0`, stopped when the handle drops (the shape mini-redis's tests use). For API
//! and edge tests that need no separate process — no crash, restart, CLI or signal — it starts
//! in milliseconds instead of a process launch and a health poll.

#![allow(dead_code)]

use std::sync::Arc;

use certgate::client::AdminClient;

use super::{base_env, wait_until, ADMIN_TOKEN};

/// A certgate instance running on the test's runtime.
pub struct InProcess {
    pub admin_port: u16,
    pub http_port: u16,
    pub https_port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    /// Starts an instance on `redis_url` with the harness's base settings and `extra`, and
    /// waits until it is ready (its tables loaded).
    pub async fn start(redis_url: &str, prefix: &str, extra: &[(&str, &str)]) -> InProcess {
        let mut raw: certgate::config::RawValues =
            base_env(redis_url, prefix).into_iter().collect();
        for addr in ["HTTP_ADDR", "HTTPS_ADDR", "ADMIN_ADDR"] {
            raw.insert(addr.into(), "127.0.0.1:0".into());
        }
        for (k, v) in extra {
            raw.insert(k.to_string(), v.to_string());
        }
        let config = Arc::new(certgate::config::Config::from_raw(&raw).expect("test settings"));
        let listeners = certgate::app::Listeners::bind(&config).await.unwrap();
        let port = |l: &tokio::net::TcpListener| l.local_addr().unwrap().port();
        let (admin_port, http_port, https_port) = (
            port(&listeners.admin),
            port(&listeners.http),
            port(&listeners.https),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(certgate::app::run(config, listeners, async move {
            let _ = stopped.await;
        }));
        let instance = InProcess {
            admin_port,
            http_port,
            https_port,
            stop: Some(stop),
            task: Some(task),
        };
        let admin = instance.admin();
        wait_until(
            "the instance to be ready",
            std::time::Duration::from_secs(10),
            || {
                let admin = admin.clone();
                async move { admin.get("/health").await.is_ok_and(|r| r.status == 200) }
            },
        )
        .await;
        instance
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// An admin-API client with the admin token.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.admin_url(), Some(ADMIN_TOKEN.to_owned()))
    }

    /// A client with another token (or none).
    pub fn client(&self, token: Option<&str>) -> AdminClient {
        AdminClient::new(&self.admin_url(), token.map(str::to_owned))
    }

    /// Stops the instance as SIGTERM would (drain, then exit) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("running").await.expect("no panic")
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
