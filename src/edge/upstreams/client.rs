//! One pooled HTTP client per upstream of a route: it always dials that upstream (whatever
//! authority the request carries, so `Host`/`:authority` can stay the client's), speaks TLS to
//! `https://` upstreams (HTTP/2 when ALPN offers it) and HTTP/2 with prior knowledge to `h2c://`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Uri;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;

use super::resolver::UpstreamResolver;
use super::tls;
use crate::config::Config;
use crate::routes::validate::{Upstream, UpstreamScheme};
use crate::routes::Route;

/// The body of a request on its way upstream: the client's, behind its deadline.
pub type UpstreamBody =
    http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A pooled client bound to one upstream.
pub type UpstreamClient = Client<HttpsConnector<FixedTarget>, UpstreamBody>;

/// Dials one upstream whatever URI it is asked for.
#[derive(Clone)]
pub struct FixedTarget {
    inner: HttpConnector<UpstreamResolver>,
    /// `http://host:port` of the upstream (TLS, when wanted, is the wrapper's).
    target: Uri,
}

impl tower_service::Service<Uri> for FixedTarget {
    type Response = <HttpConnector<UpstreamResolver> as tower_service::Service<Uri>>::Response;
    type Error = <HttpConnector<UpstreamResolver> as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, _requested: Uri) -> Self::Future {
        Box::pin(self.inner.call(self.target.clone()))
    }
}

/// Builds the client for `upstream`, one of `route`'s upstreams.
pub fn build(
    route: &Route,
    upstream: &Upstream,
    config: &Config,
) -> Result<UpstreamClient, String> {
    let mut http = HttpConnector::new_with_resolver(UpstreamResolver {
        guarded: route.restricted_upstream,
        dns_server: config.upstream_dns_server,
    });
    http.set_connect_timeout(Some(config.upstream_connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let shown = if upstream.host.contains(':') {
        format!("[{}]", upstream.host)
    } else {
        upstream.host.clone()
    };
    let target: Uri = format!("http://{shown}:{}", upstream.port)
        .parse()
        .map_err(|e| format!("{}: {e}", upstream.url))?;
    let fixed = FixedTarget {
        inner: http,
        target,
    };
    let tls_config = match upstream.scheme {
        UpstreamScheme::Https => tls::client_config(route)?,
        UpstreamScheme::Http | UpstreamScheme::H2c => tls::unused_config(),
    };
    let name = route
        .upstream_sni
        .clone()
        .unwrap_or_else(|| upstream.host.clone());
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| format!("{name:?} is not a TLS server name"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config)
        .https_or_http()
        .with_server_name_resolver(FixedServerNameResolver::new(server_name))
        .enable_all_versions()
        .wrap_connector(fixed);
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(config.upstream_idle_timeout)
        .pool_max_idle_per_host(config.upstream_max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .http2_only(upstream.scheme == UpstreamScheme::H2c);
    Ok(builder.build(connector))
}
