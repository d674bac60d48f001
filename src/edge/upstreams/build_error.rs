//! Why a route's upstream set could not be built. The admin API validates routes before they
//! are stored, so these are reached only by a route written around it (or a field the
//! validation does not judge, such as a CA bundle's contents); the edge answers `502` and logs
//! which of these it was.

/// One reason a route's upstreams are unusable.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the route names no upstream")]
    NoUpstream,
    #[error("upstream {url}: {detail}")]
    InvalidUrl { url: String, detail: String },
    #[error("upstream authority {authority}: {detail}")]
    InvalidAuthority { authority: String, detail: String },
    #[error("{0:?} is not a TLS server name")]
    InvalidServerName(String),
    #[error("upstream_ca_pem: {0}")]
    UnreadableCaPem(std::io::Error),
    #[error("upstream_ca_pem: unusable certificate: {0}")]
    UnusableCaCertificate(rustls::Error),
    #[error("upstream_ca_pem holds no certificate")]
    EmptyCaPem,
    #[error("TLS client configuration: {0}")]
    TlsClient(rustls::Error),
}
