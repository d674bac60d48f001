//! How an upstream client resolves names: through `routes::resolve` (the system resolver or
//! `UPSTREAM_DNS_SERVER`), at every new connection. For routes a non-admin token wrote the
//! addresses are checked then too, not only when the route was created, so a name that resolves
//! to a public address at creation and to `127.0.0.1` later (DNS rebinding) cannot reach inside.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use crate::routes::validate::is_inward;

/// Resolves through the system resolver; when `guarded` (routes a non-admin token wrote), keeps
/// only addresses a non-admin route may reach, and none left is an error (the request gets
/// `502`).
#[derive(Clone, Debug, Default)]
pub struct UpstreamResolver {
    /// Refuse addresses a non-admin route may not reach (loopback, private, link-local).
    pub guarded: bool,
    /// `UPSTREAM_DNS_SERVER`, when names resolve there instead of through the system.
    pub dns_server: Option<std::net::SocketAddr>,
}

impl tower_service::Service<Name> for UpstreamResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let (guarded, dns_server) = (self.guarded, self.dns_server);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all = crate::routes::resolve::lookup(&host, 0, dns_server).await?;
            if !guarded {
                return Ok(all.into_iter());
            }
            let (inward, allowed): (Vec<SocketAddr>, Vec<SocketAddr>) =
                all.into_iter().partition(|a| is_inward(a.ip()));
            if allowed.is_empty() {
                let seen: Vec<String> = inward.iter().map(|a| a.ip().to_string()).collect();
                tracing::warn!(
                    upstream = host,
                    resolved = seen.join(", "),
                    "upstream of a non-admin route resolves inward; connection refused"
                );
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{host} resolves to {}: refused for a non-admin route",
                        seen.join(", ")
                    ),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}
