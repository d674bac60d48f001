//! The edge: the listeners that carry users' traffic.

pub mod accept;
pub mod activity;
pub mod conn;
pub mod forwarded;
pub mod http;
pub mod https;
pub mod proxy;
pub mod sync;
