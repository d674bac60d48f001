//! The CLI's certificate and token commands: one admin API call each (plus polling for
//! `cert create`), JSON to stdout, progress and errors to stderr, exit code 1 on failure.

use std::time::Duration;

use serde_json::{json, Value};

use super::{AdminClient, ApiResponse};
use crate::cli::{
    AcmeCommand, CertCommand, CreateArgs, KeysCommand, ProxyCommand, RouteArgs, TokenCommand,
};

/// How often `cert create` polls the status while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A failed command's one-line reason.
pub type CommandResult = Result<Value, String>;

/// Runs a `certgate cert …` command.
pub async fn cert(client: &AdminClient, command: CertCommand) -> CommandResult {
    match command {
        CertCommand::Create(args) => create(client, args).await,
        CertCommand::Delete { name, force } => {
            let path = format!("/certificates/{}?force={force}", encode(&name));
            expect(client.delete(&path).await, 204).map(|_| json!({ "deleted": name }))
        }
        CertCommand::List => all_pages(client, "/certificates/").await,
        CertCommand::Show { name, pem } => expect(
            client
                .get(&format!("/certificates/{}?pem={pem}", encode(&name)))
                .await,
            200,
        ),
        CertCommand::Status { name } => expect(
            client
                .get(&format!("/certificates/{}/status", encode(&name)))
                .await,
            200,
        ),
        CertCommand::DnsRecords { name } => expect(
            client
                .get(&format!("/certificates/{}/dns-records", encode(&name)))
                .await,
            200,
        ),
        CertCommand::Renew { name, wait } => {
            let path = format!("/certificates/{}/renew", encode(&name));
            let accepted = expect(client.post(&path, &json!({})).await, 202)?;
            if wait {
                wait_for(client, &name).await
            } else {
                Ok(accepted)
            }
        }
        CertCommand::Revoke { name, reason, wait } => {
            let path = format!("/certificates/{}/revoke", encode(&name));
            let body = json!({ "reason": reason });
            let accepted = expect(client.post(&path, &body).await, 202)?;
            if wait {
                wait_for(client, &name).await
            } else {
                Ok(accepted)
            }
        }
    }
}

/// Runs a `certgate proxy …` command.
pub async fn proxy(client: &AdminClient, command: ProxyCommand) -> CommandResult {
    match command {
        ProxyCommand::Create(args) => {
            expect(client.post("/proxies/", &route_body(&args)?).await, 201)
        }
        ProxyCommand::Update(args) => {
            let path = format!("/proxies/{}", encode(&args.hostname));
            expect(
                client
                    .send(http::Method::PUT, &path, Some(&route_body(&args)?))
                    .await,
                200,
            )
        }
        ProxyCommand::Delete { hostname } => expect(
            client
                .delete(&format!("/proxies/{}", encode(&hostname)))
                .await,
            204,
        )
        .map(|_| json!({ "deleted": hostname })),
        ProxyCommand::List => all_pages(client, "/proxies/").await,
        ProxyCommand::Show { hostname } => expect(
            client.get(&format!("/proxies/{}", encode(&hostname))).await,
            200,
        ),
    }
}

/// `URL[=WEIGHT][,URL[=WEIGHT]…]` as the API's `upstream` (one plain URL) or `upstreams`.
fn upstreams_of(text: &str) -> Result<(&'static str, Value), String> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if let [one] = items.as_slice() {
        if !one.contains('=') {
            return Ok(("upstream", json!(one)));
        }
    }
    let mut list = Vec::new();
    for item in items {
        match item.rsplit_once('=') {
            Some((url, weight)) => {
                let weight: u32 = weight.parse().map_err(|_| {
                    format!("upstream {item:?}: the weight after `=` must be a number")
                })?;
                list.push(json!({ "url": url, "weight": weight }));
            }
            None => list.push(json!(item)),
        }
    }
    Ok(("upstreams", Value::Array(list)))
}

