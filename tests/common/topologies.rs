//! Redis deployments past one plain server: a three-node Redis Cluster and a TLS-only server.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tls::make_pki;
use super::{require_binary, wait_until, TempDir};

/// A port whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = super::free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

async fn wait_port(port: u16) {
    wait_until("redis to listen", Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
}

/// Three masters, no replicas, made with `redis-cli --cluster create --cluster-yes`.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: TempDir,
}

/// `--user <rules>` as redis-server's command line takes a config line (nothing when `None`).
pub fn user_args(user: Option<&str>) -> Vec<String> {
    user.map(|rules| format!("--user {rules}"))
        .into_iter()
        .flat_map(|line| {
            line.split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        RedisCluster::start_with_user(None).await
    }

    /// Three masters, each with `user` (ACL rules) besides `default`.
    pub async fn start_with_user(user: Option<&str>) -> RedisCluster {
        let server = require_binary("redis-server", "apt-get install -y redis-server");
        let cli = require_binary("redis-cli", "apt-get install -y redis-tools");
        let dir = TempDir::new("cluster");
        let ports: Vec<u16> = (0..3).map(|_| cluster_port()).collect();
        let mut children = Vec::new();
        for port in &ports {
            let node_dir = dir.0.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            children.push(
                Command::new(&server)
                    .args([
                        "--port",
                        &port.to_string(),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                    ])
                    .args([
                        "--cluster-config-file",
                        "nodes.conf",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .arg("--dir")
                    .arg(&node_dir)
                    .args(user_args(user))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start redis-server (cluster node)"),
            );
        }
        for port in &ports {
            wait_port(*port).await;
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let first = ports[0];
        let cli_path = cli.clone();
        wait_until("the cluster to be ok", Duration::from_secs(20), || {
            let cli = cli_path.clone();
            async move {
                let out = Command::new(cli)
                    .args(["-p", &first.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok")
            }
        })
        .await;
        RedisCluster {
            ports,
            children,
            _dir: dir,
        }
    }

    /// [`Self::url`] with `user:password@`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        self.url().replacen(
            "redis-cluster://",
            &format!("redis-cluster://{user}:{password}@"),
            1,
        )
    }

    /// `redis-cluster://` URL naming every node.
    pub fn url(&self) -> String {
        let extra: Vec<String> = self.ports[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        format!(
            "redis-cluster://127.0.0.1:{}?{}",
            self.ports[0],
            extra.join("&")
        )
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `redis-server` that speaks TLS only, with a certificate from a harness-made CA.
pub struct RedisTls {
    pub port: u16,
    pub ca_file: std::path::PathBuf,
    child: Child,
    _dir: TempDir,
}

/// The least-privilege user `docs/operations.md` ("Redis", ACLs) documents, for key prefix
/// `prefix`; its password is `secret`. A Redis Cluster adds [`CLUSTER_ACL`].
pub fn certgate_acl(prefix: &str) -> String {
    format!(
        "certgate on >secret ~{prefix}* &{prefix}events +@read +@write +@pubsub -@dangerous \
         +eval +ping +time +info +client|id +wait"
    )
}

/// What the user needs beyond [`certgate_acl`] in a Redis Cluster: the client reads the slot map
/// and the cluster's state.
pub const CLUSTER_ACL: &str = "+cluster|slots +cluster|info";

/// What the user needs beyond [`certgate_acl`] behind Sentinel: the client asks the server the
/// Sentinels name whether it is the primary.
pub const SENTINEL_ACL: &str = "+role";

impl RedisTls {
    pub async fn start() -> RedisTls {
        RedisTls::start_with_user(None).await
    }

    /// A TLS-only server with `user` (ACL rules, as `ACL SETUSER` takes them) besides `default`.
    pub async fn start_with_user(user: Option<&str>) -> RedisTls {
        let server = require_binary("redis-server", "apt-get install -y redis-server");
        let dir = TempDir::new("redis-tls");
        let pki = make_pki(&["127.0.0.1", "localhost"]);
        let (cert, key, ca) = (
            dir.0.join("cert.pem"),
            dir.0.join("key.pem"),
            dir.0.join("ca.pem"),
        );
        std::fs::write(&cert, &pki.server_cert_pem).unwrap();
        std::fs::write(&key, &pki.server_key_pem).unwrap();
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let port = super::free_port();
        let child = Command::new(server)
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir.0)
            .args(
                user.map(|rules| format!("--user {rules}"))
                    .into_iter()
                    .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (TLS)");
        wait_port(port).await;
        RedisTls {
            port,
            ca_file: ca,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The URL with `user:password@`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("rediss://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// `redis-cli` over TLS as `user`, running `command`: its output (errors included).
    pub fn cli_as(&self, user: &str, password: &str, command: &[&str]) -> String {
        let cli = require_binary("redis-cli", "apt-get install -y redis-tools");
        let out = Command::new(cli)
            .args(["--tls", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("--cacert")
            .arg(&self.ca_file)
            .args(["--user", user, "--pass", password, "--no-auth-warning"])
            .args(command)
            .output()
            .expect("redis-cli");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for RedisTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
