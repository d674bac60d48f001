//! certgate: a TLS-terminating reverse proxy with an integrated ACME certificate manager.
//!
//! Module map:
//!
//! - [`config`]: environment + TOML → validated [`config::Config`] (SPEC §2).
//! - [`app`]: wires one instance (store, manager, listeners) and its shutdown.
//! - [`store`]: Redis (fred) — certificates, keys, status, jobs, leases, tokens, claims, routes;
//!   the key schema is in `docs/storage.md`.
//! - [`certs`]: the certificate model, validation, key generation, issuers (self-signed; ACME
//!   plugs in behind [`certs::issuer::Issuer`]) and the [`certs::manager`] that runs generations.
//! - [`routes`]: the route record and its validation.
//! - [`tls`]: servable certificates, the SNI cache and resolver, the rustls configuration.
//! - [`acme`]: the ACME issuer (instant-acme, HTTP-01): accounts, orders, CA client.
//! - [`admin`]: the axum admin API — auth, certificates, tokens, health.
//! - [`cluster`]: cross-instance events over Redis pub/sub, periodic resync, data-loss guard.
//! - [`client`]: the CLI's client of the admin API.
//! - [`edge`]: the traffic listeners — HTTP (challenges, redirects), accept loop, host rules.
//! - [`metrics`]: Prometheus counters and histograms, rendered at `/metrics`.
//! - [`events`]: in-process change notifications.
//! - [`secret`], [`timefmt`]: small shared types.

pub mod acme;
pub mod admin;
pub mod app;
pub mod certs;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod edge;
pub mod events;
pub mod health;
pub mod ids;
pub mod layering;
pub mod lifecycle;
pub mod metrics;
pub mod routes;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod store_error;
pub mod tasks;
pub mod timefmt;
pub mod tls;
pub mod tokens;
