//! The HTTP/3 client of the tests: `tests/tools/h3_client.py`, on aioquic (PyPI; a client no
//! one here wrote), which `scripts/test-tools.sh` installs.

use std::process::Stdio;

use serde_json::Value;

/// Runs the client against `port` with SNI `sni` (see the script for `extra`'s flags); its
/// JSON, or its error output when it failed (a refused handshake, say).
pub async fn try_h3(
    port: u16,
    sni: &str,
    method: &str,
    path: &str,
    extra: &[&str],
) -> Result<Value, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/h3_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args([&port.to_string(), sni, method, path])
        .args(extra)
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'aioquic'"),
        "aioquic is missing (scripts/test-tools.sh installs it: pip install aioquic)"
    );
    if !out.status.success() {
        return Err(stderr.into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {stderr}"))
}

/// Like [`try_h3`], failing the test when the client fails.
pub async fn h3(port: u16, sni: &str, method: &str, path: &str, extra: &[&str]) -> Value {
    try_h3(port, sni, method, path, extra)
        .await
        .unwrap_or_else(|e| panic!("the HTTP/3 client failed: {e}"))
}

/// The value of `name` among an answer's headers.
pub fn header<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

/// The serial (lowercase hex, no leading zeros) of the certificate a client run saw.
pub fn got_serial(got: &Value) -> String {
    got["serial"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('0')
        .to_owned()
}
