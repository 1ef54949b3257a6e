//! The request log: the requests the emulator received, with what it answered. Bounded:
//! the last [`LOG_CAPACITY`] requests, bodies cut at [`LOG_BODY_CHARS`] characters.

use std::collections::VecDeque;

use serde_json::Value;

use crate::faults::FaultKind;

/// How many requests the log keeps (the oldest go first).
pub const LOG_CAPACITY: usize = 10_000;

/// How much of a body the log keeps, in characters; a longer one ends with
/// `… (N bytes)`. Every JSON request of the API fits.
pub const LOG_BODY_CHARS: usize = 4096;

/// The last [`LOG_CAPACITY`] requests, numbered from 1 since the emulator started.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: VecDeque<LoggedRequest>,
    /// How many requests came before the first one kept.
    before: usize,
}

impl RequestLog {
    pub(crate) fn push(&mut self, entry: LoggedRequest) {
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
            self.before += 1;
        }
        self.entries.push_back(entry);
    }

    /// How many requests came in all (the last one's number).
    pub(crate) fn total(&self) -> usize {
        self.before + self.entries.len()
    }

    /// The requests kept, numbered, after number `after`.
    pub(crate) fn since(&self, after: usize) -> impl Iterator<Item = (usize, &LoggedRequest)> {
        let skip = after.saturating_sub(self.before);
        self.entries
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(index, entry)| (self.before + index + 1, entry))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &LoggedRequest> {
        self.entries.iter()
    }

    /// Forgets every request kept (the numbering goes on).
    pub(crate) fn clear(&mut self) {
        self.before += self.entries.len();
        self.entries.clear();
    }
}

/// `text` cut to [`LOG_BODY_CHARS`] characters, saying how long it was.
pub(crate) fn cut_body(text: String, bytes: usize) -> String {
    match text.char_indices().nth(LOG_BODY_CHARS) {
        None => text,
        Some((end, _)) => format!("{}… ({bytes} bytes)", &text[..end]),
    }
}

/// One request the emulator received, for assertions.
///
/// The access token is kept as sent: it is the emulator's own, and tests check which token
/// a client used. The app secret of the token calls is replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// The host (port) it came to: 0 for the first, see
    /// [`MockServerBuilder::hosts`](crate::MockServerBuilder::hosts).
    pub host: usize,
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path, e.g. `/cgi-bin/message/custom/send`.
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The body as text (lossy UTF-8), at most [`LOG_BODY_CHARS`] characters; a multipart
    /// body is summarised as `multipart: <field> (<file name>, <content type>, <n> bytes)`
    /// per part.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> LoggedRequest {
        LoggedRequest {
            host: 0,
            method: "POST".into(),
            path: format!("/{n}"),
            query: Vec::new(),
            body: String::new(),
            at_ms: 0,
            latency_ms: 0,
            status: Some(200),
            errcode: Some(0),
            fault: None,
            applied: true,
        }
    }

    #[test]
    fn the_log_keeps_the_last_requests_numbered_from_the_start() {
        let mut log = RequestLog::default();
        for n in 1..=LOG_CAPACITY + 5 {
            log.push(entry(n));
        }
        assert_eq!(log.total(), LOG_CAPACITY + 5);
        assert_eq!(log.iter().count(), LOG_CAPACITY);
        let (seq, first) = log.since(0).next().unwrap();
        assert_eq!((seq, first.path.as_str()), (6, "/6"));
        let tail: Vec<usize> = log.since(LOG_CAPACITY + 3).map(|(seq, _)| seq).collect();
        assert_eq!(tail, [LOG_CAPACITY + 4, LOG_CAPACITY + 5]);
        log.clear();
        log.push(entry(0));
        assert_eq!(log.since(0).next().unwrap().0, LOG_CAPACITY + 6);
    }

    #[test]
    fn a_long_body_is_cut_saying_how_long_it_was() {
        let long = "长".repeat(LOG_BODY_CHARS + 10);
        let bytes = long.len();
        let cut = cut_body(long, bytes);
        assert!(
            cut.ends_with(&format!("… ({bytes} bytes)")),
            "{}",
            &cut[cut.len() - 30..]
        );
        assert_eq!(
            cut.chars().count(),
            LOG_BODY_CHARS + format!("… ({bytes} bytes)").chars().count()
        );
        assert_eq!(cut_body("short".into(), 5), "short");
    }
}
