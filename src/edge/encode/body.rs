//! The compressing body: the upstream's frames go through the coding as they arrive; output is
//! handed on when it reaches [`CHUNK`] bytes, and flushed whenever the upstream pauses, so a
//! streamed answer (server-sent events, a slow report) reaches the client as it is written and
//! a fast one is compressed as one stream. Nothing is buffered beyond one frame and the
//! coder's window, whatever the body's length. Trailers follow the last compressed bytes.

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use compression_codecs::brotli::params::EncoderParams;
use compression_codecs::zstd::params::CParameter;
use compression_codecs::{BrotliEncoder, EncodeV2, GzipEncoder, ZstdEncoder};
use compression_core::util::{PartialBuffer, WriteBuffer};
use compression_core::Level;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use crate::routes::encode::Encoding;

/// Compressed output handed on once it reaches this, without waiting for a pause.
const CHUNK: usize = 16 * 1024;

/// Window of the streaming coders (2^19 = 512 KiB), so that each compressed answer in flight
/// costs at most about a megabyte, as nginx's brotli module keeps it; the default windows (4 to
/// 8 MiB) gain little on web answers.
const WINDOW_LOG: u32 = 19;

/// `inner` compressed with a coding, frame by frame.
pub struct EncodedBody<B> {
    inner: B,
    /// In a mutex only to make the body `Sync` (hyper's boxed bodies must be); it is reached
    /// through `get_mut`, never locked.
    coder: Mutex<Box<dyn EncodeV2 + Send>>,
    out: Vec<u8>,
    /// Input went into the coder since its last flush.
    unflushed: bool,
    /// The upstream's trailers, sent after the end of the compressed stream.
    trailers: Option<HeaderMap>,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    /// The upstream's body ended: the coder's end is written next.
    Finishing,
    /// Everything but possibly the trailers was handed on.
    Done,
}

impl<B> EncodedBody<B> {
    /// `inner`, compressed with `coding`.
    pub fn new(inner: B, coding: Encoding) -> Self {
        let coder: Box<dyn EncodeV2 + Send> = match coding {
            Encoding::Zstd => Box::new(ZstdEncoder::new_with_params(
                3,
                &[CParameter::window_log(WINDOW_LOG)],
            )),
            Encoding::Br => Box::new(BrotliEncoder::new(
                EncoderParams::default()
                    .quality(Level::Precise(4))
                    .window_size(WINDOW_LOG as i32),
            )),
            Encoding::Gzip => Box::new(GzipEncoder::new(Level::Precise(5).into())),
        };
        EncodedBody {
            inner,
            coder: Mutex::new(coder),
            out: Vec::new(),
            unflushed: false,
            trailers: None,
            state: State::Reading,
        }
    }

    fn encode(&mut self, data: &[u8]) -> io::Result<()> {
        let coder = self.coder.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut input = PartialBuffer::new(data);
        while !input.unwritten().is_empty() {
            let before = input.written_len();
            let written = grow(&mut self.out, |buf| {
                coder.encode(&mut input, buf).map(|()| true)
            })?;
            if written == 0 && input.written_len() == before {
                return Err(io::Error::other("the coder made no progress"));
            }
        }
        self.unflushed |= !data.is_empty();
        Ok(())
    }

    /// Runs `flush` (or `finish`) until the coder says it is done.
    fn drain(&mut self, finish: bool) -> io::Result<()> {
        let coder = self.coder.get_mut().unwrap_or_else(|p| p.into_inner());
        loop {
            let mut done = false;
            grow(&mut self.out, |buf| {
                done = if finish {
                    coder.finish(buf)?
                } else {
                    coder.flush(buf)?
                };
                Ok(done)
            })?;
            if done {
                self.unflushed = false;
                return Ok(());
            }
        }
    }

    fn take_out(&mut self) -> Frame<Bytes> {
        Frame::data(Bytes::from(std::mem::take(&mut self.out)))
    }
}

