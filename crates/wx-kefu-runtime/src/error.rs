//! The one error type of the SDK, classified by where a call failed.
//!
//! Every variant names the endpoint. No variant ever holds the app secret or an access
//! token: transport errors lose their URL (which carries `?access_token=`) in
//! `Error::from_transport`, the one place reqwest errors are converted, and body
//! excerpts have both redacted.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::generated::errcode::ErrCode;
use crate::validate::Invalid;

/// The source of an [`Error::Transport`] when the client's own timeout
/// ([`ClientBuilder::timeout`](crate::ClientBuilder::timeout)) ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    /// The time allowed for the request and its answer.
    pub limit: std::time::Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no complete answer within {:?}", self.limit)
    }
}

impl StdError for TimedOut {}

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The most characters of a response body an error keeps.
pub const EXCERPT_CHARS: usize = 200;

/// How a request failed on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// No connection could be made (DNS, TCP or TLS): the request provably never left.
    Connect,
    /// The request timed out; it may or may not have reached WeChat.
    Timeout,
    /// The connection broke while the request or its answer was on the wire;
    /// the request may have reached WeChat.
    Interrupted,
    /// Any other failure of the HTTP client (a malformed request, a redirect, …).
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Interrupted => "the connection broke",
            TransportKind::Other => "the HTTP client failed",
        })
    }
}

/// Why a token store (e.g. the shared Redis store) could not serve a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached, or did not answer within its timeout.
    Unavailable,
    /// Another instance held the token refresh lock for longer than this one may wait.
    LockTimeout,
    /// The store refused a command (authentication, permissions) or holds an entry
    /// this version cannot read.
    Rejected,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::LockTimeout => "waited too long for the refresh lock",
            StoreErrorKind::Rejected => "refused the command",
        })
    }
}

