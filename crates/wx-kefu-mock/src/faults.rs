//! Faults the handle injects into the next requests: an errcode, an HTTP status with any body,
//! a delay, or a dropped connection; before the emulator handles the request, or after.

use std::time::Duration;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer HTTP 200 with `{"errcode":N,"errmsg":"… rid: …"}`.
    Errcode(i64),
    /// Answer this HTTP status with this body (empty when `None`), for example an HTML page
    /// or truncated JSON.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The raw body; sent as `text/html` when it starts with `<`, as JSON otherwise.
        body: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
}

/// A fault for the next requests, made with [`Fault::errcode`], [`Fault::status`],
/// [`Fault::status_with_body`], [`Fault::delay`] or [`Fault::drop_connection`] and
/// refined with [`Fault::times`], [`Fault::on_path`] and [`Fault::after_handling`].
///
/// ```
/// use std::time::Duration;
/// use wx_kefu_mock::Fault;
///
/// // The next two sends answer 45015.
/// let fault = Fault::errcode(45015).times(2).on_path("/cgi-bin/message/custom/send");
/// // The next request is handled (the message is sent), then its answer is lost.
/// let lost = Fault::drop_connection().after_handling();
/// // The next request waits 3 s first.
/// let slow = Fault::delay(Duration::from_secs(3));
/// # let _ = (fault, lost, slow);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) times: u32,
    pub(crate) path: Option<String>,
    pub(crate) host: Option<usize>,
    pub(crate) after_handling: bool,
}

impl Fault {
    fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            times: 1,
            path: None,
            host: None,
            after_handling: false,
        }
    }

    /// Answers `{"errcode":code,…}` (HTTP 200), as WeChat does for every error.
    pub fn errcode(code: i64) -> Self {
        Fault::new(FaultKind::Errcode(code))
    }

    /// Answers this HTTP status with an empty body.
    pub fn status(status: u16) -> Self {
        Fault::new(FaultKind::Status { status, body: None })
    }

    /// Answers this HTTP status with a raw body (HTML, truncated JSON, anything).
    pub fn status_with_body(status: u16, body: impl Into<String>) -> Self {
        Fault::new(FaultKind::Status {
            status,
            body: Some(body.into()),
        })
    }

    /// Waits before answering (the request is then handled normally).
    pub fn delay(delay: Duration) -> Self {
        Fault::new(FaultKind::Delay(delay))
    }

    /// Closes the connection without answering.
    pub fn drop_connection() -> Self {
        Fault::new(FaultKind::Drop)
    }

    /// Applies to the next `n` matching requests instead of only the next one.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Applies only to requests for this path (e.g. `/cgi-bin/stable_token`).
    pub fn on_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Only for requests to one host (0 is the first): see
    /// [`MockServerBuilder::hosts`](crate::MockServerBuilder::hosts).
    pub fn on_host(mut self, host: usize) -> Self {
        self.host = Some(host);
        self
    }

    /// The host it applies to, if only one.
    pub fn host(&self) -> Option<usize> {
        self.host
    }

    /// Lets the emulator handle the request first (its state changes as usual), then
    /// replaces or delays the answer: the answer of a request that did happen is lost.
    pub fn after_handling(mut self) -> Self {
        self.after_handling = true;
        self
    }

    /// What the fault does.
    pub fn kind(&self) -> &FaultKind {
        &self.kind
    }

    /// How many more requests it applies to.
    pub fn remaining(&self) -> u32 {
        self.times
    }

    /// The path it is limited to, if any.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Whether the request is handled before the fault applies.
    pub fn is_after_handling(&self) -> bool {
        self.after_handling
    }

    fn matches(&self, path: &str, host: usize) -> bool {
        self.times > 0
            && self.path.as_deref().is_none_or(|p| p == path)
            && self.host.is_none_or(|h| h == host)
    }
}

/// The queue of injected faults, consumed first come, first served.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queue: Vec<Fault>,
}

impl Faults {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.queue.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    pub(crate) fn pending(&self) -> Vec<Fault> {
        self.queue.clone()
    }

    /// Takes one use of the first fault matching `path`.
    pub(crate) fn take(&mut self, path: &str, host: usize) -> Option<Fault> {
        let index = self
            .queue
            .iter()
            .position(|fault| fault.matches(path, host))?;
        let fault = &mut self.queue[index];
        fault.times -= 1;
        let mut taken = fault.clone();
        taken.times = 1;
        if fault.times == 0 {
            self.queue.remove(index);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up_in_order_and_by_path() {
        let mut faults = Faults::default();
        faults.push(Fault::errcode(-1).times(2).on_path("/a"));
        faults.push(Fault::status(502));
        assert_eq!(
            faults.take("/b", 0).map(|f| f.kind),
            Some(FaultKind::Status {
                status: 502,
                body: None
            })
        );
        assert_eq!(faults.take("/b", 0), None);
        assert_eq!(
            faults.take("/a", 0).map(|f| f.kind),
            Some(FaultKind::Errcode(-1))
        );
        assert_eq!(faults.pending().len(), 1);
        assert_eq!(
            faults.take("/a", 0).map(|f| f.kind),
            Some(FaultKind::Errcode(-1))
        );
        assert!(faults.pending().is_empty());
    }
}
