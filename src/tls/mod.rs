//! TLS for the edge: ready-to-serve certificates, the SNI cache, the resolver and the rustls
//! server configuration.

pub mod cache;
pub mod cert_compression;
pub mod certified;
pub mod cipher_order;
pub mod client_auth;
pub mod compressed_chains;
pub mod crls;
pub mod default_cert;
pub mod outbound;
pub mod policy;
pub mod resolver;
pub mod reused_zlib;
pub mod shared_loads;
