//! File descriptors: raising the soft `RLIMIT_NOFILE` to the hard limit at start, and sizing
//! the connection caps from it so that no listener can exhaust the descriptors the others need.
//!
//! Every client connection holds a descriptor, and a proxied one usually a second for its
//! upstream. A fixed reserve is kept for Redis, the ACME client, listeners and files; the admin
//! listener gets its own small cap; the edge's cap is what remains, halved for the upstream side.

/// Descriptors kept free for everything that is not a client connection.
pub const RESERVE: u64 = 128;

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
pub fn raise_to_hard_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

/// The soft open-file limit in force.
pub fn current() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed by pointer.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit.rlim_cur)
}

/// How many connections each listener may hold open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// HTTP and HTTPS together.
    pub edge: usize,
    /// Admin listener connections.
    pub admin: usize,
}

impl ConnectionCaps {
    /// The configured caps, lowered where `open_files` could not hold them: the admin cap to
    /// at most a quarter of what the reserve leaves, the edge cap to half of the rest.
    pub fn size(max_connections: usize, admin_max: usize, open_files: Option<u64>) -> Self {
        let Some(limit) = open_files else {
            return ConnectionCaps {
                edge: max_connections,
                admin: admin_max,
            };
        };
        let usable = limit.saturating_sub(RESERVE);
        let admin = (admin_max as u64).min(usable / 4).max(1);
        let edge = (max_connections as u64)
            .min(usable.saturating_sub(admin) / 2)
            .max(1);
        ConnectionCaps {
            edge: edge as usize,
            admin: admin as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_inside_the_descriptor_limit() {
        let caps = ConnectionCaps::size(10_000, 256, Some(1024));
        assert_eq!(caps.admin, 224);
        assert_eq!(caps.edge, 336);
        assert!(caps.admin as u64 + 2 * caps.edge as u64 + RESERVE <= 1024);
        let roomy = ConnectionCaps::size(10_000, 256, Some(1 << 20));
        assert_eq!(
            roomy,
            ConnectionCaps {
                edge: 10_000,
                admin: 256
            }
        );
    }
}
