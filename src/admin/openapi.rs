//! `GET /openapi.json`: the OpenAPI 3 document of the admin API, generated from
//! [`super::endpoints::all`] (the same table the router is built from).

use std::sync::LazyLock;

use axum::Json;
use serde_json::{json, Map, Value};

use super::endpoints;

static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

/// `GET /openapi.json`: the OpenAPI document, built from the endpoint table.
pub async fn document() -> Json<Value> {
    Json(DOCUMENT.clone())
}

/// Builds the document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for e in endpoints::all() {
        let mut op = json!({ "summary": e.summary, "operationId": operation_id(e.method, e.path), "responses": {} });
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_param(name) }))
            .chain(query_params(e.method, e.path))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if e.auth {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if let Some(schema) = e.request {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
            // Every endpoint that reads a body refuses one over the limit.
            op["responses"]["413"] = json!({ "description": format!("Body over {} bytes", super::body::MAX_BODY_BYTES), "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        }
        for (status, description, schema) in e.responses {
            let mut response = json!({ "description": description });
            if let Some(schema) = schema {
                response["content"] = json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } });
            }
            op["responses"][status.to_string()] = response;
        }
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        entry[e.method] = op;
    }
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "certgate admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Certificates (ACME HTTP-01 or self-signed), routes and tokens of a certgate instance. Errors are {\"error\",\"field\"?,\"detail\"}."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
        }
    });
    as_json_schema_nulls(&mut document);
    document
}

/// OpenAPI 3.1 schemas are JSON Schema: the schemas here are written with 3.0's
/// `"nullable": true`, which this turns into `null` among the allowed types (or, for a schema
/// without a `type`, an `anyOf` with `{"type": "null"}`).
fn as_json_schema_nulls(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(as_json_schema_nulls),
        Value::Object(map) => {
            map.values_mut().for_each(as_json_schema_nulls);
            if map.remove("nullable") != Some(Value::Bool(true)) {
                return;
            }
            if let Some(Value::Array(allowed)) = map.get_mut("enum") {
                if !allowed.contains(&Value::Null) {
                    allowed.push(Value::Null);
                }
            }
            let has_enum = map.contains_key("enum");
            match map.get_mut("type") {
                Some(Value::String(kind)) => {
                    let kind = std::mem::take(kind);
                    map.insert("type".into(), json!([kind, "null"]));
                }
                Some(_) => {}
                None if has_enum => {}
                None => {
                    let rest = Value::Object(std::mem::take(map));
                    map.insert("anyOf".into(), json!([rest, { "type": "null" }]));
                }
            }
        }
        _ => {}
    }
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split(['/', '-', '.'])
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(['{', '}']).to_owned())
        .collect();
    format!(
        "{method}_{}",
        if words.is_empty() {
            "root".into()
        } else {
            words.join("_")
        }
    )
}

fn query_params(method: &str, path: &str) -> Vec<Value> {
    let flag = |name: &str, description: &str| json!({ "name": name, "in": "query", "required": false, "description": format!("{description}; true or false, once"), "schema": { "type": "boolean" } });
    match (method, path) {
        ("get", "/certificates/{cert_name}") => vec![
            flag("pem", "add fullchain_pem and (owner/admin) private_key_pem"),
            flag(
                "chain",
                "add chain: subject, issuer, validity and serial of each certificate",
            ),
        ],
        ("delete", "/certificates/{cert_name}") => {
            vec![flag("force", "delete even while routes use it")]
        }
        ("get", "/acme/profiles") => vec![flag("staging", "list the staging CA's profiles")],
        ("get", "/certificates/") => vec![
            json!({ "name": "limit", "in": "query", "required": false, "description": "entries per page (default 1000)", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }),
            cursor_param(),
            json!({ "name": "status", "in": "query", "required": false, "description": "only certificates in this status", "schema": { "type": "string", "enum": ["pending", "active", "failed", "expired"] } }),
            json!({ "name": "owner", "in": "query", "required": false, "description": "only this owner's: me, or (admin token) admin or a token's name (409 when no token has it)", "schema": { "type": "string", "pattern": NAME_PATTERN } }),
        ],
        ("get", "/proxies/") => vec![
            json!({ "name": "limit", "in": "query", "required": false, "description": "entries per page (default 1000)", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }),
            cursor_param(),
        ],
        ("post", "/keys/rotate") => vec![
            json!({ "name": "cursor", "in": "query", "required": false, "description": "where the batch starts: the previous answer's next_cursor, a certificate name (default: the first)", "schema": { "type": "string", "maxLength": 256 } }),
            json!({ "name": "batch", "in": "query", "required": false, "description": "certificates in the batch (default 200)", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }),
        ],
        _ => Vec::new(),
    }
}

