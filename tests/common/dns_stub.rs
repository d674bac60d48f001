//! A second DNS server for a zone, on any loopback address: Pebble's `pebble-challtestsrv`,
//! whose DNS listener answers TXT records only once they are set through its management API.
//! It stands for an authoritative server that has not caught up with the primary yet (BIND
//! listens only on addresses an interface holds; this one binds 127.0.0.2 as well).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_until};

pub struct DnsStub {
    pub address: String,
    management_port: u16,
    child: Child,
}

impl DnsStub {
    /// Starts it answering DNS (UDP and TCP) at `ip:port`.
    pub async fn start(ip: &str, port: u16) -> DnsStub {
        let (_, challtestsrv) = super::pebble::binaries();
        let dns_flag = if super::pebble::challtestsrv_is_new(&challtestsrv) {
            "-dnsserver"
        } else {
            "-dns01"
        };
        let management_port = free_port();
        let mut command = Command::new(&challtestsrv);
        if dns_flag == "-dnsserver" {
            command.args(["-doh", ""]);
        }
        let address = format!("{ip}:{port}");
        let child = command
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args([dns_flag, &address])
            .args(["-management", &format!("127.0.0.1:{management_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv");
        wait_until("the DNS stub", Duration::from_secs(10), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", management_port))
                .await
                .is_ok()
        })
        .await;
        DnsStub {
            address,
            management_port,
            child,
        }
    }

    /// Makes it answer TXT `value` under `name` (no trailing dot).
    pub fn set_txt(&self, name: &str, value: &str) {
        let body = serde_json::json!({ "host": format!("{name}."), "value": value });
        let status = Command::new("curl")
            .args(["-sf", "-X", "POST", "-d", &body.to_string()])
            .arg(format!("http://127.0.0.1:{}/set-txt", self.management_port))
            .status()
            .expect("run curl");
        assert!(status.success(), "set-txt on the DNS stub");
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
