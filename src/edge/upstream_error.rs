//! Why forwarding failed, by which side failed — read from the error's types, never its text —
//! and what the client is told.

use http::StatusCode;

use super::body_timeout::BodyTimedOut;
use super::upstreams::client::SendError;

/// Which side failed when a request could not be forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// The upstream refused the connection (or it could not be made).
    Connect,
    /// Connecting took longer than `UPSTREAM_CONNECT_TIMEOUT_SECONDS`.
    ConnectTimeout,
    /// The upstream did not answer within `UPSTREAM_TIMEOUT_SECONDS`.
    Timeout,
    /// The upstream closed or broke the connection before its answer was complete.
    Reset,
    /// The client's request body failed (malformed, or the client went away) while it was
    /// being forwarded.
    ClientBody,
    /// The client sent its request body too slowly (`BODY_READ_TIMEOUT_SECONDS`,
    /// `BODY_MIN_RATE_BYTES_PER_SECOND`); the upstream request was aborted.
    ClientBodyTimeout,
    /// The upstream switched protocols without being asked to, or to another protocol than the
    /// one asked for.
    UnexpectedUpgrade,
    /// The TLS handshake with an `https://` upstream failed (its certificate did not verify,
    /// typically).
    Tls,
    /// Every upstream of the route is out of rotation (ejected by failures or health checks).
    NoneHealthy,
    /// The upstream had `UPSTREAM_MAX_CONNECTIONS` requests in flight and none finished within
    /// `UPSTREAM_QUEUE_TIMEOUT_SECONDS`; nothing was sent.
    QueueTimeout,
}

impl UpstreamError {
    /// Classifies an error of an upstream client.
    pub fn classify(e: &SendError) -> UpstreamError {
        if rustls_error(e).is_some() {
            return UpstreamError::Tls;
        }
        if e.connecting {
            if source_chain(e).any(|s| {
                s.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            }) {
                return UpstreamError::ConnectTimeout;
            }
            return UpstreamError::Connect;
        }
        if source_chain(e).any(|s| s.is::<BodyTimedOut>()) {
            return UpstreamError::ClientBodyTimeout;
        }
        let hyper_error = source_chain(e).find_map(|s| s.downcast_ref::<hyper::Error>());
        match hyper_error {
            // A user error while sending: the request body we were streaming failed.
            Some(h) if h.is_user() || h.is_body_write_aborted() => UpstreamError::ClientBody,
            _ => UpstreamError::Reset,
        }
    }

    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamError::Connect => "upstream_connect",
            UpstreamError::ConnectTimeout => "upstream_connect_timeout",
            UpstreamError::Timeout => "upstream_timeout",
            UpstreamError::Reset => "upstream_reset",
            UpstreamError::ClientBody => "client_body",
            UpstreamError::ClientBodyTimeout => "client_body_timeout",
            UpstreamError::UnexpectedUpgrade => "upstream_bad_upgrade",
            UpstreamError::Tls => "upstream_tls",
            UpstreamError::NoneHealthy => "upstream_none_healthy",
            UpstreamError::QueueTimeout => "upstream_queue_timeout",
        }
    }

    /// The status and text the client gets.
    pub fn answer(&self) -> (StatusCode, &'static str) {
        match self {
            UpstreamError::Connect => (StatusCode::BAD_GATEWAY, "upstream unreachable"),
            UpstreamError::ConnectTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream did not accept the connection in time",
            ),
            UpstreamError::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream did not answer in time",
            ),
            UpstreamError::Reset => (
                StatusCode::BAD_GATEWAY,
                "upstream closed the connection before answering",
            ),
            UpstreamError::ClientBody => (StatusCode::BAD_REQUEST, "unreadable request body"),
            UpstreamError::ClientBodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request body arrived too slowly",
            ),
            UpstreamError::UnexpectedUpgrade => (
                StatusCode::BAD_GATEWAY,
                "upstream switched protocols without being asked to",
            ),
            UpstreamError::Tls => (StatusCode::BAD_GATEWAY, "upstream TLS handshake failed"),
            UpstreamError::NoneHealthy => (
                StatusCode::BAD_GATEWAY,
                "no healthy upstream: every upstream of this route is out of rotation",
            ),
            UpstreamError::QueueTimeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream busy: its connection limit stayed full while this request waited",
            ),
        }
    }

    /// Nothing reached the upstream: the request may go to another one.
    pub fn before_sending(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect | UpstreamError::ConnectTimeout | UpstreamError::Tls
        )
    }

    /// The gRPC status a gRPC client gets instead of the HTTP answer: `DEADLINE_EXCEEDED` (4)
    /// for time-outs, `UNAVAILABLE` (14) for the rest.
    pub fn grpc_status(&self) -> &'static str {
        match self {
            UpstreamError::Timeout | UpstreamError::ConnectTimeout => "4",
            _ => "14",
        }
    }
}

