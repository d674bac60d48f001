//! The contract of the hunks in the copy of hyper that [`super::http1_pool`] sends through
//! (`UpgradeableConnection::inline_only`, `start_inline`, `take_answer`, `is_ready_for_inline`,
//! `written_head` and `defer_idle_read`, vendor/README.md), against a real socket: a connection
//! with no `SendRequest` stays open and takes request after request, one that cannot take a
//! request gives it back unsent, an answer is taken from the connection that read it, an
//! upstream closing before its answer ends the exchange with an error the pool may replay on —
//! never with a wait that does not end — and one closing right after its answer is found out by
//! the poll the pool makes before lending the connection again.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::client::UpstreamBody;
use super::http1_pool::Driver;
use super::replay::{dropped_unanswered, request_from_head};

/// An upstream that runs `serve` on its one connection; the connection to it as the pool holds
/// it (inline only, its `SendRequest` dropped, the read at an exchange's end deferred).
async fn upstream<F, Fut>(serve: F) -> Driver
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        serve(socket).await;
    });
    let io = TokioIo::new(super::dial::UpstreamIo::Plain(
        TcpStream::connect(addr).await.unwrap(),
    ));
    let (_sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    let mut driver = Box::pin(connection.with_upgrades());
    driver.inline_only();
    driver.defer_idle_read(true);
    driver
}

fn get(path: &str) -> Request<UpstreamBody> {
    Request::get(path)
        .header("host", "up.test")
        .body(crate::edge::empty_body())
        .unwrap()
}

/// A whole answer with the body "ok".
const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Reads a request's head and writes `answer`.
async fn answer_one_request(socket: &mut TcpStream, answer: &[u8]) {
    read_head(socket).await;
    socket.write_all(answer).await.unwrap();
}

/// Reads until the end of a request head.
async fn read_head(socket: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap() == 0 {
            return;
        }
        head.push(byte[0]);
    }
}

/// Drives `driver` and takes its answer, as the pool's `Checkin::poll_answer` does (and like
/// it, stops driving a connection that has ended).
async fn answer(driver: &mut Driver) -> hyper::Result<http::Response<hyper::body::Incoming>> {
    let mut ended = false;
    let taken = std::future::poll_fn(|cx: &mut Context<'_>| {
        if !ended {
            ended = driver.as_mut().poll(cx).is_ready();
        }
        match driver.take_answer() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    });
    tokio::time::timeout(Duration::from_secs(5), taken)
        .await
        .expect("the exchange ends")
}

/// Reads an answer's body whole while driving its connection, as the pool's answer body does.
async fn read_body(driver: &mut Driver, answer: http::Response<hyper::body::Incoming>) -> Vec<u8> {
    use hyper::body::Body as _;
    let mut body = answer.into_body();
    let mut read = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| {
        let _ = driver.as_mut().poll(cx);
        Pin::new(&mut body).poll_frame(cx)
    })
    .await
    {
        read.extend_from_slice(frame.unwrap().data_ref().unwrap());
    }
    read
}

#[tokio::test]
async fn an_answer_is_taken_from_the_connection_that_read_it_and_the_next_request_waits_for_it() {
    let mut driver = upstream(|mut socket| async move {
        for _ in 0..2 {
            answer_one_request(&mut socket, OK).await;
        }
    })
    .await;
    assert!(driver.start_inline(get("/one")).is_ok());
    // Busy: a second request is refused, unsent, and the connection says not ready.
    let refused = driver.start_inline(get("/two")).expect_err("busy");
    assert_eq!(refused.uri(), "/two");
    assert!(!driver.is_ready_for_inline());
    let first = answer(&mut driver).await.expect("answered");
    assert_eq!(first.status(), 200);
    assert_eq!(read_body(&mut driver, first).await, b"ok");
    // Polled once more, the connection takes note that the exchange is over, stays open (no
    // `SendRequest` to close it) and takes the next request.
    std::future::poll_fn(|cx| {
        assert!(driver.as_mut().poll(cx).is_pending(), "still open");
        Poll::Ready(())
    })
    .await;
    assert!(
        driver.is_ready_for_inline(),
        "ready again once the exchange is over"
    );
    assert!(driver.start_inline(refused).is_ok());
    assert_eq!(answer(&mut driver).await.expect("answered").status(), 200);
}

#[tokio::test]
async fn an_upstream_closing_before_its_answer_ends_the_exchange_with_a_replayable_error() {
    let mut driver = upstream(|mut socket| async move {
        read_head(&mut socket).await;
    })
    .await;
    let mut sent = get("/dropped?q=1");
    sent.headers_mut()
        .append("accept", "text/html".parse().unwrap());
    sent.headers_mut().append("accept", "*/*".parse().unwrap());
    sent.headers_mut().insert(
        "x-latin",
        http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
    );
    let expected = sent.headers().clone();
    assert!(driver.start_inline(sent).is_ok());
    let failed = answer(&mut driver).await.expect_err("no answer came");
    assert!(
        dropped_unanswered(&failed),
        "an idempotent request may go again: {failed}"
    );
    // The connection kept the head it wrote: the same request reads back from it.
    let again = request_from_head(driver.written_head().expect("not upgraded"))
        .expect("the head hyper wrote reads back");
    assert_eq!(again.method(), http::Method::GET);
    assert_eq!(again.uri(), "/dropped?q=1");
    assert_eq!(again.headers(), &expected);
}

#[tokio::test]
async fn the_written_head_is_the_last_request_sent_on_the_connection() {
    let mut driver = upstream(|mut socket| async move {
        answer_one_request(&mut socket, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        read_head(&mut socket).await;
    })
    .await;
    assert!(driver.start_inline(get("/first")).is_ok());
    assert_eq!(answer(&mut driver).await.expect("answered").status(), 200);
    let _ = tokio::time::timeout(Duration::from_millis(50), driver.as_mut()).await;
    assert!(driver.start_inline(get("/second")).is_ok());
    answer(&mut driver).await.expect_err("dropped");
    let head = driver.written_head().expect("not upgraded");
    assert!(
        head.starts_with(b"GET /second HTTP/1.1\r\n"),
        "{:?}",
        String::from_utf8_lossy(head)
    );
}

#[tokio::test]
async fn a_connection_the_upstream_closed_gives_the_request_back_unsent() {
    let mut driver = upstream(|socket| async move { drop(socket) }).await;
    // The closed connection is noticed when polled, as the pool does before it lends one (a
    // connection closed before its first exchange ends with hyper's "incomplete message").
    let _ended = tokio::time::timeout(Duration::from_secs(5), driver.as_mut())
        .await
        .expect("the connection ends");
    let unsent = driver.start_inline(get("/kept")).expect_err("refused");
    assert_eq!(unsent.uri(), "/kept");
    assert_eq!(unsent.headers()["host"], "up.test");
}

#[tokio::test]
async fn an_upstream_closing_right_after_its_answer_is_found_out_before_the_next_request() {
    let mut driver = upstream(|mut socket| async move {
        // A whole answer, then the connection closes (no `connection: close` said).
        answer_one_request(&mut socket, OK).await;
    })
    .await;
    assert!(driver.start_inline(get("/one")).is_ok());
    let answered = answer(&mut driver).await.expect("answered");
    assert_eq!(read_body(&mut driver, answered).await, b"ok");
    // The exchange's end left its read for later; the close has arrived meanwhile.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The pool's look before it lends an idle connection (`take_idle`): one poll, no waker.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(
        driver.as_mut().poll(&mut cx).is_ready(),
        "the close is read at the next poll"
    );
    assert!(!driver.is_ready_for_inline());
}
