//! Turning instant-acme errors into certgate's [`IssueError`]s, and deciding what to retry.

use std::time::{Duration, SystemTime};

use instant_acme::{Error, Problem};

use crate::certs::issuer::IssueError;

/// Attempts of one ACME request before its error is final.
pub const MAX_TRANSIENT_RETRIES: u32 = 6;
/// Longest `Retry-After` waited for inline; longer ones end the generation (a renewal backs off).
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(60);

/// Whether the error is worth retrying, and after how long.
pub fn retry_delay(
    error: &Error,
    attempt: u32,
    retry_after: Option<SystemTime>,
) -> Option<Duration> {
    if attempt >= MAX_TRANSIENT_RETRIES {
        return None;
    }
    let backoff = Duration::from_millis(200 * (1 << attempt.min(5)));
    match error {
        Error::Api(problem) => match problem_kind(problem) {
            Some("badNonce") => Some(Duration::from_millis(10)),
            Some("rateLimited") => {
                let wait = retry_after
                    .and_then(|t| t.duration_since(SystemTime::now()).ok())
                    .unwrap_or(Duration::from_secs(5));
                (wait <= MAX_INLINE_WAIT).then_some(wait)
            }
            _ if problem.status.is_some_and(|s| s >= 500) => Some(backoff),
            Some("serverInternal") => Some(backoff),
            _ => None,
        },
        Error::Hyper(_) | Error::Other(_) | Error::Timeout(_) => Some(backoff),
        _ => None,
    }
}

/// The short problem type (`badNonce`, `connection`, …) of an ACME problem.
pub fn problem_kind(problem: &Problem) -> Option<&str> {
    problem
        .r#type
        .as_deref()
        .map(|t| t.strip_prefix("urn:ietf:params:acme:error:").unwrap_or(t))
}

/// `type: detail` of a problem, with its subproblems.
pub fn describe(problem: &Problem) -> String {
    let mut text = format!(
        "{}: {}",
        problem.r#type.as_deref().unwrap_or("unknown problem"),
        problem.detail.as_deref().unwrap_or("no detail")
    );
    for sub in &problem.subproblems {
        let who = sub
            .identifier
            .as_ref()
            .map(|i| format!("{i:?}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "; {who} {}: {}",
            sub.r#type.as_deref().unwrap_or(""),
            sub.detail.as_deref().unwrap_or("")
        ));
    }
    text
}

/// Maps a final error of `step` to an [`IssueError`] whose message says what failed.
pub fn to_issue_error(step: &str, error: Error) -> IssueError {
    match &error {
        Error::Api(problem) => {
            let message = format!("{step} failed: {}", describe(problem));
            match problem_kind(problem) {
                Some("externalAccountRequired") => IssueError::Rejected(format!(
                    "{message}; this CA requires External Account Binding: set ACME_EAB_KID and \
                     ACME_EAB_HMAC_KEY (ACME_STAGING_EAB_KID and ACME_STAGING_EAB_HMAC_KEY for the \
                     staging directory)"
                )),
                Some("rateLimited") | Some("badNonce") | Some("serverInternal") => {
                    IssueError::Transient(message)
                }
                _ if problem.status.is_some_and(|s| s >= 500) => IssueError::Transient(message),
                _ => IssueError::Rejected(message),
            }
        }
        Error::Hyper(_) | Error::Other(_) | Error::Timeout(_) => {
            IssueError::Transient(format!("{step} failed: {}", chain(&error)))
        }
        _ => IssueError::Rejected(format!("{step} failed: {}", chain(&error))),
    }
}

/// An error with its sources, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