/// Everything that can go wrong with a call.
///
/// It is cheap to clone (sources are shared), so that callers waiting on one token
/// fetch can all receive its failure.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// WeChat answered the call with a non-zero `errcode`.
    Api {
        /// The endpoint's name, e.g. `send_message`.
        endpoint: &'static str,
        /// The error code, from the catalogue (or `Unknown`).
        code: ErrCode,
        /// WeChat's `errmsg`, verbatim.
        message: String,
        /// WeChat's request id, parsed from the `rid: …` tail of `errmsg`; quote it to WeChat support.
        rid: Option<String>,
    },

    /// No access token could be obtained: WeChat refused the token request
    /// (wrong appid or secret, IP not in the allow-list, quota used up) or answered
    /// something that is not a token. Retrying does not help; `hint` says what to fix.
    Token {
        /// The token endpoint's name (`stable_token` or `token`), or the external provider.
        endpoint: &'static str,
        /// WeChat's error code, when it answered one.
        code: Option<ErrCode>,
        /// WeChat's `errmsg`, or what was wrong with the answer.
        message: String,
        /// WeChat's request id, parsed from `errmsg`.
        rid: Option<String>,
        /// What to fix.
        hint: &'static str,
    },

    /// The request did not complete on the network (connect failure, timeout, broken connection).
    Transport {
        /// The endpoint's name.
        endpoint: &'static str,
        /// How it failed; only [`TransportKind::Connect`] proves the request never left.
        kind: TransportKind,
        /// What failed: the HTTP client's error with the request URL removed (a
        /// [`reqwest::Error`]), or [`TimedOut`] when the client's timeout ran out;
        /// `source.downcast_ref::<TimedOut>()` tells them apart.
        source: Arc<dyn StdError + Send + Sync>,
    },

    /// WeChat (or a proxy in front of it) answered with an HTTP status other than 2xx.
    Status {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The start of the body, at most [`EXCERPT_CHARS`] characters, secrets redacted.
        excerpt: String,
    },

    /// The answer could not be decoded (it is not JSON, or not of the expected shape).
    Decode {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The HTTP status code of the answer.
        status: u16,
        /// The start of the body, at most [`EXCERPT_CHARS`] characters, secrets redacted.
        excerpt: String,
        /// What the decoder found wrong, with the secret and the token redacted.
        source: DecodeReason,
    },

    /// The request broke one of the spec's rules; nothing was sent.
    Invalid {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The field and the rule it broke.
        source: Invalid,
    },

    /// A file to upload could not be read; nothing was sent.
    Upload {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The I/O error.
        source: Arc<std::io::Error>,
    },

    /// The answer was larger than the client allows ([`ClientBuilder::max_answer_bytes`](crate::ClientBuilder::max_answer_bytes),
    /// or a download's own [`max_bytes`](crate::MediaFile::max_bytes)); no more of it was
    /// read. The request was sent: a send may have taken effect.
    TooLarge {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The limit, in bytes.
        limit: u64,
    },

    /// A downloaded file could not be written where it was asked to go (the target
    /// exists, a directory is missing, the disk is full, a name too long): a local I/O
    /// error, after the download itself went well up to there. Nothing is left at the
    /// target path.
    Save {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The I/O error; its message names the path.
        source: Arc<std::io::Error>,
    },

    /// A paged export stopped because the server's `msgid` cursor did not advance;
    /// continuing would loop forever.
    PagingStalled {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The window's start (unix seconds).
        starttime: i64,
        /// The window's end (unix seconds).
        endtime: i64,
        /// The cursor sent, which the answer did not advance.
        msgid: i64,
    },

    /// The client is misconfigured (e.g. no app secret, a base URL that is not http(s)).
    Config {
        /// What is wrong.
        message: String,
    },

    /// A third-party platform's call the account did not grant: it granted none of the
    /// permission sets (权限集) the endpoint needs (WeChat would answer 61007). Nothing was
    /// sent; the merchant must update the authorization.
    NotGranted {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The account's AppID.
        authorizer: String,
        /// The sets any one of which allows the call.
        needs: &'static [u32],
        /// The sets the account granted.
        granted: Vec<u32>,
    },

    /// A third-party platform's call for an account that no longer authorizes it: the
    /// account is absent from `api_get_authorizer_list`, or WeChat answered 61003. Its
    /// tokens and its stored authorization were dropped; nothing was sent. The merchant
    /// must authorize the platform again.
    Revoked {
        /// The account's AppID.
        authorizer: String,
    },

    /// The token store could not give a token (e.g. Redis is unreachable); nothing was sent.
    /// The message never holds a token, the secret or the store's URL.
    Store {
        /// Which store, e.g. `redis`.
        store: &'static str,
        /// What went wrong.
        kind: StoreErrorKind,
        /// Details: the operation and the store client's error.
        message: String,
        /// The store client's error, when there is one.
        source: Option<Arc<dyn StdError + Send + Sync>>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api {
                endpoint,
                code,
                message,
                ..
            } => write!(
                f,
                "{endpoint}: WeChat answered errcode {}{}: {message}",
                code.code(),
                meaning(*code)
            ),
            Error::Token {
                endpoint,
                code,
                message,
                hint,
                ..
            } => write!(
                f,
                "{endpoint}: could not get an access token{}: {message}; {hint}",
                token_code(*code)
            ),
            Error::Transport {
                endpoint,
                kind,
                source,
            } => write!(f, "{endpoint}: {kind}: {}", root_cause(source.as_ref())),
            Error::Status {
                endpoint,
                status,
                excerpt,
            } => write!(f, "{endpoint}: HTTP status {status}: {excerpt}"),
            Error::Decode {
                endpoint,
                status,
                excerpt,
                source,
            } => write!(
                f,
                "{endpoint}: could not decode the answer (HTTP status {status}): {source}; the body starts: {excerpt}"
            ),
            Error::Invalid { endpoint, source } => {
                write!(f, "{endpoint}: invalid request: {source}")
            }
            Error::Upload { endpoint, source } => {
                write!(f, "{endpoint}: could not read the file to upload: {source}")
            }
            Error::TooLarge { endpoint, limit } => write!(
                f,
                "{endpoint}: the answer is larger than the {limit} bytes allowed; stopped reading it"
            ),
            Error::Save { endpoint, source } => {
                write!(
                    f,
                    "{endpoint}: could not save the downloaded file: {source}"
                )
            }
            Error::PagingStalled {
                endpoint,
                starttime,
                endtime,
                msgid,
            } => write!(
                f,
                "{endpoint}: msgid did not advance past {msgid} in the window {starttime}..{endtime}; stopped instead of looping"
            ),
            Error::Config { message } => write!(f, "configuration error: {message}"),
            Error::NotGranted {
                endpoint,
                authorizer,
                needs,
                granted,
            } => write!(
                f,
                "{endpoint}: the account {authorizer} granted this platform none of the permission sets \
                 (权限集) {} the call needs (it granted {}); nothing was sent: the merchant must \
                 update the authorization",
                ids(needs),
                ids(granted)
            ),
            Error::Revoked { authorizer } => write!(
                f,
                "the account {authorizer} does not authorize this platform (revoked or never granted); \
                 its tokens were dropped: the merchant must authorize the platform again"
            ),
            Error::Store {
                store,
                kind,
                message,
                ..
            } => write!(f, "{store} token store: {kind}: {message}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Transport { source, .. } => Some(source.as_ref()),
            Error::Decode { source, .. } => Some(source),
            Error::Invalid { source, .. } => Some(source),
            Error::Upload { source, .. } | Error::Save { source, .. } => Some(source.as_ref()),
            Error::Store { source, .. } => {
                source.as_deref().map(|s| s as &(dyn StdError + 'static))
            }
            _ => None,
        }
    }
}

/// Permission-set ids as `1, 6, 19`.
fn ids(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn meaning(code: ErrCode) -> String {
    match code.en() {
        "" => String::new(),
        en => format!(" ({en})"),
    }
}

fn token_code(code: Option<ErrCode>) -> String {
    code.map(|code| format!(" (errcode {}{})", code.code(), meaning(code)))
        .unwrap_or_default()
}

fn root_cause(error: &(dyn StdError + Send + Sync)) -> String {
    let mut cause: &dyn StdError = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if std::ptr::addr_eq(cause, error as &dyn StdError) {
        error.to_string()
    } else {
        format!("{error}: {cause}")
    }
}

impl Error {
    /// Converts an HTTP client error. This is the one place reqwest errors enter the SDK:
    /// the URL, whose query holds the access token (or, for the classic token call,
    /// the secret), is removed here.
    pub(crate) fn from_transport(endpoint: &'static str, error: reqwest::Error) -> Error {
        let error = error.without_url();
        if error.is_builder() {
            // Nothing went on the wire: the request could not be made (e.g. a URL too
            // long for HTTP). Not a network failure, and not worth retrying.
            return Error::config(format!(
                "{endpoint}: the request could not be built: {error}"
            ));
        }
        let kind = if error.is_connect() {
            TransportKind::Connect
        } else if error.is_timeout() {
            TransportKind::Timeout
        } else if error.is_request() || error.is_body() {
            TransportKind::Interrupted
        } else {
            TransportKind::Other
        };
        Error::Transport {
            endpoint,
            kind,
            source: Arc::new(error),
        }
    }

    /// An error while reading an answer's body: the connection broke after the answer
    /// began (a body cut short), unless it was the client's own timeout.
    pub(crate) fn from_body(endpoint: &'static str, error: reqwest::Error) -> Error {
        match Error::from_transport(endpoint, error) {
            Error::Transport {
                endpoint,
                kind: TransportKind::Other,
                source,
            } => Error::Transport {
                endpoint,
                kind: TransportKind::Interrupted,
                source,
            },
            other => other,
        }
    }

    /// An answer over `limit` bytes.
    pub(crate) fn too_large(endpoint: &'static str, limit: u64) -> Error {
        Error::TooLarge { endpoint, limit }
    }

    /// The client's timeout ran out before the answer was complete.
    pub(crate) fn timed_out(endpoint: &'static str, limit: std::time::Duration) -> Error {
        Error::Transport {
            endpoint,
            kind: TransportKind::Timeout,
            source: Arc::new(TimedOut { limit }),
        }
    }

    /// A configuration error.
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
        }
    }

    /// The endpoint the error belongs to (`None` for configuration and token store errors).
    pub fn endpoint(&self) -> Option<&'static str> {
        match self {
            Error::Api { endpoint, .. }
            | Error::Token { endpoint, .. }
            | Error::Transport { endpoint, .. }
            | Error::Status { endpoint, .. }
            | Error::Decode { endpoint, .. }
            | Error::Invalid { endpoint, .. }
            | Error::Upload { endpoint, .. }
            | Error::TooLarge { endpoint, .. }
            | Error::Save { endpoint, .. }
            | Error::PagingStalled { endpoint, .. }
            | Error::NotGranted { endpoint, .. } => Some(endpoint),
            Error::Config { .. } | Error::Store { .. } | Error::Revoked { .. } => None,
        }
    }

    /// WeChat's error code, for API and token errors.
    pub fn code(&self) -> Option<ErrCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::Token { code, .. } => *code,
            _ => None,
        }
    }

    /// WeChat's request id (`rid`), when the answer carried one.
    pub fn rid(&self) -> Option<&str> {
        match self {
            Error::Api { rid, .. } | Error::Token { rid, .. } => rid.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when one came back.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } | Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the failure is about the access token: it could not be fetched, or WeChat
    /// still rejected the call (40001, 40014, 42001) after one refresh and replay.
    pub fn is_token_error(&self) -> bool {
        match self {
            Error::Token { .. } => true,
            Error::Api { code, .. } => code.is_token_invalid(),
            _ => false,
        }
    }

    /// Whether the failure is passing, so that the same call may succeed later:
    /// a connect failure, a timeout, a broken connection, HTTP 5xx, errcode -1 or an
    /// unavailable token store.
    ///
    /// This says nothing about whether repeating is *safe*: after a timeout a
    /// non-idempotent call (a send) may already have taken effect. The client's
    /// own retries take that into account; see [`RetryPolicy`](crate::RetryPolicy).
    pub fn is_retryable(&self) -> bool {
        if self.code().is_some_and(|code| code.is_never_retried()) {
            return false;
        }
        match self {
            Error::Transport { kind, .. } => matches!(
                kind,
                TransportKind::Connect | TransportKind::Timeout | TransportKind::Interrupted
            ),
            Error::Status { status, .. } => (500..600).contains(status),
            Error::Api { code, .. } => code.is_transient(),
            Error::Token { code, .. } => code.is_some_and(|code| code.is_transient()),
            Error::Store { kind, .. } => *kind == StoreErrorKind::Unavailable,
            _ => false,
        }
    }

    /// Whether the request provably never reached WeChat (no connection could be made,
    /// or it was refused before sending), so that repeating it cannot duplicate anything.
    pub fn is_not_sent(&self) -> bool {
        matches!(
            self,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            } | Error::Invalid { .. }
                | Error::Upload { .. }
                | Error::Config { .. }
                | Error::Store { .. }
                | Error::Revoked { .. }
                | Error::NotGranted { .. }
        )
    }

    /// Whether a message was refused because the user is outside the reply window
    /// (45015) or over its message count (45047).
    pub fn is_out_of_window(&self) -> bool {
        self.code().is_some_and(|code| code.is_out_of_window())
    }
}