/// A field that may only be absent or `null` in this variant of a body.
fn null_only() -> Value {
    json!({ "type": "null" })
}

/// A DNS label: letters, digits and inner hyphens, 1 to 63 characters.
const LABEL: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// A dotted-quad IPv4 address as Rust parses one (no leading zeros).
const IPV4: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";

/// Certificate and token names.
const NAME_PATTERN: &str = "^(?!multi-domain$)[a-z0-9][a-z0-9._-]{0,62}$";

/// A port, 1 to 65535.
const PORT: &str =
    "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// A DNS name (not an IPv4 address written as one), optionally ending in a dot.
fn dns_name() -> Value {
    json!({ "type": "string", "maxLength": 253, "pattern": format!("^(?!{IPV4}\\.?$){LABEL}(?:\\.{LABEL})*\\.?$") })
}

/// A DNS name as TLS takes one for SNI: its last label is not all digits.
fn server_name() -> Value {
    json!({ "type": "string", "maxLength": 253, "pattern": format!("^(?:{LABEL}\\.)*(?![0-9]+\\.?$){LABEL}\\.?$") })
}

/// `schema`, admitting `null` too (an optional field sent as null counts as absent).
fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = Value::Bool(true);
    schema
}

/// `*.` and a DNS name.
fn wildcard() -> Value {
    json!({ "type": "string", "maxLength": 253, "pattern": format!("^\\*\\.{LABEL}(?:\\.{LABEL})*\\.?$") })
}

/// An IPv4 or IPv6 address.
fn ip_address() -> [Value; 2] {
    [
        json!({ "type": "string", "format": "ipv4" }),
        json!({ "type": "string", "format": "ipv6" }),
    ]
}

/// A name of a certificate: DNS names, and IP addresses and/or wildcards as the variant allows.
fn domain_of(ips: bool, wildcards: bool) -> Value {
    let mut kinds = vec![dns_name()];
    if wildcards {
        kinds.push(wildcard());
    }
    if ips {
        kinds.extend(ip_address());
    }
    json!({ "anyOf": kinds, "description": "a DNS name; an IPv4/IPv6 address (http-01, tls-alpn-01, self-signed); a *. wildcard (dns-01, dns-persist-01, self-signed)" })
}

/// A label of an upstream's host name: as [`LABEL`], underscores allowed (container and service
/// names have them).
const HOST_LABEL: &str = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";

/// An upstream URL as the API takes it: scheme, host (a DNS name or an IPv4 address), port.
fn upstream_url() -> Value {
    json!({ "type": "string", "maxLength": 300, "pattern": format!("^(?:http|https|h2c)://(?:{HOST_LABEL}(?:\\.{HOST_LABEL})*)(?::{PORT})?/?$"), "example": "http://app.internal:8080" })
}

/// A path parameter's schema, by its name.
fn path_param(name: &str) -> Value {
    match name {
        "cert_name" => json!({ "type": "string", "pattern": NAME_PATTERN }),
        "name" => json!({ "type": "string", "pattern": NAME_PATTERN }),
        "hostname" => json!({ "anyOf": [dns_name(), { "type": "string", "format": "ipv4" }] }),
        // An on-demand allow pattern: a domain of two labels or more, or a wildcard over one.
        "pattern" => {
            json!({ "type": "string", "maxLength": 253, "pattern": format!("^(?:\\*\\.{LABEL}(?:\\.{LABEL})+|(?!{IPV4}\\.?$){LABEL}(?:\\.{LABEL})+)\\.?$") })
        }
        _ => json!({ "type": "string" }),
    }
}

