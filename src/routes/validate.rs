//! Route validation (`docs/api.md`, "Routes"): the hostname, and where a route may point.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use http::Uri;

use crate::certs::validate::{self, FieldError};
use crate::config::Config;

/// A route's hostname: one DNS name (no wildcard, no IP address), normalised.
pub fn hostname(raw: &str) -> Result<String, FieldError> {
    let name = validate::domain("hostname", raw, validate::NameRules::SELF_SIGNED)?;
    if name.starts_with("*.") {
        return Err(FieldError::new(
            "hostname",
            "a route names one host; wildcards are not supported",
        ));
    }
    // An IP literal is a host too: clients that connect by address send it as `Host`.
    Ok(name)
}

/// How certgate speaks to an upstream, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamScheme {
    /// `http://`: HTTP/1.1 over TCP.
    Http,
    /// `https://`: TLS, HTTP/2 when the upstream offers it by ALPN, else HTTP/1.1.
    Https,
    /// `h2c://`: HTTP/2 over TCP with prior knowledge (gRPC servers, typically).
    H2c,
}

impl UpstreamScheme {
    /// The scheme as written in a URL (`http`, `https`, `h2c`).
    pub fn name(self) -> &'static str {
        match self {
            UpstreamScheme::Http => "http",
            UpstreamScheme::Https => "https",
            UpstreamScheme::H2c => "h2c",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            UpstreamScheme::Https => 443,
            UpstreamScheme::Http | UpstreamScheme::H2c => 80,
        }
    }
}

/// A parsed upstream: `scheme://host[:port]` with nothing after the authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// How the edge speaks to it.
    pub scheme: UpstreamScheme,
    /// Host name or IP address (no brackets).
    pub host: String,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
    /// Normalised text, as stored.
    pub url: String,
}

/// Parses an upstream URL; errors name `upstream` (see [`upstream_at`] for another field).
pub fn upstream(raw: &str) -> Result<Upstream, FieldError> {
    upstream_at("upstream", raw)
}

/// Parses an upstream URL; errors name `field`.
pub fn upstream_at(field: &str, raw: &str) -> Result<Upstream, FieldError> {
    let bad = |why: &str| Err(FieldError::new(field, format!("{raw:?} {why}")));
    if raw.len() > 300 {
        return Err(FieldError::new(
            field,
            "an upstream URL has at most 300 characters",
        ));
    }
    let Ok(uri) = raw.parse::<Uri>() else {
        return bad("is not a URL");
    };
    let scheme = match uri.scheme_str() {
        Some("http") => UpstreamScheme::Http,
        Some("https") => UpstreamScheme::Https,
        Some("h2c") => UpstreamScheme::H2c,
        _ => return bad("must be an http://, https:// or h2c:// URL"),
    };
    let Some(authority) = uri.authority() else {
        return bad("has no host");
    };
    if authority.as_str().contains('@') {
        return bad("may not carry credentials");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return bad("may not have a path or query; requests keep their own");
    }
    let host = authority
        .host()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if host.is_empty() {
        return bad("has no host");
    }
    let name_ok = host.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !name_ok && host.parse::<IpAddr>().is_err() {
        return bad("has a host that is neither a DNS name nor an IP address");
    }
    // What follows the host is nothing or `:port` (http's parser drops a port that is not a
    // number, which would quietly mean the default port).
    let after_host = authority
        .as_str()
        .strip_prefix(authority.host())
        .unwrap_or(":");
    if !after_host.is_empty()
        && after_host
            .strip_prefix(':')
            .is_none_or(|p| p.parse::<u16>().is_err())
    {
        return bad("has a port that is not a number from 1 to 65535");
    }
    let port = authority.port_u16().unwrap_or(scheme.default_port());
    if port == 0 {
        return bad("has port 0, which nothing listens on");
    }
    let shown = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    Ok(Upstream {
        url: format!("{}://{shown}:{port}", scheme.name()),
        scheme,
        host,
        port,
    })
}

/// For non-admin tokens: the upstream may not resolve to a loopback, link-local or unspecified
/// address, nor to one of certgate's own listeners.
pub async fn allowed_for_non_admin(upstream: &Upstream, config: &Config) -> Result<(), FieldError> {
    let lookup = super::resolve::lookup(&upstream.host, upstream.port, config.upstreams.dns_server);
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(Duration::from_secs(3), lookup).await {
        Ok(Ok(addrs)) => addrs,
        _ => {
            return Err(FieldError::new(
                "upstream",
                format!("{} does not resolve", upstream.host),
            ))
        }
    };
    let own = [
        config.listeners.http_addr,
        config.listeners.https_addr,
        config.listeners.admin_addr,
    ];
    for addr in &addrs {
        let ip = canonical(addr.ip());
        if is_inward(ip) {
            return Err(FieldError::new(
                "upstream",
                format!("{} resolves to {ip}: only the admin token may route to loopback or link-local addresses", upstream.host),
            ));
        }
        if own.iter().any(|l| {
            l.port() == addr.port() && (l.ip().is_unspecified() || canonical(l.ip()) == ip)
        }) {
            return Err(FieldError::new(
                "upstream",
                "may not point at certgate's own listeners",
            ));
        }
    }
    Ok(())
}

/// Addresses a non-admin route may not reach: loopback, unspecified, link-local (checked at
/// creation and again at every new upstream connection), also where an IPv6 address embeds
/// one of them.
pub fn is_inward(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    ip.is_loopback() || ip.is_unspecified() || is_link_local(ip)
}

