//! The PROXY protocol on the listeners: a trusted load balancer's header (v2 and v1) sets the
//! client address that the upstream (`X-Forwarded-For`), IP rules and the access log see; a
//! header from anyone else, or none where one is required, closes the connection.

use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};

use super::*;

/// A PROXY v2 header for TCP over IPv4 from `source` to `destination`.
fn v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (source, destination) else {
        panic!("IPv4 only here");
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&s.ip().octets());
    header.extend_from_slice(&d.ip().octets());
    header.extend_from_slice(&s.port().to_be_bytes());
    header.extend_from_slice(&d.port().to_be_bytes());
    header
}

/// A TCP connection to 127.0.0.1:`port` from `local` (another loopback address is another
/// source), having sent `first`.
async fn open_from(local: &str, port: u16, first: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut tcp = socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    tcp.write_all(first).await.unwrap();
    tcp
}

/// A GET for `host` over HTTPS after `first`: the answer as text, or `None` when closed first.
async fn https_get_after(cg: &Certgate, local: &str, first: &[u8], host: &str) -> Option<String> {
    let tcp = open_from(local, cg.https_port, first).await;
    let mut tls = common::client::tls_over(tcp, host, &[b"http/1.1"])
        .await
        .ok()?;
    let request = format!("GET /who HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
        .await
        .unwrap()
        .ok()?;
    (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
}

/// A GET for `host` on the plain listener after `first`: the answer, or `None` when closed.
async fn http_get_after(cg: &Certgate, local: &str, first: &[u8], host: &str) -> Option<String> {
    let mut tcp = open_from(local, cg.http_port, first).await;
    let request = format!("GET /who HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .unwrap();
    (read.is_ok() && !answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
}

/// The echo upstream's view of the client (`X-Forwarded-For`) in an answer.
fn forwarded_for(answer: &str) -> String {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["headers"]["x-forwarded-for"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn proxied_instance(
    mode: &str,
    log: &std::path::Path,
) -> (Redis, Certgate, upstream::Upstream) {
    let (redis, cg) = instance(&[
        ("PROXY_PROTOCOL", mode),
        ("PROXY_PROTOCOL_TRUSTED", "127.0.0.1/32"),
        ("ACCESS_LOG", log.to_str().unwrap()),
    ])
    .await;
    let up = upstream::start("lb").await;
    create_self_signed(&cg.admin(), "lb", &["lb.test", "walled.test"]).await;
    let body = json!({ "hostname": "lb.test", "upstream": up.url(), "https_redirect": false });
    assert_eq!(
        cg.admin().post("/proxies/", &body).await.unwrap().status,
        201
    );
    let walled = json!({ "hostname": "walled.test", "upstream": up.url(),
        "ip_rules": { "deny": ["203.0.113.0/24"] } });
    assert_eq!(
        cg.admin().post("/proxies/", &walled).await.unwrap().status,
        201
    );
    (redis, cg, up)
}

#[tokio::test]
async fn a_trusted_header_sets_the_client_address_and_anything_else_is_closed() {
    let dir = common::TempDir::new("proxy-protocol");
    let log = dir.0.join("access.log");
    let (_redis, cg, _up) = proxied_instance("required", &log).await;
    let balancer_to = |port: u16| format!("127.0.0.1:{port}").parse().unwrap();
    let client: SocketAddr = "203.0.113.7:4242".parse().unwrap();

    // v2 before TLS, from the trusted balancer: the upstream and the log see the client.
    let header = v2(client, balancer_to(cg.https_port));
    let answer = https_get_after(&cg, "127.0.0.1", &header, "lb.test").await;
    let answer = answer.expect("an answer through a trusted v2 header");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(forwarded_for(&answer), "203.0.113.7");
    // The same client is refused by a route whose ip_rules deny it.
    let walled = https_get_after(&cg, "127.0.0.1", &header, "walled.test").await;
    assert!(walled.unwrap().starts_with("HTTP/1.1 403"));

    // v1 (text) before plain HTTP, IPv6 inside.
    let v1 = b"PROXY TCP6 2001:db8::7 ::1 5000 80\r\n";
    let answer = http_get_after(&cg, "127.0.0.1", v1, "lb.test")
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(forwarded_for(&answer), "2001:db8::7");

    // curl's own v1 header (its connection's addresses) is understood.
    let url = format!("http://127.0.0.1:{}/who", cg.http_port);
    let curl = tokio::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--haproxy-protocol",
            "-H",
            "Host: lb.test",
            &url,
        ])
        .output()
        .await
        .expect("curl (apt-get install curl)");
    let seen: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap_or_default();
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1", "{curl:?}");

    // Required: no header, no service.
    assert_eq!(http_get_after(&cg, "127.0.0.1", b"", "lb.test").await, None);
    assert!(https_get_after(&cg, "127.0.0.1", b"", "lb.test")
        .await
        .is_none());
    // A header from a source that is not trusted: closed, on both listeners.
    let from_elsewhere = v2(client, balancer_to(cg.http_port));
    assert_eq!(
        http_get_after(&cg, "127.0.0.2", &from_elsewhere, "lb.test").await,
        None
    );
    assert!(https_get_after(&cg, "127.0.0.2", &header, "lb.test")
        .await
        .is_none());
    // A malformed one: closed.
    let garbled = b"PROXY TCP4 203.0.113.7 nonsense\r\n";
    assert_eq!(
        http_get_after(&cg, "127.0.0.1", garbled, "lb.test").await,
        None
    );

    let metrics = cg.admin().get("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let refusals = text
        .lines()
        .find_map(|l| l.strip_prefix("certgate_proxy_protocol_refusals_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(refusals >= 5, "refusals counted: {refusals}");

    let mut logged = String::new();
    for _ in 0..50 {
        logged = std::fs::read_to_string(&log).unwrap_or_default();
        if logged.contains("\"client\":\"2001:db8::7\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logged.contains("\"client\":\"203.0.113.7\""), "{logged}");
    assert!(logged.contains("\"client\":\"2001:db8::7\""), "{logged}");
}

#[tokio::test]
async fn optional_serves_connections_without_a_header_and_still_refuses_untrusted_ones() {
    let dir = common::TempDir::new("proxy-optional");
    let (_redis, cg, _up) = proxied_instance("optional", &dir.0.join("access.log")).await;
    let answer = get(cg.https_port, "lb.test", "lb.test", "/who").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["headers"]["x-forwarded-for"], "127.0.0.1");
    // From an untrusted source: served without a header, closed with one.
    let plain = http_get_after(&cg, "127.0.0.2", b"", "lb.test")
        .await
        .unwrap();
    assert_eq!(forwarded_for(&plain), "127.0.0.2");
    let header = v2(
        "198.51.100.1:1".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
    );
    assert_eq!(
        http_get_after(&cg, "127.0.0.2", &header, "lb.test").await,
        None
    );
    // A request whose method starts like the v1 prefix is not mistaken for one.
    let post = http_get_after(
        &cg,
        "127.0.0.1",
        b"POST /who HTTP/1.1\r\nHost: lb.test\r\nContent-Length: 0\r\n\r\n",
        "lb.test",
    )
    .await
    .unwrap();
    assert!(post.starts_with("HTTP/1.1 200"), "{post}");
}
