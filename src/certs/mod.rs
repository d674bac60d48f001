//! Certificates as data: the record model, validation, key generation, PEM reading, the renewal
//! schedule, the issuer trait and the self-signed issuer. Nothing here talks to Redis or the
//! network; the lifecycle service (`src/lifecycle/`) runs generations.

pub mod challenge;
pub mod issuer;
pub mod keys;
pub mod model;
pub mod pem;
pub mod schedule;
pub mod self_signed;
pub mod tls_alpn;
pub mod validate;