/// `--client-auth` and its files as a `client_auth` object (`None` without the flag).
/// `--rate-limit N/S` (with `--rate-burst`, `--rate-key`) as the route's `rate_limit`.
fn rate_limit_of(args: &RouteArgs) -> Result<Option<Value>, String> {
    let Some(text) = &args.rate_limit else {
        if args.rate_burst.is_some() || args.rate_key.is_some() {
            return Err("--rate-burst and --rate-key need --rate-limit".to_owned());
        }
        return Ok(None);
    };
    let parsed = text.split_once('/').and_then(|(n, s)| {
        Some((
            n.trim().parse::<u64>().ok()?,
            s.trim().trim_end_matches('s').parse::<u64>().ok()?,
        ))
    });
    let Some((requests, per_seconds)) = parsed else {
        return Err(format!(
            "--rate-limit {text}: expected REQUESTS/SECONDS, such as 100/10"
        ));
    };
    let mut limit = json!({ "requests": requests, "per_seconds": per_seconds });
    if let Some(burst) = args.rate_burst {
        limit["burst"] = json!(burst);
    }
    if let Some(key) = &args.rate_key {
        limit["key"] = json!(key);
    }
    Ok(Some(limit))
}

fn client_auth_of(args: &RouteArgs) -> Result<Option<Value>, String> {
    let read = |flag: &str, file: &std::path::Path| {
        std::fs::read_to_string(file).map_err(|e| format!("{flag} {}: {e}", file.display()))
    };
    let Some(mode) = &args.client_auth else {
        if args.client_ca.is_some()
            || args.client_crl.is_some()
            || !args.client_crl_url.is_empty()
            || args.crl_stale.is_some()
            || args.forward_client_cert
        {
            return Err(
                "--client-ca, --client-crl, --client-crl-url, --crl-stale and \
                 --forward-client-cert need --client-auth"
                    .to_owned(),
            );
        }
        return Ok(None);
    };
    let ca = args
        .client_ca
        .as_deref()
        .ok_or("--client-auth needs --client-ca FILE")?;
    let mut auth = json!({
        "mode": mode,
        "ca_pem": read("--client-ca", ca)?,
        "forward": args.forward_client_cert,
    });
    if let Some(crl) = &args.client_crl {
        auth["crl_pem"] = json!(read("--client-crl", crl)?);
    }
    if !args.client_crl_url.is_empty() {
        auth["crl_urls"] = json!(args.client_crl_url);
    }
    if let Some(stale) = &args.crl_stale {
        auth["crl_stale"] = json!(stale);
    }
    Ok(Some(auth))
}

/// `--health-path` and its companions as a `health_check` object (`None` without a path).
fn health_check_of(args: &RouteArgs) -> Result<Option<Value>, String> {
    let Some(path) = &args.health_path else {
        if args.health_interval.is_some()
            || args.health_timeout.is_some()
            || args.health_expect_status.is_some()
        {
            return Err(
                "--health-interval, --health-timeout and --health-expect-status need --health-path"
                    .to_owned(),
            );
        }
        return Ok(None);
    };
    let mut check = json!({ "path": path });
    if let Some(v) = args.health_interval {
        check["interval_seconds"] = json!(v);
    }
    if let Some(v) = args.health_timeout {
        check["timeout_seconds"] = json!(v);
    }
    if let Some(v) = args.health_expect_status {
        check["expect_status"] = json!(v);
    }
    Ok(Some(check))
}

