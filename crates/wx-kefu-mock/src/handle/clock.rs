//! The emulator's clock, as the handle moves and reads it.

use std::sync::Arc;
use std::time::Duration;

use crate::MockHandle;
use crate::state::secs;

impl MockHandle {
    /// Moves the emulator's clock forward: tokens, reply windows, typing states and
    /// invitations expire as if the time had passed.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.changes.bump();
    }

    /// The emulator's time in unix seconds.
    pub fn now(&self) -> i64 {
        secs(self.now_ms())
    }

    /// The emulator's time source (unix seconds), for a webhook whose replay check must
    /// agree with the emulator's clock after [`MockServer::advance`](MockHandle::advance):
    /// `Webhook::builder().clock(mock.time_source())`.
    pub fn time_source(&self) -> impl Fn() -> i64 + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || secs(shared.clock.now_ms())
    }
}
