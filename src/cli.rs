//! The command line (`docs/cli.md`): `certgate serve` runs an instance; every other command is a
//! client of the admin API that prints JSON on stdout and errors on stderr.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "certgate",
    version,
    about = "TLS-terminating reverse proxy with an integrated ACME certificate manager"
)]
/// The command line as parsed.
pub struct Cli {
    /// Admin API base URL.
    #[arg(
        long,
        global = true,
        env = "CERTGATE_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub admin_url: String,
    /// API token (else env CERTGATE_TOKEN, else ADMIN_TOKEN).
    #[arg(long, global = true, env = "CERTGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    /// What to do.
    pub command: Command,
}

#[derive(Subcommand, Debug)]
/// certgate's commands.
// Parsed once per run: the size of its largest variant (a route's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run an instance: HTTP, HTTPS and admin listeners.
    Serve {
        /// TOML file of settings (lower-case variable names); the environment overrides it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Manage routes from hostnames to upstreams.
    #[command(subcommand)]
    Proxy(ProxyCommand),
    /// Manage API tokens (admin token only).
    #[command(subcommand)]
    Token(TokenCommand),
    /// What the ACME CA offers.
    #[command(subcommand)]
    Acme(AcmeCommand),
    /// Private keys at rest (admin token only).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
/// `certgate keys …`.
pub enum KeysCommand {
    /// Re-wraps every stored private key under the current KEY_ENCRYPTION_KEYS key, in batches
    /// (safe to run again: an interrupted rotation resumes).
    Rotate {
        /// Certificates per batch.
        #[arg(long, default_value_t = 200)]
        batch: usize,
    },
}

#[derive(Subcommand, Debug)]
/// `certgate acme …`.
pub enum AcmeCommand {
    /// The certificate profiles the configured CA offers.
    Profiles {
        /// The staging CA's (ACME_STAGING_URL).
        #[arg(long)]
        staging: bool,
    },
    /// The ACME accounts certgate registered (admin token).
    Accounts,
}

#[derive(Subcommand, Debug)]
/// `certgate cert …`.
pub enum CertCommand {
    /// Request a certificate; waits for the generation unless --no-wait.
    Create(CreateArgs),
    /// Delete a certificate.
    Delete {
        /// The certificate's name.
        name: String,
        /// Delete even while routes use it.
        #[arg(long)]
        force: bool,
    },
    /// List certificates (no PEM).
    List,
    /// Show one certificate.
    Show {
        /// The certificate's name.
        name: String,
        /// Include the PEM chain and private key (owner or admin).
        #[arg(long)]
        pem: bool,
    },
    /// Show the latest generation's status.
    Status {
        /// The certificate's name.
        name: String,
    },
    /// The DNS records to publish once for a dns-persist-01 certificate.
    DnsRecords {
        /// The certificate's name.
        name: String,
    },
    /// Renew now with a new key.
    Renew {
        /// The certificate's name.
        name: String,
        /// Wait for the renewal to finish.
        #[arg(long)]
        wait: bool,
    },
    /// Revoke the current certificate at its CA and renew it at once.
    Revoke {
        /// The certificate's name.
        name: String,
        /// unspecified, keyCompromise, superseded or cessationOfOperation.
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// Wait for the replacement to be issued.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Args, Debug)]
/// `certgate cert create`'s arguments.
pub struct CreateArgs {
    /// The certificate's name.
    pub name: String,
    /// One domain, or a comma-separated list.
    pub domains: String,
    /// Use ACME_STAGING_URL.
    #[arg(long)]
    pub staging: bool,
    /// Contact e-mail for the ACME account.
    #[arg(long)]
    pub email: Option<String>,
    /// `acme` or `self-signed`.
    #[arg(long, env = "CERTGATE_ISSUER")]
    pub issuer: Option<String>,
    /// `rsa` or `ecdsa-p256` (default: the server's KEY_TYPE).
    #[arg(long)]
    pub key_type: Option<String>,
    /// How the CA validates the names: http-01 (default), tls-alpn-01, dns-01 or
    /// dns-persist-01 (the last two prove wildcards).
    #[arg(long, env = "CERTGATE_CHALLENGE")]
    pub challenge: Option<String>,
    /// dns-01 / dns-persist-01: the provider publishing the records (rfc2136, powerdns or
    /// exec; default: the server's DNS_PROVIDER).
    #[arg(long)]
    pub dns_provider: Option<String>,
    /// CA profile to order (see `certgate acme profiles`; default: the server's ACME_PROFILE).
    #[arg(long)]
    pub profile: Option<String>,
    /// ACME directory to use instead of the configured ones (admin token only).
    #[arg(long)]
    pub acme_directory_url: Option<String>,
    /// Return once the request is accepted.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Subcommand, Debug)]
/// `certgate token …`.
pub enum TokenCommand {
    /// Create a token; it is printed once.
    Create {
        /// The token's name.
        name: String,
    },
    /// List tokens (names and hashes only).
    List,
    /// Delete a token.
    Delete {
        /// The token's name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
/// `certgate proxy …`.
pub enum ProxyCommand {
    /// Route a hostname to an upstream.
    Create(RouteArgs),
    /// Replace a route.
    Update(RouteArgs),
    /// Delete a route.
    Delete {
        /// The route's hostname.
        hostname: String,
    },
    /// List routes.
    List,
    /// Show one route.
    Show {
        /// The route's hostname.
        hostname: String,
    },
}

#[derive(Args, Debug)]
/// `certgate proxy create` and `update`'s arguments.
pub struct RouteArgs {
    /// The hostname to route (one DNS name, no wildcard).
    pub hostname: String,
    /// The service: `http://`, `https://` or `h2c://host:port`; several separated by commas,
    /// each optionally with `=WEIGHT` (`http://a:80=3,http://b:80`).
    pub upstream: String,
    /// How requests are spread: round_robin (default), least_requests or first (failover).
    #[arg(long)]
    pub policy: Option<String>,
    /// Actively check each upstream with `GET PATH` (enables health checks).
    #[arg(long, value_name = "PATH")]
    pub health_path: Option<String>,
    /// With --health-path: seconds between checks (default 10).
    #[arg(long, value_name = "SECONDS")]
    pub health_interval: Option<u64>,
    /// With --health-path: seconds a check may take (default 2).
    #[arg(long, value_name = "SECONDS")]
    pub health_timeout: Option<u64>,
    /// With --health-path: the status a healthy upstream answers (default 200).
    #[arg(long, value_name = "STATUS")]
    pub health_expect_status: Option<u16>,
    /// Verify https:// upstreams against the PEM certificates in FILE instead of the system roots.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<std::path::PathBuf>,
    /// The name sent as SNI to https:// upstreams and verified in their certificates.
    #[arg(long, value_name = "NAME")]
    pub upstream_sni: Option<String>,
    /// Do not verify https:// upstreams' certificates (admin token only).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Serve this certificate for the hostname.
    #[arg(long)]
    pub cert: Option<String>,
    /// Also proxy plain HTTP instead of redirecting it to HTTPS.
    #[arg(long)]
    pub no_https_redirect: bool,
    /// Send the upstream's own authority as `Host` instead of the client's.
    #[arg(long)]
    pub no_preserve_host: bool,
    /// Only these client networks (CIDR or address) may reach the host (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
    /// These client networks may not reach the host (repeatable; wins over --allow).
    #[arg(long, value_name = "CIDR")]
    pub deny: Vec<String>,
    /// Compress answers with these codings, most preferred first (zstd, br, gzip; repeatable).
    #[arg(long, value_name = "CODING")]
    pub encode: Vec<String>,
    /// Rate limit per client for the whole cluster, as REQUESTS/SECONDS (e.g. 100/10).
    #[arg(long, value_name = "REQUESTS/SECONDS")]
    pub rate_limit: Option<String>,
    /// With --rate-limit: requests allowed at once (default: REQUESTS).
    #[arg(long, value_name = "N")]
    pub rate_burst: Option<u64>,
    /// With --rate-limit: what is counted, client_ip (default) or header:NAME.
    #[arg(long, value_name = "KEY")]
    pub rate_key: Option<String>,
    /// Verify client certificates for this hostname: require or request (needs --client-ca).
    #[arg(long, value_name = "MODE")]
    pub client_auth: Option<String>,
    /// With --client-auth: PEM file of the CA certificates client certificates must chain to.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// With --client-auth: PEM file of CRLs; listed certificates are refused.
    #[arg(long, value_name = "FILE")]
    pub client_crl: Option<PathBuf>,
    /// With --client-auth: a URL to fetch a CRL from (repeatable; refreshed by the cluster).
    #[arg(long, value_name = "URL")]
    pub client_crl_url: Vec<String>,
    /// With --client-auth: deny (default) or allow certificates while a CRL is stale.
    #[arg(long, value_name = "POLICY")]
    pub crl_stale: Option<String>,
    /// With --client-auth: send the verified certificate upstream (RFC 9440 Client-Cert).
    #[arg(long)]
    pub forward_client_cert: bool,
    /// The oldest TLS version a handshake for this hostname may use: 1.2 or 1.3.
    #[arg(long, value_name = "VERSION")]
    pub min_tls_version: Option<String>,
    /// Send `Strict-Transport-Security: max-age=SECONDS` on HTTPS responses.
    #[arg(long, value_name = "SECONDS")]
    pub hsts_max_age: Option<u64>,
    /// With --hsts-max-age: add `includeSubDomains`.
    #[arg(long)]
    pub hsts_include_subdomains: bool,
    /// With --hsts-max-age: add `preload`.
    #[arg(long)]
    pub hsts_preload: bool,
    /// Set a request header before forwarding (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub set_request_header: Vec<String>,
    /// Remove a request header before forwarding (repeatable).
    #[arg(long, value_name = "NAME")]
    pub remove_request_header: Vec<String>,
    /// Set a response header (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub set_response_header: Vec<String>,
    /// Remove a response header (repeatable).
    #[arg(long, value_name = "NAME")]
    pub remove_response_header: Vec<String>,
}
