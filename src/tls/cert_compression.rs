//! Certificate compression (RFC 8879) at rustls' interactive level, always.
//!
//! rustls compresses a chain at its highest level (brotli quality 11, zlib 9) when it can keep
//! the result (`CompressionCache`), on the idea that it is paid once and reused. With many
//! certificates it is paid far more often: a handshake for a name whose chain has left the
//! cache compresses again, and brotli at quality 11 costs ≈ 1.3 ms of CPU for a 1.5 KiB chain.
//! With handshakes spread over 10,000 names that cut one worker from 4,552 to ≈ 700 handshakes
//! a second (and any client can ask for many names). At the interactive level (brotli 4, zlib
//! 6) a chain compresses in tens of microseconds and comes out ≈ 2 % larger.

use rustls::compress::{CertCompressor, CompressionFailed, CompressionLevel};
use rustls::CertificateCompressionAlgorithm;

/// One of rustls' compressors, asked for its interactive level whatever rustls asks.
#[derive(Debug)]
struct AtInteractiveLevel(&'static dyn CertCompressor);

impl CertCompressor for AtInteractiveLevel {
    fn compress(
        &self,
        input: Vec<u8>,
        _level: CompressionLevel,
    ) -> Result<Vec<u8>, CompressionFailed> {
        self.0.compress(input, CompressionLevel::Interactive)
    }

    fn algorithm(&self) -> CertificateCompressionAlgorithm {
        self.0.algorithm()
    }
}

static BROTLI: AtInteractiveLevel = AtInteractiveLevel(rustls::compress::BROTLI_COMPRESSOR);
static ZLIB: AtInteractiveLevel = AtInteractiveLevel(rustls::compress::ZLIB_COMPRESSOR);

/// The compressors a configuration offers, in rustls' order: brotli, then zlib. (zlib first
/// measured +5 % handshakes/s spread over 10,000 names, as brotli allocates and clears a 4 MiB
/// window per chain, but at 100,000 names it left certgate's resident memory 23–106 MiB
/// higher: zlib's state is allocated on the heap between the certificates the handshakes
/// load, brotli's window is mapped and unmapped whole.)
pub fn compressors() -> Vec<&'static dyn CertCompressor> {
    vec![&BROTLI, &ZLIB]
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[derive(Debug)]
    struct Recorder;

    static ASKED_AMORTIZED: AtomicBool = AtomicBool::new(false);

    impl CertCompressor for Recorder {
        fn compress(
            &self,
            input: Vec<u8>,
            level: CompressionLevel,
        ) -> Result<Vec<u8>, CompressionFailed> {
            if level == CompressionLevel::Amortized {
                ASKED_AMORTIZED.store(true, Ordering::SeqCst);
            }
            Ok(input)
        }

        fn algorithm(&self) -> CertificateCompressionAlgorithm {
            CertificateCompressionAlgorithm::Brotli
        }
    }

    static RECORDER: Recorder = Recorder;

    #[test]
    fn the_amortized_level_is_asked_as_interactive() {
        let wrapped = AtInteractiveLevel(&RECORDER);
        wrapped
            .compress(b"chain".to_vec(), CompressionLevel::Amortized)
            .unwrap();
        assert!(!ASKED_AMORTIZED.load(Ordering::SeqCst));
        assert_eq!(wrapped.algorithm(), CertificateCompressionAlgorithm::Brotli);
    }

    #[test]
    fn both_of_rustls_algorithms_are_offered_brotli_first_and_compress() {
        let chain: Vec<u8> = b"certificate chain bytes ".repeat(64);
        let algorithms: Vec<_> = compressors()
            .iter()
            .map(|c| {
                let out = c
                    .compress(chain.clone(), CompressionLevel::Amortized)
                    .unwrap();
                assert!(out.len() < chain.len());
                c.algorithm()
            })
            .collect();
        assert_eq!(
            algorithms,
            [
                CertificateCompressionAlgorithm::Brotli,
                CertificateCompressionAlgorithm::Zlib
            ]
        );
    }
}
