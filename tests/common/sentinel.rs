//! A Redis primary, one replica and three Sentinels on free ports, as production runs Redis
//! with failover: the primary can be killed and the replica promoted by the Sentinels' vote.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, require_binary, wait_until, TempDir};

/// The Sentinel service name.
pub const SERVICE: &str = "certgate";

pub struct SentinelSet {
    pub primary_port: u16,
    pub replica_port: u16,
    pub sentinel_ports: Vec<u16>,
    primary: Option<Child>,
    replica: Child,
    sentinels: Vec<Child>,
    dir: TempDir,
}

fn redis_server(port: u16, dir: &std::path::Path, extra: &[&str]) -> Child {
    let server = require_binary("redis-server", "apt-get install -y redis-server");
    Command::new(server)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

/// `redis-cli -p port args…`: its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let cli = require_binary("redis-cli", "apt-get install -y redis-tools");
    let out = Command::new(cli)
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl SentinelSet {
    /// Starts the primary, the replica following it, and three Sentinels watching it (down
    /// after 1 s, quorum 2), and waits until they see each other and the replica.
    pub async fn start() -> SentinelSet {
        SentinelSet::start_with_user(None).await
    }

    /// [`Self::start`] with `user` (ACL rules) on the primary and the replica, and the same
    /// name and password on the Sentinels (the client authenticates to both alike).
    pub async fn start_with_user(user: Option<&str>) -> SentinelSet {
        let dir = TempDir::new("sentinel");
        let (primary_port, replica_port) = (free_port(), free_port());
        let user_args = super::topologies::user_args(user);
        let user_args: Vec<&str> = user_args.iter().map(String::as_str).collect();
        let primary = redis_server(primary_port, &dir.0, &user_args);
        let replica_dir = dir.0.join("replica");
        std::fs::create_dir_all(&replica_dir).unwrap();
        let primary_addr = primary_port.to_string();
        let mut replica_args = vec!["--replicaof", "127.0.0.1", primary_addr.as_str()];
        replica_args.extend(&user_args);
        let replica = redis_server(replica_port, &replica_dir, &replica_args);
        // On the Sentinels the user may run anything: they hold no data.
        let sentinel_user = user
            .and_then(|rules| rules.split_whitespace().find(|w| w.starts_with('>')))
            .map(|password| format!("user certgate on {password} +@all\n"))
            .unwrap_or_default();
        let mut sentinels = Vec::new();
        let mut sentinel_ports = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let home = dir.0.join(format!("sentinel-{i}"));
            std::fs::create_dir_all(&home).unwrap();
            let conf = home.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {SERVICE} 1000\n\
                     sentinel failover-timeout {SERVICE} 4000\n\
                     sentinel parallel-syncs {SERVICE} 1\n{sentinel_user}",
                    home.display()
                ),
            )
            .unwrap();
            // redis-sentinel is redis-server in Sentinel mode; the flag works with either binary.
            let server = require_binary("redis-server", "apt-get install -y redis-server");
            let child = Command::new(server)
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server --sentinel");
            sentinels.push(child);
            sentinel_ports.push(port);
        }
        let set = SentinelSet {
            primary_port,
            replica_port,
            sentinel_ports,
            primary: Some(primary),
            replica,
            sentinels,
            dir,
        };
        let ports = set.sentinel_ports.clone();
        wait_until(
            "the Sentinels to know the replica and each other",
            Duration::from_secs(30),
            || {
                let ports = ports.clone();
                async move {
                    ports.iter().all(|port| {
                        let master = cli(*port, &["SENTINEL", "master", SERVICE]);
                        let field = |name: &str| {
                            let mut lines = master.lines();
                            lines
                                .find(|l| *l == name)
                                .and_then(|_| lines.next())
                                .map(str::to_owned)
                        };
                        field("num-slaves").as_deref() == Some("1")
                            && field("num-other-sentinels").as_deref() == Some("2")
                    })
                }
            },
        )
        .await;
        set
    }

    /// [`Self::url`] as user `certgate` with `password`.
    pub fn url_as(&self, password: &str) -> String {
        self.url().replacen(
            "redis-sentinel://",
            &format!("redis-sentinel://certgate:{password}@"),
            1,
        )
    }

    /// `redis-sentinel://s1,s2,s3/certgate`, as operators write it.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinel_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis-sentinel://{}/{SERVICE}", hosts.join(","))
    }

    /// Waits until the replica has every write the primary took (`WAIT 1`).
    pub fn sync_replica(&self) {
        let acked = cli(self.primary_port, &["WAIT", "1", "5000"]);
        assert_eq!(acked.trim(), "1", "the replica did not catch up");
    }

    /// Kills the primary, as a crash would.
    pub fn kill_primary(&mut self) {
        if let Some(mut primary) = self.primary.take() {
            let _ = primary.kill();
            let _ = primary.wait();
        }
    }

    /// The primary's own URL (bypassing the Sentinels).
    pub fn primary_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.primary_port)
    }

    /// Freezes the replica (SIGSTOP): it acknowledges nothing until [`Self::resume_replica`].
    pub fn pause_replica(&self) {
        signal(self.replica.id(), "-STOP");
    }

    /// Cuts the replica off: frozen, and its link closed by the primary, so that nothing
    /// written from now on reaches it (not even into its socket's buffer).
    pub fn cut_off_replica(&self) {
        self.pause_replica();
        let killed = cli(self.primary_port, &["CLIENT", "KILL", "TYPE", "replica"]);
        assert_eq!(
            killed.trim(),
            "1",
            "the replica's link was not closed: {killed}"
        );
    }

    /// Lets the replica run again (SIGCONT).
    pub fn resume_replica(&self) {
        signal(self.replica.id(), "-CONT");
    }

    /// The port of the primary the Sentinels name now.
    pub fn primary_now(&self) -> Option<u16> {
        let answer = cli(
            self.sentinel_ports[0],
            &["SENTINEL", "get-master-addr-by-name", SERVICE],
        );
        answer.lines().nth(1).and_then(|p| p.trim().parse().ok())
    }
}

fn signal(pid: u32, which: &str) {
    let sent = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {which} {pid}");
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        self.resume_replica();
        self.kill_primary();
        let _ = self.replica.kill();
        let _ = self.replica.wait();
        for s in &mut self.sentinels {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}
