//! gRPC through certgate with a stock client and server (Python's `grpcio`): the client speaks
//! TLS to certgate, certgate speaks HTTP/2 with prior knowledge (`h2c://`) to the server.
//! Unary, server streaming of 100 messages, a `NOT_FOUND` with its trailers, and a gRPC status
//! (`UNAVAILABLE`) — not an HTML 502 — when the upstream is down.

use super::*;
use crate::python_tools;
use common::{free_port, TempDir};
use serde_json::Value;

/// The stock gRPC server (`tests/grpc/greeter.py`) on a free port, once it says it is ready;
/// the port, and the process (killed when dropped).
async fn start_greeter() -> (u16, tokio::process::Child) {
    let port = free_port();
    let server =
        python_tools::start_server("grpc/greeter.py", &["serve".into(), port.to_string()]).await;
    (port, server)
}

fn require_grpcio() {
    python_tools::require("grpc", "grpcio");
}

#[tokio::test]
async fn grpc_calls_pass_through_with_trailers() {
    require_grpcio();
    let (_redis, cg) = instance(&[]).await;
    let (port, _server) = start_greeter().await;

    let cert = create_self_signed(&cg.admin(), "grpc", &["grpc.test", "down.test"]).await;
    assert_eq!(cert["status"], "completed", "{cert}");
    let pem = with_pem(&cg.admin(), "grpc").await;
    let dir = TempDir::new("grpc");
    let ca = dir.0.join("ca.pem");
    std::fs::write(&ca, pem["fullchain_pem"].as_str().unwrap()).unwrap();
    for (host, upstream) in [
        ("grpc.test", format!("h2c://127.0.0.1:{port}")),
        ("down.test", format!("h2c://127.0.0.1:{}", free_port())),
    ] {
        let r = cg
            .admin()
            .post(
                "/proxies/",
                &json!({ "hostname": host, "upstream": upstream, "cert_name": "grpc" }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.json());
    }

    let out = tokio::process::Command::new("python3")
        .args([
            python_tools::script("grpc/greeter.py"),
            "call".into(),
            format!("127.0.0.1:{}", cg.https_port),
            "grpc.test".into(),
            ca.display().to_string(),
            "down.test".into(),
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the gRPC client finished within 60 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["unary"], "hello certgate", "{seen}");
    assert_eq!(seen["stream_count"], 100, "{seen}");
    assert_eq!(seen["stream_last"], "99:x", "{seen}");
    assert_eq!(seen["missing"]["code"], "NOT_FOUND", "{seen}");
    assert_eq!(seen["missing"]["details"], "no such greeting", "{seen}");
    assert_eq!(seen["missing"]["trailing"]["x-detail"], "gone", "{seen}");
    assert_eq!(seen["dead"]["code"], "UNAVAILABLE", "{seen}");
    assert!(
        seen["dead"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("upstream unreachable")),
        "{seen}"
    );
}

/// gRPC over HTTP/3 to the same `h2c://` server: aioquic sends the framed requests by hand
/// (content-type `application/grpc`, `te: trailers`); the answers' messages and their
/// trailers (`grpc-status`, and `x-detail` on the failing call) come back over QUIC.
#[tokio::test]
async fn grpc_over_http3_keeps_its_trailers() {
    require_grpcio();
    let (_redis, cg) = instance(&[]).await;
    let (port, _server) = start_greeter().await;
    create_self_signed(&cg.admin(), "grpc", &["grpc.test"]).await;
    let body = json!({ "hostname": "grpc.test", "upstream": format!("h2c://127.0.0.1:{port}"), "cert_name": "grpc" });
    assert_eq!(
        cg.admin().post("/proxies/", &body).await.unwrap().status,
        201
    );

    let dir = TempDir::new("grpc-h3");
    let framed = dir.0.join("request");
    let message = b"certgate";
    let mut bytes = vec![0u8];
    bytes.extend((message.len() as u32).to_be_bytes());
    bytes.extend(message);
    std::fs::write(&framed, bytes).unwrap();
    let framed = framed.display().to_string();
    let client = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/h3_client.py");
    for (method, status, detail) in [("SayHello", "0", None), ("Missing", "5", Some("gone"))] {
        let out = tokio::process::Command::new("python3")
            .args([client, &cg.https_port.to_string(), "grpc.test", "POST"])
            .arg(format!("/helloworld.Greeter/{method}"))
            .args(["--body-file", &framed])
            .args(["--header", "content-type:application/grpc"])
            .args(["--header", "te:trailers"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let answer = &got["answers"][0];
        let headers = answer["headers"].as_array().unwrap();
        let value = |name: &str| {
            headers
                .iter()
                .find(|pair| pair[0] == name)
                .and_then(|pair| pair[1].as_str())
        };
        assert_eq!(answer["status"], 200, "{got}");
        assert_eq!(value("grpc-status"), Some(status), "{method}: {got}");
        if let Some(detail) = detail {
            assert_eq!(value("x-detail"), Some(detail), "{got}");
        } else {
            assert!(
                answer["text"].as_str().unwrap().ends_with("hello certgate"),
                "{got}"
            );
        }
    }
}
