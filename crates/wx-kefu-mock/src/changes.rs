//! A counter of the emulator's changes, watched by the web view's event stream: every
//! request, every move of a handle (or of the control API, the same methods), every push.

use tokio::sync::watch;

/// The number of changes so far; receivers wake on each (coalesced when they lag).
#[derive(Debug)]
pub(crate) struct Changes(watch::Sender<u64>);

impl Changes {
    pub(crate) fn new() -> Changes {
        Changes(watch::Sender::new(0))
    }

    /// Something changed.
    pub(crate) fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver for the event stream.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
