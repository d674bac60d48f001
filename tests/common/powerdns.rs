//! A real PowerDNS Authoritative (`pdns_server`, Debian `pdns-server` with
//! `pdns-backend-sqlite3`) on free loopback ports: the sqlite backend, the HTTP API on, one
//! zone created through that API. Caches are off, so an answer reflects the API's last write.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, require_binary, wait_until, TempDir};

pub const API_KEY: &str = "certgate-test-pdns-key";

pub struct PowerDns {
    pub dns_port: u16,
    pub api_port: u16,
    pub zone: String,
    child: Child,
    dir: TempDir,
}

impl PowerDns {
    /// Starts `pdns_server` and creates `zone` (every name answers A 127.0.0.1).
    pub async fn start(zone: &str) -> PowerDns {
        let install =
            "apt-get install -y pdns-server pdns-backend-sqlite3 (scripts/test-tools.sh does)";
        let server = require_binary("pdns_server", install);
        let schema =
            std::path::Path::new("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql");
        assert!(
            schema.exists(),
            "{} is missing: {install}",
            schema.display()
        );
        let dir = TempDir::new("pdns");
        let db = dir.0.join("pdns.sqlite3");
        let made = Command::new("python3")
            .args(["-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).executescript(open(sys.argv[2]).read())"])
            .arg(&db)
            .arg(schema)
            .status()
            .expect("python3");
        assert!(
            made.success(),
            "could not create the PowerDNS sqlite database"
        );
        let (dns_port, api_port) = (free_port(), free_port());
        let d = dir.0.display();
        std::fs::write(
            dir.0.join("pdns.conf"),
            format!(
                "launch=gsqlite3\ngsqlite3-database={}\nlocal-address=127.0.0.1\nlocal-port={dns_port}\n\
                 api=yes\napi-key={API_KEY}\nwebserver=yes\nwebserver-address=127.0.0.1\n\
                 webserver-port={api_port}\nwebserver-allow-from=127.0.0.0/8\nsocket-dir={d}\n\
                 guardian=no\ndaemon=no\ndisable-syslog=yes\nwrite-pid=no\ncache-ttl=0\n\
                 negquery-cache-ttl=0\nquery-cache-ttl=0\nconsistent-backends=yes\n",
                db.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.0.join("pdns.log")).unwrap();
        let child = Command::new(server)
            .arg(format!("--config-dir={d}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start pdns_server");
        let pdns = PowerDns {
            dns_port,
            api_port,
            zone: zone.to_owned(),
            child,
            dir,
        };
        let url = pdns.api_url();
        wait_until("the PowerDNS API", Duration::from_secs(20), || {
            let url = url.clone();
            async move { curl_api(&url, "GET", "/api/v1/servers/localhost", None).0 == 200 }
        })
        .await;
        let body = serde_json::json!({
            "name": format!("{zone}."), "kind": "Native", "nameservers": [format!("ns.{zone}.")],
            "rrsets": [
                { "name": format!("ns.{zone}."), "type": "A", "ttl": 60, "changetype": "REPLACE",
                  "records": [{ "content": "127.0.0.1", "disabled": false }] },
                { "name": format!("{zone}."), "type": "A", "ttl": 60, "changetype": "REPLACE",
                  "records": [{ "content": "127.0.0.1", "disabled": false }] }
            ]
        });
        let (status, answer) = curl_api(
            &pdns.api_url(),
            "POST",
            "/api/v1/servers/localhost/zones",
            Some(&body),
        );
        assert_eq!(status, 201, "zone creation: {answer}\n{}", pdns.log_text());
        pdns
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn dns_address(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("pdns.log")).unwrap_or_default()
    }

    /// The TXT contents under `fqdn` (with its trailing dot), as the API shows the zone.
    pub fn txt(&self, fqdn: &str) -> Vec<String> {
        let path = format!("/api/v1/servers/localhost/zones/{}.", self.zone);
        let (_, zone) = curl_api(&self.api_url(), "GET", &path, None);
        let zone: serde_json::Value = serde_json::from_str(&zone).unwrap_or_default();
        zone["rrsets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["name"] == fqdn && r["type"] == "TXT")
            .flat_map(|r| r["records"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r["content"].as_str().map(str::to_owned))
            .collect()
    }
}

/// One API call with curl: status and body.
fn curl_api(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H"])
        .arg(format!("X-API-Key: {API_KEY}"))
        .arg(format!("{base}{path}"));
    if let Some(body) = body {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
        ]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
