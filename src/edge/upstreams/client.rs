//! The client for one upstream of a route: it always dials that upstream (whatever authority
//! the request carries, so `Host`/`:authority` can stay the client's). Plain `http://` upstreams
//! go through certgate's own list of HTTP/1.1 connections ([`Http1Pool`]); `https://` ones
//! through hyper-util's pooled client with TLS (HTTP/2 when ALPN offers it), and `h2c://` ones
//! over one HTTP/2 connection by prior knowledge ([`Http2Pool`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;

use super::http1_pool::{Checkin, Http1Pool};
use super::http2_pool::Http2Pool;
use super::resolver::UpstreamResolver;
use super::tls;
use super::BuildError;
use crate::config::Config;
use crate::metrics::registry::Counter;
use crate::routes::validate::{Upstream, UpstreamScheme};
use crate::routes::Route;

/// The body of a request on its way upstream: the client's, behind its deadline.
pub type UpstreamBody =
    http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// hyper-util's pooled client, bound to one upstream (for `https://`).
pub type PooledClient = Client<HttpsConnector<FixedTarget>, UpstreamBody>;

/// How requests reach one upstream.
pub enum UpstreamClient {
    /// Plain HTTP/1.1, through certgate's own connection list.
    Http1(Arc<Http1Pool>),
    /// HTTP/2 by prior knowledge (`h2c://`), over one shared connection.
    Http2(Arc<Http2Pool>),
    /// TLS, through hyper-util's pool.
    Pooled(Box<PooledClient>),
}

impl UpstreamClient {
    /// Sends `req` and waits for the answer's head. For `http://` upstreams the answer comes
    /// with its connection, to give back when its body has been read whole (see
    /// [`super::answer::AnswerBody`]); hyper-util's pool takes its connections back itself.
    /// `replayable`: the request may be sent twice (idempotent, no body) if the upstream drops
    /// a kept-alive connection under it.
    ///
    /// Not an `async fn`: one would keep `req` in its own future beside the client's that it
    /// was moved into; here the client is picked now and its future is all that is returned.
    pub fn send(
        &self,
        req: Request<UpstreamBody>,
        replayable: bool,
    ) -> impl Future<Output = Result<(Response<Incoming>, Option<Checkin>), SendError>> + Send + '_
    {
        use futures_util::future::{Either, FutureExt};
        match self {
            UpstreamClient::Http1(pool) => Either::Left(
                pool.send(req, replayable)
                    .map(|sent| sent.map(|(response, checkin)| (response, Some(checkin)))),
            ),
            UpstreamClient::Http2(pool) => Either::Right(Either::Left(
                pool.send(req)
                    .map(|sent| sent.map(|response| (response, None))),
            )),
            UpstreamClient::Pooled(client) => {
                Either::Right(Either::Right(client.request(req).map(|sent| {
                    sent.map(|response| (response, None))
                        .map_err(|e| SendError {
                            connecting: e.is_connect(),
                            cause: Box::new(e),
                        })
                })))
            }
        }
    }
}

/// A request that got no answer: whether it failed while connecting (nothing was sent), and
/// the error underneath (which [`crate::edge::upstream_error`] reads by type).
#[derive(Debug)]
pub struct SendError {
    /// Failed while connecting: nothing was sent, so any request may be retried.
    pub connecting: bool,
    cause: Box<dyn std::error::Error + Send + Sync>,
}

impl SendError {
    /// A failure to connect.
    pub fn connect(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SendError {
        SendError {
            connecting: true,
            cause: cause.into(),
        }
    }

    /// A failure after the request was (partly) sent.
    pub fn exchange(cause: hyper::Error) -> SendError {
        SendError {
            connecting: false,
            cause: Box::new(cause),
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.connecting {
            write!(f, "connecting to the upstream failed")
        } else {
            write!(f, "the upstream exchange failed")
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Dials one upstream whatever URI it is asked for.
#[derive(Clone)]
pub struct FixedTarget {
    inner: HttpConnector<UpstreamResolver>,
    /// `http://host:port` of the upstream (TLS, when wanted, is the wrapper's).
    target: Uri,
    /// `certgate_upstream_connections_opened_total` of the route.
    opened: Counter,
}

impl tower_service::Service<Uri> for FixedTarget {
    type Response = <HttpConnector<UpstreamResolver> as tower_service::Service<Uri>>::Response;
    type Error = <HttpConnector<UpstreamResolver> as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, _requested: Uri) -> Self::Future {
        self.opened.inc();
        Box::pin(self.inner.call(self.target.clone()))
    }
}

/// Builds the client for `upstream`, one of `route`'s upstreams; `opened` counts its new
/// connections.
pub fn build(
    route: &Route,
    upstream: &Upstream,
    config: &Config,
    opened: Counter,
) -> Result<UpstreamClient, BuildError> {
    let mut http = HttpConnector::new_with_resolver(UpstreamResolver {
        guarded: route.restricted_upstream,
        dns_server: config.upstreams.dns_server,
    });
    http.set_connect_timeout(Some(config.upstreams.connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let shown = if upstream.host.contains(':') {
        format!("[{}]", upstream.host)
    } else {
        upstream.host.clone()
    };
    let target: Uri = format!("http://{shown}:{}", upstream.port)
        .parse()
        .map_err(|e: http::uri::InvalidUri| BuildError::InvalidUrl {
            url: upstream.url.clone(),
            detail: e.to_string(),
        })?;
    match upstream.scheme {
        UpstreamScheme::Http => {
            return Ok(UpstreamClient::Http1(Http1Pool::new(
                http,
                target,
                config.upstreams.max_idle_per_host,
                config.upstreams.idle_timeout,
                opened,
            )))
        }
        UpstreamScheme::H2c => {
            return Ok(UpstreamClient::Http2(Http2Pool::new(
                http,
                target,
                config.upstreams.idle_timeout,
                opened,
            )))
        }
        UpstreamScheme::Https => {}
    }
    let fixed = FixedTarget {
        inner: http,
        target,
        opened,
    };
    let tls_config = tls::client_config(route)?;
    let name = route
        .upstream_sni
        .clone()
        .unwrap_or_else(|| upstream.host.clone());
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| BuildError::InvalidServerName(name.clone()))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config)
        .https_or_http()
        .with_server_name_resolver(FixedServerNameResolver::new(server_name))
        .enable_all_versions()
        .wrap_connector(fixed);
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(config.upstreams.idle_timeout)
        .pool_max_idle_per_host(config.upstreams.max_idle_per_host)
        .pool_timer(TokioTimer::new());
    Ok(UpstreamClient::Pooled(Box::new(builder.build(connector))))
}
