//! Listening sockets with a listen queue sized for bursts.
//!
//! tokio's `TcpListener::bind` listens with a backlog of 128 (mio's, as the standard library's).
//! When a thousand clients connect at once, the kernel drops the SYNs that do not fit and each
//! of those clients retries a full second later. These sockets listen with `LISTEN_BACKLOG`
//! (default 4096), which the kernel caps at `net.core.somaxconn`; the effective value is what
//! [`effective_backlog`] reports and start-up logs.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Where Linux keeps the cap on every listen queue.
const SOMAXCONN: &str = "/proc/sys/net/core/somaxconn";

/// `wanted` as the kernel will apply it: at most `net.core.somaxconn` (when readable).
pub fn effective_backlog(wanted: u32) -> u32 {
    let cap = std::fs::read_to_string(SOMAXCONN)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    cap.map_or(wanted, |cap| wanted.min(cap))
}

/// Binds `addr` (address reuse on, as `TcpListener::bind` does) and listens with `backlog`.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_listen_queue_is_the_one_asked_for() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 1000).unwrap();
        let port = listener.local_addr().unwrap().port();
        // `ss -ltn` shows a listening socket's backlog as its Send-Q.
        let out = std::process::Command::new("ss")
            .args(["-ltn", &format!("sport = :{port}")])
            .output();
        if let Ok(out) = out {
            let text = String::from_utf8_lossy(&out.stdout);
            let send_q: Vec<&str> = text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(2))
                .collect();
            assert_eq!(send_q, [effective_backlog(1000).to_string()], "{text}");
        }
        assert!(
            effective_backlog(u32::MAX) < u32::MAX || !std::path::Path::new(SOMAXCONN).exists()
        );
    }
}