fn route_body(args: &RouteArgs) -> Result<Value, String> {
    let mut body = json!({
        "hostname": args.hostname,
        "https_redirect": !args.no_https_redirect,
        "preserve_host": !args.no_preserve_host,
    });
    let (field, upstreams) = upstreams_of(&args.upstream)?;
    body[field] = upstreams;
    if let Some(policy) = &args.policy {
        body["policy"] = json!(policy);
    }
    if let Some(check) = health_check_of(args)? {
        body["health_check"] = check;
    }
    if let Some(file) = &args.upstream_ca {
        let pem = std::fs::read_to_string(file)
            .map_err(|e| format!("--upstream-ca {}: {e}", file.display()))?;
        body["upstream_ca_pem"] = json!(pem);
    }
    if let Some(name) = &args.upstream_sni {
        body["upstream_sni"] = json!(name);
    }
    if args.insecure_skip_verify {
        body["insecure_skip_verify"] = json!(true);
    }
    if let Some(cert) = args.cert.as_deref().filter(|c| !c.is_empty()) {
        body["cert_name"] = json!(cert);
    }
    if !args.allow.is_empty() || !args.deny.is_empty() {
        body["ip_rules"] = json!({ "allow": args.allow, "deny": args.deny });
    }
    if !args.encode.is_empty() {
        body["encode"] = json!(args.encode);
    }
    if let Some(limit) = rate_limit_of(args)? {
        body["rate_limit"] = limit;
    }
    if let Some(auth) = client_auth_of(args)? {
        body["client_auth"] = auth;
    }
    if let Some(version) = &args.min_tls_version {
        body["min_tls_version"] = json!(version);
    }
    if let Some(max_age) = args.hsts_max_age {
        body["hsts"] = json!({
            "max_age": max_age,
            "include_subdomains": args.hsts_include_subdomains,
            "preload": args.hsts_preload,
        });
    }
    for (field, set, remove) in [
        (
            "request_headers",
            &args.set_request_header,
            &args.remove_request_header,
        ),
        (
            "response_headers",
            &args.set_response_header,
            &args.remove_response_header,
        ),
    ] {
        if set.is_empty() && remove.is_empty() {
            continue;
        }
        let set: serde_json::Map<String, Value> = set
            .iter()
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
                (name.trim().to_owned(), json!(value))
            })
            .collect();
        body[field] = json!({ "set": set, "remove": remove });
    }
    Ok(body)
}

/// Runs a `certgate acme …` command.
pub async fn acme(client: &AdminClient, command: AcmeCommand) -> CommandResult {
    match command {
        AcmeCommand::Profiles { staging } => expect(
            client
                .get(&format!("/acme/profiles?staging={staging}"))
                .await,
            200,
        ),
        AcmeCommand::Accounts => expect(client.get("/acme/accounts").await, 200),
    }
}

/// Runs `certgate keys rotate`: batch after batch until the last, then the totals.
pub async fn keys(client: &AdminClient, command: KeysCommand) -> CommandResult {
    let KeysCommand::Rotate { batch } = command;
    let (mut rewrapped, mut current, mut raced) = (0, 0, 0);
    let mut unreadable: Vec<Value> = Vec::new();
    let mut cursor = String::new();
    loop {
        // Certificate names are lower-case letters, digits, '.', '_' and '-': safe in a query.
        let path = format!("/keys/rotate?cursor={cursor}&batch={batch}");
        let done = expect(client.post(&path, &json!({})).await, 200)?;
        rewrapped += done["rewrapped"].as_u64().unwrap_or(0);
        current += done["current"].as_u64().unwrap_or(0);
        raced += done["raced"].as_u64().unwrap_or(0);
        unreadable.extend(done["unreadable"].as_array().cloned().unwrap_or_default());
        match done["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => {
                return Ok(json!({
                    "current_key": done["current_key"],
                    "rewrapped": rewrapped,
                    "current": current,
                    "raced": raced,
                    "unreadable": unreadable,
                }))
            }
        }
    }
}

/// Runs a `certgate token …` command.
pub async fn token(client: &AdminClient, command: TokenCommand) -> CommandResult {
    match command {
        TokenCommand::Create { name } => {
            expect(client.post("/tokens/", &json!({ "name": name })).await, 201)
        }
        TokenCommand::List => expect(client.get("/tokens/").await, 200),
        TokenCommand::Delete { name } => expect(
            client.delete(&format!("/tokens/{}", encode(&name))).await,
            204,
        )
        .map(|_| json!({ "deleted": name })),
    }
}