/// Reads WeChat's request id from the tail `… rid: 6561a4b2-5e1d7a0c-3f2a9b11` of an errmsg.
pub(crate) fn parse_rid(errmsg: &str) -> Option<String> {
    let at = errmsg.rfind("rid:")?;
    if errmsg[..at]
        .chars()
        .next_back()
        .is_some_and(|c| !c.is_whitespace())
    {
        return None;
    }
    let rid = errmsg[at + "rid:".len()..].split_whitespace().next()?;
    let valid = rid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then(|| rid.to_owned())
}

/// A bounded, printable excerpt of a body: at most [`EXCERPT_CHARS`] characters, cut on a
/// character boundary, whitespace flattened, and every `redact` string replaced by `***`;
/// nothing at all of a body with an `"access_token"` key.
pub(crate) fn excerpt(body: &[u8], redact: &[&str]) -> String {
    // A body with an `access_token` key may carry a token this client does not know
    // (a token answer routed to the wrong call): quote none of it.
    if memchr::memmem::find(body, b"\"access_token\"").is_some() {
        return format!(
            "(withheld: the body holds an access_token; {} bytes)",
            body.len()
        );
    }
    // Redact before cutting, over enough bytes that a token (up to 512 characters)
    // starting inside the excerpt is replaced whole.
    let head = &body[..body.len().min(EXCERPT_CHARS * 4 + 2048)];
    let text = redacted(String::from_utf8_lossy(head).into_owned(), redact);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(EXCERPT_CHARS).is_some() || head.len() < body.len() {
        out.push('…');
    }
    out
}

