//! Every admin endpoint, once: the router is built from this table and so is the OpenAPI
//! document, so the two cannot drift apart.

use axum::routing::{on, MethodFilter, MethodRouter};

use super::{acme, cluster, health, keys, metrics, on_demand, openapi, tokens, AdminState};

/// One operation of the admin API.
pub struct Endpoint {
    /// The HTTP method.
    pub method: &'static str,
    /// axum path syntax (`{name}` for a parameter), which is also OpenAPI's.
    pub path: &'static str,
    /// The handler, given the method filter it answers.
    pub handler: fn(MethodFilter) -> MethodRouter<AdminState>,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// Needs `Authorization: Bearer <token>`.
    pub auth: bool,
    /// Component schema of the JSON request body.
    pub request: Option<&'static str>,
    /// Status code, description, and component schema of the answer.
    pub responses: &'static [(u16, &'static str, Option<&'static str>)],
}

mod certificates;
mod proxies;

const ERRORS: (u16, &str, Option<&str>) = (
    400,
    "Invalid request (the field at fault is named)",
    Some("Error"),
);
const UNAUTHORIZED: (u16, &str, Option<&str>) = (401, "No or unknown token", Some("Error"));
const FORBIDDEN: (u16, &str, Option<&str>) = (403, "Valid token, not allowed", Some("Error"));
const NOT_FOUND: (u16, &str, Option<&str>) = (404, "Not found", Some("Error"));
const UNAVAILABLE: (u16, &str, Option<&str>) = (503, "Redis unreachable", Some("Error"));

/// The service's own endpoints: health, metrics, the API description.
const SERVICE: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/health",
        handler: |m| on(m, health::health),
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
        handler: |m| on(m, metrics::metrics),
        summary: "Prometheus metrics",
        auth: false,
        request: None,
        responses: &[(200, "Prometheus text format", None)],
    },
    Endpoint {
        method: "get",
        path: "/openapi.json",
        handler: |m| on(m, openapi::document),
        summary: "This document",
        auth: false,
        request: None,
        responses: &[(200, "OpenAPI 3 document", None)],
    },
];

/// ACME, the cluster, on-demand issuance and tokens.
const OTHERS: &[Endpoint] = &[
    Endpoint {
        method: "post",
        path: "/keys/rotate",
        handler: |m| on(m, keys::rotate),
        summary: "Re-wraps one batch of stored private keys under the current KEY_ENCRYPTION_KEYS key (admin; ?cursor=, ?batch=; call again with next_cursor until it is null)",
        auth: true,
        request: None,
        responses: &[
            (200, "What the batch did, and where the next one starts", Some("KeyRotation")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            (409, "KEY_ENCRYPTION_KEYS is not set", Some("Error")),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/acme/profiles",
        handler: |m| on(m, acme::profiles),
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
        handler: |m| on(m, acme::accounts),
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
        method: "get",
        path: "/cluster/instances",
        handler: |m| on(m, cluster::instances),
        summary: "Instances of this cluster alive now (admin): id, version, start, listeners",
        auth: true,
        request: None,
        responses: &[
            (200, "Instances", Some("Instances")),
            UNAUTHORIZED,
            FORBIDDEN,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/whoami",
        handler: |m| on(m, tokens::whoami),
        summary: "The calling token: its name, whether it is the admin token, and its owner hash",
        auth: true,
        request: None,
        responses: &[(200, "The caller", Some("Whoami")), UNAUTHORIZED, UNAVAILABLE],
    },
    Endpoint {
        method: "get",
        path: "/events/",
        handler: |m| on(m, cluster::events),
        summary: "The cluster's recent lifecycle events (admin), newest first: generations finished, certificates and routes created, changed, deleted",
        auth: true,
        request: None,
        responses: &[
            (200, "Events", Some("Events")),
            UNAUTHORIZED,
            FORBIDDEN,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/on-demand/allow/",
        handler: |m| on(m, on_demand::list),
        summary: "On-demand allow patterns (admin), and whether ON_DEMAND is on",
        auth: true,
        request: None,
        responses: &[
            (200, "Patterns", Some("OnDemandPatterns")),
            UNAUTHORIZED,
            FORBIDDEN,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/on-demand/allow/{pattern}",
        handler: |m| on(m, on_demand::show),
        summary: "One allow pattern (admin)",
        auth: true,
        request: None,
        responses: &[
            (200, "Listed", Some("OnDemandPattern")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "put",
        path: "/on-demand/allow/{pattern}",
        handler: |m| on(m, on_demand::put),
        summary: "Allow on-demand certificates for example.com or *.example.com (admin)",
        auth: true,
        request: None,
        responses: &[
            (201, "Added", Some("OnDemandPattern")),
            (200, "Already listed", Some("OnDemandPattern")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "delete",
        path: "/on-demand/allow/{pattern}",
        handler: |m| on(m, on_demand::remove),
        summary: "Remove an allow pattern (admin); issued certificates stay",
        auth: true,
        request: None,
        responses: &[
            (204, "Removed", None),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "post",
        path: "/tokens/",
        handler: |m| on(m, tokens::create),
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
        handler: |m| on(m, tokens::list),
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
        handler: |m| on(m, super::add_trailing_slash),
        summary: "Redirect to /tokens/",
        auth: false,
        request: None,
        responses: &[(308, "Location: /tokens/", None)],
    },
    Endpoint {
        method: "delete",
        path: "/tokens/{name}",
        handler: |m| on(m, tokens::remove),
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

/// Every admin endpoint, in the order the OpenAPI document lists them: the router and the
/// document are both built from it.
pub fn all() -> impl Iterator<Item = &'static Endpoint> {
    [SERVICE, certificates::ENDPOINTS, proxies::ENDPOINTS, OTHERS]
        .into_iter()
        .flatten()
}

/// The method filter of an endpoint's `method`.
pub fn method_filter(method: &str) -> MethodFilter {
    match method {
        "get" => MethodFilter::GET,
        "post" => MethodFilter::POST,
        "put" => MethodFilter::PUT,
        "delete" => MethodFilter::DELETE,
        other => panic!("endpoint table names an unknown method {other}"),
    }
}
