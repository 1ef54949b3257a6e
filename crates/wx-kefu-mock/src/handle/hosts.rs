//! The account's hosts (ports), and answers for paths the spec does not have.

use std::io;

use crate::MockHandle;

impl MockHandle {
    /// Answers `answer` to a request for `path`, a path the spec does not have (and so the
    /// emulator neither: it answers 40066 there), once the access token checks out: for
    /// testing a raw call ([`Client::raw`](wx_kefu_api::Client::raw)) before the
    /// endpoint is in the spec.
    pub fn stub(&self, path: impl Into<String>, answer: serde_json::Value) {
        self.state().stubs.insert(path.into(), answer);
    }

    /// The base URL of each host (`http://127.0.0.1:<port>`), the first being
    /// [`MockServer::base_url`](crate::MockServer::base_url): hand them all to a client's `hosts(…)`.
    pub fn host_urls(&self) -> Vec<String> {
        self.shared
            .hosts
            .addrs()
            .into_iter()
            .map(|addr| match addr.ip().is_unspecified() {
                true => format!("http://127.0.0.1:{}", addr.port()),
                false => format!("http://{addr}"),
            })
            .collect()
    }

    /// Whether each host is up.
    pub fn hosts_up(&self) -> Vec<bool> {
        self.shared.hosts.up()
    }

    /// Takes host `index` down (0 is the first): its port refuses connections and its open
    /// connections are cut, as an unreachable WeChat host would be. `false` when there is
    /// no such host.
    pub async fn stop_host(&self, index: usize) -> bool {
        let stopped = self.shared.hosts.stop(index).await;
        self.shared.changes.bump();
        stopped
    }

    /// Brings host `index` back on its port. `Ok(false)` when there is no such host.
    pub async fn start_host(&self, index: usize) -> io::Result<bool> {
        let started = self.shared.hosts.start(index).await;
        self.shared.changes.bump();
        started
    }
}
