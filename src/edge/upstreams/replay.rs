//! A request sent again when an idle upstream connection was closed under it.
//!
//! An upstream closes an idle connection when its keep-alive timeout runs out, and a request
//! can be written to it just then: the connection ends with no answer, and nothing of the
//! request was acted on. An idempotent, bodiless one goes once more on a new connection, as
//! nginx's `proxy_next_upstream error` and HAProxy's `retry-on conn-failure` do.
//!
//! The request is not copied beforehand for that: it is read back from the head its connection
//! wrote (hyper keeps the bytes it sent until it encodes the next request,
//! `UpgradeableConnection::written_head`, a hunk in the copy of hyper). A copy made for every
//! request in case one in many thousands needed it cost an allocation and a pass over the
//! headers each time, and was freed when the answer came, in memory nothing had touched since.

use http::{HeaderName, HeaderValue, Method, Request, Uri};

use super::client::UpstreamBody;
use super::http1_pool::Driver;

/// An exchange that ended without its answer's head.
pub(super) struct Unanswered {
    pub(super) error: hyper::Error,
    /// The request again (bodiless), read back from the head its connection wrote, when the
    /// upstream dropped the connection before answering; boxed, as it is rarely there.
    pub(super) again: Option<Box<Request<UpstreamBody>>>,
}

impl Unanswered {
    /// `error` ended the exchange `driver` carried.
    pub(super) fn of(error: hyper::Error, driver: &Driver) -> Unanswered {
        let again = if dropped_unanswered(&error) {
            driver
                .written_head()
                .and_then(request_from_head)
                .map(Box::new)
        } else {
            None
        };
        Unanswered { error, again }
    }
}

/// The upstream closed or reset the connection before any answer came: nothing of the request
/// was acted on that a client could see, so an idempotent one may go again. A malformed answer
/// or a failing request body is not this.
pub(super) fn dropped_unanswered(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            use std::io::ErrorKind::*;
            matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            )
        })
}

/// The request whose head hyper encoded as `head` (its request line and fields, in order),
/// with an empty body; `None` if the bytes do not hold a whole head (never for what hyper
/// wrote). Any body bytes after the head are ignored: only bodiless requests are sent again.
pub(super) fn request_from_head(head: &[u8]) -> Option<Request<UpstreamBody>> {
    // A field per line at most: enough room for every field, whatever their number.
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    let mut fields = vec![httparse::EMPTY_HEADER; lines];
    let mut parsed = httparse::Request::new(&mut fields);
    if !matches!(parsed.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let mut req = Request::new(crate::edge::empty_body());
    *req.method_mut() = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    *req.uri_mut() = Uri::try_from(parsed.path?).ok()?;
    for field in parsed.headers.iter() {
        req.headers_mut().append(
            HeaderName::from_bytes(field.name.as_bytes()).ok()?,
            HeaderValue::from_bytes(field.value).ok()?,
        );
    }
    Some(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_as_hyper_writes_it_reads_back_with_every_field_in_order() {
        let long = "v".repeat(70_000);
        let head = format!(
            "OPTIONS * HTTP/1.1\r\nhost: site.test\r\naccept: text/html\r\naccept: */*\r\n\
             x-empty: \r\nx-long: {long}\r\n\r\n"
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(b"body bytes flattened after the head");
        let req = request_from_head(&bytes).expect("a whole head");
        assert_eq!(req.method(), Method::OPTIONS);
        assert_eq!(req.uri(), "*");
        let accept: Vec<_> = req.headers().get_all("accept").iter().collect();
        assert_eq!(accept, ["text/html", "*/*"]);
        assert_eq!(req.headers()["x-empty"], "");
        assert_eq!(req.headers()["x-long"].len(), 70_000);
        assert_eq!(req.headers().len(), 5);
    }

    #[test]
    fn a_partial_or_damaged_head_gives_none_not_a_panic() {
        for head in [
            &b""[..],
            b"GET / HTTP/1.1\r\nhost: a\r\n",
            b"GET / HTTP/1.1\r\nho st: a\r\n\r\n",
            b"G\0T / HTTP/1.1\r\n\r\n",
        ] {
            assert!(request_from_head(head).is_none(), "{head:?}");
        }
    }
}
