//! Routes ("proxies", SPEC §6): a hostname tied to an upstream and optionally a certificate.

pub mod model;
pub mod validate;

pub use model::Route;
