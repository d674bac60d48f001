//! Phases 2 and 3 of forwarding: pick an upstream of the route, and attempt the exchange — wait
//! for a place under `UPSTREAM_MAX_CONNECTIONS`, send, wait for the answer's head within
//! `UPSTREAM_TIMEOUT_SECONDS` — trying the next upstream when nothing reached the one tried and
//! the request may go again. The result is an answer, or a failure classified by which side
//! failed.

use std::time::Duration;

use http::Response;
use hyper::body::Incoming;

use super::super::body_timeout::SendProgress;
use super::super::upstream_error::{describe, UpstreamError};
use super::super::upstreams::http1_pool::Checkin;
use super::super::upstreams::set::{Member, Tried, UpstreamSet};
use super::super::upstreams::slots::{QueueTimedOut, Slot};
use super::request::Prepared;
use super::Refusal;
use crate::metrics::route::RouteMetrics;
use crate::routes::Route;

/// The upstream's answer head, with what is held until its body has been passed on: the place
/// under `UPSTREAM_MAX_CONNECTIONS` and (plain `http://` upstreams) the connection.
pub(super) struct Answered {
    pub response: Response<Incoming>,
    /// Which of the route's upstreams answered (its index in the set).
    pub member: usize,
    pub slot: Option<Slot>,
    pub checkin: Option<Checkin>,
}

/// Why one attempt got no answer, and with which upstream.
struct Failed {
    failure: UpstreamError,
    upstream: String,
    detail: String,
}

/// The limits the attempts work within.
#[derive(Clone, Copy)]
pub(super) struct AttemptLimits {
    /// Other upstreams an unanswered idempotent request may go to (`UPSTREAM_RETRIES`).
    pub retries: u32,
    pub queue_timeout: Duration,
    pub upstream_timeout: Duration,
}

/// Attempts the exchange with the route's upstreams in turn until one answers, the request may
/// not go again, or none is left.
///
/// This and [`attempt`] return `async` blocks rather than being `async fn`s: an `async fn`
/// stores each argument twice in its future (its own place and the local it is moved into),
/// and the request's future is copied whole into its box for every request.
#[allow(clippy::manual_async_fn)] // stores its arguments once (above)
pub(super) fn attempts<'a>(
    prepared: &'a mut Prepared,
    route: &'a Route,
    set: &'a UpstreamSet,
    limits: AttemptLimits,
) -> impl std::future::Future<Output = Result<Answered, Refusal>> + Send + 'a {
    async move {
        let mut retries_left = if prepared.may_retry() {
            limits.retries
        } else {
            0
        };
        let mut tried: Tried = 0;
        let mut last_failure = None;
        loop {
            let Some(i) = set.pick(tried) else {
                let failed = last_failure.unwrap_or_else(|| Failed {
                    failure: UpstreamError::NoneHealthy,
                    upstream: String::new(),
                    detail: "every upstream is out of rotation".to_owned(),
                });
                return Err(refusal(failed, prepared.grpc));
            };
            tried |= 1 << i;
            let member = &set.members[i];
            let failed = match attempt(member, set, prepared, limits).await {
                Ok(answered) => {
                    return Ok(Answered {
                        member: i,
                        ..answered
                    })
                }
                Err(failed) => failed,
            };
            if failed.failure.before_sending()
                && member.health.connect_failed(&failed.detail, set.eject)
            {
                tracing::warn!(hostname = %route.hostname, upstream = %member.url, detail = failed.detail, "upstream ejected after failing to connect");
            }
            if failed.failure.before_sending() && retries_left > 0 {
                retries_left -= 1;
                last_failure = Some(failed);
                continue;
            }
            return Err(refusal(failed, prepared.grpc));
        }
    }
}

/// One attempt at `member`: a place in its line, then the exchange up to the answer's head.
#[allow(clippy::manual_async_fn)] // stores its arguments once (see `attempts`)
fn attempt<'a>(
    member: &'a Member,
    set: &'a UpstreamSet,
    prepared: &'a mut Prepared,
    limits: AttemptLimits,
) -> impl std::future::Future<Output = Result<Answered, Failed>> + Send + 'a {
    async move {
        let request = prepared.request_for(member);
        // Waits in line when the upstream is at UPSTREAM_MAX_CONNECTIONS. An answer's slot goes
        // with its body, so it is held until the answer has been passed on; a failed attempt's is
        // given back before the next upstream is tried.
        let queued = member.slots.wait(limits.queue_timeout).await;
        record_time_in_line(&set.metrics, &queued, limits.queue_timeout);
        let Ok(slot) = queued else {
            return Err(Failed {
                failure: UpstreamError::QueueTimeout,
                upstream: member.url.clone(),
                detail: String::new(),
            });
        };
        let in_flight = member.health.start();
        // Pinned here and lent to the deadline, not moved into it: the exchange's state is then
        // stored once in this future instead of twice (the request's future is copied into its box
        // whole, per request).
        let sent = member.client.send(request, prepared.replayable);
        tokio::pin!(sent);
        let outcome =
            within_upstream_timeout(sent, prepared.progress.as_deref(), limits.upstream_timeout)
                .await;
        drop(in_flight);
        match outcome {
            None => Err(Failed {
                failure: UpstreamError::Timeout,
                upstream: member.url.clone(),
                detail: String::new(),
            }),
            Some(Ok((response, checkin))) => {
                member.health.succeeded();
                Ok(Answered {
                    response,
                    member: 0,
                    slot,
                    checkin,
                })
            }
            Some(Err(e)) => {
                let detail = describe(&e);
                tracing::debug!(upstream = %member.url, detail, "upstream client error");
                Err(Failed {
                    failure: UpstreamError::classify(&e),
                    upstream: member.url.clone(),
                    detail,
                })
            }
        }
    }
}

fn refusal(failed: Failed, grpc: bool) -> Refusal {
    Refusal::Upstream {
        failure: failed.failure,
        upstream: failed.upstream,
        detail: failed.detail,
        grpc,
    }
}

/// The upstream's answer (`None`: it took longer than `timeout` from the end of the request —
/// from the start for a request without a body, from the body's last piece otherwise, so a long
/// upload is not cut by it but an upstream that stops taking the body is).
async fn within_upstream_timeout<F: std::future::Future>(
    mut sent: std::pin::Pin<&mut F>,
    progress: Option<&SendProgress>,
    timeout: Duration,
) -> Option<F::Output> {
    match progress {
        None => tokio::time::timeout(timeout, sent).await.ok(),
        Some(progress) => tokio::select! {
            answer = &mut sent => Some(answer),
            _ = progress.quiet_for(timeout) => None,
        },
    }
}

/// `certgate_upstream_queue_seconds`: how long a request waited for its slot, if it waited (one
/// refused waited the whole `queue_timeout`).
fn record_time_in_line(
    metrics: &RouteMetrics,
    queued: &Result<Option<Slot>, QueueTimedOut>,
    queue_timeout: Duration,
) {
    let waited = match queued {
        Ok(held) => held.as_ref().and_then(|slot| slot.waited),
        Err(QueueTimedOut) => Some(queue_timeout),
    };
    if let Some(waited) = waited {
        metrics.observe_queue(waited.as_secs_f64());
    }
}