async fn create(client: &AdminClient, args: CreateArgs) -> CommandResult {
    let domains: Vec<&str> = args
        .domains
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let mut body = json!({ "cert_name": args.name });
    let path = if domains.len() == 1 {
        body["domain"] = json!(domains[0]);
        "/certificates/"
    } else {
        body["domains"] = json!(domains);
        "/certificates/multi-domain"
    };
    if args.staging {
        body["staging"] = json!(true);
    }
    for (key, value) in [
        ("email", &args.email),
        ("issuer", &args.issuer),
        ("key_type", &args.key_type),
        ("acme_directory_url", &args.acme_directory_url),
        ("profile", &args.profile),
        ("challenge", &args.challenge),
        ("dns_provider", &args.dns_provider),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            body[key] = json!(v);
        }
    }
    let accepted = expect(client.post(path, &body).await, 202)?;
    if args.no_wait {
        return Ok(accepted);
    }
    wait_for(client, &args.name).await
}

/// Polls the status until the generation ends; prints each change to stderr; returns the
/// certificate (without PEM) on success.
async fn wait_for(client: &AdminClient, name: &str) -> CommandResult {
    let status_path = format!("/certificates/{}/status", encode(name));
    let mut last = String::new();
    loop {
        let response = client.get(&status_path).await.map_err(|e| e.to_string())?;
        let state = match response.status.as_u16() {
            200 => {
                let status = response.json();
                let word = status["status"].as_str().unwrap_or("unknown").to_owned();
                let line = format!(
                    "{name}: {word} — {}",
                    status["message"].as_str().unwrap_or("")
                );
                if line != last {
                    eprintln!("{line}");
                    last = line;
                }
                word
            }
            // Retention over before we looked again: the record tells the outcome.
            404 => "ended".to_owned(),
            _ => return Err(response.error_line()),
        };
        match state.as_str() {
            "completed" | "ended" => break,
            "failed" => {
                let record = client
                    .get(&format!("/certificates/{}", encode(name)))
                    .await
                    .map_err(|e| e.to_string())?;
                let detail = record.json()["last_error"]
                    .as_str()
                    .unwrap_or("generation failed")
                    .to_owned();
                return Err(format!("{name}: generation failed: {detail}"));
            }
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
    let record = expect(
        client.get(&format!("/certificates/{}", encode(name))).await,
        200,
    )?;
    match record["status"].as_str() {
        Some("active") => Ok(record),
        other => Err(format!(
            "{name}: certificate is {} ({})",
            other.unwrap_or("unknown"),
            record["last_error"].as_str().unwrap_or("no error recorded")
        )),
    }
}

/// The JSON body of an answer with the expected status, else its one-line error.
/// Every page of a list, following `Link: <…>; rel="next"`, as one JSON array.
async fn all_pages(client: &AdminClient, first: &str) -> CommandResult {
    let mut items = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(current) = path.take() {
        let response = client.get(&current).await.map_err(|e| e.to_string())?;
        if response.status.as_u16() != 200 {
            return Err(response.error_line());
        }
        match response.json() {
            Value::Array(page) => items.extend(page),
            other => return Ok(other),
        }
        path = next_link(&response.headers);
    }
    Ok(Value::Array(items))
}

/// The target of a `Link` header's `rel="next"`, if any.
fn next_link(headers: &http::HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn expect(response: Result<ApiResponse, super::ClientError>, status: u16) -> CommandResult {
    let response = response.map_err(|e| e.to_string())?;
    if response.status.as_u16() != status {
        return Err(response.error_line());
    }
    Ok(response.json())
}

/// Percent-encodes a path segment (names are validated server-side; this keeps odd input from
/// changing the path).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
