//! Routes ("proxies", `docs/api.md`): a hostname tied to an upstream and optionally a
//! certificate; the host-name rules every layer shares; the in-memory route table the edge and
//! the SNI resolver read.

pub mod client_auth;
pub mod encode;
pub mod host;
pub mod host_map;
pub mod ip_rules;
pub mod json_object;
pub mod model;
pub mod rate_limit;
pub mod resolve;
pub mod table;
pub mod validate;
pub mod validate_upstreams;
pub mod whole_number;

pub use model::Route;