/// Gives `step` [`CHUNK`] more bytes at the end of `out` and keeps what it wrote; returns how
/// many that was.
fn grow(
    out: &mut Vec<u8>,
    step: impl FnOnce(&mut WriteBuffer<'_>) -> io::Result<bool>,
) -> io::Result<usize> {
    let start = out.len();
    out.resize(start + CHUNK, 0);
    let mut buf = WriteBuffer::new_initialized(&mut out[start..]);
    let result = step(&mut buf);
    let written = buf.written_len();
    out.truncate(start + written);
    result.map(|_| written)
}

impl<B> Body for EncodedBody<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Done => {
                    return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))))
                }
                State::Finishing => {
                    this.state = State::Done;
                    if let Err(e) = this.drain(true) {
                        return this.fail(&e);
                    }
                    return Poll::Ready(Some(Ok(this.take_out())));
                }
                State::Reading => {}
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if let Err(e) = this.encode(&data) {
                            return this.fail(&e);
                        }
                        if this.out.len() >= CHUNK {
                            return Poll::Ready(Some(Ok(this.take_out())));
                        }
                    }
                    Err(frame) => {
                        this.trailers = frame.into_trailers().ok();
                        this.state = State::Finishing;
                    }
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => this.state = State::Finishing,
                Poll::Pending => {
                    // The upstream paused: what it sent so far goes out now.
                    if this.unflushed {
                        if let Err(e) = this.drain(false) {
                            return this.fail(&e);
                        }
                    }
                    if this.out.is_empty() {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Ok(this.take_out())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B> EncodedBody<B> {
    /// A coder failure (none is expected: they fail only on misuse). The body's error type is
    /// hyper's, which cannot be made here, so the body ends where it is: the compressed stream
    /// lacks its end, which every decoder reports, rather than passing for complete.
    fn fail(&mut self, error: &io::Error) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        tracing::warn!(%error, "response compression failed; the answer is cut short");
        self.state = State::Done;
        self.trailers = None;
        self.out.clear();
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn compress(coding: Encoding, pieces: Vec<Vec<u8>>) -> Vec<u8> {
        let frames = pieces
            .into_iter()
            .map(|p| Ok::<_, hyper::Error>(Frame::data(Bytes::from(p))));
        let body = StreamBody::new(futures_util::stream::iter(frames));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let collected = EncodedBody::new(body, coding).collect().await.unwrap();
            collected.to_bytes().to_vec()
        })
    }

    fn text(len: usize) -> Vec<u8> {
        let words = b"certgate compresses what the upstream streams, frame by frame. ";
        words.iter().copied().cycle().take(len).collect()
    }

    /// Decodes with the codec crate's own decoder, to the end of the stream.
    fn decode(mut decoder: impl compression_codecs::DecodeV2, input: &[u8]) -> Vec<u8> {
        let mut input = PartialBuffer::new(input);
        let mut out = Vec::new();
        // Each round either reads input or fills a whole chunk of output.
        for _ in 0..10_000 {
            let mut ended = false;
            grow(&mut out, |buf| {
                ended = decoder.decode(&mut input, buf)?;
                Ok(true)
            })
            .unwrap();
            if ended {
                return out;
            }
        }
        panic!("the stream has no end");
    }

    #[test]
    fn each_coding_round_trips_a_streamed_body() {
        use compression_codecs::{BrotliDecoder, GzipDecoder, ZstdDecoder};
        let input = text(200_000);
        let pieces = || input.chunks(7_000).map(<[u8]>::to_vec).collect();
        let gzip = compress(Encoding::Gzip, pieces());
        assert_eq!(&gzip[..2], &[0x1f, 0x8b]);
        assert_eq!(decode(GzipDecoder::new(), &gzip), input);
        let zstd = compress(Encoding::Zstd, pieces());
        assert_eq!(&zstd[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(decode(ZstdDecoder::new(), &zstd), input);
        let br = compress(Encoding::Br, pieces());
        assert_eq!(decode(BrotliDecoder::new(), &br), input);
        for out in [&gzip, &zstd, &br] {
            assert!(
                out.len() < input.len() / 10,
                "compressed to {} bytes",
                out.len()
            );
        }
    }

    #[test]
    fn an_empty_body_is_still_an_ended_stream() {
        let out = compress(Encoding::Gzip, vec![]);
        assert_eq!(decode(compression_codecs::GzipDecoder::new(), &out), b"");
    }
}
