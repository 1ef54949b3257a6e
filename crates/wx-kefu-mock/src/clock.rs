//! The emulator's clock: wall time plus an offset that the handle can push forward,
//! so that expiry (tokens, reply windows, typing, invitations) is tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The latest time the clock shows, so that adding any lifetime or window to it cannot
/// overflow however far the handle pushed the clock.
const MAX_MS: i64 = i64::MAX / 4;

/// Wall time shifted by an offset that only grows.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The emulated time in unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall.saturating_add(self.offset_ms.load(Ordering::SeqCst))
            .min(MAX_MS)
    }

    /// Moves the emulated time forward.
    pub(crate) fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                Some(offset.saturating_add(by))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_the_time_forward() {
        let clock = Clock::default();
        let before = clock.now_ms();
        clock.advance(Duration::from_secs(7200));
        let after = clock.now_ms();
        assert!(after - before >= 7_200_000, "{before} -> {after}");
        assert!(after - before < 7_260_000, "{before} -> {after}");
        clock.advance(Duration::MAX);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_ms(), MAX_MS);
    }
}
