//! Which cipher suite a handshake gets: AES-128-GCM first, as Go's `crypto/tls` (Caddy) and
//! Chrome order them, unless the client lists ChaCha20-Poly1305 first.
//!
//! rustls honours the client's order by default, and rustls, OpenSSL (curl, h2load, most
//! libraries) and Firefox list AES-256-GCM first. In TLS 1.3 the suite also picks the hash of
//! the transcript and of every key derivation: SHA-384 for AES-256-GCM, which this machine's
//! aws-lc runs without hardware help, against SHA-256 with it. SHA-384 was 16–17 % of the CPU of
//! a full ECDSA handshake (perf, one name, 16 concurrent clients); AES-128-GCM is also the
//! lighter cipher for the bytes that follow. Both are 128-bit secure or more.
//!
//! A client that lists ChaCha20-Poly1305 first says it has no AES hardware (Chrome and Go do so
//! then): it gets its own order, as Go's server does.

use rustls::{CipherSuite, SupportedCipherSuite};

/// The bulk cipher a suite encrypts with, in the server's order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bulk {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

/// The bulk cipher of the suites rustls can negotiate; `None` for any other code point
/// (GREASE, the renegotiation SCSV, suites rustls does not implement).
fn bulk(suite: CipherSuite) -> Option<Bulk> {
    use CipherSuite::*;
    Some(match suite {
        TLS13_AES_128_GCM_SHA256
        | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Bulk::Aes128Gcm,
        TLS13_AES_256_GCM_SHA384
        | TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Bulk::Aes256Gcm,
        TLS13_CHACHA20_POLY1305_SHA256
        | TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Bulk::Chacha20Poly1305,
        _ => return None,
    })
}

/// `suites` in the server's order: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, each keeping
/// the provider's order among its own (TLS 1.3 before 1.2, ECDSA before RSA).
pub fn server_order(mut suites: Vec<SupportedCipherSuite>) -> Vec<SupportedCipherSuite> {
    suites.sort_by_key(|s| bulk(s.suite()).unwrap_or(Bulk::Chacha20Poly1305));
    suites
}

/// Whether the client's first suite that rustls knows is a ChaCha20-Poly1305 one.
pub fn client_prefers_chacha(client_suites: &[CipherSuite]) -> bool {
    client_suites.iter().find_map(|s| bulk(*s)) == Some(Bulk::Chacha20Poly1305)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::aws_lc_rs::DEFAULT_CIPHER_SUITES;
    use CipherSuite::*;

    #[test]
    fn aes_128_gcm_comes_first_in_each_version() {
        let ordered: Vec<CipherSuite> = server_order(DEFAULT_CIPHER_SUITES.to_vec())
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            ordered.len(),
            DEFAULT_CIPHER_SUITES.len(),
            "nothing dropped"
        );
        let named = |prefix: &str| -> Vec<CipherSuite> {
            ordered
                .iter()
                .filter(|s| format!("{s:?}").starts_with(prefix))
                .copied()
                .collect()
        };
        assert_eq!(
            named("TLS13_"),
            [
                TLS13_AES_128_GCM_SHA256,
                TLS13_AES_256_GCM_SHA384,
                TLS13_CHACHA20_POLY1305_SHA256
            ]
        );
        assert_eq!(
            named("TLS_ECDHE_ECDSA_"),
            [
                TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            ]
        );
    }

    #[test]
    fn the_first_suite_rustls_knows_decides() {
        assert!(client_prefers_chacha(&[
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256
        ]));
        // GREASE and the renegotiation SCSV are passed over.
        assert!(client_prefers_chacha(&[
            CipherSuite::Unknown(0x0a0a),
            TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        ]));
        assert!(!client_prefers_chacha(&[
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256
        ]));
        assert!(!client_prefers_chacha(&[
            CipherSuite::Unknown(0x1a1a),
            TLS13_AES_128_GCM_SHA256
        ]));
        assert!(!client_prefers_chacha(&[]));
    }
}
