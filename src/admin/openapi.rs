//! `GET /openapi.json`: the OpenAPI 3 document of the admin API, generated from
//! [`super::endpoints::ENDPOINTS`] (the same table the router is built from).

use std::sync::LazyLock;

use axum::Json;
use serde_json::{json, Map, Value};

use super::endpoints::ENDPOINTS;

static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

pub async fn document() -> Json<Value> {
    Json(DOCUMENT.clone())
}

/// Builds the document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let mut op = json!({ "summary": e.summary, "operationId": operation_id(e.method, e.path), "responses": {} });
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
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
    json!({
        "openapi": "3.0.3",
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
    })
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
            json!({ "name": "cursor", "in": "query", "required": false, "description": "from the previous page's Link: rel=\"next\" header", "schema": { "type": "string" } }),
            json!({ "name": "status", "in": "query", "required": false, "description": "only certificates in this status (not with owner)", "schema": { "type": "string", "enum": ["pending", "active", "failed", "expired"] } }),
            json!({ "name": "owner", "in": "query", "required": false, "description": "only this owner's: me, or (admin token) admin or a token's name; not with status", "schema": { "type": "string" } }),
        ],
        ("get", "/proxies/") => vec![
            json!({ "name": "limit", "in": "query", "required": false, "description": "entries per page (default 1000)", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }),
            json!({ "name": "cursor", "in": "query", "required": false, "description": "from the previous page's Link: rel=\"next\" header", "schema": { "type": "string" } }),
        ],
        _ => Vec::new(),
    }
}

/// `schema` that also admits `null` (an optional field sent as null counts as absent).
fn nullable(schema: &Value) -> Value {
    let mut schema = schema.clone();
    schema["nullable"] = Value::Bool(true);
    schema
}

