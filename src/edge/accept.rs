//! The accept loop shared by the listeners: a connection cap, back-off when the process runs out
//! of file descriptors (instead of spinning), and the instance's shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::shutdown::Shutdown;

/// Accepts connections until `shutdown`, handing each to `serve` with the shutdown signal (for
/// draining). Each connection holds a permit of the cap until `serve`'s future ends, so all
/// permits back means every connection has finished.
///
/// A connection is accepted first and then waits for its permit: the HTTP and HTTPS listeners
/// share one cap, and a loop that took a permit before accepting would hold it while its
/// listener is quiet, so the other listener could never use the last place. While the cap is
/// full, one accepted connection per listener waits here and the rest wait in the kernel's
/// queue.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    connections: Arc<Semaphore>,
    shutdown: Shutdown,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let permit = match connections.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => tokio::select! {
                        p = connections.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                        _ = shutdown.wait() => return,
                    },
                };
                let _ = stream.set_nodelay(true);
                let connection = serve(stream, peer, shutdown.clone());
                tokio::spawn(async move {
                    connection.await;
                    drop(permit);
                });
            }
            Err(e) => {
                if is_resource_exhaustion(&e) {
                    tracing::warn!(error = %e, "accept: out of file descriptors; backing off");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
            }
        }
    }
}

/// EMFILE / ENFILE / ENOBUFS / ENOMEM: waiting helps, retrying at once does not.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23) | Some(24) | Some(105) | Some(12))
}
