//! Faults, the request log, and a reset of everything.

use crate::state::State;
use crate::{Fault, LoggedRequest, MockHandle};

impl MockHandle {
    /// Back to an empty account: no agents, users, sessions, records, media, faults,
    /// pushes' webhook or request log; customer service on. The appid, the secret and the
    /// tokens issued stay valid, so clients carry on.
    pub fn reset(&self) {
        {
            let mut state = self.state();
            let fresh = State::new(state.appid.clone(), state.secret.clone());
            let tokens = std::mem::take(&mut state.tokens);
            let current = state.current_stable.take();
            // The platform stays (its authorizers are accounts of their own).
            let platform = state.platform.take();
            let authorizers = std::mem::take(&mut state.authorizer_states);
            *state = fresh;
            state.tokens = tokens;
            state.current_stable = current;
            state.platform = platform;
            state.authorizer_states = authorizers;
        }
        self.outbound().configure(None);
        self.shared.changes.bump();
    }

    /// Injects a fault into the next matching requests.
    pub fn inject(&self, fault: Fault) {
        self.primary().faults.push(fault);
    }

    /// The faults not used up yet.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.primary().faults.pending()
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.primary().faults.clear();
    }

    /// Every request received so far, in order.
    ///
    /// The log keeps the last [`LOG_CAPACITY`](crate::LOG_CAPACITY) requests, each body cut at
    /// [`LOG_BODY_CHARS`](crate::LOG_BODY_CHARS) characters.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.primary().log.iter().cloned().collect()
    }

    /// The requests received for one path.
    pub fn requests_to(&self, path: &str) -> Vec<LoggedRequest> {
        self.state()
            .log
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.primary().log.clear();
    }
}
