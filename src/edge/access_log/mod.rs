//! The access log (`ACCESS_LOG=off|stdout|FILE`): one JSON line per request, written when its
//! answer has been sent (so the line knows the bytes and the whole duration), in the shape log
//! tools read (`docs/operations.md`, "Access log").
//!
//! A line is one `write` on a file opened for appending, so lines from all connections never
//! interleave and no lock is taken; SIGHUP reopens the file (after logrotate moved it).

pub mod body;
pub mod line;
pub mod sink;

pub use line::AccessStart;
