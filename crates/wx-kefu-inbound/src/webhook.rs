//! The framework-neutral webhook: checks a push (size, replay window, signature), opens it
//! (safe mode), decodes it, answers retries from the dedup cache, and seals the reply.
//!
//! ```
//! use wx_kefu_inbound::{Query, Reply, Webhook};
//!
//! # fn run(raw_query: &str, body: &[u8]) -> Result<(), wx_kefu_inbound::Error> {
//! let webhook = Webhook::builder()
//!     .token("TOKEN")
//!     .app_id("wx_APPID")
//!     .encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?
//!     .build()?;
//! let answer = webhook.handle(&Query::parse(raw_query), body, |push| {
//!     if push.is_event() { Reply::success() } else { Reply::transfer_customer_service() }
//! })?;
//! // respond 200 with answer.body, labelled answer.content_type
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crypto::AesKey;
use crate::dedup::{Bindings, Dedup, Seen, Ticket};
use crate::error::{Error, Result, echo};
use crate::push::Push;
use crate::reply::{Answer, Reply};
use crate::signature;
use crate::window::{Window, Windows};
use crate::xml::{self, Fields, push_cdata, push_integer};

/// The largest body accepted by default (WeChat's pushes are a few KiB).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// The replay window by default: a request's `timestamp` may be this far from now.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);
/// How many pushes the dedup cache remembers by default: over its lifetime (twice the
/// replay window, 600 s by default) that is about 100 pushes a second before a push is
/// forgotten early ([`Dedup::evicted_live`] counts those).
pub const DEFAULT_DEDUP_CAPACITY: usize = 65_536;

/// The query parameters WeChat signs a push (or the URL check) with, borrowed from the
/// raw query where they need no decoding (WeChat's never do), owned where they did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query<'a> {
    /// `signature`: sha1(sort(token, timestamp, nonce)).
    pub signature: Option<Cow<'a, str>>,
    /// `timestamp` (unix seconds).
    pub timestamp: Option<Cow<'a, str>>,
    /// `nonce`.
    pub nonce: Option<Cow<'a, str>>,
    /// `echostr`: echoed back by the URL check.
    pub echostr: Option<Cow<'a, str>>,
    /// `encrypt_type`: `aes` in safe mode.
    pub encrypt_type: Option<Cow<'a, str>>,
    /// `msg_signature`: sha1(sort(token, timestamp, nonce, Encrypt)), in safe mode.
    pub msg_signature: Option<Cow<'a, str>>,
    /// `openid`: the user, on message pushes.
    pub openid: Option<Cow<'a, str>>,
}

impl<'a> Query<'a> {
    /// Reads a raw query string (`a=1&b=2`, percent-encoded); unknown parameters are ignored.
    pub fn parse(raw: &'a str) -> Query<'a> {
        let mut query = Query::default();
        let raw = raw.trim_start_matches('?');
        let bytes = raw.as_bytes();
        // `&` ends a pair, its first `=` ends the key, and a `%` or `+` marks a part to
        // decode; all ASCII, so every slice stays valid UTF-8. Searched with memchr, and
        // for escapes only when the query has any (WeChat's have none).
        let any_escape = memchr::memchr2(b'%', b'+', bytes).is_some();
        let mut start = 0;
        while start <= bytes.len() {
            let end = memchr::memchr(b'&', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            let pair = &raw[start..end];
            start = end + 1;
            let (key, value) = match memchr::memchr(b'=', pair.as_bytes()) {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, ""),
            };
            let escaped =
                |part: &str| any_escape && memchr::memchr2(b'%', b'+', part.as_bytes()).is_some();
            let (escaped_key, escaped_value) = (escaped(key), escaped(value));
            // The keys are plain words; one spelled with escapes is decoded to be matched.
            let decoded;
            let key = match escaped_key {
                false => key,
                true => {
                    decoded = percent_decode(key);
                    decoded.as_str()
                }
            };
            if let Some(slot) = query.slot(key)
                && slot.is_none()
            {
                *slot = Some(match escaped_value {
                    false => Cow::Borrowed(value),
                    true => Cow::Owned(percent_decode(value)),
                });
            }
        }
        query
    }

    /// Where the value of `key` goes; `None` for a key WeChat's pushes do not use.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Cow<'a, str>>> {
        Some(match key {
            "signature" => &mut self.signature,
            "timestamp" => &mut self.timestamp,
            "nonce" => &mut self.nonce,
            "echostr" => &mut self.echostr,
            "encrypt_type" => &mut self.encrypt_type,
            "msg_signature" => &mut self.msg_signature,
            "openid" => &mut self.openid,
            _ => return None,
        })
    }

    /// Reads decoded name–value pairs (what a web framework's query extractor gives).
    pub fn from_pairs<K: AsRef<str>, V: Into<Cow<'a, str>>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Query<'a> {
        let mut query = Query::default();
        for (key, value) in pairs {
            // The first occurrence counts, as for the body's fields.
            if let Some(slot) = query.slot(key.as_ref())
                && slot.is_none()
            {
                *slot = Some(value.into());
            }
        }
        query
    }

