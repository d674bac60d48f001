//! A route's upstreams as the proxy uses them: each with its client and its health, and
//! the route's policy choosing one per attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::client::{self, UpstreamClient};
use super::health::{EjectPolicy, UpstreamHealth};
use super::slots::Slots;
use super::BuildError;
use crate::config::Config;
use crate::metrics::route::RouteMetrics;
use crate::routes::model::Policy;
use crate::routes::validate::{self, UpstreamScheme};
use crate::routes::Route;

/// One upstream of a route.
pub struct Member {
    /// As stored: `scheme://host:port`.
    pub url: String,
    /// `http`, `https` or `h2c`.
    pub scheme: UpstreamScheme,
    /// `host:port` (brackets around IPv6), for `Host` when the route does not preserve it.
    pub authority: String,
    /// `authority` parsed once, for each request's URI (no formatting and parsing per request).
    pub uri_authority: http::uri::Authority,
    /// `authority` as a `Host` header value.
    pub host_value: http::HeaderValue,
    /// Its share of requests (`=WEIGHT`, default 1).
    pub weight: u32,
    /// The connection pool requests to it go through.
    pub client: UpstreamClient,
    /// Its passive and active health.
    pub health: UpstreamHealth,
    /// The cap on requests in flight to this upstream (`UPSTREAM_MAX_CONNECTIONS`).
    pub slots: Slots,
}

/// The upstreams of one route and how one is chosen.
pub struct UpstreamSet {
    /// The upstreams, in the route's order (`first` fails over in this order).
    pub members: Vec<Member>,
    policy: Policy,
    total_weight: usize,
    /// Turns taken (round robin, and where `least_requests` starts among equals).
    turn: AtomicUsize,
    /// When failures take a member out of rotation.
    pub eject: EjectPolicy,
    /// The route's request and upstream-time series.
    pub metrics: Arc<RouteMetrics>,
}

/// A set of members as a bit mask (routes have at most 16 upstreams).
pub type Tried = u32;

impl UpstreamSet {
    /// Builds the clients for `route`'s upstreams.
    pub fn build(route: &Route, config: &Config) -> Result<UpstreamSet, BuildError> {
        let metrics = Arc::new(RouteMetrics::new(&route.hostname));
        let mut members = Vec::new();
        for target in route.targets().iter() {
            let parsed = validate::upstream(&target.url).map_err(|e| BuildError::InvalidUrl {
                url: target.url.clone(),
                detail: e.detail,
            })?;
            let client = client::build(route, &parsed, config, metrics.connections_opened())?;
            let authority = if parsed.host.contains(':') {
                format!("[{}]:{}", parsed.host, parsed.port)
            } else {
                format!("{}:{}", parsed.host, parsed.port)
            };
            let invalid = |detail: String| BuildError::InvalidAuthority {
                authority: authority.clone(),
                detail,
            };
            let uri_authority = http::uri::Authority::try_from(authority.as_str())
                .map_err(|e| invalid(e.to_string()))?;
            let host_value =
                http::HeaderValue::from_str(&authority).map_err(|e| invalid(e.to_string()))?;
            members.push(Member {
                url: parsed.url.clone(),
                scheme: parsed.scheme,
                authority,
                uri_authority,
                host_value,
                weight: target.weight.max(1),
                client,
                health: UpstreamHealth::default(),
                slots: Slots::new(config.upstreams.max_connections),
            });
        }
        if members.is_empty() {
            return Err(BuildError::NoUpstream);
        }
        if route.insecure_skip_verify {
            tracing::warn!(
                hostname = %route.hostname,
                "insecure_skip_verify: this route's https:// upstreams are not verified"
            );
        }
        Ok(UpstreamSet {
            metrics,
            total_weight: members.iter().map(|m| m.weight as usize).sum(),
            members,
            policy: route.policy,
            turn: AtomicUsize::new(0),
            eject: EjectPolicy {
                failures_to_eject: config.upstreams.failures_to_eject,
                eject_for: config.upstreams.eject_time,
                actively_checked: route.health_check.is_some(),
            },
        })
    }

    /// The member for the next attempt: in rotation and not in `tried`; `None` when none is.
    /// One the policy chose that is at `UPSTREAM_MAX_CONNECTIONS` gives way to the next usable
    /// member with room, so a request waits in line only when every upstream is full.
    pub fn pick(&self, tried: Tried) -> Option<usize> {
        let usable = |i: usize| tried & (1 << i) == 0 && self.members[i].health.available();
        let n = self.members.len();
        if n == 1 {
            return usable(0).then_some(0);
        }
        let chosen = self.by_policy(&usable)?;
        if self.members[chosen].slots.has_room() {
            return Some(chosen);
        }
        (1..n)
            .map(|k| (chosen + k) % n)
            .find(|&i| usable(i) && self.members[i].slots.has_room())
            .or(Some(chosen))
    }

