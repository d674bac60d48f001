//! certgate: a TLS-terminating reverse proxy with an integrated ACME certificate manager.
//!
//! Module map, by layer, lowest first (a module names only modules of lower layers; the order
//! is [`layering::LAYERS`] and a unit test enforces it). The contract the code implements is in
//! `docs/` (`api.md`, `edge.md`, `cluster.md`, `settings.md`, `cli.md`, `storage.md`).
//!
//! - Shared small types: [`secret`] (redacting secrets), [`timefmt`], [`ids`] (random ids, the
//!   instance id), [`shutdown`] (the one stop signal), [`tasks`] (named background tasks),
//!   [`events`] (in-process change announcements), [`tokens`] (token hashing), [`store_error`],
//!   [`cli`] (the clap definitions), [`fd_limit`] (descriptor limit and connection caps).
//! - [`certs`]: certificates as data — model, validation, keys, PEM, schedule, issuer trait, the
//!   self-signed issuer.
//! - [`config`]: environment + TOML → validated [`config::Config`], from one table of settings.
//! - [`metrics`]: Prometheus counters and histograms, rendered at `/metrics`.
//! - [`routes`]: the route record, its validation, host-name rules, the in-memory route table.
//! - [`store`]: Redis (fred) — every record, lease, claim and index; `docs/storage.md`.
//! - [`tls`]: servable certificates, the SNI cache and resolver, the rustls configuration.
//! - [`health`]: whether this instance can serve (read by both `/health` endpoints).
//! - [`acme`]: the ACME issuer (instant-acme): accounts, orders, the three challenges,
//!   renewal information, revocation, CA client.
//! - [`lifecycle`]: the one owner of state changes (write, then announce) and the generation
//!   workers, recovery and renewal loops.
//! - [`on_demand`]: certificates at the first handshake — permission, cluster-wide rate and
//!   back-off, one order per name.
//! - [`edge`]: the traffic listeners — accept loop, connections, request context, forwarding.
//! - [`cluster`]: change events over Redis pub/sub, periodic resync, the data-loss guard.
//! - [`admin`]: the axum admin API — auth, validation, handlers that read and call `lifecycle`.
//! - [`client`]: the CLI's client of the admin API.
//! - [`app`]: wires one instance together and runs its shutdown.

#![deny(unsafe_code)]
#![warn(missing_docs)]

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
#[allow(unsafe_code)] // getrlimit/setrlimit, the one call into libc
pub mod fd_limit;
pub mod health;
pub mod ids;
pub mod layering;
pub mod lifecycle;
pub mod metrics;
pub mod on_demand;
pub mod routes;
pub mod sealing;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod store_error;
pub mod tasks;
pub mod timefmt;
pub mod tls;
pub mod tokens;
