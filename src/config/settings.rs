//! The one table of settings: each setting's name, default, accepted values and doc line,
//! written once. The parser reads defaults and ranges from it, the TOML reader its names, and
//! `config/example.toml` and the README's table are generated from it (a unit test fails when
//! either file disagrees; `just settings` rewrites them).

/// What a setting accepts; the parser and the docs both read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number in `min..=max`, with its unit.
    Number {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// What the number counts, for the docs.
        unit: &'static str,
    },
    /// Whole seconds in `min..=max`.
    Seconds {
        /// The fewest seconds accepted.
        min: u64,
        /// The most seconds accepted.
        max: u64,
    },
    /// An `http://` or `https://` URL.
    Url,
    /// The path of a readable PEM file.
    PemFile,
    /// An IP address and port.
    Addr,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// `true` or `false`.
    Flag,
    /// Comma-separated CIDRs (a list in TOML).
    Cidrs,
    /// Comma-separated words from a fixed list, in order of preference (a list in TOML).
    List(&'static [&'static str]),
    /// A Redis URL.
    RedisUrl,
    /// A Redis key prefix.
    KeyPrefix,
    /// A secret token of at least 24 printable characters.
    Token,
    /// A tracing filter.
    LogFilter,
    /// Empty, or a CA profile name.
    ProfileName,
    /// Free text, empty when unset.
    Text,
    /// Comma-separated media types or `type/*` ranges (a list in TOML).
    MediaTypes,
    /// A secret, base64 or base64url-encoded (padding optional); empty when unset.
    Base64Secret,
}

/// A setting's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// This text, as the environment variable would hold it.
    Value(&'static str),
    /// Unset unless given; `example` is what the docs show.
    Unset {
        /// What unset means.
        meaning: &'static str,
        /// A value to show in the docs.
        example: &'static str,
    },
    /// The number of cores.
    Cores,
}

/// One setting.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The environment variable; the TOML key is its lower case.
    pub name: &'static str,
    /// The heading it is documented under.
    pub section: &'static str,
    /// What it accepts.
    pub kind: Kind,
    /// Its value when unset.
    pub default: Default,
    /// One line for the docs: what it does.
    pub doc: &'static str,
}

impl Setting {
    /// What the setting accepts, in words (used in error messages and docs).
    pub fn accepts(&self) -> String {
        match self.kind {
            Kind::Number { min, max, .. } | Kind::Seconds { min, max } => {
                format!("a whole number from {min} to {max}")
            }
            Kind::Url => "an http:// or https:// URL".into(),
            Kind::PemFile => "the path of a readable PEM file".into(),
            Kind::Addr => "an IP address and port, such as 0.0.0.0:443 or [::]:443".into(),
            Kind::Choice(words) => match words {
                [one, two] => format!("{one} or {two}"),
                _ => {
                    let (last, rest) = words.split_last().expect("a choice has words");
                    format!("{} or {last}", rest.join(", "))
                }
            },
            Kind::Flag => "true or false".into(),
            Kind::Cidrs => "comma-separated CIDRs such as 10.0.0.0/8,::1/128".into(),
            Kind::List(words) => format!(
                "one or more of {}, comma-separated, in order of preference",
                words.join(", ")
            ),
            Kind::RedisUrl => {
                "a redis://, rediss://, redis-cluster:// or redis-sentinel:// URL such as redis://127.0.0.1:6379"
                    .into()
            }
            Kind::KeyPrefix => "1 to 64 printable characters without braces".into(),
            Kind::Token => "at least 24 printable characters without spaces".into(),
            Kind::LogFilter => "error, warn, info, debug, trace or a tracing filter".into(),
            Kind::Text => "text".into(),
            Kind::MediaTypes => {
                "comma-separated media types such as text/*,application/json".into()
            }
            Kind::Base64Secret => "a base64 or base64url-encoded key (padding optional)".into(),
            Kind::ProfileName => {
                "empty (the CA's default) or 1 to 64 letters, digits, '.', '_' or '-'".into()
            }
        }
    }

