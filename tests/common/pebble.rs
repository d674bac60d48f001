//! Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS), on free loopback ports.
//!
//! challtestsrv answers 127.0.0.1 for every name (no AAAA), so Pebble validates HTTP-01 against
//! certgate's HTTP listener at `127.0.0.1:{http_port}`. Pebble's own HTTPS certificate is made
//! here by a test CA, whose PEM is written to `ca_bundle` for `ACME_CA_BUNDLE`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::tls::{https_get, make_pki};
use super::{free_port, require_binary, wait_until, TempDir};

pub struct Pebble {
    pub port: u16,
    pub management_port: u16,
    pub challtestsrv_port: u16,
    pub ca_bundle: PathBuf,
    pub ca_pem: String,
    pub log: PathBuf,
    children: Vec<Child>,
    _dir: TempDir,
}

/// Options for a Pebble instance.
#[derive(Default)]
pub struct PebbleOptions<'a> {
    /// Where Pebble sends HTTP-01 validation requests (certgate's HTTP listener).
    pub http_port: u16,
    /// Extra environment, e.g. `PEBBLE_WFE_NONCEREJECT`.
    pub env: &'a [(&'a str, &'a str)],
    /// Certificate lifetime in seconds (Pebble's default is about 5 years).
    pub validity_seconds: Option<u64>,
    /// Extra profiles (name, validity in seconds) beside `default` (v2.10.1 and later). With
    /// more than one profile, Pebble may pick any for an order that names none: tests that set
    /// these name the profile in every order.
    pub extra_profiles: &'a [(&'a str, u64)],
    /// External Account Binding keys (key id, base64url MAC key); when any is given, Pebble
    /// requires a binding on every new account.
    pub eab_keys: &'a [(&'a str, &'a str)],
    /// Where Pebble makes TLS-ALPN-01 validation handshakes (certgate's HTTPS port); unset: a
    /// port where nothing listens.
    pub tls_port: Option<u16>,
    /// A DNS server (`127.0.0.1:port`) Pebble resolves through instead of challtestsrv, e.g.
    /// a BIND holding dns-01 records.
    pub dns_server: Option<String>,
}

/// The Pebble binaries to run: `$PEBBLE_BIN` / `$CHALLTESTSRV_BIN`, else upstream v2.10.1 in
/// `../shared/tools/pebble/` (ARI, profiles, EAB), else Debian's `pebble` package (v2.4.0).
pub fn binaries() -> (PathBuf, PathBuf) {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/pebble");
    let pick = |var: &str, name: &str| -> PathBuf {
        if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "{var}={} is not a file", path.display());
            return path;
        }
        let bundled = shared.join(name);
        if bundled.is_file() {
            return bundled;
        }
        require_binary(name, "apt-get install -y pebble")
    };
    (
        pick("PEBBLE_BIN", "pebble"),
        pick("CHALLTESTSRV_BIN", "pebble-challtestsrv"),
    )
}

/// Whether this `pebble-challtestsrv` is the newer one (`-dnsserver` and a DoH listener that
/// must be switched off) rather than Debian's (`-dns01`).
pub fn challtestsrv_is_new(path: &std::path::Path) -> bool {
    let help = Command::new(path)
        .arg("-h")
        .output()
        .expect("run pebble-challtestsrv -h");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&help.stdout),
        String::from_utf8_lossy(&help.stderr)
    );
    text.contains("-dnsserver")
}

