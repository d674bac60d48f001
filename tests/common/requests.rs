//! Small requests tests make again and again: a token, a plain-HTTP request through the edge.

#![allow(dead_code)]

use certgate::client::AdminClient;

/// `GET /` for `host` on an instance's plain-HTTP listener (routes with
/// `https_redirect: false` are proxied there).
pub async fn plain_get(http_port: u16, host: &str) -> certgate::client::ApiResponse {
    AdminClient::new(&format!("http://127.0.0.1:{http_port}"), None)
        .send_raw(http::Method::GET, "/", &[("host", host)], None)
        .await
        .unwrap()
}

/// Creates a token named `name` through the admin API; the token.
pub async fn create_token(admin: &AdminClient, name: &str) -> String {
    let r = admin
        .post("/tokens/", &serde_json::json!({ "name": name }))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "token {name}: {}", r.json());
    r.json()["token"].as_str().unwrap().to_owned()
}