/// The rustls error under `e`, if a TLS handshake failed. An `io::Error` wrapping another error
/// skips it in `source()` (it returns the wrapped error's source), so each one's `get_ref` is
/// followed too — the connector wraps rustls' error in two of them.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    source_chain(e).find_map(|s| {
        let mut current: &(dyn std::error::Error + 'static) = s;
        loop {
            if let Some(tls) = current.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
        }
    })
}

/// A one-line cause for logs and the client's `502` text: the TLS error when there is one,
/// else the innermost error's text.
pub fn describe(e: &SendError) -> String {
    if let Some(tls) = rustls_error(e) {
        return tls.to_string();
    }
    source_chain(e)
        .last()
        .map_or_else(|| e.to_string(), |s| s.to_string())
}

/// `e` and every error below it.
fn source_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |s| s.source())
}

#[cfg(test)]
mod tests {
    use std::io;

    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn connect_failures_by_their_cause() {
        let refused = SendError::connect(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(UpstreamError::classify(&refused), UpstreamError::Connect);
        let slow = SendError::connect(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(
            UpstreamError::classify(&slow),
            UpstreamError::ConnectTimeout
        );
        // The connector wraps rustls' error in io::Errors; it is found all the same.
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, tls));
        let failed = SendError::connect(wrapped);
        assert_eq!(UpstreamError::classify(&failed), UpstreamError::Tls);
        assert!(
            describe(&failed).contains("UnknownIssuer"),
            "{}",
            describe(&failed)
        );
        for failure in [
            UpstreamError::Connect,
            UpstreamError::ConnectTimeout,
            UpstreamError::Tls,
        ] {
            assert!(
                failure.before_sending(),
                "{failure:?} may go to another upstream"
            );
        }
    }

    /// One exchange with an upstream that reads the request and `then` does something; the
    /// client's error, as the proxy sees it.
    async fn exchange_with<B>(body: B, answer: Option<&'static [u8]>) -> SendError
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            if let Some(answer) = answer {
                let _ = stream.write_all(answer).await;
            }
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = http::Request::post("/").body(body).unwrap();
        SendError::exchange(
            sender
                .send_request(req)
                .await
                .expect_err("the exchange fails"),
        )
    }

    #[tokio::test]
    async fn exchange_failures_by_the_side_that_failed() {
        // The upstream closes without answering: its side.
        let closed = exchange_with(http_body_util::Empty::<Bytes>::new(), None).await;
        assert_eq!(UpstreamError::classify(&closed), UpstreamError::Reset);
        assert!(!UpstreamError::Reset.before_sending());
        // The client's body fails (too slow): the client's side.
        let stalled = http_body_util::StreamBody::new(futures_util::stream::iter([Err::<
            hyper::body::Frame<Bytes>,
            _,
        >(
            super::super::body_timeout::BodyTimedOut,
        )]));
        let slow = exchange_with(stalled, None).await;
        assert_eq!(
            UpstreamError::classify(&slow),
            UpstreamError::ClientBodyTimeout
        );
        assert_eq!(
            UpstreamError::ClientBodyTimeout.answer().0,
            StatusCode::REQUEST_TIMEOUT
        );
    }
}