impl Pebble {
    pub async fn start(options: PebbleOptions<'_>) -> Pebble {
        let (pebble, challtestsrv) = binaries();
        let new_challtestsrv = challtestsrv_is_new(&challtestsrv);
        let dir = TempDir::new("pebble");
        let pki = make_pki(&["127.0.0.1", "localhost"]);
        let cert = dir.0.join("cert.pem");
        let key = dir.0.join("key.pem");
        let ca_bundle = dir.0.join("ca.pem");
        std::fs::write(&cert, &pki.server_cert_pem).unwrap();
        std::fs::write(&key, &pki.server_key_pem).unwrap();
        std::fs::write(&ca_bundle, &pki.ca_pem).unwrap();

        let (port, management_port, dns_port, challtestsrv_port, tls_port) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let mut config = json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": cert,
                "privateKey": key,
                "httpPort": options.http_port,
                "tlsPort": options.tls_port.unwrap_or(tls_port),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": !options.eab_keys.is_empty(),
                "externalAccountMACKeys": options
                    .eab_keys
                    .iter()
                    .map(|(kid, key)| (kid.to_string(), json!(key)))
                    .collect::<serde_json::Map<String, serde_json::Value>>(),
            }
        });
        // v2.4.0 reads `certificateValidityPeriod`; v2.10.1 takes validity from profiles (and
        // ignores the other key); each ignores what it does not know.
        let default_validity = options.validity_seconds.unwrap_or(7_776_000);
        config["pebble"]["profiles"] = json!({
            "default": { "description": "test default", "validityPeriod": default_validity },
        });
        for (name, seconds) in options.extra_profiles {
            config["pebble"]["profiles"][*name] =
                json!({ "description": format!("{name} test profile"), "validityPeriod": seconds });
        }
        if let Some(seconds) = options.validity_seconds {
            config["pebble"]["certificateValidityPeriod"] = json!(seconds);
        }
        let config_path = dir.0.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = dir.0.join("pebble.log");
        let log_file = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap()
        };

        let dns_flag = if new_challtestsrv {
            "-dnsserver"
        } else {
            "-dns01"
        };
        let mut dns = Command::new(challtestsrv);
        if new_challtestsrv {
            dns.args(["-doh", ""]);
        }
        let dns = dns
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .args([dns_flag, &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{challtestsrv_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv");
        let mut cmd = Command::new(pebble);
        cmd.arg("-config").arg(&config_path).args([
            "-dnsserver",
            &options
                .dns_server
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{dns_port}")),
        ]);
        cmd.env("PEBBLE_VA_NOSLEEP", "1");
        for (k, v) in options.env {
            cmd.env(k, v);
        }
        let ca = cmd
            .stdout(log_file())
            .stderr(log_file())
            .spawn()
            .expect("start pebble");
        let pebble = Pebble {
            port,
            management_port,
            challtestsrv_port,
            ca_bundle,
            ca_pem: pki.ca_pem,
            log,
            children: vec![dns, ca],
            _dir: dir,
        };
        for p in [port, management_port, challtestsrv_port] {
            wait_until("pebble to listen", Duration::from_secs(20), || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", p))
                    .await
                    .is_ok()
            })
            .await;
        }
        pebble
    }

    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// Pebble's root for issued certificates (`/roots/0` on the management port).
    pub async fn issuing_root(&self) -> String {
        https_get(self.management_port, "/roots/0", &self.ca_pem).await
    }

    /// Makes challtestsrv answer `host` with `ip` (e.g. 127.0.0.2, where nothing listens).
    pub async fn set_a(&self, host: &str, ip: &str) {
        let client = certgate::client::AdminClient::new(
            &format!("http://127.0.0.1:{}", self.challtestsrv_port),
            None,
        );
        let r = client
            .post("/add-a", &json!({ "host": host, "addresses": [ip] }))
            .await
            .unwrap();
        assert!(r.status.is_success(), "challtestsrv add-a: {}", r.status);
    }

    /// Makes challtestsrv answer SERVFAIL for `host`.
    /// Forgets `host`'s mock A records: it resolves to the default address again.
    pub async fn clear_a(&self, host: &str) {
        let client = certgate::client::AdminClient::new(
            &format!("http://127.0.0.1:{}", self.challtestsrv_port),
            None,
        );
        let r = client
            .post("/clear-a", &json!({ "host": host }))
            .await
            .unwrap();
        assert!(r.status.is_success(), "challtestsrv clear-a: {}", r.status);
    }

    pub async fn set_servfail(&self, host: &str) {
        let client = certgate::client::AdminClient::new(
            &format!("http://127.0.0.1:{}", self.challtestsrv_port),
            None,
        );
        let r = client
            .post("/set-servfail", &json!({ "host": host }))
            .await
            .unwrap();
        assert!(
            r.status.is_success(),
            "challtestsrv set-servfail: {}",
            r.status
        );
    }

    /// Whether this Pebble lists certificate profiles in its directory (v2.10.1 does, Debian's
    /// v2.4.0 does not).
    pub async fn has_profiles(&self) -> bool {
        let directory = https_get(self.port, "/dir", &self.ca_pem).await;
        let directory: serde_json::Value = serde_json::from_str(&directory).unwrap();
        directory["meta"]["profiles"].is_object()
    }

    /// Pebble's directory, as JSON.
    pub async fn directory(&self) -> serde_json::Value {
        let directory = https_get(self.port, "/dir", &self.ca_pem).await;
        serde_json::from_str(&directory).unwrap()
    }

    /// Whether this Pebble has ACME Renewal Information (v2.10.1 does, v2.4.0 does not).
    pub async fn has_renewal_info(&self) -> bool {
        self.directory().await["renewalInfo"].is_string()
    }

    /// Pebble's ARI answer for a certificate id, as JSON.
    pub async fn renewal_info(&self, cert_id: &str) -> serde_json::Value {
        let base = self.directory().await["renewalInfo"]
            .as_str()
            .unwrap()
            .to_owned();
        // Only the path: the directory may name the host differently from how tests reach it.
        let after_scheme = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
        let path = &after_scheme[after_scheme.find('/').unwrap()..];
        let body = https_get(self.port, &format!("{path}/{cert_id}"), &self.ca_pem).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("ARI answer {body:?}: {e}"))
    }

    /// Overrides Pebble's ARI answer for the leaf of `chain_pem` with any text, even malformed
    /// JSON (management `POST /set-renewal-info/`).
    pub async fn set_renewal_info(&self, chain_pem: &str, answer: &str) {
        let leaf_end = chain_pem.find("-----END CERTIFICATE-----").unwrap()
            + "-----END CERTIFICATE-----".len();
        let body = json!({ "Certificate": &chain_pem[..leaf_end], "ARIResponse": answer });
        let status = super::tls::https_post(
            self.management_port,
            "/set-renewal-info/",
            &body.to_string(),
            &self.ca_pem,
        )
        .await;
        assert_eq!(status, 200, "set-renewal-info");
    }

    /// Pebble's record of a certificate by serial (hex): `Status` (`Valid`/`Revoked`), `Reason`.
    pub async fn cert_status(&self, serial_hex: &str) -> serde_json::Value {
        let body = https_get(
            self.management_port,
            &format!("/cert-status-by-serial/{serial_hex}"),
            &self.ca_pem,
        )
        .await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("cert status {body:?}: {e}"))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Environment for a certgate instance using this Pebble.
    pub fn certgate_env(&self) -> Vec<(String, String)> {
        vec![
            ("ACME_DIRECTORY_URL".into(), self.directory_url()),
            ("ACME_STAGING_URL".into(), self.directory_url()),
            (
                "ACME_CA_BUNDLE".into(),
                self.ca_bundle.display().to_string(),
            ),
            ("ACME_POLL_INTERVAL_SECONDS".into(), "1".into()),
        ]
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
