//! Certificate compression (RFC 8879): zlib at level 1 with its state kept per thread
//! ([`super::reused_zlib`]) and rustls' brotli at its interactive level, each compression kept
//! by content ([`super::compressed_chains`]) so that a chain is compressed once while it is
//! served.
//!
//! rustls compresses a chain at its highest level (brotli quality 11, zlib 9) when it can keep
//! the result, on the idea that it is paid once and reused. With many certificates it is paid
//! far more often, and brotli at quality 11 costs ≈ 1.3 ms of CPU for a 1.5 KiB chain: with
//! handshakes spread over 10,000 names that cut one worker from 4,552 to ≈ 700 handshakes a
//! second. At the interactive level (brotli 4, zlib 6) a chain compresses in tens of
//! microseconds and comes out ≈ 2 % larger; kept, it is compressed again only after it has left
//! the cache. The listener turns rustls' own cache off (`super::policy`): it finds entries by a
//! scan, so it cannot be sized like the certificate cache.

use std::sync::LazyLock;

use rustls::compress::{CertCompressor, CompressionFailed, CompressionLevel};
use rustls::CertificateCompressionAlgorithm;

use super::compressed_chains::{key_of, CompressedChains, BYTES_KEPT};
use super::reused_zlib::ReusedZlib;

/// A compressor asked for its interactive level whatever rustls asks, with its results kept in
/// `kept`.
#[derive(Debug)]
struct KeptAtInteractiveLevel {
    compressor: &'static dyn CertCompressor,
    kept: &'static LazyLock<CompressedChains>,
}

impl CertCompressor for KeptAtInteractiveLevel {
    fn compress(
        &self,
        input: Vec<u8>,
        _level: CompressionLevel,
    ) -> Result<Vec<u8>, CompressionFailed> {
        let key = key_of(u16::from(self.compressor.algorithm()), &input);
        if let Some(compressed) = self.kept.get(&key) {
            return Ok(compressed);
        }
        let compressed = self
            .compressor
            .compress(input, CompressionLevel::Interactive)?;
        self.kept.insert(key, &compressed);
        Ok(compressed)
    }

    fn algorithm(&self) -> CertificateCompressionAlgorithm {
        self.compressor.algorithm()
    }
}

/// Every listener's kept compressions (content-addressed, so one cache serves all of them).
static KEPT: LazyLock<CompressedChains> = LazyLock::new(|| CompressedChains::new(BYTES_KEPT));

static BROTLI: KeptAtInteractiveLevel = KeptAtInteractiveLevel {
    compressor: rustls::compress::BROTLI_COMPRESSOR,
    kept: &KEPT,
};
static ZLIB: KeptAtInteractiveLevel = KeptAtInteractiveLevel {
    compressor: &ReusedZlib,
    kept: &KEPT,
};

/// The compressors a configuration offers, zlib first: rustls takes the first the client
/// offered, and zlib at level 1 with its state kept per thread ([`ReusedZlib`]) compresses a
/// chain in ≈ 7 µs against brotli's ≈ 40–50 µs, to within 1 % of the size. Clients that offer
/// brotli alone (Chromium) get brotli. (rustls' zlib first, allocating its state per chain,
/// left resident memory 23–106 MiB higher at 100,000 names: see [`ReusedZlib`].)
pub fn compressors() -> Vec<&'static dyn CertCompressor> {
    vec![&ZLIB, &BROTLI]
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug)]
    struct Recorder;

    static ASKED_AMORTIZED: AtomicBool = AtomicBool::new(false);
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    impl CertCompressor for Recorder {
        fn compress(
            &self,
            input: Vec<u8>,
            level: CompressionLevel,
        ) -> Result<Vec<u8>, CompressionFailed> {
            CALLS.fetch_add(1, Ordering::SeqCst);
            if level == CompressionLevel::Amortized {
                ASKED_AMORTIZED.store(true, Ordering::SeqCst);
            }
            Ok(input.iter().rev().copied().collect())
        }

        fn algorithm(&self) -> CertificateCompressionAlgorithm {
            CertificateCompressionAlgorithm::Brotli
        }
    }

    static RECORDER: Recorder = Recorder;
    static RECORDED: LazyLock<CompressedChains> =
        LazyLock::new(|| CompressedChains::new(BYTES_KEPT));

    #[test]
    fn a_chain_is_compressed_once_at_the_interactive_level_and_then_served_kept() {
        let wrapped = KeptAtInteractiveLevel {
            compressor: &RECORDER,
            kept: &RECORDED,
        };
        for _ in 0..3 {
            let out = wrapped
                .compress(b"chain".to_vec(), CompressionLevel::Amortized)
                .unwrap();
            assert_eq!(out, b"niahc");
        }
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        let other = wrapped
            .compress(b"other".to_vec(), CompressionLevel::Amortized)
            .unwrap();
        assert_eq!(other, b"rehto");
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        assert!(!ASKED_AMORTIZED.load(Ordering::SeqCst));
        assert_eq!(wrapped.algorithm(), CertificateCompressionAlgorithm::Brotli);
    }

    #[test]
    fn both_algorithms_are_offered_zlib_first_and_compress() {
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
                CertificateCompressionAlgorithm::Zlib,
                CertificateCompressionAlgorithm::Brotli
            ]
        );
    }
}
