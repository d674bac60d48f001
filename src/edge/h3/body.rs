//! HTTP/3 request and response bodies: a request stream read as an [`http_body::Body`] (data
//! frames, then trailers), so the proxy's phases take it like hyper's `Incoming`; and an
//! answer's body written to the response stream frame by frame, trailers included.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http_body::{Body, Frame};
use http_body_util::BodyExt;

/// The client's side of one request stream.
pub struct H3Body {
    stream: RequestStream<h3_quinn::RecvStream, Bytes>,
    /// Data read by [`H3Body::new`] while looking for the stream's end.
    early: Option<Bytes>,
    data_done: bool,
    done: bool,
}

impl H3Body {
    /// The body of the request arriving on `stream`. What has already arrived is looked at
    /// once, without waiting: a request whose stream ended with its headers (most GETs) is
    /// then known to be bodiless, as hyper knows it for TCP — so it gets no body timer and may
    /// be retried on another upstream.
    pub fn new(stream: RequestStream<h3_quinn::RecvStream, Bytes>) -> H3Body {
        let mut body = H3Body {
            stream,
            early: None,
            data_done: false,
            done: false,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match body.stream.poll_recv_data(&mut cx) {
            Poll::Ready(Ok(Some(mut chunk))) => {
                body.early = Some(chunk.copy_to_bytes(chunk.remaining()));
            }
            Poll::Ready(Ok(None)) => {
                body.data_done = true;
                if let Poll::Ready(Ok(None)) = body.stream.poll_recv_trailers(&mut cx) {
                    body.done = true;
                }
            }
            Poll::Ready(Err(_)) | Poll::Pending => {}
        }
        body
    }
}

impl Body for H3Body {
    type Data = Bytes;
    type Error = h3::error::StreamError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(early) = this.early.take() {
            return Poll::Ready(Some(Ok(Frame::data(early))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if !this.data_done {
            match ready!(this.stream.poll_recv_data(cx)) {
                Ok(Some(mut chunk)) => {
                    let bytes = chunk.copy_to_bytes(chunk.remaining());
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Ok(None) => this.data_done = true,
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        let trailers = ready!(this.stream.poll_recv_trailers(cx));
        this.done = true;
        match trailers {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.early.is_none()
    }
}

/// Writes `body` to `stream` (data frames and trailers), then ends the stream; an error when
/// the client or the upstream went away.
pub async fn send_body<B>(
    stream: &mut RequestStream<h3_quinn::SendStream<Bytes>, Bytes>,
    body: B,
) -> Result<(), String>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the answer's body failed: {e}"))?;
        match frame.into_data() {
            Ok(data) => {
                if !data.is_empty() {
                    stream.send_data(data).await.map_err(|e| e.to_string())?;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    stream
                        .send_trailers(trailers)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(());
                }
            }
        }
    }
    stream.finish().await.map_err(|e| e.to_string())
}
