//! A real BIND 9 (`named`, Debian package `bind9`) on a free loopback port: one primary zone
//! that takes RFC 2136 updates signed with a TSIG key, for dns-01.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, require_binary, wait_until, TempDir};

pub const TSIG_KEY_NAME: &str = "certgate-test";
/// hmac-sha256 secret (base64, as tsig-keygen prints it).
pub const TSIG_SECRET: &str = "3m3LxkbUCcD1sK6V0lBvWc5gJ8Wq0ZRC7bqg7bwHfL4=";

pub struct Bind {
    pub port: u16,
    pub zone: String,
    pub log: std::path::PathBuf,
    child: Child,
    _dir: TempDir,
}

impl Bind {
    /// Starts `named` serving `zone` (every name in it answers A 127.0.0.1).
    pub async fn start(zone: &str) -> Bind {
        Bind::start_with(zone, "").await
    }

    /// [`Bind::start`] with more zone-file lines (names relative to the zone).
    pub async fn start_with(zone: &str, records: &str) -> Bind {
        Bind::start_zones(&[(zone, records)]).await
    }

    /// `named` serving each `(zone, more zone-file lines)`, all updatable with the test key;
    /// [`Bind::zone`] is the first. With more than one zone it also recurses (for 127.0.0.1),
    /// so that a CNAME from one of its zones into another is followed in one answer, as a CA's
    /// resolver follows it.
    pub async fn start_zones(zones: &[(&str, &str)]) -> Bind {
        let named = require_binary("named", "apt-get install -y bind9");
        let dir = TempDir::new("bind");
        let port = free_port();
        let d = dir.0.display().to_string();
        let recursion = if zones.len() > 1 { "yes" } else { "no" };
        let mut config = format!(
            r#"options {{
  directory "{d}";
  pid-file "{d}/named.pid";
  managed-keys-directory "{d}";
  session-keyfile "{d}/session.key";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion {recursion};
  dnssec-validation no;
  allow-query {{ any; }};
  notify no;
}};
controls {{ }};
key "{TSIG_KEY_NAME}" {{ algorithm hmac-sha256; secret "{TSIG_SECRET}"; }};
"#
        );
        for (zone, records) in zones {
            config.push_str(&format!(
                "zone \"{zone}\" {{\n  type primary;\n  file \"{d}/{zone}.db\";\n  \
                 allow-update {{ key \"{TSIG_KEY_NAME}\"; }};\n}};\n"
            ));
            let zone_file = format!(
                "$TTL 60\n@ IN SOA ns.{zone}. admin.{zone}. 1 60 60 600 60\n@ IN NS ns.{zone}.\n\
                 ns IN A 127.0.0.1\n@ IN A 127.0.0.1\n* IN A 127.0.0.1\n{records}"
            );
            std::fs::write(dir.0.join(format!("{zone}.db")), zone_file).unwrap();
        }
        let zone = zones[0].0;
        std::fs::write(dir.0.join("named.conf"), config).unwrap();
        let log = dir.0.join("named.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(named)
            .args(["-g", "-4", "-c"])
            .arg(dir.0.join("named.conf"))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start named");
        let bind = Bind {
            port,
            zone: zone.to_owned(),
            log,
            child,
            _dir: dir,
        };
        let log = bind.log.clone();
        wait_until("named to load its zone", Duration::from_secs(20), || {
            let log = log.clone();
            async move {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("running")
            }
        })
        .await;
        bind
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client of this BIND over TCP; its messages signed with `signer` when given.
    async fn client(
        &self,
        signer: Option<std::sync::Arc<hickory_client::proto::dnssec::tsig::TSigner>>,
    ) -> hickory_client::client::Client {
        use hickory_client::client::Client;
        use hickory_client::proto::op::MessageFinalizer;
        use hickory_client::proto::runtime::TokioRuntimeProvider;
        use hickory_client::proto::tcp::TcpClientStream;
        let (stream, sender) = TcpClientStream::new(
            ([127, 0, 0, 1], self.port).into(),
            None,
            None,
            TokioRuntimeProvider::new(),
        );
        let signer = signer.map(|s| s as std::sync::Arc<dyn MessageFinalizer>);
        let (client, bg) = Client::new(stream, sender, signer).await.unwrap();
        tokio::spawn(bg);
        client
    }

    /// A client of this BIND over TCP whose updates are signed with the test key.
    async fn signed_client(&self) -> hickory_client::client::Client {
        use base64::Engine;
        use hickory_client::proto::dnssec::rdata::tsig::TsigAlgorithm;
        use hickory_client::proto::dnssec::tsig::TSigner;
        use hickory_client::proto::rr::Name;
        let signer = TSigner::new(
            base64::engine::general_purpose::STANDARD
                .decode(TSIG_SECRET)
                .unwrap(),
            TsigAlgorithm::HmacSha256,
            Name::from_ascii(TSIG_KEY_NAME).unwrap(),
            300,
        )
        .unwrap();
        self.client(Some(std::sync::Arc::new(signer))).await
    }

    /// Points `name` (in the zone) at `ip` alone: its A records replaced by one RFC 2136 update
    /// signed with the test key, as a DNS operator — or an attacker rebinding a name — would.
    pub async fn set_a(&self, name: &str, ip: std::net::Ipv4Addr) {
        use hickory_client::client::ClientHandle;
        use hickory_client::proto::op::ResponseCode;
        use hickory_client::proto::rr::rdata::A;
        use hickory_client::proto::rr::{Name, RData, Record, RecordType};
        let mut client = self.signed_client().await;
        let owner = Name::from_ascii(format!("{name}.")).unwrap();
        let zone = Name::from_ascii(format!("{}.", self.zone)).unwrap();
        let old = Record::update0(owner.clone(), 0, RecordType::A);
        let deleted = client.delete_rrset(old, zone.clone()).await.unwrap();
        assert_eq!(deleted.response_code(), ResponseCode::NoError);
        let record = Record::from_rdata(owner, 1, RData::A(A(ip)));
        let added = client.append(record, zone, false).await.unwrap();
        assert_eq!(added.response_code(), ResponseCode::NoError, "{added:?}");
    }

    /// Adds a TXT record `name` = `value` by an RFC 2136 update signed with the test key, as
    /// the zone's operator would.
    pub async fn add_txt(&self, name: &str, value: &str) {
        use hickory_client::client::ClientHandle;
        use hickory_client::proto::op::ResponseCode;
        use hickory_client::proto::rr::rdata::TXT;
        use hickory_client::proto::rr::{Name, RData, Record};
        let mut client = self.signed_client().await;
        let owner = Name::from_ascii(format!("{name}.")).unwrap();
        let zone = Name::from_ascii(format!("{}.", self.zone)).unwrap();
        let record = Record::from_rdata(owner, 60, RData::TXT(TXT::new(vec![value.to_owned()])));
        let added = client.append(record, zone, false).await.unwrap();
        assert_eq!(added.response_code(), ResponseCode::NoError, "{added:?}");
    }

    /// The zone's SOA serial, which every accepted update raises.
    pub async fn serial(&self) -> u32 {
        use hickory_client::client::ClientHandle;
        use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};
        let mut client = self.client(None).await;
        let zone = Name::from_ascii(format!("{}.", self.zone)).unwrap();
        let answer = client
            .query(zone, DNSClass::IN, RecordType::SOA)
            .await
            .unwrap();
        answer
            .answers()
            .iter()
            .find_map(|r| match r.data() {
                RData::SOA(soa) => Some(soa.serial()),
                _ => None,
            })
            .expect("the zone's SOA")
    }

    /// The TXT values BIND answers for `name` (asked over TCP, unsigned).
    pub async fn txt(&self, name: &str) -> Vec<String> {
        use hickory_client::client::ClientHandle;
        use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};
        let mut client = self.client(None).await;
        let answer = client
            .query(
                Name::from_ascii(format!("{name}.")).unwrap(),
                DNSClass::IN,
                RecordType::TXT,
            )
            .await
            .unwrap();
        answer
            .answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::TXT(txt) => Some(txt.to_string()),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
