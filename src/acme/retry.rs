//! Retrying one ACME request on transient errors (badNonce, 5xx, network errors, short rate
//! limits — see [`super::problem::retry_delay`]).

/// Retries one ACME call; evaluates to `Result<T, instant_acme::Error>` (the last error), for
/// callers that look at the CA's problem themselves.
macro_rules! retry_raw {
    ($issuer:expr, $step:expr, $call:expr) => {{
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
    ($issuer:expr, $step:expr, $call:expr) => {
        $crate::acme::retry::retry_raw!($issuer, $step, $call)
            .map_err(|e| $crate::acme::problem::to_issue_error($step, e))
    };
}

pub(crate) use retry_raw;
pub(crate) use with_retry;
