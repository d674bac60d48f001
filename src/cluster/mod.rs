//! Several instances on one Redis acting as one service (`docs/cluster.md`).
//!
//! - [`events`]: every change is published on a Redis channel; every other instance applies it
//!   to its tables (normally within milliseconds) and reloads everything after a reconnect,
//!   when messages may have been lost.
//! - [`guard`]: a periodic full resync catches anything else, and an epoch key tells when Redis
//!   came back empty: then nothing is deleted and what the instance holds is written back.
//!
//! - [`heartbeat`]: each instance says every few seconds that it is alive
//!   (`GET /cluster/instances`).
//!
//! One worker per certificate is the manager's lease (`crate::store::leases`).

pub mod crl_fetch;
pub mod events;
pub mod guard;
pub mod heartbeat;
