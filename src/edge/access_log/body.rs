//! The logged body: counts what is sent and writes the request's line when it ends — sent in
//! full, cut by an error, or dropped because the client went away.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use super::line::Pending;
use super::sink;

/// A response body whose end writes its request's access-log line.
pub struct LoggedBody<B> {
    inner: B,
    bytes: u64,
    pending: Option<Box<Pending>>,
}

impl<B> LoggedBody<B> {
    /// `inner`, logged as `pending` says once it ends.
    pub fn new(inner: B, pending: Box<Pending>) -> Self {
        LoggedBody {
            inner,
            bytes: 0,
            pending: Some(pending),
        }
    }

    fn write_line(&mut self) {
        if let Some(pending) = self.pending.take() {
            sink::write(&pending.render(self.bytes));
        }
    }
}

impl<B: Body + Unpin> Body for LoggedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.remaining() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.write_line(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for LoggedBody<B> {
    fn drop(&mut self) {
        self.write_line();
    }
}