/// `cursor`: base64url without padding, as the previous page's `Link: rel="next"` gives it (any
/// such text is a position in the list).
fn cursor_param() -> Value {
    json!({ "name": "cursor", "in": "query", "required": false, "description": "from the previous page's Link: rel=\"next\" header", "schema": { "type": "string", "maxLength": 400, "pattern": "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$" } })
}

/// The bodies of `POST /certificates/` (`domain`) and `POST /certificates/multi-domain`
/// (`domains`): one variant per issuer and challenge family, since each proves different
/// names — self-signed takes all, ACME takes wildcards with dns-01 or dns-persist-01 only and IP addresses
/// with http-01 or tls-alpn-01 only — and a self-signed certificate has no profile or challenge.
fn create_certificate(multi: bool) -> Value {
    let email = json!({ "type": "string", "nullable": true, "maxLength": 254, "pattern": "^[^@\\s,\\x00-\\x1f\\x7f-\\x9f]+@[^@.\\s,\\x00-\\x1f\\x7f-\\x9f][^@\\s,\\x00-\\x1f\\x7f-\\x9f]*\\.[^@\\s,\\x00-\\x1f\\x7f-\\x9f]*[^@.\\s,\\x00-\\x1f\\x7f-\\x9f]$" });
    let common = json!({
        "cert_name": { "type": "string", "pattern": NAME_PATTERN },
        "email": email,
        "staging": { "type": "boolean", "default": false, "description": "ACME: the staging CA (ACME_STAGING_URL)" },
        "acme_directory_url": { "type": "string", "nullable": true, "maxLength": 2000, "pattern": format!("^https://{LABEL}(?:\\.{LABEL})*(?::{PORT})?(?:/[A-Za-z0-9._~/-]*)?$"), "description": "admin token only; ACME" },
        "key_type": { "type": "string", "nullable": true, "enum": ["rsa", "ecdsa-p256", null] },
    });
    let profile = json!({ "type": "string", "nullable": true, "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "a profile the CA lists (GET /acme/profiles); 409 when it lists no such profile" });
    let variant = |issuer: Value,
                   challenge: Value,
                   profile: Value,
                   domain: Value,
                   needs: &[&str]| {
        let mut props = common.clone();
        let names = if multi {
            json!({ "type": "array", "minItems": 1, "maxItems": 100, "items": domain })
        } else {
            domain
        };
        props[if multi { "domains" } else { "domain" }] = names;
        props["issuer"] = issuer;
        props["challenge"] = challenge;
        props["profile"] = profile;
        let mut required = vec!["cert_name", if multi { "domains" } else { "domain" }];
        required.extend_from_slice(needs);
        json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props })
    };
    let acme =
        json!({ "type": "string", "nullable": true, "enum": ["acme", null], "default": "acme" });
    json!({ "oneOf": [
        variant(
            json!({ "type": "string", "enum": ["self-signed"] }),
            null_only(),
            null_only(),
            domain_of(true, true),
            &["issuer"],
        ),
        variant(
            acme.clone(),
            json!({ "type": "string", "nullable": true, "enum": ["http-01", "tls-alpn-01", null], "default": "http-01" }),
            profile.clone(),
            domain_of(true, false),
            &[],
        ),
        with_dns_provider(variant(
            acme,
            json!({ "type": "string", "enum": ["dns-01", "dns-persist-01"], "description": "dns-01 needs a DNS provider on the instances (409 without); dns-persist-01 uses one when set, else the operator publishes GET /certificates/{cert_name}/dns-records once" }),
            profile,
            domain_of(false, true),
            &["challenge"],
        )),
    ] })
}

/// The answer of `GET /certificates/{cert_name}/dns-records`.
fn dns_records() -> Value {
    let string = json!({ "type": "string" });
    let record = json!({ "type": "object", "properties": {
        "domains": { "type": "array", "items": string }, "name": string,
        "type": { "type": "string", "enum": ["TXT"] }, "value": string } });
    json!({ "type": "object", "properties": {
        "cert_name": string,
        "challenge": { "type": "string", "enum": ["dns-persist-01"] },
        "records": { "type": "array", "items": record } } })
}