/// A DNS label: letters, digits and inner hyphens, 1 to 63 characters.
const LABEL: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// An upstream URL as the API takes it.
const UPSTREAM_PATTERN: &str = "^(http|https|h2c)://[^/@?#]+/?$";

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let name_pattern = "^[a-z0-9][a-z0-9._-]{0,62}$";
    let cert_name = json!({ "type": "string", "pattern": name_pattern });
    // Cross-field rules the schema cannot say: which names each challenge can prove (wildcards
    // need dns-01, IP addresses need http-01 or tls-alpn-01), and that the self-signed issuer
    // takes all of them.
    let domain = json!({ "type": "string", "minLength": 1, "maxLength": 253, "pattern": format!("^(?:\\*\\.)?{LABEL}(?:\\.{LABEL})*\\.?$"), "description": "a DNS name; an IPv4/IPv6 address (http-01, tls-alpn-01, self-signed); a *. wildcard (dns-01, self-signed)" });
    let hostname = json!({ "type": "string", "minLength": 1, "maxLength": 253, "pattern": format!("^{LABEL}(?:\\.{LABEL})*\\.?$") });
    let email = json!({ "type": "string", "maxLength": 254, "pattern": "^[^@\\s,\\x00-\\x1f\\x7f-\\x9f]+@[^@.\\s,\\x00-\\x1f\\x7f-\\x9f][^@\\s,\\x00-\\x1f\\x7f-\\x9f]*\\.[^@\\s,\\x00-\\x1f\\x7f-\\x9f]*[^@.\\s,\\x00-\\x1f\\x7f-\\x9f]$" });
    let nullable_string = json!({ "type": "string", "nullable": true });
    let hsts = json!({ "type": "object", "nullable": true, "additionalProperties": false, "required": ["max_age"], "description": "Strict-Transport-Security on HTTPS responses; preload needs include_subdomains and max_age >= 31536000", "properties": { "max_age": { "type": "integer", "minimum": 0, "maximum": 63072000 }, "include_subdomains": { "type": "boolean", "default": false }, "preload": { "type": "boolean", "default": false } } });
    let rules = json!({ "type": "object", "nullable": true, "additionalProperties": false, "description": "headers to set (replacing) and remove; not hop-by-hop headers, Host or Content-Length", "properties": { "set": { "type": "object", "maxProperties": 32, "propertyNames": { "maxLength": 128 }, "additionalProperties": { "type": "string", "maxLength": 1024 } }, "remove": { "type": "array", "maxItems": 32, "items": { "type": "string", "maxLength": 128 } } } });
    let upstream_item = json!({ "anyOf": [
        { "type": "string", "maxLength": 300, "pattern": UPSTREAM_PATTERN },
        { "type": "object", "additionalProperties": false, "required": ["url"], "properties": { "url": { "type": "string", "maxLength": 300, "pattern": UPSTREAM_PATTERN }, "weight": { "type": "integer", "minimum": 1, "maximum": 100, "default": 1 } } },
    ] });
    let upstreams = json!({ "type": "array", "nullable": true, "minItems": 1, "maxItems": 16, "items": upstream_item, "description": "several upstreams (no URL twice), balanced by policy" });
    let policy = json!({ "type": "string", "enum": ["round_robin", "least_requests", "first"], "default": "round_robin" });
    let health_check = json!({ "type": "object", "nullable": true, "additionalProperties": false, "description": "active checks; timeout_seconds at most interval_seconds", "properties": { "path": { "type": "string", "pattern": "^/", "maxLength": 256, "default": "/" }, "interval_seconds": { "type": "integer", "minimum": 1, "maximum": 3600, "default": 10 }, "timeout_seconds": { "type": "integer", "minimum": 1, "maximum": 3600, "default": 2 }, "expect_status": { "type": "integer", "minimum": 100, "maximum": 599, "default": 200 } } });
    let domain_options = json!({
        "email": nullable(&email),
        "staging": { "type": "boolean", "default": false },
        "acme_directory_url": { "type": "string", "nullable": true, "pattern": "^https://.+", "description": "admin token only" },
        "issuer": { "type": "string", "nullable": true, "enum": ["acme", "self-signed", null], "default": "acme" },
        "key_type": { "type": "string", "nullable": true, "enum": ["rsa", "ecdsa-p256", null] },
        "profile": { "type": "string", "nullable": true, "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "a profile the CA lists (GET /acme/profiles); ACME only" },
        "challenge": { "type": "string", "nullable": true, "enum": ["http-01", "tls-alpn-01", "dns-01", null], "default": "http-01", "description": "how the CA validates the names (ACME only); dns-01 needs DNS_UPDATE_SERVER, DNS_TSIG_KEY_NAME and DNS_TSIG_SECRET" },
    });
    let mut single = json!({ "type": "object", "additionalProperties": false, "required": ["cert_name", "domain"], "properties": { "cert_name": cert_name, "domain": domain } });
    let mut multi = json!({ "type": "object", "additionalProperties": false, "required": ["cert_name", "domains"], "properties": { "cert_name": cert_name, "domains": { "type": "array", "minItems": 1, "maxItems": 100, "items": domain } } });
    for body in [&mut single, &mut multi] {
        if let (Some(props), Some(extra)) = (
            body["properties"].as_object_mut(),
            domain_options.as_object(),
        ) {
            props.extend(extra.clone());
        }
    }
    let chain = json!({ "type": "array", "description": "with ?chain=true", "items": { "type": "object", "properties": { "subject": string, "issuer": string, "not_before": string, "not_after": string, "serial": string } } });
    let whoami = json!({ "type": "object", "properties": { "admin": { "type": "boolean" }, "name": string, "token_hash": string } });
    let events = json!({ "type": "array", "items": { "type": "object", "properties": { "at": string, "kind": { "type": "string", "enum": ["certificate", "route"] }, "name": string, "outcome": string, "message": string } } });
    json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": string, "field": string, "detail": string, "routes": { "type": "array", "items": string } } },
        "Health": { "type": "object", "required": ["status"], "properties": { "status": { "type": "string", "enum": ["healthy", "degraded", "starting", "draining"] }, "reasons": { "type": "array", "items": string } } },
        "CreateCertificate": single,
        "CreateMultiDomainCertificate": multi,
        "Accepted": { "type": "object", "properties": { "cert_name": string, "status": string, "status_url": string } },
        "Certificate": { "type": "object", "properties": {
            "cert_name": string, "domains": { "type": "array", "items": string }, "email": nullable_string,
            "acme_directory_url": nullable_string, "staging": { "type": "boolean" }, "profile": nullable_string,
            "challenge": { "type": "string", "enum": ["http-01", "tls-alpn-01", "dns-01"] },
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
        "RouteRequest": { "type": "object", "additionalProperties": false, "properties": { "hostname": { "allOf": [nullable(&hostname)], "description": "required on POST; on PUT it must equal the path" }, "upstream": { "type": "string", "nullable": true, "maxLength": 300, "pattern": UPSTREAM_PATTERN, "example": "http://app.internal:8080", "description": "one upstream; or give upstreams (one of the two is required)" }, "upstreams": upstreams, "policy": policy.clone(), "health_check": health_check.clone(), "upstream_ca_pem": { "type": "string", "nullable": true, "maxLength": 16384, "pattern": "^[-A-Za-z0-9+/= \\r\\n\\t]*$", "description": "PEM certificates verifying https:// upstreams instead of the system roots" }, "upstream_sni": { "type": "string", "nullable": true, "maxLength": 253, "description": "SNI and verified name for https:// upstreams" }, "insecure_skip_verify": { "type": "boolean", "default": false, "description": "admin only: https:// upstreams are not verified" }, "cert_name": nullable(&cert_name), "https_redirect": { "type": "boolean", "default": true }, "preserve_host": { "type": "boolean", "default": true }, "hsts": hsts.clone(), "request_headers": rules.clone(), "response_headers": rules.clone() } },
        "Route": { "type": "object", "properties": { "hostname": string, "upstream": string, "upstreams": { "type": "array", "items": { "type": "object", "properties": { "url": string, "weight": { "type": "integer" } } } }, "policy": policy, "health_check": health_check, "upstream_ca_pem": string, "upstream_sni": string, "insecure_skip_verify": { "type": "boolean" }, "restricted_upstream": { "type": "boolean" }, "upstream_health": { "type": "array", "items": { "type": "object" } }, "cert_name": nullable_string, "https_redirect": { "type": "boolean" }, "preserve_host": { "type": "boolean" }, "hsts": hsts, "request_headers": rules, "response_headers": rules, "owner_token_hash": string, "created_at": string, "updated_at": string } },
        "RouteList": { "type": "array", "items": { "$ref": "#/components/schemas/Route" } },
        "AcmeProfiles": { "type": "object", "properties": { "directory": string, "default": nullable_string, "profiles": { "type": "object", "additionalProperties": { "type": "string" } } } },
        "AcmeAccounts": { "type": "array", "items": { "type": "object", "properties": { "directory": string, "email": nullable_string, "account_url": string, "created_at": string } } },
        "Events": events,
        "Whoami": whoami,
        "Instances": { "type": "array", "items": { "type": "object", "properties": { "id": string, "version": string, "started_at": string, "seen_at": string, "http_addr": string, "https_addr": string, "admin_addr": string } } },
        "OnDemandPatterns": { "type": "object", "properties": { "enabled": { "type": "boolean" }, "patterns": { "type": "array", "items": string } } },
        "OnDemandPattern": { "type": "object", "properties": { "pattern": string } },
        "CreateToken": { "type": "object", "additionalProperties": false, "required": ["name"], "properties": { "name": { "type": "string", "pattern": name_pattern } } },
        "NewToken": { "type": "object", "properties": { "name": string, "token": string } },
        "TokenList": { "type": "array", "items": { "type": "object", "properties": { "name": string, "token_hash": string, "created_at": string } } }
    })
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