    fn need<'q>(&self, value: &'q Option<Cow<'_, str>>, name: &'static str) -> Result<&'q str> {
        value.as_deref().ok_or(Error::MissingParam(name))
    }
}

/// `%XX` and `+` decoding; a malformed escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The current time in unix seconds, as the webhook sees it.
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Configures a [`Webhook`].
#[derive(Default)]
pub struct WebhookBuilder {
    token: Option<String>,
    app_id: Option<String>,
    key: Option<AesKey>,
    previous_key: Option<AesKey>,
    replay_window: Option<Option<Duration>>,
    max_body: Option<usize>,
    dedup: Option<Dedup>,
    clock: Option<Clock>,
    plain: bool,
    windows: Option<Arc<Windows>>,
    many_accounts: bool,
    #[cfg(feature = "shared")]
    shared: crate::shared::Settings,
}

impl std::fmt::Debug for WebhookBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookBuilder")
            .field("app_id", &self.app_id)
            .field("safe_mode", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookBuilder {
    /// The Token set in the account's server configuration (required).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The account's appid (required: safe mode checks it inside every message).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = Some(app_id.into());
        self
    }

    /// Accepts pushes in plain mode (明文模式), where no EncodingAESKey is set.
    ///
    /// **Plain mode authenticates no part of the body.** WeChat's plain `signature` covers
    /// the token, the timestamp and the nonce only, so whoever sees one signed request (a
    /// proxy's log, a TLS-terminating load balancer) can send another body under it. The
    /// webhook binds each signed query to the first body it carried, for as long as its
    /// timestamp is accepted, so a captured query cannot carry a second body; but it
    /// cannot tell a first forged body from WeChat's when the forger is faster. Safe mode
    /// ([`encoding_aes_key`](WebhookBuilder::encoding_aes_key)) signs the ciphertext and
    /// is the one to use in production; without a key, [`build`](WebhookBuilder::build)
    /// refuses unless this is called.
    pub fn plain_mode(mut self) -> Self {
        self.plain = true;
        self
    }

    /// The webhook receives the pushes of many accounts: a third-party platform's
    /// 消息与事件接收URL, where every authorizer's pushes arrive sealed with the platform's
    /// Token and key, and [`app_id`](WebhookBuilder::app_id) is the component appid that
    /// safe mode checks inside each. Pushes are then told apart by account (their
    /// `ToUserName`, which the signature covers): the dedup and the shared stores keep
    /// each account's pushes apart, so one account's `MsgId` is never another's retry.
    pub fn many_accounts(mut self) -> Self {
        self.many_accounts = true;
        self
    }

    /// The EncodingAESKey (43 characters): turns safe mode on, and plain pushes are refused.
    pub fn encoding_aes_key(mut self, key: &str) -> Result<Self> {
        self.key = Some(AesKey::from_encoding_aes_key(key)?);
        Ok(self)
    }

    /// The EncodingAESKey before the current one, accepted too while a new key rolls out
    /// (WeChat may still seal pushes with the old key for a while after the change).
    pub fn previous_encoding_aes_key(mut self, key: &str) -> Result<Self> {
        self.previous_key = Some(AesKey::from_encoding_aes_key(key)?);
        Ok(self)
    }

    /// How far a request's `timestamp` may be from now (default 300 s). `None`, no
    /// window, is refused by [`build`](WebhookBuilder::build): a push could then be
    /// replayed after the dedup cache forgot it, and would run the application again.
    pub fn replay_window(mut self, window: Option<Duration>) -> Self {
        self.replay_window = Some(window);
        self
    }

    /// The largest body accepted, in bytes (default 64 KiB).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body = Some(limit);
        self
    }

    /// The dedup cache: how many pushes it remembers, and for how long (default
    /// [`DEFAULT_DEDUP_CAPACITY`], twice the replay window). A lifetime shorter than twice
    /// the replay window, or a capacity of 0, is refused by [`build`](WebhookBuilder::build):
    /// a push first seen at one edge of the window stays acceptable until the other, and a
    /// replay after the cache forgot it would run the application again.
    pub fn dedup(mut self, capacity: usize, ttl: Duration) -> Self {
        self.dedup = Some(Dedup::new(capacity, ttl));
        self
    }

    /// The reply windows the pushes feed (default: a [`Windows`] of its own); pass one
    /// `Arc` to share it with the code that sends.
    pub fn windows(mut self, windows: Arc<Windows>) -> Self {
        self.windows = Some(windows);
        self
    }

    /// Where the time comes from (unix seconds); the system clock by default.
    /// For tests and emulators whose clock is not the wall clock. The replay window and
    /// the dedup cache's lifetime both read it.
    pub fn clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// Shares which pushes are handled with the other instances (feature `shared`): a
    /// retry that reaches another instance is not handled again. Only
    /// [`Webhook::process`] (async) can use it; `receive` and `handle` then refuse
    /// ([`Error::NeedsAsync`]).
    #[cfg(feature = "shared")]
    pub fn dedup_store(mut self, store: Arc<dyn crate::shared::DedupStore>) -> Self {
        self.shared.dedup = Some(store);
        self
    }

    /// Shares the reply windows with the other instances (feature `shared`); see
    /// [`dedup_store`](WebhookBuilder::dedup_store).
    #[cfg(feature = "shared")]
    pub fn window_store(mut self, store: Arc<dyn crate::shared::WindowStore>) -> Self {
        self.shared.windows = Some(store);
        self
    }

    /// Defers slow replies (feature `shared`): a handler that has not replied within the
    /// [budget](WebhookBuilder::reply_budget) is answered `success` for WeChat, and its
    /// reply, when it comes, waits in `outbox` and is sent by `sender` through the
    /// customer-service API (at most once). [`Webhook::process`] starts the sending on
    /// its first call ([`Webhook::start_delivery`] starts it at once).
    #[cfg(feature = "shared")]
    pub fn defer_replies(
        mut self,
        sender: Arc<dyn crate::shared::ReplySender>,
        outbox: Arc<dyn crate::shared::Outbox>,
    ) -> Self {
        self.shared.deferral = Some((sender, outbox));
        self
    }

    /// How long a handler may take before its reply is deferred (default
    /// [`DEFAULT_REPLY_BUDGET`](crate::shared::DEFAULT_REPLY_BUDGET), 4 s: WeChat waits 5).
    #[cfg(feature = "shared")]
    pub fn reply_budget(mut self, budget: Duration) -> Self {
        self.shared.budget = budget;
        self
    }

    /// How long a retry of a push still being handled (here or elsewhere) waits for its
    /// reply before answering `success` (default 4 s).
    #[cfg(feature = "shared")]
    pub fn retry_wait(mut self, wait: Duration) -> Self {
        self.shared.retry_wait = wait;
        self
    }

    /// How long a push's in-progress mark lives unless renewed (default 3 s): an instance
    /// that dies while handling lets a retry run the push again after this.
    #[cfg(feature = "shared")]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.shared.lease = lease;
        self
    }

    /// Deferred replies to a user whose window the tracker says is closed are reported
    /// ([`Problem::WindowClosed`](crate::shared::Problem::WindowClosed)) instead of sent.
    /// Off by default: the tracker is advisory.
    #[cfg(feature = "shared")]
    pub fn skip_closed_windows(mut self) -> Self {
        self.shared.skip_closed = true;
        self
    }

    /// The webhook, or what is missing.
    pub fn build(self) -> Result<Webhook> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .ok_or(Error::Config("the token is required"))?;
        let app_id = self
            .app_id
            .filter(|a| !a.is_empty())
            .ok_or(Error::Config("the appid is required"))?;
        if self.previous_key.is_some() && self.key.is_none() {
            return Err(Error::Config(
                "a previous EncodingAESKey needs a current one",
            ));
        }
        if self.key.is_none() && !self.plain {
            return Err(Error::Config(
                "no EncodingAESKey: plain mode authenticates no part of the body; set the key (safe mode) or opt in with `plain_mode()`",
            ));
        }
        let window = self
            .replay_window
            .unwrap_or(Some(DEFAULT_REPLAY_WINDOW))
            .ok_or(Error::Config(
                "a replay window is required: without one a push could be replayed after the dedup cache forgot it",
            ))?;
        // A push first seen at `timestamp - window` is accepted until `timestamp + window`.
        let needed = window.saturating_mul(2);
        let dedup = self
            .dedup
            .unwrap_or_else(|| Dedup::new(DEFAULT_DEDUP_CAPACITY, needed));
        if dedup.ttl() < needed || dedup.capacity() == 0 {
            return Err(Error::DedupTooShort {
                ttl_secs: if dedup.capacity() == 0 {
                    0
                } else {
                    dedup.ttl().as_secs()
                },
                needed_secs: needed.as_secs(),
            });
        }
        let keys: Vec<AesKey> = self.key.into_iter().chain(self.previous_key).collect();
        let bindings = keys
            .is_empty()
            .then(|| Bindings::new(dedup.capacity(), needed));
        #[cfg(feature = "shared")]
        let shared = self.shared.build()?;
        Ok(Webhook {
            inner: Arc::new(Inner {
                token,
                app_id,
                keys,
                replay_window: window,
                max_body: self.max_body.unwrap_or(DEFAULT_MAX_BODY),
                dedup: Arc::new(dedup),
                bindings,
                windows: self.windows.unwrap_or_default(),
                many_accounts: self.many_accounts,
                clock: self.clock.unwrap_or_else(|| Arc::new(system_now)),
                #[cfg(feature = "shared")]
                shared,
            }),
        })
    }
}