/// A DNS challenge's create body also takes `dns_provider`.
fn with_dns_provider(mut body: Value) -> Value {
    body["properties"]["dns_provider"] = json!({
        "type": "string", "enum": ["rfc2136", "powerdns", "exec"],
        "description": "the dns-01 provider publishing the records (default: DNS_PROVIDER); 409 when it is not configured on the instances"
    });
    body
}

/// The pattern of a header name a route's rules may set or remove: any token but the names the
/// proxy manages, in any case.
fn settable_header_name() -> String {
    let managed: Vec<String> = crate::routes::validate::UNTOUCHABLE
        .iter()
        .map(|name| {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect()
        })
        .collect();
    format!(
        "^(?!(?:{})$)[!#$%&'*+.^_`|~0-9A-Za-z-]{{1,128}}$",
        managed.join("|")
    )
}

/// The body of `POST /proxies/` (`create`: with `hostname`) and `PUT /proxies/{hostname}`.
/// One of `upstream` and `upstreams` is given (the other absent or null).
fn route_body(create: bool) -> Value {
    let header_name = settable_header_name();
    let header_value = "^[\\t\\x20-\\x7e]*$";
    let rules = json!({ "type": "object", "nullable": true, "additionalProperties": false, "description": "headers to set (replacing) and remove; not hop-by-hop headers, Host or Content-Length", "properties": {
        "set": { "type": "object", "maxProperties": 32, "propertyNames": { "pattern": header_name }, "additionalProperties": { "type": "string", "maxLength": 1024, "pattern": header_value } },
        "remove": { "type": "array", "maxItems": 32, "items": { "type": "string", "pattern": header_name } }
    } });
    let hsts = json!({ "type": "object", "nullable": true, "additionalProperties": false, "required": ["max_age"], "description": "Strict-Transport-Security on HTTPS responses; preload needs include_subdomains and max_age >= 31536000",
        "properties": { "max_age": { "type": "integer", "minimum": 0, "maximum": 63072000 }, "include_subdomains": { "type": "boolean", "default": false }, "preload": { "type": "boolean", "default": false } },
        "anyOf": [
            { "properties": { "preload": { "enum": [false] } } },
            { "required": ["preload", "include_subdomains"], "properties": { "preload": { "enum": [true] }, "include_subdomains": { "enum": [true] }, "max_age": { "minimum": 31536000 } } }
        ] });
    let upstream_item = json!({ "anyOf": [
        upstream_url(),
        { "type": "object", "additionalProperties": false, "required": ["url"], "properties": { "url": upstream_url(), "weight": { "type": "integer", "minimum": 1, "maximum": 100, "default": 1 } } },
    ] });
    let upstreams = json!({ "type": "array", "minItems": 1, "maxItems": 16, "items": upstream_item, "description": "several upstreams, balanced by policy; a URL listed twice is one upstream with the weights added" });
    let policy = json!({ "type": "string", "enum": ["round_robin", "least_requests", "first"], "default": "round_robin" });
    let health_check = json!({ "type": "object", "nullable": true, "additionalProperties": false, "description": "active checks (a check never overlaps the next)", "properties": { "path": { "type": "string", "pattern": "^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$", "maxLength": 256, "default": "/" }, "interval_seconds": { "type": "integer", "minimum": 1, "maximum": 3600, "default": 10 }, "timeout_seconds": { "type": "integer", "minimum": 1, "maximum": 3600, "default": 2 }, "expect_status": { "type": "integer", "minimum": 100, "maximum": 599, "default": 200 } } });
    let client_auth = json!({ "type": "object", "nullable": true, "additionalProperties": false, "required": ["ca_pem"], "description": "client certificates (mTLS) for this hostname's handshakes: require refuses a handshake without one the CA verifies, request lets it through unauthenticated; a request for this host on a connection made for a host with another client_auth gets 421",
        "properties": {
            "mode": { "type": "string", "enum": ["require", "request"], "default": "require" },
            "ca_pem": { "type": "string", "maxLength": 32768, "format": "pem-certificates", "description": "the CA certificates (PEM) client certificates must chain to" },
            "crl_pem": { "type": "string", "nullable": true, "maxLength": 32768, "format": "pem-crls", "description": "CRLs (PEM) of those CAs: listed certificates are refused; a CRL past its nextUpdate refuses every certificate" },
            "crl_urls": { "type": "array", "maxItems": 8, "uniqueItems": true, "items": { "type": "string", "maxLength": 2048, "pattern": "^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$" }, "description": "CRLs fetched over HTTP(S) by one instance for the cluster, refreshed at their nextUpdate or CRL_REFRESH_SECONDS, whichever is sooner" },
            "crl_stale": { "type": "string", "enum": ["deny", "allow"], "default": "deny", "description": "deny: while a CRL is past its nextUpdate or not fetched yet, no certificate is accepted (fails closed); allow: that CRL is left out" },
            "forward": { "type": "boolean", "default": false, "description": "send the verified certificate upstream as RFC 9440 Client-Cert and Client-Cert-Chain" }
        } });
    let mut props = json!({
        "upstream": nullable(upstream_url()),
        "upstreams": nullable(upstreams),
        "policy": policy,
        "health_check": health_check,
        "upstream_ca_pem": { "type": "string", "nullable": true, "maxLength": 16384, "format": "pem-certificates", "description": "PEM certificates (one or more, nothing else) verifying https:// upstreams instead of the system roots" },
        "upstream_sni": { "anyOf": [server_name(), { "type": "string", "format": "ipv4" }], "nullable": true, "description": "SNI and verified name for https:// upstreams" },
        "insecure_skip_verify": { "type": "boolean", "default": false, "description": "admin only: https:// upstreams are not verified" },
        "cert_name": { "type": "string", "nullable": true, "pattern": NAME_PATTERN, "description": "a certificate of the same owner (409 when none has this name)" },
        "https_redirect": { "type": "boolean", "default": true },
        "preserve_host": { "type": "boolean", "default": true },
        "hsts": hsts,
        "client_auth": client_auth,
        "ip_rules": { "type": "object", "nullable": true, "additionalProperties": false, "description": "client addresses (the peer's, or behind TRUSTED_PROXIES the rightmost untrusted X-Forwarded-For entry): deny wins; a non-empty allow refuses every other address; 403 when refused",
            "properties": {
                "allow": { "type": "array", "maxItems": 256, "items": { "type": "string", "format": "ip-network" } },
                "deny": { "type": "array", "maxItems": 256, "items": { "type": "string", "format": "ip-network" } }
            } },
        "encode": { "type": "array", "nullable": true, "minItems": 1, "maxItems": 3, "uniqueItems": true, "items": { "type": "string", "enum": ["zstd", "br", "gzip"] }, "description": "compress answers with these codings, most preferred first, when the client accepts one (COMPRESS_TYPES, COMPRESS_MIN_BYTES; never an encoded, partial or no-transform answer)" },
        "rate_limit": { "type": "object", "nullable": true, "additionalProperties": false, "required": ["requests", "per_seconds"], "description": "requests per client counted once for the cluster (GCRA in Redis, spent in local leases); 429 with Retry-After above it",
            "properties": {
                "requests": { "type": "integer", "minimum": 1, "maximum": 1000000 },
                "per_seconds": { "type": "integer", "minimum": 1, "maximum": 86400 },
                "burst": { "type": "integer", "nullable": true, "minimum": 1, "maximum": 1000000, "description": "requests allowed at once (default: requests)" },
                "key": { "type": "string", "pattern": "^(client_ip|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$", "default": "client_ip" }
            } },
        "min_tls_version": { "type": "string", "nullable": true, "enum": ["1.2", "1.3", null], "description": "the oldest TLS version a handshake for this hostname may use (TLS_MIN_VERSION when absent; can only raise it); a request for the host on an older connection gets 421" },
        "request_headers": rules.clone(),
        "response_headers": rules,
    });
    let mut required = Vec::new();
    if create {
        props["hostname"] = json!({ "anyOf": [dns_name(), { "type": "string", "format": "ipv4" }], "description": "the host requests name (no wildcard)" });
        required.push("hostname");
    }
    let one = json!({ "required": ["upstream"], "properties": { "upstream": { "type": "string" }, "upstreams": null_only() } });
    let list = json!({ "required": ["upstreams"], "properties": { "upstreams": { "type": "array" }, "upstream": null_only() } });
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props, "oneOf": [one, list] })
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let nullable_string = json!({ "type": "string", "nullable": true });
    let policy = json!({ "type": "string", "enum": ["round_robin", "least_requests", "first"] });
    let rules = json!({ "type": "object", "properties": { "set": { "type": "object", "additionalProperties": string }, "remove": { "type": "array", "items": string } } });
    let hsts = json!({ "type": "object", "nullable": true, "properties": { "max_age": { "type": "integer" }, "include_subdomains": { "type": "boolean" }, "preload": { "type": "boolean" } } });
    let health_check = json!({ "type": "object", "nullable": true, "properties": { "path": string, "interval_seconds": { "type": "integer" }, "timeout_seconds": { "type": "integer" }, "expect_status": { "type": "integer" } } });
    let chain = json!({ "type": "array", "description": "with ?chain=true", "items": { "type": "object", "properties": { "subject": string, "issuer": string, "not_before": string, "not_after": string, "serial": string } } });
    let whoami = json!({ "type": "object", "properties": { "admin": { "type": "boolean" }, "name": string, "token_hash": string } });
    let rate_limit = json!({ "type": "object", "properties": { "requests": { "type": "integer" }, "per_seconds": { "type": "integer" }, "burst": { "type": "integer" }, "key": string } });
    let route = json!({ "type": "object", "properties": { "hostname": string, "upstream": string, "upstreams": { "type": "array", "items": { "type": "object", "properties": { "url": string, "weight": { "type": "integer" } } } }, "policy": policy, "health_check": health_check, "upstream_ca_pem": string, "upstream_sni": string, "insecure_skip_verify": { "type": "boolean" }, "restricted_upstream": { "type": "boolean" }, "upstream_health": { "type": "array", "items": { "type": "object" } }, "cert_name": nullable_string, "https_redirect": { "type": "boolean" }, "preserve_host": { "type": "boolean" }, "hsts": hsts, "ip_rules": { "type": "object", "properties": { "allow": { "type": "array", "items": string }, "deny": { "type": "array", "items": string } } }, "encode": { "type": "array", "items": string }, "rate_limit": rate_limit, "client_auth": { "type": "object", "properties": { "mode": string, "ca_pem": string, "crl_pem": string, "crl_urls": { "type": "array", "items": string }, "crl_stale": string, "forward": { "type": "boolean" } } }, "min_tls_version": { "type": "string", "enum": ["1.2", "1.3"] }, "request_headers": rules, "response_headers": rules, "owner_token_hash": string, "created_at": string, "updated_at": string } });
    let events = json!({ "type": "array", "items": { "type": "object", "properties": { "at": string, "kind": { "type": "string", "enum": ["certificate", "route"] }, "name": string, "outcome": string, "message": string } } });
    let mut schemas = json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": string, "field": string, "detail": string, "routes": { "type": "array", "items": string } } },
        "Health": { "type": "object", "required": ["status"], "properties": { "status": { "type": "string", "enum": ["healthy", "degraded", "starting", "draining"] }, "reasons": { "type": "array", "items": string } } },
        "CreateCertificate": create_certificate(false),
        "CreateMultiDomainCertificate": create_certificate(true),
        "DnsRecords": dns_records(),
        "Accepted": { "type": "object", "properties": { "cert_name": string, "status": string, "status_url": string } },
        "Certificate": { "type": "object", "properties": {
            "cert_name": string, "domains": { "type": "array", "items": string }, "email": nullable_string,
            "acme_directory_url": nullable_string, "staging": { "type": "boolean" }, "profile": nullable_string,
            "challenge": { "type": "string", "enum": ["http-01", "tls-alpn-01", "dns-01", "dns-persist-01"] },
            "issuer": { "type": "string", "enum": ["acme", "self-signed"] }, "key_type": { "type": "string", "enum": ["rsa", "ecdsa-p256"] },
            "status": { "type": "string", "enum": ["pending", "active", "failed", "expired"] },
            "expires_at": nullable_string, "not_before": nullable_string, "created_at": string, "updated_at": string,
            "last_error": nullable_string, "next_renewal_at": nullable_string,
            "renewal_window": { "type": "object", "nullable": true, "description": "the CA's suggested renewal window (ARI, RFC 9773)", "properties": { "start": string, "end": string } },
            "renewal_at": { "type": "string", "nullable": true, "description": "the moment picked inside renewal_window" },
            "ari_checked_at": nullable_string, "ari_explanation_url": nullable_string,
            "ari_cert_id": { "type": "string", "nullable": true, "description": "this certificate's ARI id (AKI.serial, base64url)" },
            "replaces": { "type": "string", "nullable": true, "description": "ARI id of the certificate this one replaced" },
            "revoked_at": nullable_string,
            "revocation_reason": { "type": "string", "nullable": true, "enum": ["unspecified", "keyCompromise", "superseded", "cessationOfOperation", null] },
            "owner_token_hash": { "type": "string", "description": "owner and admin only" },
            "owner": { "type": "string", "description": "admin, a token's name or on-demand; with owner_token_hash" },
            "chain": chain,
            "fullchain_pem": { "type": "string", "description": "with ?pem=true" },
            "private_key_pem": { "type": "string", "description": "with ?pem=true; owner and admin only" }
        } },
        "RevokeCertificate": { "type": "object", "additionalProperties": false, "properties": { "reason": { "type": "string", "enum": ["unspecified", "keyCompromise", "superseded", "cessationOfOperation"], "default": "unspecified" } } },
        "CertificateList": { "type": "array", "items": { "$ref": "#/components/schemas/Certificate" } },
        "GenerationStatus": { "type": "object", "properties": { "status": { "type": "string", "enum": ["pending", "generating", "completed", "failed"] }, "message": string, "created_at": string, "updated_at": string, "started_at": string, "finished_at": string } },
        "RouteRequest": route_body(true),
        "RouteUpdate": route_body(false),
        "Route": route,
        "KeyRotation": { "type": "object", "properties": { "current_key": string, "rewrapped": { "type": "integer" }, "current": { "type": "integer" }, "unreadable": { "type": "array", "items": string }, "raced": { "type": "integer" }, "next_cursor": { "type": "string", "nullable": true } } },
        "RouteList": { "type": "array", "items": { "$ref": "#/components/schemas/Route" } },
        "AcmeProfiles": { "type": "object", "properties": { "directory": string, "default": nullable_string, "profiles": { "type": "object", "additionalProperties": { "type": "string" } } } },
        "AcmeAccounts": { "type": "array", "items": { "type": "object", "properties": { "directory": string, "email": nullable_string, "account_url": string, "created_at": string } } },
        "Events": events,
        "Whoami": whoami,
        "Instances": { "type": "array", "items": { "type": "object", "properties": { "id": string, "version": string, "started_at": string, "seen_at": string, "http_addr": string, "https_addr": string, "admin_addr": string } } },
        "OnDemandPatterns": { "type": "object", "properties": { "enabled": { "type": "boolean" }, "patterns": { "type": "array", "items": string } } },
        "OnDemandPattern": { "type": "object", "properties": { "pattern": string } },
        "CreateToken": { "type": "object", "additionalProperties": false, "required": ["name"], "properties": { "name": { "type": "string", "pattern": NAME_PATTERN } } },
        "NewToken": { "type": "object", "properties": { "name": string, "token": string } },
        "TokenList": { "type": "array", "items": { "type": "object", "properties": { "name": string, "token_hash": string, "created_at": string } } }
    });
    schemas["Certificate"]["properties"]["dns_provider"] = json!({ "type": "string", "enum": ["rfc2136", "powerdns", "exec"], "description": "present when the certificate names its dns-01 provider" });
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = build();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
    }
}
