//! The request log: every request the emulator received, with what it answered.

use serde_json::Value;

use crate::faults::FaultKind;

/// One request the emulator received, for assertions.
///
/// The access token is kept as sent: it is the emulator's own, and tests check which token
/// a client used. The app secret of the token calls is replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path, e.g. `/cgi-bin/message/custom/send`.
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The body as text (lossy UTF-8); a multipart body is summarised as
    /// `multipart: <field> (<file name>, <content type>, <n> bytes)` per part.
    pub body: String,
    /// When the request arrived, on the emulator's clock (unix milliseconds).
    pub at_ms: i64,
    /// How long the emulator took to answer (wall-clock milliseconds, injected delays
    /// included).
    pub latency_ms: u64,
    /// The HTTP status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The errcode answered: 0 for a success without one, `None` when the answer was not
    /// WeChat JSON (dropped connection, raw body).
    pub errcode: Option<i64>,
    /// The injected fault that applied, if any.
    pub fault: Option<FaultKind>,
    /// Whether the emulator carried the request out (its handler ran and answered
    /// errcode 0), whatever the client was answered: a fault after handling loses the
    /// answer of an applied request. It counts how often a write took effect.
    pub applied: bool,
}

impl LoggedRequest {
    /// The first value of a query parameter.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The access token the request carried.
    pub fn access_token(&self) -> Option<&str> {
        self.query_param("access_token")
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}