struct Inner {
    token: String,
    app_id: String,
    /// The current key first, then the previous one; empty in plain mode.
    keys: Vec<AesKey>,
    replay_window: Duration,
    max_body: usize,
    dedup: Arc<Dedup>,
    /// Plain mode only: each signed query's body.
    bindings: Option<Bindings>,
    /// The reply windows the pushes opened.
    windows: Arc<Windows>,
    /// Pushes of many accounts arrive here (a platform's): keyed by account too.
    many_accounts: bool,
    clock: Clock,
    /// The stores shared with other instances, and the deferral of slow replies.
    #[cfg(feature = "shared")]
    shared: crate::shared::Shared,
}

/// The account's server endpoint: checks, opens and decodes pushes and seals replies.
/// Cheap to clone (shared state: the dedup cache).
#[derive(Clone)]
pub struct Webhook {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Webhook {
    // The token and the keys stay out of Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("app_id", &self.inner.app_id)
            .field("safe_mode", &self.is_safe_mode())
            .field("keys", &self.inner.keys.len())
            .field("replay_window", &self.inner.replay_window)
            .field("max_body", &self.inner.max_body)
            .finish_non_exhaustive()
    }
}

/// A push that passed every check.
#[derive(Debug)]
#[non_exhaustive]
pub enum Delivery {
    /// Seen for the first time: process it, then [`Webhook::answer`] it.
    New(Incoming),
    /// A retry of a push answered recently: give WeChat this answer (the same reply, sealed
    /// anew) and do nothing else.
    Repeat {
        /// The push, decoded.
        push: Push,
        /// What to answer.
        answer: Answer,
    },
    /// A retry of a push whose first delivery is still being processed (WeChat gave up
    /// waiting for it after 5 s). Wait a little for [`Pending::answer`] — the first one's
    /// reply reaches WeChat only this way — and answer `success` if it does not come.
    InProgress(Pending),
}

