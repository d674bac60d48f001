//! The Python programs some edge tests run beside certgate (a stock gRPC server and client, an
//! HPACK-reporting HTTP/2 upstream), installed by `scripts/test-tools.sh`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

/// Fails, saying how to install it, unless `python3` can import `modules` (comma-separated).
pub fn require(modules: &str, package: &str) {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with {package} is needed: run scripts/test-tools.sh (pip install {package})"
    );
}

/// The path of `tests/<path>`.
pub fn script(path: &str) -> String {
    format!("{}/tests/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// `python3 tests/<path> args…` once it has printed `ready` (within 20 s); killed when dropped.
pub async fn start_server(path: &str, args: &[String]) -> tokio::process::Child {
    let mut server = tokio::process::Command::new("python3")
        .arg(script(path))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut ready = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), ready.next_line())
        .await
        .unwrap_or_else(|_| panic!("{path} did not start within 20 s"))
        .unwrap();
    assert_eq!(line.as_deref(), Some("ready"), "{path}");
    server
}
