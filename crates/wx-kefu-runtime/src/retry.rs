//! When a failed call is tried again, and how long to wait before it.
//!
//! The rules, which never send a message twice:
//! - an idempotent call (a read) is retried on a connect failure, a timeout, a broken
//!   connection, HTTP 5xx and errcode -1;
//! - a non-idempotent call (send, typing, session and account changes, avatar upload)
//!   is retried only when the request provably never left (a connect failure);
//!   a timeout or any failure after sending is returned to the caller;
//! - 45009, 45011, 45015, 45047, 48001 and the 654xx family are never retried;
//! - a failure while fetching the access token happens before the call is sent, so it is
//!   retried under the idempotent rules whatever the call;
//! - a token store's failure ([`Error::Store`]) is not retried: the store already bounds
//!   its own waits, so a call fails within the store's timeout.
//!
//! The replay after a rejected token (40001, 40014, 42001) is separate: it happens once,
//! immediately, and does not count as a retry.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::Error;

/// How many times, and how patiently, a client retries a failed call.
///
/// Backoff is exponential with full jitter: before retry `n` (1-based) the client sleeps
/// a random duration in `0..=min(max_backoff, initial_backoff * 2^(n-1))`.
/// No retry starts once `deadline` has passed since the call began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    deadline: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, backoff from 100 ms up to 2 s, a 30 s deadline.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            deadline: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The default policy (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy that never retries (a token replay still happens).
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The most attempts per call, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff cap before the first retry; it doubles for each further retry.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest backoff cap.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// No retry starts later than this after the call began.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The most attempts per call.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before retry number `retry` (1-based), or `None` when the policy allows
    /// no further attempt: the attempts are used up, or the wait would end past the deadline.
    pub fn backoff(&self, retry: u32, elapsed: Duration) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        let exponent = retry.saturating_sub(1).min(30);
        let cap = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let wait = jitter(cap);
        (elapsed.saturating_add(wait) < self.deadline).then_some(wait)
    }
}

/// Whether a failed attempt may be repeated.
///
/// `idempotent` is the endpoint's flag, or true when the failure happened before the
/// call was sent (while fetching the token or preparing the body).
pub(crate) fn may_retry(error: &Error, idempotent: bool) -> bool {
    if error.code().is_some_and(|code| code.is_never_retried()) {
        return false;
    }
    // A token store bounds its own waits (its timeout, its lock wait) and decides its own
    // fallback; retrying its failure would multiply that bound by the attempts.
    if matches!(error, Error::Store { .. }) {
        return false;
    }
    if matches!(
        error,
        Error::Transport {
            kind: crate::TransportKind::Connect,
            ..
        }
    ) {
        return true;
    }
    idempotent && error.is_retryable()
}

/// A uniformly random duration in `0..=cap` (full jitter), from std's randomly keyed hasher.
fn jitter(cap: Duration) -> Duration {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(hasher.finish() % nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_bounded() {
        let policy = RetryPolicy::new()
            .max_attempts(5)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(300));
        for _ in 0..100 {
            assert!(policy.backoff(1, Duration::ZERO).unwrap() <= Duration::from_millis(100));
            assert!(policy.backoff(2, Duration::ZERO).unwrap() <= Duration::from_millis(200));
            assert!(policy.backoff(4, Duration::ZERO).unwrap() <= Duration::from_millis(300));
        }
        assert_eq!(policy.backoff(5, Duration::ZERO), None);
        assert_eq!(RetryPolicy::never().backoff(1, Duration::ZERO), None);
        let late = RetryPolicy::new().deadline(Duration::from_secs(1));
        assert_eq!(late.backoff(1, Duration::from_secs(1)), None);
    }

    #[test]
    fn the_backoff_cap_doubles_per_retry() {
        // Uniform in 0..=cap: 200 draws all at or below half the cap would be a 2^-200 event.
        let policy = RetryPolicy::new()
            .max_attempts(10)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(60));
        let longest = |retry| {
            (0..200)
                .filter_map(|_| policy.backoff(retry, Duration::ZERO))
                .max()
                .unwrap()
        };
        assert!(longest(1) > Duration::from_millis(50));
        assert!(
            longest(3) > Duration::from_millis(200),
            "retry 3 may wait up to 400 ms"
        );
        assert!(
            longest(5) > Duration::from_millis(800),
            "retry 5 may wait up to 1.6 s"
        );
        assert!(longest(5) <= Duration::from_millis(1600));
    }

    #[test]
    fn the_attempt_cap_and_the_deadline_are_exact() {
        let policy = RetryPolicy::new().max_attempts(4);
        assert_eq!(policy.attempts(), 4);
        assert_eq!(RetryPolicy::new().attempts(), 3);
        assert_eq!(RetryPolicy::never().attempts(), 1);
        assert_eq!(RetryPolicy::new().max_attempts(0).attempts(), 1);
        // Retries 1..=3 make attempts 2..=4; a fourth retry would be a fifth attempt.
        assert!(policy.backoff(3, Duration::ZERO).is_some());
        assert!(policy.backoff(4, Duration::ZERO).is_none());
        // With no wait at all, a retry that would start exactly at the deadline does not.
        let instant = RetryPolicy::new()
            .initial_backoff(Duration::ZERO)
            .deadline(Duration::from_secs(1));
        assert_eq!(
            instant.backoff(1, Duration::from_millis(999)),
            Some(Duration::ZERO)
        );
        assert_eq!(instant.backoff(1, Duration::from_secs(1)), None);
    }

    #[test]
    fn may_retry_follows_the_rules() {
        let transport = |kind| Error::Transport {
            endpoint: "t",
            kind,
            source: std::sync::Arc::new(crate::error::TimedOut {
                limit: Duration::ZERO,
            }),
        };
        let connect = transport(crate::TransportKind::Connect);
        let timeout = transport(crate::TransportKind::Timeout);
        assert!(may_retry(&connect, false), "a connect failure never left");
        assert!(may_retry(&timeout, true));
        assert!(!may_retry(&timeout, false), "a write may have arrived");
        let busy = Error::Api {
            endpoint: "t",
            code: crate::ErrCode::from_code(-1),
            message: String::new(),
            rid: None,
        };
        assert!(may_retry(&busy, true));
        assert!(!may_retry(&busy, false));
        let window = Error::Api {
            endpoint: "t",
            code: crate::ErrCode::from_code(45015),
            message: String::new(),
            rid: None,
        };
        assert!(!may_retry(&window, true));
        let store = Error::Store {
            store: "redis",
            kind: crate::StoreErrorKind::Unavailable,
            message: String::new(),
            source: None,
        };
        assert!(store.is_retryable(), "passing, for a caller's own retries");
        assert!(!may_retry(&store, true), "the store bounds its own waits");
    }

    #[test]
    fn jitter_spreads() {
        let cap = Duration::from_secs(1);
        let waits: Vec<_> = (0..50).map(|_| jitter(cap)).collect();
        assert!(waits.iter().all(|w| *w <= cap));
        assert!(waits.iter().any(|w| *w != waits[0]));
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
