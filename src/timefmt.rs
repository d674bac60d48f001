//! Timestamps as the API shows them: RFC 3339 in UTC, milliseconds at most.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, in UTC, truncated to milliseconds.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let millis = now.millisecond();
    now.replace_millisecond(millis).unwrap_or(now)
}

/// Formats a time as RFC 3339 UTC (`2026-11-27T23:50:25.123Z`, or without fraction when whole).
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp written by [`format`].
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// `now()` formatted.
pub fn now_string() -> String {
    format(now())
}
