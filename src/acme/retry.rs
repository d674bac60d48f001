//! Retrying one ACME request on transient errors (badNonce, 5xx, network errors, short rate
//! limits — see [`super::problem::retry_delay`]).

/// Retries one ACME call; evaluates to `Result<T, instant_acme::Error>` (the last error), for
/// callers that look at the CA's problem themselves.
macro_rules! retry_raw {
    ($step:expr, $call:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $call {
                Ok(value) => break Ok(value),
                Err(e) => match $crate::acme::problem::retry_delay(
                    &e,
                    attempt,
                    $crate::acme::http::retry_after(),
                ) {
                    Some(delay) => {
                        attempt += 1;
                        tracing::debug!(step = $step, attempt, "retrying ACME request");
                        tokio::time::sleep(delay).await;
                    }
                    None => break Err(e),
                },
            }
        }
    }};
}

/// Retries one ACME call; evaluates to `Result<T, IssueError>` whose message names `$step`.
macro_rules! with_retry {
    ($step:expr, $call:expr) => {
        $crate::acme::retry::retry_raw!($step, $call)
            .map_err(|e| $crate::acme::problem::to_issue_error($step, e))
    };
}

pub(crate) use retry_raw;
pub(crate) use with_retry;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use instant_acme::{Error, Problem};
    use tokio::time::Instant;

    fn problems(kind: &str, status: u16, n: usize) -> Vec<Error> {
        (0..n).map(|_| problem(kind, status)).collect()
    }

    fn problem(kind: &str, status: u16) -> Error {
        Error::Api(Problem {
            r#type: Some(format!("urn:ietf:params:acme:error:{kind}")),
            detail: None,
            status: Some(status),
            subproblems: Vec::new(),
        })
    }

    /// Runs `retry_raw!` over a call that fails with `failures` in turn, then succeeds; how
    /// long it waited (paused time) and how many calls it made.
    async fn retried(failures: Vec<Error>) -> (Result<(), Error>, Duration, usize) {
        let mut failures = failures.into_iter();
        let mut calls = 0;
        let started = Instant::now();
        let result: Result<(), Error> = retry_raw!("the test call", {
            calls += 1;
            match failures.next() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        });
        (result, started.elapsed(), calls)
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_nonce_is_retried_at_once_and_a_server_error_with_backoff() {
        let (result, waited, calls) = retried(problems("badNonce", 400, 2)).await;
        assert!(result.is_ok());
        assert_eq!((waited, calls), (Duration::from_millis(20), 3));
        // 5xx: 200 ms, then 400 ms, then 800 ms.
        let (result, waited, calls) = retried(problems("serverInternal", 500, 3)).await;
        assert!(result.is_ok());
        assert_eq!((waited, calls), (Duration::from_millis(1400), 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_final_and_retries_end() {
        let (result, waited, calls) = retried(vec![problem("rejectedIdentifier", 400)]).await;
        assert!(result.is_err());
        assert_eq!((waited, calls), (Duration::ZERO, 1));
        let endless = problems("badNonce", 400, 20);
        let (result, _, calls) = retried(endless).await;
        assert!(result.is_err(), "gives up");
        assert_eq!(
            calls as u32,
            super::super::problem::MAX_TRANSIENT_RETRIES + 1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_without_a_retry_after_waits_five_seconds() {
        // No Retry-After known: 5 s.
        let (result, waited, _) = retried(vec![problem("rateLimited", 429)]).await;
        assert!(result.is_ok());
        assert_eq!(waited, Duration::from_secs(5));
    }
}
