//! The lifecycle core end to end: real redis-server, real certgate processes, real sockets.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod errors;
mod generation;
mod keys_at_rest;
mod lifecycle;
mod ownership;
mod pages;

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use certgate::certs::pem::leaf_info;
use common::{
    assert_generation_completes, create_self_signed, listed, wait_generation, with_pem, Certgate,
    Redis, ADMIN_TOKEN,
};

async fn instance(extra: &[(&str, &str)]) -> (Redis, Certgate) {
    let redis = Redis::start().await;
    let cg = Certgate::start(&redis.url(), "t:", extra).await;
    (redis, cg)
}

async fn new_token(cg: &Certgate, name: &str) -> String {
    let r = cg
        .admin()
        .post("/tokens/", &json!({ "name": name }))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()["token"].as_str().unwrap().to_owned()
}
