//! Every way a push, a URL check or a configuration can be refused: one typed error each,
//! so a server can count and log them apart, and none of them panics.
//!
//! Many refusals happen before the signature is checked, so what they carry of the request
//! is an attacker's text: it is kept to [`ECHO_CHARS`] characters when the error is made
//! ([`echo`]) and shown quoted and escaped (`"a\r\nb"`), so a log line never holds a forged
//! line break or a megabyte of someone else's choosing.

/// The most characters of a request an error keeps.
pub const ECHO_CHARS: usize = 32;

/// At most [`ECHO_CHARS`] characters of `text`, with `…` when more were cut.
pub(crate) fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// Why a push (or the URL verification, or the configuration) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is larger than the configured cap; it was not parsed.
    #[error("the body has {size} bytes or more, more than the {limit} allowed")]
    BodyTooLarge {
        /// The size of the body (at least this much, when it was not read to the end).
        size: usize,
        /// The configured cap.
        limit: usize,
    },
    /// A query parameter the check needs is absent (`signature`, `timestamp`, `nonce`,
    /// `msg_signature`, `echostr`).
    #[error("the query has no `{0}`")]
    MissingParam(&'static str),
    /// The `timestamp` of the query is not a number of seconds.
    #[error("the timestamp {0:?} is not a number")]
    BadTimestamp(String),
    /// The `timestamp` is too far from now: a replayed (or badly delayed) request.
    #[error(
        "the timestamp {timestamp} is {skew} s away from now ({now}), outside the {window} s window: a replay?"
    )]
    Replayed {
        /// The timestamp of the request.
        timestamp: i64,
        /// The time it was checked at.
        now: i64,
        /// How far apart the two are, in seconds.
        skew: u64,
        /// The window allowed, in seconds.
        window: u64,
    },
    /// A plain-mode query (`timestamp`, `nonce`, `signature`) came again with another body.
    /// The plain signature covers no part of the body, so each signed query is bound to
    /// the digest of the first body it carried, for as long as it could be replayed;
    /// WeChat's own retries send the same bytes and pass.
    #[error(
        "this signed query came before with another body: a captured signature with a forged body?"
    )]
    QueryReused,
    /// The dedup cache would forget a push before the replay window stops accepting it, so
    /// a replay could run the application again: refused when the webhook is built.
    #[error(
        "the dedup cache keeps a push {ttl_secs} s, less than the {needed_secs} s a replay stays acceptable (twice the replay window)"
    )]
    DedupTooShort {
        /// What the cache was given, in seconds.
        ttl_secs: u64,
        /// What it needs: twice the replay window.
        needed_secs: u64,
    },
    /// The plain-mode `signature` does not match the token, timestamp and nonce.
    #[error("the signature does not match: not from WeChat, or a different token")]
    BadSignature,
    /// The safe-mode `msg_signature` does not match the token, timestamp, nonce and ciphertext.
    #[error(
        "the msg_signature does not match: not from WeChat, a different token, or a tampered body"
    )]
    BadMsgSignature,
    /// The push is encrypted (`encrypt_type=aes`) and no EncodingAESKey is configured.
    #[error("the push is encrypted (encrypt_type=aes) but no EncodingAESKey is configured")]
    NoKey,
    /// The webhook is in safe mode and the push came in plain text: refused, so that an
    /// attacker who learnt the token cannot bypass the encryption.
    #[error("a plain push was refused: the webhook is in safe mode")]
    NotEncrypted,
    /// `encrypt_type` names something other than `aes` (or `raw`, plain).
    #[error("unknown encrypt_type {0:?}")]
    UnknownEncryptType(String),
    /// The safe-mode body has no `<Encrypt>`.
    #[error("the encrypted body has no <Encrypt>")]
    MissingCiphertext,
    /// `<Encrypt>` is not base64.
    #[error("the ciphertext is not valid base64")]
    BadBase64,
    /// The ciphertext does not decrypt with any configured key (wrong length or padding).
    #[error("the ciphertext does not decrypt with the configured key(s)")]
    Decrypt,
    /// It decrypted, but the inside is not random(16) + length(4) + XML + appid.
    #[error("the decrypted message is malformed: {0}")]
    Malformed(&'static str),
    /// It decrypted, but for another official account.
    #[error("the message is for the appid {found:?}, not this account's")]
    WrongAppId {
        /// The appid inside the message.
        found: String,
    },
    /// The body could not be read (the connection failed).
    #[error("the body could not be read: {0:?}")]
    Body(String),
    /// The XML is not UTF-8.
    #[error("the body is not UTF-8")]
    NotUtf8,
    /// The XML has a `<!DOCTYPE …>`: refused outright, so no entity is ever defined (XXE).
    #[error("the XML has a DOCTYPE: refused (no DTD, no entities, no XXE)")]
    Doctype,
    /// The XML refers to an entity other than the five predefined ones
    /// (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`) or a character reference.
    #[error("the XML refers to the entity {0:?}: refused (entities are never resolved)")]
    Entity(String),
    /// The XML has a processing instruction other than the declaration.
    #[error("the XML has a processing instruction: refused")]
    ProcessingInstruction,
    /// The XML is not well-formed.
    #[error("the XML is malformed: {0:?}")]
    Xml(String),
    /// The root element is not `<xml>`.
    #[error("the root element is {0:?}, not <xml>")]
    NotXmlRoot(String),
    /// The XML nests deeper than allowed.
    #[error("the XML nests deeper than {0} levels")]
    TooDeep(usize),
    /// The XML has more elements than allowed.
    #[error("the XML has more than {0} elements")]
    TooManyElements(usize),
    /// A field of the push appears twice (which one would count is ambiguous: refused).
    #[error("the field {0:?} appears twice")]
    DuplicateField(String),
    /// A field the push needs is absent.
    #[error("the push has no <{0}>")]
    MissingField(String),
    /// A field does not hold what its type needs.
    #[error("the field {field:?} is {value:?}, not {expected}")]
    BadField {
        /// The field's XML name.
        field: String,
        /// Its value as sent.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The EncodingAESKey is not 43 characters of base64 standing for 32 bytes.
    #[error("an EncodingAESKey is 43 characters of base64 (A-Z, a-z, 0-9, +, /)")]
    BadAesKey,
    /// The configuration is incomplete.
    #[error("the webhook configuration is incomplete: {0}")]
    Config(&'static str),
    /// The application's handler failed (panicked) before it replied.
    #[error("the application's handler failed: {0}")]
    Application(String),
    /// The operating system gave no randomness for an encrypted reply.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// The shared store (Redis) did not answer, or answered something unreadable: the
    /// push was not handled (a retry will try again), never handled twice.
    #[error("the shared {store} store could not {what}: {reason}")]
    Store {
        /// Which store: `dedup`, `windows` or `outbox`.
        store: &'static str,
        /// What it was asked to do.
        what: &'static str,
        /// Why it failed (the kind of failure; never a URL, a password or a key's value).
        reason: String,
    },
    /// This call cannot use the shared stores configured on the webhook: use
    /// [`Webhook::process`](crate::Webhook::process) (async) instead.
    #[error(
        "the webhook shares its state across instances: call `Webhook::process` (async), not `{0}`"
    )]
    NeedsAsync(&'static str),
}

impl Error {
    /// The HTTP status a server answers this error with: 413 for a body over the cap,
    /// 401 for a signature or replay failure, 500 for a configuration or randomness
    /// problem, 503 when the shared store is away (WeChat retries), 400 for everything else.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BodyTooLarge { .. } => 413,
            Error::MissingParam(_)
            | Error::BadTimestamp(_)
            | Error::Replayed { .. }
            | Error::BadSignature
            | Error::BadMsgSignature
            | Error::QueryReused
            | Error::NotEncrypted => 401,
            Error::NoKey
            | Error::BadAesKey
            | Error::Config(_)
            | Error::DedupTooShort { .. }
            | Error::Random(_)
            | Error::Application(_)
            | Error::NeedsAsync(_) => 500,
            Error::Store { .. } => 503,
            _ => 400,
        }
    }
}

impl Error {
    /// A fixed, short phrase for the HTTP answer of [`Error::http_status`]: a server tells
    /// the caller no more than this (the details, quoted and cut, are for its own log).
    pub fn public_reason(&self) -> &'static str {
        match self.http_status() {
            413 => "payload too large",
            503 => "service unavailable",
            401 => "unauthorized",
            500 => "internal error",
            _ => "bad request",
        }
    }
}

/// The result of the inbound side.
pub type Result<T, E = Error> = std::result::Result<T, E>;