    /// The unit shown in the docs.
    pub fn unit(&self) -> &'static str {
        match self.kind {
            Kind::Number { unit, .. } => unit,
            Kind::Seconds { .. } => "seconds",
            Kind::Url | Kind::RedisUrl => "URL",
            Kind::PemFile => "path",
            Kind::Addr => "address:port",
            Kind::Flag => "true/false",
            Kind::Cidrs => "list of CIDRs",
            Kind::List(_) | Kind::MediaTypes => "list",
            _ => "text",
        }
    }

    /// The default as the docs show it.
    pub fn default_text(&self) -> String {
        match self.default {
            Default::Value("") => "none".to_owned(),
            Default::Value(v) => v.to_owned(),
            Default::Unset { meaning, .. } => meaning.to_owned(),
            Default::Cores => "number of cores".to_owned(),
        }
    }
}

/// Every setting, in the order the docs list them.
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    Setting { name: "ACME_DIRECTORY_URL", section: "ACME", kind: Kind::Url, default: Default::Value(super::LETS_ENCRYPT_PRODUCTION), doc: "ACME directory used unless a request says staging" },
    Setting { name: "ACME_STAGING_URL", section: "ACME", kind: Kind::Url, default: Default::Value(super::LETS_ENCRYPT_STAGING), doc: "ACME directory used when a request says \"staging\": true" },
    Setting { name: "ACME_POLL_MAX_ATTEMPTS", section: "ACME", kind: Kind::Number { min: 1, max: 10_000, unit: "count" }, default: Default::Value("60"), doc: "Polls of an order or authorization before giving up" },
    Setting { name: "ACME_POLL_INTERVAL_SECONDS", section: "ACME", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("2"), doc: "Time between polls of an order once validation takes a while (the first polls come sooner: 100 ms doubling up to this)" },
    Setting { name: "ACME_POLL_INITIAL_WAIT", section: "ACME", kind: Kind::Seconds { min: 0, max: 3600 }, default: Default::Value("0"), doc: "Time before the first poll" },
    Setting { name: "ACME_PROFILE", section: "ACME", kind: Kind::ProfileName, default: Default::Value(""), doc: "CA profile for certificates that name none (checked against the CA's list at create)" },
    Setting { name: "ACME_EAB_KID", section: "ACME", kind: Kind::Text, default: Default::Value(""), doc: "External Account Binding key id for ACME_DIRECTORY_URL (with ACME_EAB_HMAC_KEY; both or neither)" },
    Setting { name: "ACME_EAB_HMAC_KEY", section: "ACME", kind: Kind::Base64Secret, default: Default::Value(""), doc: "External Account Binding MAC key for ACME_DIRECTORY_URL (a secret: never logged)" },
    Setting { name: "ACME_STAGING_EAB_KID", section: "ACME", kind: Kind::Text, default: Default::Value(""), doc: "External Account Binding key id for ACME_STAGING_URL" },
    Setting { name: "ACME_STAGING_EAB_HMAC_KEY", section: "ACME", kind: Kind::Base64Secret, default: Default::Value(""), doc: "External Account Binding MAC key for ACME_STAGING_URL (a secret)" },
    Setting { name: "ACME_CA_BUNDLE", section: "ACME", kind: Kind::PemFile, default: Default::Unset { meaning: "none", example: "/etc/certgate/acme-roots.pem" }, doc: "Extra roots trusted for the ACME server's HTTPS" },
    Setting { name: "DNS_UPDATE_SERVER", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "host:port of the authoritative DNS server that takes RFC 2136 dynamic updates for dns-01 (with DNS_TSIG_KEY_NAME and DNS_TSIG_SECRET; all three or none)" },
    Setting { name: "DNS_UPDATE_ZONE", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "Zone the _acme-challenge records go into; empty: found by an SOA lookup at DNS_UPDATE_SERVER" },
    Setting { name: "DNS_TSIG_KEY_NAME", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "Name of the TSIG key that signs the updates" },
    Setting { name: "DNS_TSIG_SECRET", section: "DNS-01", kind: Kind::Base64Secret, default: Default::Value(""), doc: "The TSIG key's secret, as BIND's tsig-keygen prints it (a secret: never logged)" },
    Setting { name: "DNS_TSIG_ALGORITHM", section: "DNS-01", kind: Kind::Choice(&["hmac-sha256", "hmac-sha384", "hmac-sha512"]), default: Default::Value("hmac-sha256"), doc: "The TSIG key's algorithm" },
    Setting { name: "DNS_PROPAGATION_TIMEOUT", section: "DNS-01", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("120"), doc: "How long to wait for the authoritative servers to answer a new TXT record before the challenge fails" },
    Setting { name: "DNS_PROPAGATION_CHECK", section: "DNS-01", kind: Kind::Choice(&["authoritative", "off"]), default: Default::Value("authoritative"), doc: "authoritative: the CA is told to look only once every authoritative server of the record's zone (its NS records) answers it; off: at once, for providers whose DNS cannot be asked from here" },
    Setting { name: "DNS_AUTHORITATIVE_PORT", section: "DNS-01", kind: Kind::Number { min: 1, max: 65_535, unit: "port" }, default: Default::Value("53"), doc: "The port the authoritative servers are asked on by the propagation check" },
    Setting { name: "DNS_RESOLVER", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "ip:port of a DNS resolver that finds where _acme-challenge.<name> points when it is a CNAME (delegation to a zone DNS_UPDATE_SERVER manages; the record is written at the target) and a zone's authoritative servers; empty: DNS_UPDATE_SERVER, else the first nameserver of /etc/resolv.conf" },
    Setting { name: "PDNS_API_URL", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "Instead of RFC 2136: the base URL of PowerDNS Authoritative's webserver (http://127.0.0.1:8081); dns-01 records are written through its HTTP API" },
    Setting { name: "PDNS_API_KEY", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "The PowerDNS API key (a secret: never logged)" },
    Setting { name: "PDNS_SERVER_ID", section: "DNS-01", kind: Kind::Text, default: Default::Value("localhost"), doc: "The PowerDNS server id in the API's paths" },
    Setting { name: "DNS_EXEC_PROGRAM", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "Instead of RFC 2136: a program run as PROGRAM present|cleanup FQDN VALUE (lego's exec protocol, FQDN with its trailing dot) to publish and remove dns-01 records at any provider; it gets only PATH and the variables DNS_EXEC_ENV names" },
    Setting { name: "DNS_EXEC_ENV", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "Comma-separated names of certgate's environment variables passed to DNS_EXEC_PROGRAM (its provider credentials); nothing else is" },
    Setting { name: "DNS_EXEC_TIMEOUT_SECONDS", section: "DNS-01", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("60"), doc: "DNS_EXEC_PROGRAM is killed after this; its stderr ends up in the generation's error" },
    Setting { name: "DNS_PROVIDER", section: "DNS-01", kind: Kind::Text, default: Default::Value(""), doc: "rfc2136, powerdns or exec: the dns-01 provider of certificates that name none (their dns_provider); needed only when more than one is configured" },
    Setting { name: "RENEWAL_CHECK_INTERVAL", section: "Certificates", kind: Kind::Seconds { min: 1, max: 31_536_000 }, default: Default::Value("86400"), doc: "Time between renewal checks" },
    Setting { name: "RENEWAL_THRESHOLD_DAYS", section: "Certificates", kind: Kind::Number { min: 1, max: 3650, unit: "days" }, default: Default::Value("30"), doc: "Renew this long before expiry (a third of the lifetime for shorter certificates)" },
    Setting { name: "ACME_ARI", section: "Certificates", kind: Kind::Flag, default: Default::Value("true"), doc: "Renew when the CA's renewal information (ARI, RFC 9773) says; false: by RENEWAL_THRESHOLD_DAYS alone" },
    Setting { name: "ARI_MIN_POLL_SECONDS", section: "Certificates", kind: Kind::Seconds { min: 1, max: 31_536_000 }, default: Default::Value("3600"), doc: "Shortest time between two renewal-information (ARI) requests for one certificate, whatever the CA's Retry-After says" },
    Setting { name: "ARI_MAX_POLL_SECONDS", section: "Certificates", kind: Kind::Seconds { min: 1, max: 31_536_000 }, default: Default::Value("86400"), doc: "Longest time between two ARI requests for one certificate (not less than ARI_MIN_POLL_SECONDS)" },
    Setting { name: "CERT_STATUS_RETENTION_SECONDS", section: "Certificates", kind: Kind::Seconds { min: 1, max: 31_536_000 }, default: Default::Value("300"), doc: "How long a finished generation's status stays readable" },
    Setting { name: "CERT_GEN_MAX_WORKERS", section: "Certificates", kind: Kind::Number { min: 1, max: 1024, unit: "count" }, default: Default::Value("5"), doc: "Generations running at once per instance and issuer kind (ACME, self-signed)" },
    Setting { name: "CERT_LEASE_SECONDS", section: "Certificates", kind: Kind::Seconds { min: 2, max: 3600 }, default: Default::Value("30"), doc: "Lifetime of a generation's Redis lease; a crashed worker's job is taken over after it" },
    Setting { name: "CERT_CACHE_SIZE", section: "Certificates", kind: Kind::Number { min: 1, max: 10_000_000, unit: "count" }, default: Default::Value("50000"), doc: "Certificates kept ready in memory by the edge; others are loaded from Redis on demand" },
    Setting { name: "RSA_KEY_SIZE", section: "Certificates", kind: Kind::Choice(&["2048", "3072", "4096"]), default: Default::Value("2048"), doc: "RSA key size in bits" },
    Setting { name: "SELF_SIGNED_DAYS", section: "Certificates", kind: Kind::Number { min: 1, max: 36_500, unit: "days" }, default: Default::Value("365"), doc: "Validity of self-signed certificates" },
    Setting { name: "KEY_TYPE", section: "Certificates", kind: Kind::Choice(&["rsa", "ecdsa-p256"]), default: Default::Value("rsa"), doc: "Key type of new certificates" },
    Setting { name: "ON_DEMAND", section: "On-demand certificates", kind: Kind::Flag, default: Default::Value("false"), doc: "Issue a certificate at the first handshake for a name no certificate covers, when the allow list or ON_DEMAND_ASK_URL permits it" },
    Setting { name: "ON_DEMAND_ASK_URL", section: "On-demand certificates", kind: Kind::Text, default: Default::Value(""), doc: "http(s) URL asked GET <url>?domain=<name> for names no allow pattern matches: 2xx within 5 s allows, anything else refuses" },
    Setting { name: "ON_DEMAND_ASK_ALLOW_TTL_SECONDS", section: "On-demand certificates", kind: Kind::Seconds { min: 1, max: 604_800 }, default: Default::Value("3600"), doc: "How long an ask URL's 'allowed' is remembered (in Redis, for every instance)" },
    Setting { name: "ON_DEMAND_ASK_DENY_TTL_SECONDS", section: "On-demand certificates", kind: Kind::Seconds { min: 1, max: 604_800 }, default: Default::Value("600"), doc: "How long an ask URL's refusal is remembered" },
    Setting { name: "ON_DEMAND_HANDSHAKE_WAIT", section: "On-demand certificates", kind: Kind::Seconds { min: 1, max: 60 }, default: Default::Value("10"), doc: "How long a first handshake waits for its certificate before it gets the default one" },
    Setting { name: "ON_DEMAND_RATE", section: "On-demand certificates", kind: Kind::Number { min: 1, max: 100_000, unit: "orders per minute" }, default: Default::Value("10"), doc: "New on-demand orders per minute, across all instances together" },
    Setting { name: "ON_DEMAND_MAX_CONCURRENT", section: "On-demand certificates", kind: Kind::Number { min: 1, max: 10_000, unit: "count" }, default: Default::Value("16"), doc: "Handshakes waiting for an on-demand certificate at once per instance; more get the default certificate at once" },
    Setting { name: "ON_DEMAND_UPSTREAM", section: "On-demand certificates", kind: Kind::Text, default: Default::Value(""), doc: "http://host:port that requests for a host with no route are forwarded to (the SaaS application); empty: 404" },
    Setting { name: "ON_DEMAND_CHALLENGE", section: "On-demand certificates", kind: Kind::Choice(&["http-01", "tls-alpn-01"]), default: Default::Value("http-01"), doc: "How the CA validates on-demand names: http-01 on port 80, or tls-alpn-01 on the HTTPS port for hosts whose port 80 is closed" },
    Setting { name: "REDIS_URL", section: "Redis", kind: Kind::RedisUrl, default: Default::Value("redis://127.0.0.1:6379"), doc: "redis://host:port[/db]; rediss:// for TLS; redis-cluster://host:port?node=host2:port2 for a Redis Cluster; redis-sentinel://sentinel1:26379,sentinel2:26379/SERVICE for a primary behind Sentinel (rediss-sentinel:// with TLS)" },
    Setting { name: "REDIS_KEY_PREFIX", section: "Redis", kind: Kind::KeyPrefix, default: Default::Value("certgate:"), doc: "Prefix of every key" },
    Setting { name: "REDIS_CA_BUNDLE", section: "Redis", kind: Kind::PemFile, default: Default::Unset { meaning: "none (system roots)", example: "/etc/certgate/redis-ca.pem" }, doc: "Extra roots trusted for rediss://" },
    Setting { name: "RESYNC_INTERVAL_SECONDS", section: "Redis", kind: Kind::Seconds { min: 1, max: 86_400 }, default: Default::Value("300"), doc: "How often the change log is read from where this instance stopped, catching any change whose event was missed (a full reload only when the log no longer reaches back that far)" },
    Setting { name: "REDIS_MIN_REPLICAS_ACK", section: "Redis", kind: Kind::Number { min: 0, max: 16, unit: "replicas" }, default: Default::Value("0"), doc: "Replicas that must acknowledge an issued certificate's write (Redis WAIT) before its generation reports completed, so a failover cannot lose it; 0 waits for none" },
    Setting { name: "REDIS_REPLICA_ACK_TIMEOUT_SECONDS", section: "Redis", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("30"), doc: "How long a generation waits for REDIS_MIN_REPLICAS_ACK replicas; then it is reported failed, naming how many acknowledged (the certificate stays stored and served)" },
    Setting { name: "KEY_ENCRYPTION_KEYS", section: "Redis", kind: Kind::Text, default: Default::Unset { meaning: "private keys stored unencrypted", example: "/etc/certgate/keys" }, doc: "File of id:base64key lines (32-byte keys, the first current): every private key (certificates, ACME accounts) is sealed with AES-256-GCM before it reaches Redis; certgate keys rotate re-wraps under the current one" },
    Setting { name: "HTTP_ADDR", section: "Listeners", kind: Kind::Addr, default: Default::Value("0.0.0.0:80"), doc: "ACME challenges, /health and redirects" },
    Setting { name: "HTTPS_ADDR", section: "Listeners", kind: Kind::Addr, default: Default::Value("0.0.0.0:443"), doc: "The TLS edge" },
    Setting { name: "ADMIN_ADDR", section: "Listeners", kind: Kind::Addr, default: Default::Value("127.0.0.1:8081"), doc: "The admin API" },
    Setting { name: "LISTEN_BACKLOG", section: "Listeners", kind: Kind::Number { min: 1, max: 65_535, unit: "connections" }, default: Default::Value("4096"), doc: "Listen queue of each listener: connections the kernel holds until they are accepted (capped by net.core.somaxconn; the effective value is logged at start)" },
    Setting { name: "HTTP3", section: "Listeners", kind: Kind::Flag, default: Default::Value("true"), doc: "HTTP/3 (QUIC) on HTTPS_ADDR's port over UDP, advertised to TCP clients with Alt-Svc naming HTTPS_PUBLIC_PORT; false: no UDP socket" },
    Setting { name: "QUIC_RETRY", section: "Listeners", kind: Kind::Choice(&["auto", "always", "never"]), default: Default::Value("auto"), doc: "When a QUIC handshake from an address not yet validated gets a Retry (the client proves it receives at its address before certgate keeps any state): always, never, or auto — once handshakes pass QUIC_RETRY_ABOVE per second" },
    Setting { name: "QUIC_0RTT", section: "Listeners", kind: Kind::Flag, default: Default::Value("false"), doc: "Accept HTTP/3 requests in 0-RTT early data from returning clients: safe methods are served, others answered 425 Too Early until the handshake completes" },
    Setting { name: "QUIC_RETRY_ABOVE", section: "Listeners", kind: Kind::Number { min: 1, max: 1_000_000, unit: "handshakes per second" }, default: Default::Value("200"), doc: "QUIC_RETRY=auto: the handshake rate above which new handshakes get a Retry" },
    Setting { name: "HTTPS_PUBLIC_PORT", section: "Listeners", kind: Kind::Number { min: 1, max: 65_535, unit: "port" }, default: Default::Value("443"), doc: "Port written into HTTP-to-HTTPS redirects, omitted when 443" },
    Setting { name: "ADMIN_TOKEN", section: "Listeners", kind: Kind::Token, default: Default::Unset { meaning: "generated at first start and printed once", example: "change-me-to-a-long-random-string" }, doc: "The operator's token" },
    Setting { name: "PROXY_PROTOCOL", section: "Listeners", kind: Kind::Choice(&["off", "optional", "required"]), default: Default::Value("off"), doc: "PROXY protocol (v1 or v2) header before each HTTP and HTTPS connection: off; optional (a trusted source may send one); required (every connection starts with one). Its source address becomes the client's" },
    Setting { name: "PROXY_PROTOCOL_TRUSTED", section: "Listeners", kind: Kind::Cidrs, default: Default::Value(""), doc: "Load balancers whose PROXY headers are believed (needed unless PROXY_PROTOCOL=off); a header from anyone else closes the connection" },
    Setting { name: "TRUSTED_PROXIES", section: "Listeners", kind: Kind::Cidrs, default: Default::Value(""), doc: "Client CIDRs whose X-Forwarded-* headers are kept" },
    Setting { name: "TLS_KEY_EXCHANGE_GROUPS", section: "TLS", kind: Kind::List(&crate::config::tls::KX_GROUP_NAMES), default: Default::Value("X25519MLKEM768,X25519,secp256r1,secp384r1"), doc: "Key exchange groups the HTTPS listener accepts, most preferred first: post-quantum hybrid X25519MLKEM768 first, as Chrome, Firefox and Go offer it" },
    Setting { name: "TLS_MIN_VERSION", section: "TLS", kind: Kind::Choice(&["1.2", "1.3"]), default: Default::Value("1.2"), doc: "Oldest TLS version the HTTPS listener accepts; a route's min_tls_version can only raise it" },
    Setting { name: "TLS_CERT_COMPRESSION", section: "TLS", kind: Kind::Flag, default: Default::Value("true"), doc: "Send the certificate chain compressed (RFC 8879: brotli, zlib) to clients that offer it" },
    Setting { name: "CRL_REFRESH_SECONDS", section: "TLS", kind: Kind::Seconds { min: 1, max: 86_400 }, default: Default::Value("3600"), doc: "Longest time a CRL fetched from a route's client_auth.crl_urls is used before it is fetched again (sooner at its nextUpdate); one instance fetches for the cluster" },
    Setting { name: "TLS_HANDSHAKE_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("10"), doc: "A TLS handshake must finish within this" },
    Setting { name: "HEADER_READ_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("10"), doc: "Request headers must arrive within this" },
    Setting { name: "IDLE_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 86_400 }, default: Default::Value("60"), doc: "Idle keep-alive connections are closed after this" },
    Setting { name: "TUNNEL_IDLE_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 86_400 }, default: Default::Value("300"), doc: "A WebSocket tunnel silent both ways this long is closed (a busy one lives as long as it is used)" },
    Setting { name: "BODY_READ_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("30"), doc: "A request body's next piece must arrive within this of the last (the client gets 408)" },
    Setting { name: "BODY_MIN_RATE_BYTES_PER_SECOND", section: "Protections", kind: Kind::Number { min: 0, max: 1 << 30, unit: "bytes per second" }, default: Default::Value("500"), doc: "After the first BODY_READ_TIMEOUT_SECONDS a body gets one more second per this many bytes received; 0 turns the rate off" },
    Setting { name: "UPSTREAM_CONNECT_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("5"), doc: "Connecting to an upstream may take this long" },
    Setting { name: "UPSTREAM_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 86_400 }, default: Default::Value("60"), doc: "An upstream must answer within this of the end of the request (while a body is sent: of the last piece it took)" },
    Setting { name: "UPSTREAM_MAX_IDLE_PER_HOST", section: "Protections", kind: Kind::Number { min: 0, max: 100_000, unit: "count" }, default: Default::Value("10000"), doc: "Idle connections kept per upstream: a connection given back is kept until UPSTREAM_IDLE_TIMEOUT_SECONDS unless this many are idle already, so a steady load reuses what its peak concurrency opened" },
    Setting { name: "UPSTREAM_MAX_CONNECTIONS", section: "Protections", kind: Kind::Number { min: 0, max: 100_000, unit: "count" }, default: Default::Value("0"), doc: "Requests in flight to one upstream of a route at once (so its HTTP/1.1 connections); more wait in line, first come first served. 0: no cap" },
    Setting { name: "UPSTREAM_QUEUE_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("10"), doc: "A request waiting for a place under UPSTREAM_MAX_CONNECTIONS gets 503 after this" },
    Setting { name: "UPSTREAM_RETRIES", section: "Protections", kind: Kind::Number { min: 0, max: 15, unit: "count" }, default: Default::Value("1"), doc: "An idempotent request without a body whose upstream could not be connected to goes to at most this many other upstreams of its route" },
    Setting { name: "UPSTREAM_FAILURES_TO_EJECT", section: "Protections", kind: Kind::Number { min: 1, max: 1000, unit: "count" }, default: Default::Value("3"), doc: "An upstream failing this many connects in a row is taken out of rotation (passive health)" },
    Setting { name: "UPSTREAM_EJECT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("10"), doc: "How long a passively ejected upstream stays out, doubling (up to 32x) while it keeps failing; routes with a health_check wait for a passing check instead" },
    Setting { name: "UPSTREAM_DNS_SERVER", section: "Protections", kind: Kind::Text, default: Default::Value(""), doc: "ip:port of a DNS server that resolves upstream names (A and AAAA over TCP) instead of the system resolver, e.g. a service-discovery DNS; empty: the system resolver" },
    Setting { name: "UPSTREAM_IDLE_TIMEOUT_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("90"), doc: "An idle upstream connection is closed after this" },
    Setting { name: "MAX_HEADER_BYTES", section: "Protections", kind: Kind::Number { min: 1024, max: 1 << 20, unit: "bytes" }, default: Default::Value("32768"), doc: "Largest request header block" },
    Setting { name: "DRAIN_GRACE_SECONDS", section: "Protections", kind: Kind::Seconds { min: 1, max: 3600 }, default: Default::Value("30"), doc: "At SIGTERM, how long requests and tunnels in flight get to finish before they are closed" },
    Setting { name: "MAX_CONNECTIONS", section: "Protections", kind: Kind::Number { min: 1, max: 10_000_000, unit: "count" }, default: Default::Value("10000"), doc: "Open client connections per instance" },
    Setting { name: "ADMIN_MAX_CONNECTIONS", section: "Protections", kind: Kind::Number { min: 1, max: 100_000, unit: "count" }, default: Default::Value("256"), doc: "Open admin API connections per instance" },
    Setting { name: "WORKER_THREADS", section: "Protections", kind: Kind::Number { min: 1, max: 1024, unit: "count" }, default: Default::Cores, doc: "Async worker threads" },
    Setting { name: "LOG_FORMAT", section: "Logs", kind: Kind::Choice(&["text", "json"]), default: Default::Value("text"), doc: "Log line format" },
    Setting { name: "LOG_LEVEL", section: "Logs", kind: Kind::LogFilter, default: Default::Value("info"), doc: "error, warn, info, debug, trace, or a tracing filter" },
    Setting { name: "METRICS_PER_CERTIFICATE_LIMIT", section: "Logs", kind: Kind::Number { min: 0, max: 10_000_000, unit: "count" }, default: Default::Value("10000"), doc: "Per-certificate /metrics series (expiry, renewal moment, failures) while there are at most this many certificates; above it (or 0) only the counts by status, which need no scan" },
    Setting { name: "ACCESS_LOG", section: "Logs", kind: Kind::Text, default: Default::Value("off"), doc: "One JSON line per request (time, client, method, host, path, status, bytes, durations, upstream, TLS version, protocol, request id): off, stdout, or a file path (reopened on SIGHUP, for logrotate)" },
    Setting { name: "COMPRESS_TYPES", section: "Traffic", kind: Kind::MediaTypes, default: Default::Value("text/*,application/json,application/javascript,application/xml,application/xhtml+xml,application/rss+xml,application/atom+xml,application/ld+json,application/manifest+json,application/wasm,image/svg+xml,font/ttf,font/otf"), doc: "Media types a route's encode compresses (type/subtype or type/*); others pass as they are" },
    Setting { name: "COMPRESS_MIN_BYTES", section: "Traffic", kind: Kind::Number { min: 0, max: 1 << 30, unit: "bytes" }, default: Default::Value("512"), doc: "Answers declaring a smaller Content-Length are not compressed (streamed ones of unknown length are)" },
];

/// The setting named `name`. Every name the parser asks for is in the table (a unit test reads
/// every default through it).
pub fn setting(name: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is missing from config::settings::SETTINGS"))
}

/// Whether `name` is a setting (so a misspelt TOML key is an error, not silently ignored).
pub fn is_known(name: &str) -> bool {
    SETTINGS.iter().any(|s| s.name == name)
}
