//! The edge: the listeners that carry users' traffic.

pub mod accept;
pub mod host;
pub mod http;
