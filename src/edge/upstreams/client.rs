//! The client for one upstream of a route: it always dials that upstream (whatever authority
//! the request carries, so `Host`/`:authority` can stay the client's), through certgate's own
//! pools — [`Http1Pool`] (HTTP/1.1 connections, each driven by the request it carries) and
//! [`Http2Pool`] (one HTTP/2 connection carrying every request). `http://` upstreams use the
//! first, `h2c://` ones the second; `https://` ones the second while the upstream answers ALPN
//! with `h2`, else (it chose HTTP/1.1, decided once by the first connection) the first.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::ServerName;

use super::dial::{Dialer, UpstreamTls};
use super::http1_pool::{Checkin, Http1Pool};
use super::http2_pool::{Http2Error, Http2Pool};
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

/// How requests reach one upstream.
pub enum UpstreamClient {
    /// Plain HTTP/1.1 (`http://`).
    Http1(Arc<Http1Pool>),
    /// HTTP/2 by prior knowledge (`h2c://`).
    Http2(Arc<Http2Pool>),
    /// TLS (`https://`): HTTP/2 when the upstream chooses it by ALPN, else HTTP/1.1.
    Https {
        /// Tried first: the connection offers `h2` and `http/1.1` by ALPN.
        h2: Arc<Http2Pool>,
        /// Once the upstream chose HTTP/1.1: connections offering only `http/1.1`.
        h1: Arc<Http1Pool>,
    },
}

impl UpstreamClient {
    /// Sends `req` and waits for the answer's head. An HTTP/1.1 answer comes with its
    /// connection, to give back when its body has been read whole (see
    /// [`super::answer::AnswerBody`]); HTTP/2 streams need none.
    /// `replayable`: the request may be sent twice (idempotent, no body) if the upstream drops
    /// a kept-alive HTTP/1.1 connection under it.
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
            UpstreamClient::Http2(pool) => {
                Either::Right(Either::Left(pool.send(req).map(|sent| match sent {
                    Ok(response) => Ok((response, None)),
                    Err(Http2Error::Send(e)) => Err(e),
                    // Only TLS offers a choice.
                    Err(Http2Error::SpeaksHttp1(_)) => Err(SendError::connect(
                        std::io::Error::other("h2c upstream refused HTTP/2"),
                    )),
                })))
            }
            UpstreamClient::Https { h2, h1 } => {
                Either::Right(Either::Right(https(h2, h1, req, replayable)))
            }
        }
    }
}

/// An `https://` exchange: on the HTTP/2 connection, unless the upstream chose HTTP/1.1 (then,
/// and from then on, on an HTTP/1.1 one, with the request's URI in origin form).
async fn https(
    h2: &Arc<Http2Pool>,
    h1: &Arc<Http1Pool>,
    mut req: Request<UpstreamBody>,
    replayable: bool,
) -> Result<(Response<Incoming>, Option<Checkin>), SendError> {
    if !h2.speaks_http1() {
        match h2.send(req).await {
            Ok(response) => return Ok((response, None)),
            Err(Http2Error::Send(e)) => return Err(e),
            Err(Http2Error::SpeaksHttp1(unsent)) => req = *unsent,
        }
    }
    if let Some(path) = req.uri().path_and_query().cloned() {
        *req.uri_mut() = Uri::from(path);
    }
    let (response, checkin) = h1.send(req, replayable).await?;
    Ok((response, Some(checkin)))
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
    let dialer = |tls| Dialer::new(http.clone(), target.clone(), tls, opened.clone());
    let (max_idle, idle_timeout) = (
        config.upstreams.max_idle_per_host,
        config.upstreams.idle_timeout,
    );
    Ok(match upstream.scheme {
        UpstreamScheme::Http => {
            UpstreamClient::Http1(Http1Pool::new(dialer(None), max_idle, idle_timeout))
        }
        UpstreamScheme::H2c => {
            UpstreamClient::Http2(Http2Pool::new(dialer(None), idle_timeout, None))
        }
        UpstreamScheme::Https => {
            let tls_config = tls::client_config(route)?;
            let name = route
                .upstream_sni
                .clone()
                .unwrap_or_else(|| upstream.host.clone());
            let server_name = ServerName::try_from(name.clone())
                .map_err(|_| BuildError::InvalidServerName(name.clone()))?;
            let offering = |protocols: &[&[u8]]| {
                Some(UpstreamTls::offering(
                    &tls_config,
                    server_name.clone(),
                    protocols,
                ))
            };
            let h1 = Http1Pool::new(dialer(offering(&[b"http/1.1"])), max_idle, idle_timeout);
            UpstreamClient::Https {
                h2: Http2Pool::new(
                    dialer(offering(&[b"h2", b"http/1.1"])),
                    idle_timeout,
                    Some(h1.clone()),
                ),
                h1,
            }
        }
    })
}
