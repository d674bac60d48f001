//! Every admin endpoint, once: the router is built from this table and so is the OpenAPI
//! document, so the two cannot drift apart.

use axum::routing::{on, MethodFilter, MethodRouter};

use super::{certificates, health, metrics, openapi, routes, tokens, AdminState};

/// One operation of the admin API.
pub struct Endpoint {
    pub method: &'static str,
    /// axum path syntax (`{name}` for a parameter), which is also OpenAPI's.
    pub path: &'static str,
    pub summary: &'static str,
    /// Needs `Authorization: Bearer <token>`.
    pub auth: bool,
    /// Component schema of the JSON request body.
    pub request: Option<&'static str>,
    /// Status code, description, and component schema of the answer.
    pub responses: &'static [(u16, &'static str, Option<&'static str>)],
}

const ERRORS: (u16, &str, Option<&str>) = (
    400,
    "Invalid request (the field at fault is named)",
    Some("Error"),
);
const UNAUTHORIZED: (u16, &str, Option<&str>) = (401, "No or unknown token", Some("Error"));
const FORBIDDEN: (u16, &str, Option<&str>) = (403, "Valid token, not allowed", Some("Error"));
const NOT_FOUND: (u16, &str, Option<&str>) = (404, "Not found", Some("Error"));
const UNAVAILABLE: (u16, &str, Option<&str>) = (503, "Redis unreachable", Some("Error"));

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/health",
        summary: "Instance health: 503 only while starting or draining",
        auth: false,
        request: None,
        responses: &[
            (200, "healthy or degraded (with reasons)", Some("Health")),
            (503, "starting or draining", Some("Health")),
        ],
    },
    Endpoint {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        auth: false,
        request: None,
        responses: &[(200, "Prometheus text format", None)],
    },
    Endpoint {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        auth: false,
        request: None,
        responses: &[(200, "OpenAPI 3 document", None)],
    },
    Endpoint {
        method: "post",
        path: "/certificates/",
        summary: "Request a certificate for one domain (asynchronous)",
        auth: true,
        request: Some("CreateCertificate"),
        responses: &[
            (202, "Accepted; poll status_url", Some("Accepted")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            (409, "cert_name exists", Some("Error")),
            (
                502,
                "The CA's directory could not be read (to check profile)",
                Some("Error"),
            ),
            (413, "Body over 64 KiB", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/certificates/",
        summary: "List certificates (no PEM)",
        auth: true,
        request: None,
        responses: &[
            (200, "Certificates", Some("CertificateList")),
            UNAUTHORIZED,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/certificates",
        summary: "Redirect to /certificates/",
        auth: false,
        request: None,
        responses: &[(308, "Location: /certificates/", None)],
    },
    Endpoint {
        method: "post",
        path: "/certificates/multi-domain",
        summary: "Request a certificate for 1 to 100 domains (asynchronous)",
        auth: true,
        request: Some("CreateMultiDomainCertificate"),
        responses: &[
            (202, "Accepted; poll status_url", Some("Accepted")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            (409, "cert_name exists", Some("Error")),
            (
                502,
                "The CA's directory could not be read (to check profile)",
                Some("Error"),
            ),
            (413, "Body over 64 KiB", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/certificates/{cert_name}",
        summary: "Show a certificate; ?pem=true adds the chain and (owner/admin) the key",
        auth: true,
        request: None,
        responses: &[
            (200, "Certificate", Some("Certificate")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "delete",
        path: "/certificates/{cert_name}",
        summary: "Delete a certificate (?force=true even while routes use it)",
        auth: true,
        request: None,
        responses: &[
            (204, "Deleted", None),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            (409, "Routes use it", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/certificates/{cert_name}/status",
        summary: "The latest generation's status (kept CERT_STATUS_RETENTION_SECONDS)",
        auth: true,
        request: None,
        responses: &[
            (200, "Status", Some("GenerationStatus")),
            UNAUTHORIZED,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "post",
        path: "/certificates/{cert_name}/renew",
        summary: "Renew now with a new key (joins a running generation)",
        auth: true,
        request: None,
        responses: &[
            (202, "Accepted", Some("Accepted")),
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "post",
        path: "/certificates/{cert_name}/revoke",
        summary: "Revoke the current certificate at its CA and renew it at once",
        auth: true,
        request: Some("RevokeCertificate"),
        responses: &[
            (202, "Revoked; renewal under way", Some("Accepted")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            (
                409,
                "Nothing to revoke (self-signed, not issued yet, or already revoked)",
                Some("Error"),
            ),
            (502, "The CA refused or could not be reached", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "post",
        path: "/proxies/",
        summary: "Route a hostname to an upstream",
        auth: true,
        request: Some("RouteRequest"),
        responses: &[
            (201, "Created", Some("Route")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            (409, "The hostname has a route", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/proxies/",
        summary: "List routes",
        auth: true,
        request: None,
        responses: &[
            (200, "Routes", Some("RouteList")),
            UNAUTHORIZED,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/proxies",
        summary: "Redirect to /proxies/",
        auth: false,
        request: None,
        responses: &[(308, "Location: /proxies/", None)],
    },
    Endpoint {
        method: "get",
        path: "/proxies/{hostname}",
        summary: "Show a route",
        auth: true,
        request: None,
        responses: &[
            (200, "Route", Some("Route")),
            UNAUTHORIZED,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "put",
        path: "/proxies/{hostname}",
        summary: "Replace a route (owner or admin)",
        auth: true,
        request: Some("RouteRequest"),
        responses: &[
            (200, "Route", Some("Route")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "delete",
        path: "/proxies/{hostname}",
        summary: "Delete a route (owner or admin)",
        auth: true,
        request: None,
        responses: &[
            (204, "Deleted", None),
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/acme/profiles",
        summary:
            "The certificate profiles the configured CA offers (?staging=true: the staging CA)",
        auth: true,
        request: None,
        responses: &[
            (
                200,
                "Directory, default profile and profiles",
                Some("AcmeProfiles"),
            ),
            ERRORS,
            UNAUTHORIZED,
            (502, "The CA's directory could not be read", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/acme/accounts",
        summary: "The ACME accounts certgate registered (admin): directory, e-mail, account URL",
        auth: true,
        request: None,
        responses: &[
            (200, "Accounts", Some("AcmeAccounts")),
            UNAUTHORIZED,
            FORBIDDEN,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "post",
        path: "/tokens/",
        summary: "Create an API token (admin); shown only in this answer",
        auth: true,
        request: Some("CreateToken"),
        responses: &[
            (201, "Created", Some("NewToken")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            (409, "Name taken", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/tokens/",
        summary: "List tokens (admin): names and hashes only",
        auth: true,
        request: None,
        responses: &[
            (200, "Tokens", Some("TokenList")),
            UNAUTHORIZED,
            FORBIDDEN,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/tokens",
        summary: "Redirect to /tokens/",
        auth: false,
        request: None,
        responses: &[(308, "Location: /tokens/", None)],
    },
    Endpoint {
        method: "delete",
        path: "/tokens/{name}",
        summary: "Delete a token (admin)",
        auth: true,
        request: None,
        responses: &[
            (204, "Deleted", None),
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
];

/// The handler of one endpoint.
pub fn handler(method: &str, path: &str) -> MethodRouter<AdminState> {
    let filter = match method {
        "get" => MethodFilter::GET,
        "post" => MethodFilter::POST,
        "put" => MethodFilter::PUT,
        "delete" => MethodFilter::DELETE,
        other => panic!("endpoint table names an unknown method {other}"),
    };
    match (method, path) {
        ("get", "/health") => on(filter, health::health),
        ("get", "/metrics") => on(filter, metrics::metrics),
        ("get", "/openapi.json") => on(filter, openapi::document),
        ("post", "/certificates/") => on(filter, certificates::create_single),
        ("get", "/certificates/") => on(filter, certificates::list),
        ("get", "/certificates") | ("get", "/proxies") | ("get", "/tokens") => {
            on(filter, super::add_trailing_slash)
        }
        ("post", "/certificates/multi-domain") => on(filter, certificates::create_multi),
        ("get", "/certificates/{cert_name}") => on(filter, certificates::show),
        ("delete", "/certificates/{cert_name}") => on(filter, certificates::remove),
        ("get", "/certificates/{cert_name}/status") => on(filter, certificates::status),
        ("post", "/certificates/{cert_name}/renew") => on(filter, certificates::renew),
        ("post", "/certificates/{cert_name}/revoke") => on(filter, certificates::revoke),
        ("post", "/proxies/") => on(filter, routes::create),
        ("get", "/proxies/") => on(filter, routes::list),
        ("get", "/proxies/{hostname}") => on(filter, routes::show),
        ("put", "/proxies/{hostname}") => on(filter, routes::replace),
        ("delete", "/proxies/{hostname}") => on(filter, routes::remove),
        ("get", "/acme/profiles") => on(filter, super::acme::profiles),
        ("get", "/acme/accounts") => on(filter, super::acme::accounts),
        ("post", "/tokens/") => on(filter, tokens::create),
        ("get", "/tokens/") => on(filter, tokens::list),
        ("delete", "/tokens/{name}") => on(filter, tokens::remove),
        _ => panic!("endpoint table names {method} {path}, which has no handler"),
    }
}
