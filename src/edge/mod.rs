//! The edge: the listeners that carry users' traffic.

pub mod accept;
pub mod activity;
pub mod conn;
pub mod forwarded;
pub mod host;
pub mod http;
pub mod https;
pub mod proxy;
pub mod routes;
pub mod sync;
