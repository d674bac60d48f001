//! `/proxies…`: routes from hostnames to upstreams.

use axum::routing::on;

use super::super::{add_trailing_slash, routes};
use super::{Endpoint, ERRORS, FORBIDDEN, NOT_FOUND, UNAUTHORIZED, UNAVAILABLE};

/// The endpoints of this part of the API, in the order the OpenAPI document lists them.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "post",
        path: "/proxies/",
        handler: |m| on(m, routes::create),
        summary: "Route a hostname to an upstream",
        auth: true,
        request: Some("RouteRequest"),
        responses: &[
            (201, "Created", Some("Route")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            (
                409,
                "The hostname has a route; or (unavailable) no certificate has cert_name",
                Some("Error"),
            ),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/proxies/",
        handler: |m| on(m, routes::list),
        summary: "List routes by hostname, a page at a time (Link: rel=\"next\")",
        auth: true,
        request: None,
        responses: &[
            (200, "Routes", Some("RouteList")),
            ERRORS,
            UNAUTHORIZED,
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "get",
        path: "/proxies",
        handler: |m| on(m, add_trailing_slash),
        summary: "Redirect to /proxies/",
        auth: false,
        request: None,
        responses: &[(308, "Location: /proxies/", None)],
    },
    Endpoint {
        method: "get",
        path: "/proxies/{hostname}",
        handler: |m| on(m, routes::show),
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
        handler: |m| on(m, routes::replace),
        summary: "Replace a route (owner or admin)",
        auth: true,
        request: Some("RouteUpdate"),
        responses: &[
            (200, "Route", Some("Route")),
            ERRORS,
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            (
                409,
                "(unavailable) no certificate has cert_name",
                Some("Error"),
            ),
            UNAVAILABLE,
        ],
    },
    Endpoint {
        method: "delete",
        path: "/proxies/{hostname}",
        handler: |m| on(m, routes::remove),
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
];
