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
    data_done: bool,
    done: bool,
}

impl H3Body {
    /// The body of the request arriving on `stream`.
    pub fn new(stream: RequestStream<h3_quinn::RecvStream, Bytes>) -> H3Body {
        H3Body {
            stream,
            data_done: false,
            done: false,
        }
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
        self.done
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