    /// The member the route's policy chooses among the usable ones.
    fn by_policy(&self, usable: &impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.members.len();
        match self.policy {
            Policy::First => (0..n).find(|&i| usable(i)),
            Policy::RoundRobin => {
                let start = self.weighted_turn();
                (0..n).map(|k| (start + k) % n).find(|&i| usable(i))
            }
            Policy::LeastRequests => {
                let start = self.turn.fetch_add(1, Ordering::Relaxed) % n;
                (0..n)
                    .map(|k| (start + k) % n)
                    .filter(|&i| usable(i))
                    .min_by_key(|&i| self.members[i].health.in_flight())
            }
        }
    }

    /// The member whose turn it is, each as often as its weight says.
    fn weighted_turn(&self) -> usize {
        let mut slot = self.turn.fetch_add(1, Ordering::Relaxed) % self.total_weight.max(1);
        for (i, member) in self.members.iter().enumerate() {
            let weight = member.weight as usize;
            if slot < weight {
                return i;
            }
            slot -= weight;
        }
        0
    }
}

impl Member {
    /// The URI a request to this member carries: for plain HTTP/1.1 just `path` (origin form,
    /// as it goes on the wire); else its scheme, `authority` (the `Host` sent, so HTTP/2's
    /// `:authority` equals it; the client dials the member whatever it says) and `path`, from
    /// parts already parsed (no formatting and parsing per request).
    pub fn request_uri(
        &self,
        authority: http::uri::Authority,
        path: http::uri::PathAndQuery,
    ) -> http::Uri {
        if self.scheme == UpstreamScheme::Http {
            return http::Uri::from(path);
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(match self.scheme {
            UpstreamScheme::Https => http::uri::Scheme::HTTPS,
            UpstreamScheme::Http | UpstreamScheme::H2c => http::uri::Scheme::HTTP,
        });
        parts.authority = Some(authority);
        parts.path_and_query = Some(path);
        http::Uri::from_parts(parts).expect("scheme, authority and path make a URI")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::model::UpstreamTarget;

    fn set(policy: Policy, weights: &[u32]) -> UpstreamSet {
        set_with(policy, weights, &Config::defaults())
    }

    fn set_with(policy: Policy, weights: &[u32], config: &Config) -> UpstreamSet {
        let route = Route {
            hostname: "lb.test".into(),
            upstreams: weights
                .iter()
                .enumerate()
                .map(|(i, w)| UpstreamTarget {
                    url: format!("http://10.0.0.{}:80", i + 1),
                    weight: *w,
                })
                .collect(),
            policy,
            ..Route::default()
        };
        UpstreamSet::build(&route, config).unwrap()
    }

    #[tokio::test]
    async fn a_member_at_its_cap_gives_way_to_one_with_room() {
        let mut config = Config::defaults();
        config.upstreams.max_connections = 1;
        let set = set_with(Policy::RoundRobin, &[1, 1], &config);
        let wait = std::time::Duration::from_secs(1);
        let _held = set.members[0].slots.wait(wait).await.unwrap();
        for _ in 0..4 {
            assert_eq!(set.pick(0), Some(1), "the full first one is passed over");
        }
        let _also_held = set.members[1].slots.wait(wait).await.unwrap();
        let picks: Vec<usize> = (0..4).map(|_| set.pick(0).unwrap()).collect();
        assert_eq!(
            picks,
            [0, 1, 0, 1],
            "all full: the policy's own turn, to wait in line"
        );
    }

    #[test]
    fn round_robin_follows_the_weights_and_skips_what_was_tried() {
        let set = set(Policy::RoundRobin, &[3, 1]);
        let picks: Vec<usize> = (0..8).map(|_| set.pick(0).unwrap()).collect();
        assert_eq!(picks, [0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(set.pick(0b01), Some(1));
        assert_eq!(set.pick(0b11), None);
    }

    #[test]
    fn first_fails_over_and_least_requests_avoids_the_busy() {
        let first = set(Policy::First, &[1, 1, 1]);
        assert_eq!(first.pick(0), Some(0));
        let policy = first.eject;
        for _ in 0..policy.failures_to_eject {
            first.members[0].health.connect_failed("refused", policy);
        }
        assert_eq!(first.pick(0), Some(1), "the ejected first one is skipped");

        let least = set(Policy::LeastRequests, &[1, 1]);
        let _busy = least.members[0].health.start();
        for _ in 0..4 {
            assert_eq!(least.pick(0), Some(1));
        }
    }
}
