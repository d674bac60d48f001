//! I/O with bytes put back in front: what was read before hyper took the connection (the first
//! byte that woke an idle connection, or what hyper had read but not parsed when it let go).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads `prefix` first, then `io`; writes go straight to `io`.
pub struct Rewind<IO> {
    prefix: Bytes,
    io: IO,
    /// An error met while reading on behind the prefix, returned by the next read.
    pending_error: Option<io::Error>,
}

impl<IO> Rewind<IO> {
    /// Reads `prefix` first, then `io`.
    pub fn new(prefix: Bytes, io: IO) -> Self {
        Rewind {
            prefix,
            io,
            pending_error: None,
        }
    }

    /// The I/O and what of the prefix was not read yet, with `more` (read later) after it.
    ///
    /// The bytes are copied, never kept as a view: `more` is a slice of hyper's read buffer, and
    /// an idle connection holding even an empty view of it would keep all 8 KiB of it alive.
    pub fn into_inner(self, more: Bytes) -> (IO, Bytes) {
        let mut unread = BytesMut::with_capacity(self.prefix.len() + more.len());
        unread.extend_from_slice(&self.prefix);
        unread.extend_from_slice(&more);
        (self.io, unread.freeze())
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.pending_error.take() {
            return Poll::Ready(Err(e));
        }
        if self.prefix.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        // What has already arrived comes in the same read: hyper sizes its next read from the
        // room left, and a one-byte first read made it double its buffer.
        if self.prefix.is_empty() && buf.remaining() > 0 {
            let before = buf.filled().len();
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_read(cx, buf) {
                // Reported on the next read; the prefix is delivered now.
                buf.set_filled(before);
                self.pending_error = Some(e);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_the_prefix_then_the_io() {
        let mut io = Rewind::new(Bytes::from_static(b"GE"), &b"T /"[..]);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET /");
    }

    #[test]
    fn unread_prefix_comes_before_later_bytes() {
        let io = Rewind::new(Bytes::from_static(b"ab"), ());
        let (_, unread) = io.into_inner(Bytes::from_static(b"cd"));
        assert_eq!(&unread[..], b"abcd");
    }

    #[test]
    fn unread_bytes_do_not_keep_the_read_buffer_alive() {
        // hyper hands back what it read but did not parse as a view into its buffer.
        let hyper_buffer = Bytes::from(vec![b'x'; 8192]);
        for parsed in [8192, 8190] {
            let rest = hyper_buffer.slice(parsed..);
            let (_, unread) = Rewind::new(Bytes::new(), ()).into_inner(rest);
            assert!(
                hyper_buffer.is_unique(),
                "{} unread bytes hold the whole buffer",
                unread.len()
            );
        }
    }
}
