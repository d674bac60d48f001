//! Certificates: the record model, validation, key generation, the issuers that sign, and the
//! manager that runs generations.

pub mod issuer;
pub mod keys;
pub mod manager;
pub mod model;
pub mod pem;
pub mod schedule;
pub mod self_signed;
pub mod validate;
