//! The error of every storage operation. It lives below the store (and below `certs`) so that
//! the layers under the store can carry it without importing the store: an issuer that fails on
//! storage reports it as `IssueError::Storage(StoreError)`, corrupt and unavailable apart.
//! The conversion from Redis client errors is in `store`.

/// Why a storage operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis is unreachable or did not answer in time; the caller answers `503`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Redis answered, but with something certgate did not write (or an older schema).
    #[error("corrupt record at {key}: {detail}")]
    Corrupt {
        /// The key read.
        key: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Any other Redis error (a script error, a wrong type): a bug or a misconfiguration.
    #[error("redis error: {0}")]
    Redis(String),
}

/// What store calls return.
pub type StoreResult<T> = Result<T, StoreError>;