/// `text` with every non-empty string of `secrets` replaced by `***`: the one place where
/// text that came from WeChat (errmsg, a body, a decoder's message) loses what it echoed.
pub(crate) fn redacted(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret) {
            text = text.replace(secret, "***");
        }
    }
    text
}

/// Why an answer could not be decoded: the decoder's message, with the secret and the
/// token redacted (serde quotes the offending value, which may be either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeReason {
    message: String,
}

impl DecodeReason {
    pub(crate) fn new(error: &serde_json::Error, secrets: &[&str]) -> Self {
        DecodeReason {
            message: redacted(error.to_string(), secrets),
        }
    }

    /// serde's finding without its message, which quotes the value it could not take: for
    /// answers that may hold a token.
    pub(crate) fn withheld(error: &serde_json::Error) -> Self {
        DecodeReason {
            message: format!(
                "{:?} error at line {} column {} (the decoder's message is withheld: it may quote a token)",
                error.classify(),
                error.line(),
                error.column()
            ),
        }
    }

    /// A reason found by the SDK's own checks rather than by serde.
    pub(crate) fn custom(message: &str) -> Self {
        DecodeReason {
            message: message.to_owned(),
        }
    }

    /// The decoder's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DecodeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for DecodeReason {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_failed_and_chain_to_their_cause() {
        let limit = std::time::Duration::from_secs(15);
        let transport = Error::Transport {
            endpoint: "send_custom_message",
            kind: TransportKind::Timeout,
            source: Arc::new(TimedOut { limit }),
        };
        assert_eq!(
            transport.to_string(),
            "send_custom_message: timed out: no complete answer within 15s"
        );
        let cause = StdError::source(&transport).expect("a transport error has a cause");
        assert_eq!(cause.downcast_ref::<TimedOut>(), Some(&TimedOut { limit }));
        let serde = serde_json::from_str::<u8>("[").unwrap_err();
        let decode = Error::Decode {
            endpoint: "get_kf_list",
            status: 200,
            excerpt: "[".into(),
            source: DecodeReason::new(&serde, &[]),
        };
        assert!(
            decode
                .to_string()
                .starts_with("get_kf_list: could not decode the answer (HTTP status 200): ")
        );
        assert!(StdError::source(&decode).is_some_and(|c| c.is::<DecodeReason>()));
        let upload = Error::Upload {
            endpoint: "upload_temp_media",
            source: Arc::new(std::io::Error::other("gone")),
        };
        assert_eq!(
            upload.to_string(),
            "upload_temp_media: could not read the file to upload: gone"
        );
        assert!(StdError::source(&upload).is_some_and(|c| c.is::<std::io::Error>()));
        let store = |source| Error::Store {
            store: "redis",
            kind: StoreErrorKind::Unavailable,
            message: "GET".into(),
            source,
        };
        assert_eq!(
            store(None).to_string(),
            "redis token store: unavailable: GET"
        );
        assert!(StdError::source(&store(None)).is_none());
        let io: Arc<dyn StdError + Send + Sync> = Arc::new(std::io::Error::other("refused"));
        assert!(StdError::source(&store(Some(io))).is_some());
        let config = Error::config("no app secret");
        assert_eq!(config.to_string(), "configuration error: no app secret");
        assert!(StdError::source(&config).is_none());
    }

    #[test]
    fn rid_is_read_from_the_tail() {
        let msg = "response out of time limit or subscription is canceled rid: 6561a4b2-5e1d7a0c-3f2a9b11";
        assert_eq!(
            parse_rid(msg).as_deref(),
            Some("6561a4b2-5e1d7a0c-3f2a9b11")
        );
        assert_eq!(parse_rid("invalid credential"), None);
        assert_eq!(parse_rid("rid: abc-1"), Some("abc-1".to_owned()));
        assert_eq!(parse_rid("xrid: abc"), None);
        assert_eq!(parse_rid("ok rid: "), None);
    }

    #[test]
    fn excerpts_are_bounded_redacted_and_cut_on_char_boundaries() {
        let body = "客".repeat(1000);
        let text = excerpt(body.as_bytes(), &[]);
        assert_eq!(text.chars().count(), EXCERPT_CHARS + 1);
        assert!(text.ends_with('…'));
        let text = excerpt(
            b"<html>\nGET /x?access_token=TOK123 502</html>",
            &["TOK123", ""],
        );
        assert_eq!(text, "<html> GET /x?access_token=*** 502</html>");
        assert_eq!(excerpt(&[0xff, 0xfe, b'a'], &[]), "\u{fffd}\u{fffd}a");
        let token_answer = br#"{"access_token":"SOMEONE-ELSES","expires_in":7200}"#;
        assert!(!excerpt(token_answer, &[]).contains("SOMEONE"));
    }
}
