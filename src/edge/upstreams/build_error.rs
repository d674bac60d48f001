//! Why a route's upstream set could not be built. The admin API validates routes before they
//! are stored, so these are reached only by a route written around it (or a field the
//! validation does not judge, such as a CA bundle's contents); the edge answers `502` and logs
//! which of these it was.

/// One reason a route's upstreams are unusable.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the route names no upstream")]
    /// The route's upstream list is empty.
    NoUpstream,
    #[error("upstream {url}: {detail}")]
    /// An upstream URL does not parse.
    InvalidUrl {
        /// The URL as stored.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    #[error("upstream authority {authority}: {detail}")]
    /// An upstream's `host:port` does not make a URI authority.
    InvalidAuthority {
        /// The authority as built.
        authority: String,
        /// What is wrong with it.
        detail: String,
    },
    #[error("{0:?} is not a TLS server name")]
    /// The host is neither a DNS name nor an IP address rustls accepts.
    InvalidServerName(String),
    #[error("upstream_ca_pem: {0}")]
    /// `upstream_ca_pem` is not readable PEM.
    UnreadableCaPem(std::io::Error),
    #[error("upstream_ca_pem: unusable certificate: {0}")]
    /// rustls refused a certificate of `upstream_ca_pem`.
    UnusableCaCertificate(rustls::Error),
    #[error("upstream_ca_pem holds no certificate")]
    /// `upstream_ca_pem` holds no certificate.
    EmptyCaPem,
    #[error("TLS client configuration: {0}")]
    /// rustls refused the TLS client configuration.
    TlsClient(rustls::Error),
}
