//! What the emulator issues: tokens and their lifetimes, random ids, and its seconds.

use crate::answer::random_u64;

/// Access tokens live two hours.
pub(crate) const TOKEN_LIFETIME_MS: i64 = 7_200_000;
/// A classic token stays valid this long after a newer one was fetched.
pub(crate) const CLASSIC_GRACE_MS: i64 = 300_000;

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) expires_at_ms: i64,
    /// Set when a newer token replaced this one: from then on it answers 40001.
    pub(crate) invalid_after_ms: Option<i64>,
}

impl Token {
    /// A token issued at `now_ms`, valid for [`TOKEN_LIFETIME_MS`].
    pub(crate) fn issued(now_ms: i64) -> Token {
        Token {
            expires_at_ms: now_ms.saturating_add(TOKEN_LIFETIME_MS),
            invalid_after_ms: None,
        }
    }

    /// Whether it is accepted at `now_ms`: 42001 expired, 40001 replaced.
    pub(crate) fn check(&self, now_ms: i64) -> Result<(), i64> {
        if now_ms >= self.expires_at_ms {
            return Err(42001);
        }
        if self.invalid_after_ms.is_some_and(|at| now_ms >= at) {
            return Err(40001);
        }
        Ok(())
    }

    /// A newer one was issued at `now_ms`: this one works [`CLASSIC_GRACE_MS`] more at most.
    pub(crate) fn retire(&mut self, now_ms: i64) {
        let grace_end = now_ms + CLASSIC_GRACE_MS;
        self.invalid_after_ms = Some(
            self.invalid_after_ms
                .map_or(grace_end, |at| at.min(grace_end)),
        );
    }
}

/// Seconds from milliseconds.
pub(crate) fn secs(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000)
}

/// Random lowercase hex of `n` 64-bit words.
pub(crate) fn random_hex(words: usize) -> String {
    (0..words)
        .map(|_| format!("{:016x}", random_u64()))
        .collect()
}
