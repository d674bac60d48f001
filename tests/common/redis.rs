//! A real `redis-server` for a test, on a free port, without persistence.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, kill, require_binary, wait_until, TempDir};

/// A `redis-server` on a free port, without persistence.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl Redis {
    pub async fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            child: None,
            dir: TempDir::new("redis"),
        };
        redis.spawn().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let bin = require_binary("redis-server", "apt-get install -y redis-server");
        let child = Command::new(bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let port = self.port;
        wait_until(
            "redis-server to accept connections",
            Duration::from_secs(10),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
    }

    /// Stops the server (SIGKILL); its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// A raw command through `redis-cli`-free means: a fred client.
    pub async fn client(&self) -> fred::clients::Client {
        use fred::prelude::ClientLike;
        let client = certgate::store::build_client(&self.url()).unwrap();
        client.init().await.unwrap();
        client
    }
}

impl Redis {
    /// `KEYS pattern` (tests only: it scans the whole keyspace).
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        use fred::prelude::ClientLike;
        let client = self.client().await;
        let cmd = fred::types::CustomCommand::new_static("KEYS", None, false);
        let keys: Vec<String> = client.custom(cmd, vec![pattern]).await.unwrap();
        let _ = client.quit().await;
        keys
    }
}

impl Redis {
    /// Every key matching `pattern` with its whole value as text (strings, hashes, sets, sorted
    /// sets, lists), read through `redis-cli` so nothing is decoded on the way.
    pub fn dump_values(&self, pattern: &str) -> Vec<(String, String)> {
        let keys = self.cli(&["--scan", "--pattern", pattern]);
        keys.lines()
            .filter(|k| !k.is_empty())
            .map(|key| {
                let kind = self.cli(&["TYPE", key]);
                let value = match kind.trim() {
                    "string" => self.cli(&["GET", key]),
                    "hash" => self.cli(&["HGETALL", key]),
                    "set" => self.cli(&["SMEMBERS", key]),
                    "zset" => self.cli(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
                    "list" => self.cli(&["LRANGE", key, "0", "-1"]),
                    "stream" => self.cli(&["XRANGE", key, "-", "+"]),
                    other => format!("(type {other})"),
                };
                (key.to_owned(), value)
            })
            .collect()
    }

    /// Runs `redis-cli` with `args` against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (Debian package redis-tools, installed with redis-server)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Commands run since the last [`Redis::reset_stats`], by command name.
    pub fn commandstats(&self) -> std::collections::HashMap<String, u64> {
        self.cli(&["info", "commandstats"])
            .lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter_map(|l| {
                let (name, rest) = l.split_once(':')?;
                let calls = rest
                    .split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }

    /// Zeroes the command counters (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        self.cli(&["config", "resetstat"]);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