/// The address packets to `ip` reach: the IPv4 address an IPv6 form embeds — IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some
/// stacks), NAT64 (`64:ff9b::/96`, RFC 6052, and the local-use `64:ff9b:1::/48`, RFC 8215,
/// with the address in the last 32 bits) and 6to4 (`2002:AABB:CCDD::/16`, RFC 3056) — else
/// `ip` itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let last32 = || Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let compatible = s[..6].iter().all(|&x| x == 0) && !v6.is_loopback() && !v6.is_unspecified();
    let nat64 = (s[0], s[1]) == (0x64, 0xff9b) && (s[2..6].iter().all(|&x| x == 0) || s[2] == 1);
    if compatible || nat64 {
        return IpAddr::V4(last32());
    }
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    ip
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Headers a rule may not touch: hop-by-hop ones (the proxy manages them) and `Host`
/// (`preserve_host` governs it), plus the framing headers of the message.
pub const UNTOUCHABLE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "host",
    "content-length",
];

/// Most rules of one kind (set or remove) per list.
const MAX_RULES: usize = 32;
/// Longest header value a rule may set: with `MAX_RULES`, any valid route body stays well
/// inside the API's 64 KiB body limit.
const MAX_VALUE_BYTES: usize = 1024;

/// Checks and normalises header rules (`field` is `request_headers` or `response_headers`).
pub fn header_rules(
    field: &str,
    rules: &crate::routes::model::HeaderRules,
) -> Result<crate::routes::model::HeaderRules, FieldError> {
    if rules.set.len() > MAX_RULES || rules.remove.len() > MAX_RULES {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_RULES} headers to set and {MAX_RULES} to remove"),
        ));
    }
    let name_ok = |kind: &str, raw: &str| -> Result<String, FieldError> {
        let at = format!("{field}.{kind}");
        if raw.len() > 128 {
            return Err(FieldError::new(
                &at,
                "a header name has at most 128 characters",
            ));
        }
        let name = http::HeaderName::from_bytes(raw.as_bytes())
            .map_err(|_| FieldError::new(&at, format!("{raw:?} is not a header name")))?;
        let name = name.as_str().to_owned();
        if UNTOUCHABLE.contains(&name.as_str()) {
            return Err(FieldError::new(
                &at,
                format!(
                    "{name:?} is managed by the proxy (hop-by-hop, framing, or Host, which preserve_host governs)"
                ),
            ));
        }
        Ok(name)
    };
    let mut out = crate::routes::model::HeaderRules::default();
    for (raw, value) in &rules.set {
        let name = name_ok("set", raw)?;
        let printable = value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if value.len() > MAX_VALUE_BYTES || !printable {
            return Err(FieldError::new(
                &format!("{field}.set"),
                format!("the value for {name:?} is not a usable header value (printable, at most {MAX_VALUE_BYTES} bytes)"),
            ));
        }
        out.set.insert(name, value.clone());
    }
    for raw in &rules.remove {
        let name = name_ok("remove", raw)?;
        if !out.remove.contains(&name) {
            out.remove.push(name);
        }
    }
    Ok(out)
}

/// Checks `hsts`: a max-age of at most two years; `preload` needs `include_subdomains` and at
/// least a year (what the browsers' preload list requires).
pub fn hsts(value: &crate::routes::model::Hsts) -> Result<(), FieldError> {
    const YEAR: u64 = 31_536_000;
    if value.max_age > 2 * YEAR {
        return Err(FieldError::new(
            "hsts.max_age",
            "at most 63072000 seconds (two years)",
        ));
    }
    if value.preload && (!value.include_subdomains || value.max_age < YEAR) {
        return Err(FieldError::new(
            "hsts.preload",
            "preload needs include_subdomains and a max_age of at least 31536000",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams() {
        assert_eq!(
            upstream("http://App.internal:8080").unwrap().url,
            "http://app.internal:8080"
        );
        assert_eq!(upstream("http://10.0.0.5").unwrap().port, 80);
        assert_eq!(upstream("http://[::1]:81/").unwrap().url, "http://[::1]:81");
        assert_eq!(upstream("https://x").unwrap().url, "https://x:443");
        assert_eq!(upstream("h2c://x").unwrap().scheme, UpstreamScheme::H2c);
        for bad in [
            "ftp://x",
            "http://x/path",
            "http://x?q=1",
            "http://u:p@x",
            "x:80",
            "",
        ] {
            assert!(upstream(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn embedded_ipv4_forms_count_as_the_address_they_embed() {
        let inward = |s: &str| is_inward(s.parse().unwrap());
        for form in [
            "127.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "fe80::1",
        ] {
            assert!(inward(form), "{form} reaches an inward address");
        }
        for form in [
            "192.0.2.10",
            "64:ff9b::c000:20a",
            "2002:c000:20a::1",
            "2001:db8::1",
            "::c000:20a",
        ] {
            assert!(!inward(form), "{form} is not inward");
        }
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname("App.Example.com.").unwrap(), "app.example.com");
        assert!(hostname("*.example.com").is_err());
        assert_eq!(hostname("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(hostname("[2001:DB8::1]").unwrap(), "2001:db8::1");
    }

    #[tokio::test]
    async fn non_admin_may_not_route_to_loopback() {
        let config = Config::defaults();
        for target in [
            "http://127.0.0.1:8080",
            "http://localhost:9000",
            "http://169.254.1.1",
            "http://[::1]:80",
        ] {
            let up = upstream(target).unwrap();
            assert!(
                allowed_for_non_admin(&up, &config).await.is_err(),
                "{target}"
            );
        }
        assert!(
            allowed_for_non_admin(&upstream("http://192.0.2.10:8080").unwrap(), &config)
                .await
                .is_ok()
        );
    }
}