/// A retry waiting for the first delivery's reply.
pub struct Pending {
    push: Push,
    key: Option<usize>,
    ticket: Option<Ticket>,
    webhook: Webhook,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("push", &self.push)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// The push.
    pub fn push(&self) -> &Push {
        &self.push
    }

    /// The first delivery's reply, sealed for this retry, once it has one; `None` while it
    /// is still being processed (or after it failed: then answer `success`).
    pub fn answer(&self) -> Option<Result<Answer>> {
        self.webhook
            .first_answer(&self.push, self.key, self.ticket.as_ref())
    }
}

/// A new push, to be answered with [`Webhook::answer`]. Dropped unanswered (the processing
/// failed), it is forgotten by the dedup cache so that WeChat's retry runs again.
pub struct Incoming {
    push: Push,
    /// Which key opened it (safe mode), to seal the reply with the same one.
    key: Option<usize>,
    ticket: Option<Ticket>,
    inner: Arc<Inner>,
    answered: bool,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("push", &self.push)
            .field("encrypted", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl Incoming {
    /// The push.
    pub fn push(&self) -> &Push {
        &self.push
    }

    /// Whether it came encrypted (the reply will be too).
    pub fn encrypted(&self) -> bool {
        self.key.is_some()
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.answered
            && let Some(ticket) = &self.ticket
        {
            self.inner.dedup.forget_ticket(ticket);
        }
    }
}

impl Webhook {
    /// A builder; the token and the appid are required.
    pub fn builder() -> WebhookBuilder {
        WebhookBuilder::default()
    }

    /// Whether an EncodingAESKey is configured (plain pushes are then refused).
    pub fn is_safe_mode(&self) -> bool {
        !self.inner.keys.is_empty()
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body
    }

    /// The dedup cache.
    pub fn dedup(&self) -> &Dedup {
        &self.inner.dedup
    }

    /// The reply windows the pushes opened (record each reply sent with
    /// [`Windows::replied`]).
    pub fn windows(&self) -> &Arc<Windows> {
        &self.inner.windows
    }

    /// Where the user stands now, by the pushes seen (advisory: see [`crate::window`]):
    /// read from the shared store when one is configured, else from [`Webhook::windows`].
    pub async fn window(&self, openid: &str) -> Result<Option<Window>> {
        #[cfg(feature = "shared")]
        if let Some(store) = &self.inner.shared.windows {
            return store.window(&self.inner.app_id, openid, self.now()).await;
        }
        Ok(self.inner.windows.window(openid, self.now()))
    }

    fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The URL check WeChat makes when the server address is saved (`GET` with
    /// `signature`, `timestamp`, `nonce`, `echostr`): the answer echoes `echostr`.
    pub fn verify_url(&self, query: &Query<'_>) -> Result<Answer> {
        let echostr = query.need(&query.echostr, "echostr")?;
        let (timestamp, nonce) = self.check_time(query, self.now())?;
        let given = query.need(&query.signature, "signature")?;
        if !signature::verify(given, &[&self.inner.token, timestamp, nonce]) {
            return Err(Error::BadSignature);
        }
        Ok(Answer::text(echostr.to_owned()))
    }

    /// The timestamp and nonce, once the timestamp is inside the replay window.
    fn check_time<'q>(&self, query: &'q Query<'_>, now: i64) -> Result<(&'q str, &'q str)> {
        let timestamp = query.need(&query.timestamp, "timestamp")?;
        let nonce = query.need(&query.nonce, "nonce")?;
        let window = self.inner.replay_window;
        let at: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Error::BadTimestamp(echo(timestamp)))?;
        let skew = now.abs_diff(at);
        if skew > window.as_secs() {
            return Err(Error::Replayed {
                timestamp: at,
                now,
                skew,
                window: window.as_secs(),
            });
        }
        Ok((timestamp, nonce))
    }

    /// Checks and decodes a push (`POST`): body size, replay window, signature; in safe
    /// mode `msg_signature`, decryption (current key, then the previous one) and the appid;
    /// then the XML. A retry of a recent push comes back as [`Delivery::Repeat`] (or
    /// [`Delivery::InProgress`] while the first is being processed).
    pub fn receive(&self, query: &Query<'_>, body: &[u8]) -> Result<Delivery> {
        let (push, key, seen, ticket) = self.accept(query, body)?;
        Ok(match seen {
            Seen::New => Delivery::New(Incoming {
                push,
                key,
                ticket,
                inner: Arc::clone(&self.inner),
                answered: false,
            }),
            Seen::InProgress => Delivery::InProgress(Pending {
                push,
                key,
                ticket,
                webhook: self.clone(),
            }),
            Seen::Answered(reply) => {
                let answer = self.seal(&push, key, &reply)?;
                Delivery::Repeat { push, answer }
            }
        })
    }

    /// Every check, the push opened and decoded, and what the dedup cache knows of it:
    /// the push, the index of the key that opened it, and its entry in the cache.
    fn accept(
        &self,
        query: &Query<'_>,
        body: &[u8],
    ) -> Result<(Push, Option<usize>, Seen, Option<Ticket>)> {
        #[cfg(feature = "shared")]
        if self.inner.shared.is_shared() {
            return Err(Error::NeedsAsync("receive/handle"));
        }
        let (push, key, now) = self.open_push(query, body)?;
        let scope = match self.inner.many_accounts {
            true => push.to_user_name.as_str(),
            false => "",
        };
        let (seen, ticket) = self.inner.dedup.enter_in(scope, push.key(), now);
        if seen == Seen::New {
            self.inner.windows.saw(&push);
        }
        Ok((push, key, seen, ticket))
    }

    /// Every check, and the push opened and decoded: the push, the index of the key that
    /// opened it, and the time it was checked at.
    fn open_push(&self, query: &Query<'_>, body: &[u8]) -> Result<(Push, Option<usize>, i64)> {
        let (fields, key, now) = self.open_fields(query, body)?;
        Ok((Push::from_fields(fields)?, key, now))
    }

    /// Every check, and the document opened: its fields, the index of the key that opened
    /// it, and the time it was checked at. What the fields mean is the caller's to decode
    /// (a push of the account, or a platform's authorization event).
    pub(crate) fn open_fields(
        &self,
        query: &Query<'_>,
        body: &[u8],
    ) -> Result<(Fields, Option<usize>, i64)> {
        if body.len() > self.inner.max_body {
            return Err(Error::BodyTooLarge {
                size: body.len(),
                limit: self.inner.max_body,
            });
        }
        let now = self.now();
        let (timestamp, nonce) = self.check_time(query, now)?;
        let encrypted = match query.encrypt_type.as_deref() {
            None | Some("") | Some("raw") => false,
            Some(t) if t.eq_ignore_ascii_case("aes") => true,
            Some(other) => return Err(Error::UnknownEncryptType(echo(other))),
        };
        let text = std::str::from_utf8(body).map_err(|_| Error::NotUtf8)?;
        let (fields, key) = if encrypted {
            if !self.is_safe_mode() {
                return Err(Error::NoKey);
            }
            // The envelope: only `Encrypt` is needed, borrowed from the body.
            let mut encrypt = None;
            xml::read(text, |name, value| {
                if name == "Encrypt" {
                    encrypt = Some(value);
                }
            })?;
            let ciphertext: &str = &encrypt.ok_or(Error::MissingCiphertext)?;
            let given = query.need(&query.msg_signature, "msg_signature")?;
            if !signature::verify(given, &[&self.inner.token, timestamp, nonce, ciphertext]) {
                return Err(Error::BadMsgSignature);
            }
            let (index, (plain, xml_start)) = self.open(ciphertext)?;
            (xml::parse_owned(plain, xml_start)?, Some(index))
        } else {
            if self.is_safe_mode() {
                return Err(Error::NotEncrypted);
            }
            let given = query.need(&query.signature, "signature")?;
            if !signature::verify(given, &[&self.inner.token, timestamp, nonce]) {
                return Err(Error::BadSignature);
            }
            // Keyed by what the signature signs (a signature's letter case varies, its
            // parts cannot without the token).
            if let Some(bindings) = &self.inner.bindings
                && !bindings.bind([timestamp, nonce], body, now)
            {
                return Err(Error::QueryReused);
            }
            (xml::parse(text)?, None)
        };
        Ok((fields, key, now))
    }

    /// Decrypts with each key in turn; the first that opens it for this appid wins.
    fn open(&self, ciphertext: &str) -> Result<(usize, (String, usize))> {
        let mut failure = Error::Decrypt;
        for (index, key) in self.inner.keys.iter().enumerate() {
            match key.decrypt_in_place(ciphertext) {
                Ok(opened) => match opened.app_id() {
                    Ok(app_id) if app_id == self.inner.app_id => {
                        return Ok((index, opened.into_text()?));
                    }
                    Ok(app_id) => {
                        failure = Error::WrongAppId {
                            found: echo(app_id),
                        }
                    }
                    Err(error) => {
                        if !matches!(failure, Error::WrongAppId { .. }) {
                            failure = error;
                        }
                    }
                },
                Err(Error::BadBase64) => return Err(Error::BadBase64),
                Err(error) => {
                    if !matches!(failure, Error::WrongAppId { .. }) {
                        failure = error;
                    }
                }
            }
        }
        Err(failure)
    }

    /// The answer to a new push: the reply as XML (sealed with the key that opened the push,
    /// in safe mode), or `success`. Remembered by the dedup cache for retries.
    pub fn answer(&self, mut incoming: Incoming, reply: &Reply) -> Result<Answer> {
        let answer = self.seal(&incoming.push, incoming.key, reply)?;
        if let Some(ticket) = &incoming.ticket {
            self.inner.dedup.finish_ticket(ticket, reply);
        }
        incoming.answered = true;
        Ok(answer)
    }

    /// The reply the first delivery of a push got, sealed for a retry; `None` while it has
    /// none.
    fn first_answer(
        &self,
        push: &Push,
        key: Option<usize>,
        ticket: Option<&Ticket>,
    ) -> Option<Result<Answer>> {
        let reply = self.inner.dedup.reply_of(ticket?)?;
        Some(self.seal(push, key, &reply))
    }

    fn seal(&self, push: &Push, key: Option<usize>, reply: &Reply) -> Result<Answer> {
        let now = self.now();
        let Some(xml_text) = reply.to_xml(push, now) else {
            return Ok(Answer::success());
        };
        let Some(key) = key.and_then(|index| self.inner.keys.get(index)) else {
            return Ok(Answer::xml(xml_text));
        };
        // One draw for the block's random prefix and the nonce.
        let mut random = [0u8; 20];
        getrandom::fill(&mut random).map_err(|e| Error::Random(e.to_string()))?;
        let (block, nonce) = random.split_at(16);
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(block);
        let encrypted = key.encrypt_with(prefix, &xml_text, &self.inner.app_id);
        let mut timestamp = String::with_capacity(20);
        push_integer(&mut timestamp, now);
        let mut nonce_text = String::with_capacity(10);
        push_integer(
            &mut nonce_text,
            i64::from(u32::from_be_bytes([nonce[0], nonce[1], nonce[2], nonce[3]])),
        );
        let signature = signature::sign(&[&self.inner.token, &timestamp, &nonce_text, &encrypted]);
        let mut body = String::with_capacity(encrypted.len() + 160);
        body.push_str("<xml><Encrypt>");
        push_cdata(&mut body, &encrypted);
        body.push_str("</Encrypt><MsgSignature>");
        push_cdata(&mut body, &signature);
        body.push_str("</MsgSignature><TimeStamp>");
        body.push_str(&timestamp);
        body.push_str("</TimeStamp><Nonce>");
        push_cdata(&mut body, &nonce_text);
        body.push_str("</Nonce></xml>");
        Ok(Answer::xml(body))
    }

    /// The whole round for a `POST`: [`receive`](Webhook::receive), the application's reply
    /// (not asked again for a retry), [`answer`](Webhook::answer). A retry arriving while the
    /// first delivery is still being processed is answered `success` (this call cannot wait;
    /// the axum route waits up to 4 s for the first reply).
    pub fn handle(
        &self,
        query: &Query<'_>,
        body: &[u8],
        app: impl FnOnce(&Push) -> Reply,
    ) -> Result<Answer> {
        // As `receive`, without handing the push out: nothing outlives this call.
        let (push, key, seen, ticket) = self.accept(query, body)?;
        match seen {
            Seen::Answered(reply) => self.seal(&push, key, &reply),
            // Nothing to wait with here: `success` stops WeChat's retries.
            Seen::InProgress => self
                .first_answer(&push, key, ticket.as_ref())
                .unwrap_or(Ok(Answer::success())),
            Seen::New => {
                // If the application panics, the push is forgotten so that WeChat's retry
                // runs it again, as dropping an unanswered `Incoming` does.
                let mut pending = Unanswered {
                    dedup: &self.inner.dedup,
                    ticket,
                };
                let reply = app(&push);
                let answer = self.seal(&push, key, &reply)?;
                if let Some(ticket) = pending.ticket.take() {
                    self.inner.dedup.finish_ticket(&ticket, &reply);
                }
                Ok(answer)
            }
        }
    }
}

#[cfg(feature = "shared")]
impl Webhook {
    /// The whole round for a `POST`, for several instances (feature `shared`): the checks
    /// of [`receive`](Webhook::receive), then the dedup store (shared, when
    /// [configured](WebhookBuilder::dedup_store)):
    ///
    /// - a push seen for the first time runs `handler` in a task of its own, holding the
    ///   push's in-progress mark (renewed) until it replies; the reply is sealed and kept
    ///   for retries. With [deferral](WebhookBuilder::defer_replies), a handler still
    ///   running after the budget is answered `success`, and its reply goes to the outbox
    ///   to be sent by the customer-service API;
    /// - a retry of a push in progress (on any instance) waits up to the
    ///   [retry wait](WebhookBuilder::retry_wait) for its reply, else answers `success`;
    /// - a retry of a push answered gets the same reply, sealed anew.
    ///
    /// The handler never runs twice for one push while the store remembers it. If the
    /// store is unreachable the push is refused ([`Error::Store`], HTTP 503) before the
    /// handler runs. Dropping this future (the caller hung up) does not stop the handling.
    pub async fn process<H, F>(&self, query: &Query<'_>, body: &[u8], handler: H) -> Result<Answer>
    where
        H: FnOnce(Push) -> F,
        F: std::future::Future<Output = Reply> + Send + 'static,
    {
        self.process_for(None, query, body, handler).await
    }

    /// [`process`](Webhook::process) on a platform's message URL, for the authorizer
    /// `appid` the route names (its `$APPID$`): a deferred reply is put in the outbox under
    /// that appid, so that the sender sends it as that account. (The dedup still keys the
    /// push by its signed `ToUserName`.)
    pub async fn process_as<H, F>(
        &self,
        appid: &str,
        query: &Query<'_>,
        body: &[u8],
        handler: H,
    ) -> Result<Answer>
    where
        H: FnOnce(Push) -> F,
        F: std::future::Future<Output = Reply> + Send + 'static,
    {
        self.process_for(Some(appid), query, body, handler).await
    }

    async fn process_for<H, F>(
        &self,
        deferred_as: Option<&str>,
        query: &Query<'_>,
        body: &[u8],
        handler: H,
    ) -> Result<Answer>
    where
        H: FnOnce(Push) -> F,
        F: std::future::Future<Output = Reply> + Send + 'static,
    {
        use crate::shared::{DedupStore, PushKey};
        let deferred_as: Option<String> = deferred_as.map(str::to_owned);
        let (push, key, _) = self.open_push(query, body)?;
        self.start_delivery();
        let store: Arc<dyn DedupStore> = match &self.inner.shared.dedup {
            Some(store) => Arc::clone(store),
            None => self.inner.dedup.clone(),
        };
        let dedup_key = push.dedup_key();
        // The account the push came to: the one account, or on a platform's webhook the
        // authorizer's original id (`ToUserName`, signed with the push).
        let account: Arc<str> = match self.inner.many_accounts {
            true => push.to_user_name.as_str().into(),
            false => self.inner.app_id.as_str().into(),
        };
        let push_key = PushKey {
            app_id: &account,
            key: &dedup_key,
        };
        match store.begin(push_key, self.inner.shared.lease).await? {
            Seen::Answered(reply) => return self.seal(&push, key, &reply),
            Seen::InProgress => {
                let deadline = tokio::time::Instant::now() + self.inner.shared.retry_wait;
                loop {
                    if let Some(reply) = store.reply(push_key).await? {
                        return self.seal(&push, key, &reply);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Ok(Answer::success());
                    }
                    tokio::time::sleep(RETRY_POLL).await;
                }
            }
            Seen::New => {}
        }
        // The window opened; advisory, so a store failure is logged, not fatal.
        let fed = match &self.inner.shared.windows {
            Some(windows) => crate::shared::saw(windows.as_ref(), &account, &push).await,
            None => {
                self.inner.windows.saw(&push);
                Ok(())
            }
        };
        if let Err(error) = fed {
            tracing::warn!(%error, "wx-kefu webhook: the window store missed a push");
        }
        // The rest runs in a task of its own: if the caller hangs up, the push is still
        // handled, finished (or forgotten) and its reply kept.
        let work = handler(push.clone());
        let (tell, told) = tokio::sync::oneshot::channel();
        let webhook = self.clone();
        tokio::spawn(async move {
            let push_key = PushKey {
                app_id: &account,
                key: &dedup_key,
            };
            let reply = webhook
                .supervise(store.as_ref(), push_key, deferred_as, &push, work)
                .await;
            let answer = match reply {
                Ok(Some(reply)) => webhook.seal(&push, key, &reply),
                Ok(None) => Ok(Answer::success()),
                Err(error) => Err(error),
            };
            let _ = tell.send(answer);
        });
        told.await
            .unwrap_or_else(|_| Err(Error::Application("the handling task ended".into())))
    }

    /// Runs the handler holding the push's mark: its reply (`None`: deferred, answer
    /// `success`), the mark finished; or the push forgotten after a panic.
    async fn supervise<F>(
        &self,
        store: &dyn crate::shared::DedupStore,
        push_key: crate::shared::PushKey<'_>,
        deferred_as: Option<String>,
        push: &Push,
        work: F,
    ) -> Result<Option<Reply>>
    where
        F: std::future::Future<Output = Reply> + Send + 'static,
    {
        let shared = &self.inner.shared;
        let ttl = self.inner.dedup.ttl();
        let mut task = tokio::spawn(work);
        let mut renew = tokio::time::interval(shared.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        let budget = shared.deferral.as_ref().map(|d| d.budget);
        let deadline = tokio::time::sleep(budget.unwrap_or(Duration::MAX / 4));
        tokio::pin!(deadline);
        let joined = loop {
            tokio::select! {
                joined = &mut task => break Some(joined),
                _ = renew.tick() => {
                    match store.renew(push_key, shared.lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("wx-kefu webhook: a push's in-progress mark was lost while its handler ran; a retry may run it again"),
                        Err(error) => tracing::warn!(%error, "wx-kefu webhook: could not renew a push's in-progress mark"),
                    }
                }
                _ = &mut deadline, if budget.is_some() => break None,
            }
        };
        match joined {
            Some(Ok(reply)) => {
                if let Err(error) = store.finish(push_key, &reply, ttl).await {
                    tracing::warn!(%error, "wx-kefu webhook: could not record a push's reply; a retry may run it again");
                }
                Ok(Some(reply))
            }
            Some(Err(error)) => {
                let _ = store.forget(push_key).await;
                Err(Error::Application(error.to_string()))
            }
            None => {
                // Past the budget: WeChat gets `success`, retries get the same, and the
                // reply goes to the outbox when it comes.
                if let Err(error) = store.finish(push_key, &Reply::Success, ttl).await {
                    tracing::warn!(%error, "wx-kefu webhook: could not record a deferred push; a retry may run it again");
                }
                let Some(deferral) = shared.deferral.clone() else {
                    return Ok(None);
                };
                let (app_id, openid, pushed_at) = (
                    deferred_as.unwrap_or_else(|| push_key.app_id.to_owned()),
                    push.from_user_name.clone(),
                    push.create_time,
                );
                tokio::spawn(async move {
                    let reply = match task.await {
                        Ok(Reply::Success) => return,
                        Ok(reply) => reply,
                        Err(error) => {
                            tracing::warn!(%error, "wx-kefu webhook: a deferred handler failed");
                            return;
                        }
                    };
                    let deferred = crate::shared::Deferred::new(app_id, openid, reply, pushed_at);
                    let stored = match crate::shared::cannot_defer(&deferred.reply) {
                        Some(why) => {
                            tracing::warn!(why, "wx-kefu webhook: a late reply cannot be deferred");
                            deferral
                                .outbox
                                .report(&crate::shared::Report {
                                    deferred,
                                    problem: crate::shared::Problem::CannotDefer(why),
                                })
                                .await
                        }
                        None => deferral.outbox.put(&deferred).await,
                    };
                    if let Err(error) = stored {
                        tracing::error!(%error, "wx-kefu webhook: a late reply could not be put in the outbox: lost");
                    }
                });
                Ok(None)
            }
        }
    }

    /// Starts sending deferred replies (once; [`process`](Webhook::process) calls it):
    /// a task takes them from the outbox, and those a silent instance left, and sends
    /// each at most once. Needs a Tokio runtime; does nothing without deferral.
    pub fn start_delivery(&self) {
        let Some(deferral) = &self.inner.shared.deferral else {
            return;
        };
        self.inner.shared.delivery.get_or_init(|| {
            let windows: Arc<dyn crate::shared::WindowStore> = match &self.inner.shared.windows {
                Some(store) => Arc::clone(store),
                None => self.inner.windows.clone(),
            };
            let clock = Arc::clone(&self.inner.clock);
            tokio::spawn(crate::shared::deliver(deferral.clone(), windows, clock)).abort_handle()
        });
    }

    /// The deferred replies that were not sent, and why (see
    /// [`Outbox::reports`](crate::shared::Outbox::reports)); empty without deferral.
    pub async fn reports(&self) -> Result<Vec<crate::shared::Report>> {
        match &self.inner.shared.deferral {
            Some(deferral) => deferral.outbox.reports().await,
            None => Ok(Vec::new()),
        }
    }
}

/// How often a retry looks for the first delivery's reply.
#[cfg(feature = "shared")]
const RETRY_POLL: Duration = Duration::from_millis(50);

/// An entry of the dedup cache whose push has no reply yet: forgotten when dropped so.
struct Unanswered<'a> {
    dedup: &'a Dedup,
    ticket: Option<Ticket>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = &self.ticket {
            self.dedup.forget_ticket(ticket);
        }
    }
}
