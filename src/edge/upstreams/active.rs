//! Active health checks: every instance sends `GET health_check.path` to each upstream of each
//! route that has a `health_check`, every `interval_seconds`; the answer (the expected status
//! within `timeout_seconds`) puts the upstream in or out of rotation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, USER_AGENT};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};

use super::set::Member;
use super::{UpstreamSet, Upstreams};
use crate::routes::model::HealthCheck;
use crate::routes::table::RouteTable;
use crate::shutdown::Shutdown;

/// How often the schedule is looked at (checks are due every `interval_seconds` ≥ 1 s).
const TICK: Duration = Duration::from_millis(250);

/// A member's place in the schedule.
struct Due {
    next: Instant,
    running: Arc<AtomicBool>,
}

/// Runs the checks of every route in `routes` until `shutdown`; also forgets the upstream sets
/// of routes that are gone.
pub async fn run(upstreams: Arc<Upstreams>, routes: Arc<RouteTable>, shutdown: Shutdown) {
    let mut schedule: HashMap<(String, String), Due> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.wait() => return,
        }
        let now = Instant::now();
        let mut seen = Vec::new();
        for route in routes.all() {
            let Some(check) = route.health_check.clone() else {
                continue;
            };
            let set = match upstreams.for_route(&route) {
                Ok(set) => set,
                Err(why) => {
                    tracing::debug!(hostname = %route.hostname, %why, "route's upstreams unusable; not checked");
                    continue;
                }
            };
            let host = if route.preserve_host {
                route.hostname.clone()
            } else {
                String::new()
            };
            for (i, member) in set.members.iter().enumerate() {
                let key = (route.hostname.clone(), member.url.clone());
                seen.push(key.clone());
                let due = schedule.entry(key).or_insert_with(|| Due {
                    next: now,
                    running: Arc::default(),
                });
                if due.next > now || due.running.swap(true, Ordering::AcqRel) {
                    continue;
                }
                due.next = now + Duration::from_secs(check.interval_seconds);
                let (set, check, host, running) = (
                    set.clone(),
                    check.clone(),
                    host.clone(),
                    due.running.clone(),
                );
                let hostname = route.hostname.clone();
                tokio::spawn(async move {
                    check_one(&hostname, &set, i, &check, &host).await;
                    running.store(false, Ordering::Release);
                });
            }
        }
        schedule.retain(|key, _| seen.contains(key));
        upstreams.retain(|hostname| {
            hostname == crate::on_demand::OWNER || routes.get(hostname).is_some()
        });
    }
}

/// Checks member `i` of `set` and records the verdict.
async fn check_one(hostname: &str, set: &UpstreamSet, i: usize, check: &HealthCheck, host: &str) {
    let member = &set.members[i];
    let verdict = probe(member, check, host).await;
    let passed = verdict.is_ok();
    let why = verdict.err();
    if member.health.checked(passed, why.as_deref()) {
        if passed {
            tracing::info!(hostname, upstream = %member.url, "upstream passed its health check; back in rotation");
        } else {
            tracing::warn!(hostname, upstream = %member.url, why = why.as_deref().unwrap_or(""), "upstream failed its health check; out of rotation");
        }
    }
}

/// One check: `Ok` when the expected status came in time.
async fn probe(member: &Member, check: &HealthCheck, host: &str) -> Result<(), String> {
    // The member's own authority and `Host` are parsed once, when the set is built; a check's
    // `host` is parsed here (a probe is rare, not on the request path).
    let (authority, host_value) = if host.is_empty() {
        (member.uri_authority.clone(), member.host_value.clone())
    } else {
        let unusable = |e: &dyn std::fmt::Display| format!("unusable health check host: {e}");
        (
            Authority::try_from(host).map_err(|e| unusable(&e))?,
            HeaderValue::from_str(host).map_err(|e| unusable(&e))?,
        )
    };
    let path = PathAndQuery::try_from(check.path.as_str())
        .map_err(|e| format!("unusable health check path: {e}"))?;
    let uri = member.request_uri(authority, path);
    let mut request = Request::get(uri)
        .body(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed(),
        )
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert(HOST, host_value);
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static("certgate-health-check"),
    );
    // A probe is a GET: it may go again if a kept-alive connection is dropped under it.
    let sent = member.client.send(request, true);
    match tokio::time::timeout(Duration::from_secs(check.timeout_seconds), sent).await {
        Err(_) => Err(format!(
            "health check: no answer within {} s",
            check.timeout_seconds
        )),
        Ok(Err(e)) => Err(format!(
            "health check: {}",
            super::super::upstream_error::describe(&e)
        )),
        Ok(Ok((response, _))) if response.status().as_u16() == check.expect_status => Ok(()),
        Ok(Ok((response, _))) => Err(format!(
            "health check: status {} (expected {})",
            response.status().as_u16(),
            check.expect_status
        )),
    }
}
