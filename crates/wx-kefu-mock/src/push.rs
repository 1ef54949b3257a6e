//! The other direction: the emulator pushes to the account's server (a webhook URL) what
//! WeChat would — user messages, and the kefu events as sessions change — signed like WeChat
//! (plain `signature`, or safe mode's AES-256-CBC and `msg_signature`), retried when no answer
//! comes in time, and it reads the passive reply: `transfer_customer_service` puts the user
//! in the waiting queue (or straight into a session with the named agent).
//!
//! The pushes are written here by hand from WeChat's documentation, not with the SDK's types;
//! only the AES sealing, the SHA-1 signature and the XML reader of `wx-kefu-inbound` are
//! reused (the inbound crate's tests check those against independent vectors).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use wx_kefu_inbound::crypto::AesKey;
use wx_kefu_inbound::{signature, xml};

use crate::answer::random_u64;
use crate::changes::Changes;

/// Where and how the emulator pushes to the account's server.
#[derive(Clone)]
pub struct WebhookConfig {
    pub(crate) url: String,
    /// Further URLs of the same server (instances behind no load balancer): the attempts
    /// go to `url` and these in turn, round-robin across pushes.
    pub(crate) also: Vec<String>,
    pub(crate) token: String,
    pub(crate) key: Option<AesKey>,
    pub(crate) original_id: String,
    pub(crate) timeout: Duration,
    pub(crate) attempts: u32,
}

impl fmt::Debug for WebhookConfig {
    // The token and the key stay out of Debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("safe_mode", &self.key.is_some())
            .field("original_id", &self.original_id)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// Plain mode: pushes in clear XML, signed with `signature` over the token.
    pub fn plain(url: impl Into<String>, token: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            also: Vec::new(),
            token: token.into(),
            key: None,
            original_id: "gh_e6d1a0c7f2b3".into(),
            timeout: Duration::from_secs(5),
            attempts: 3,
        }
    }

    /// Safe mode: pushes sealed with the EncodingAESKey (43 characters) and signed with
    /// `msg_signature`; replies must be sealed too.
    pub fn safe(
        url: impl Into<String>,
        token: impl Into<String>,
        encoding_aes_key: &str,
    ) -> Result<WebhookConfig, wx_kefu_inbound::Error> {
        let key = AesKey::from_encoding_aes_key(encoding_aes_key)?;
        Ok(WebhookConfig {
            key: Some(key),
            ..WebhookConfig::plain(url, token)
        })
    }

    /// Another URL of the same server (one of its instances): the emulator sends each
    /// attempt to the next URL in turn, round-robin across pushes, as a load balancer in
    /// front of several instances would; so a retry may reach another instance.
    pub fn also_to(mut self, url: impl Into<String>) -> Self {
        self.also.push(url.into());
        self
    }

    /// Every URL pushes go to, in turn.
    pub fn urls(&self) -> Vec<&str> {
        std::iter::once(self.url.as_str())
            .chain(self.also.iter().map(String::as_str))
            .collect()
    }

    /// The account's original id, the pushes' `ToUserName` (default `gh_e6d1a0c7f2b3`).
    pub fn original_id(mut self, original_id: impl Into<String>) -> Self {
        self.original_id = original_id.into();
        self
    }

    /// How long to wait for an answer before trying again (WeChat: 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a push is sent when no answer comes (WeChat: 3; at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The account's original id.
    pub fn account(&self) -> &str {
        &self.original_id
    }
}

/// Something a user sends to the account.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UserInput {
    /// Text.
    Text(String),
    /// A tap on an item of a menu message (`msgmenu`): a text with `bizmsgmenuid`.
    MenuTap {
        /// The item's text.
        content: String,
        /// The item's `id`.
        bizmsgmenuid: String,
    },
    /// An image.
    Image {
        /// Its URL.
        pic_url: String,
        /// Its media id.
        media_id: String,
    },
    /// A voice message.
    Voice {
        /// Its media id.
        media_id: String,
        /// `amr`, `speex`, ….
        format: String,
    },
    /// A video.
    Video {
        /// Its media id.
        media_id: String,
        /// Its thumbnail's media id.
        thumb_media_id: String,
    },
    /// A location.
    Location {
        /// Latitude.
        x: f64,
        /// Longitude.
        y: f64,
        /// Zoom level.
        scale: i64,
        /// The place in words.
        label: String,
    },
    /// A link.
    Link {
        /// Title.
        title: String,
        /// Description.
        description: String,
        /// URL.
        url: String,
    },
}

impl UserInput {
    /// A text.
    pub fn text(content: impl Into<String>) -> UserInput {
        UserInput::Text(content.into())
    }

    /// A tap on a menu item.
    pub fn menu_tap(content: impl Into<String>, bizmsgmenuid: impl Into<String>) -> UserInput {
        UserInput::MenuTap {
            content: content.into(),
            bizmsgmenuid: bizmsgmenuid.into(),
        }
    }

    /// `MsgType`.
    pub(crate) fn msg_type(&self) -> &'static str {
        match self {
            UserInput::Text(_) | UserInput::MenuTap { .. } => "text",
            UserInput::Image { .. } => "image",
            UserInput::Voice { .. } => "voice",
            UserInput::Video { .. } => "video",
            UserInput::Location { .. } => "location",
            UserInput::Link { .. } => "link",
        }
    }

    /// Its content in a conversation, as the wire's fields.
    pub(crate) fn content(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            UserInput::Text(content) => json!({ "content": content }),
            UserInput::MenuTap {
                content,
                bizmsgmenuid,
            } => json!({ "content": content, "bizmsgmenuid": bizmsgmenuid }),
            UserInput::Image { pic_url, media_id } => {
                json!({ "pic_url": pic_url, "media_id": media_id })
            }
            UserInput::Voice { media_id, format } => {
                json!({ "media_id": media_id, "format": format })
            }
            UserInput::Video {
                media_id,
                thumb_media_id,
            } => json!({ "media_id": media_id, "thumb_media_id": thumb_media_id }),
            UserInput::Location { x, y, scale, label } => {
                json!({ "x": x, "y": y, "scale": scale, "label": label })
            }
            UserInput::Link {
                title,
                description,
                url,
            } => json!({ "title": title, "description": description, "url": url }),
        }
    }

    /// How it reads in the chat records.
    pub(crate) fn record_text(&self) -> String {
        match self {
            UserInput::Text(content) | UserInput::MenuTap { content, .. } => content.clone(),
            other => format!("[{}]", other.msg_type()),
        }
    }

    /// The fields after `MsgType`.
    fn fields(&self) -> String {
        match self {
            UserInput::Text(content) => text("Content", content),
            UserInput::MenuTap {
                content,
                bizmsgmenuid,
            } => text("Content", content) + &text("bizmsgmenuid", bizmsgmenuid),
            UserInput::Image { pic_url, media_id } => {
                text("PicUrl", pic_url) + &text("MediaId", media_id)
            }
            UserInput::Voice { media_id, format } => {
                text("MediaId", media_id) + &text("Format", format)
            }
            UserInput::Video {
                media_id,
                thumb_media_id,
            } => text("MediaId", media_id) + &text("ThumbMediaId", thumb_media_id),
            UserInput::Location { x, y, scale, label } => format!(
                "<Location_X>{x}</Location_X><Location_Y>{y}</Location_Y><Scale>{scale}</Scale>{}",
                text("Label", label)
            ),
            UserInput::Link {
                title,
                description,
                url,
            } => text("Title", title) + &text("Description", description) + &text("Url", url),
        }
    }
}

/// A kefu event, as sessions change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KefuEvent {
    Create {
        openid: String,
        kf_account: String,
    },
    Close {
        openid: String,
        kf_account: String,
    },
    Switch {
        openid: String,
        from: String,
        to: String,
    },
}

impl KefuEvent {
    fn name(&self) -> &'static str {
        match self {
            KefuEvent::Create { .. } => "kf_create_session",
            KefuEvent::Close { .. } => "kf_close_session",
            KefuEvent::Switch { .. } => "kf_switch_session",
        }
    }

    fn openid(&self) -> &str {
        match self {
            KefuEvent::Create { openid, .. }
            | KefuEvent::Close { openid, .. }
            | KefuEvent::Switch { openid, .. } => openid,
        }
    }

    fn fields(&self) -> String {
        match self {
            KefuEvent::Create { kf_account, .. } | KefuEvent::Close { kf_account, .. } => {
                text("KfAccount", kf_account)
            }
            KefuEvent::Switch { from, to, .. } => {
                text("FromKfAccount", from) + &text("ToKfAccount", to)
            }
        }
    }
}

/// `<name><![CDATA[value]]></name>`, the CDATA unbreakable.
pub(crate) fn text(name: &str, value: &str) -> String {
    format!(
        "<{name}><![CDATA[{}]]></{name}>",
        value.replace("]]>", "]]]]><![CDATA[>")
    )
}

/// What the account's server answered a push, as WeChat would read it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// `success` or an empty body: nothing to do.
    Success,
    /// `transfer_customer_service`: the user was handed to the agents — `serving` names the
    /// agent when a session started at once (the named agent, online), otherwise the user
    /// waits in the queue. `kf_account` is the agent the reply named, if any.
    Transferred {
        /// `TransInfo/KfAccount` of the reply.
        kf_account: Option<String>,
        /// The agent now serving the user, if a session started (or existed).
        serving: Option<String>,
    },
    /// A passive reply to the user (text, image, …).
    Replied {
        /// Its `MsgType`.
        msg_type: String,
        /// Its `Content`, for a text.
        content: Option<String>,
    },
    /// Something WeChat would refuse (bad XML, bad signature, wrong appid, not sealed in safe
    /// mode, addressed to someone else): the user would see "该公众号暂时无法提供服务".
    Invalid(String),
    /// An HTTP status other than 200.
    Status(u16),
    /// No answer in time, after every attempt.
    NoAnswer,
}

/// One push the emulator made, and what came of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PushRecord {
    /// `text`, `image`, … for a user message; the event's name (`kf_create_session`, …).
    pub kind: String,
    /// The user.
    pub openid: String,
    /// `MsgId` of a user message.
    pub msg_id: Option<i64>,
    /// The push's XML before sealing.
    pub xml: String,
    /// How many times it was sent.
    pub attempts: u32,
    /// The URL each attempt went to, in order.
    pub urls: Vec<String>,
    /// What the server answered.
    pub outcome: PushOutcome,
}

/// What the emulator does with a user message's reply: the server's answer, to apply.
pub(crate) enum Answered {
    Nothing,
    Transfer(Option<String>),
}

/// A job of the delivery task, in order.
pub(crate) enum Job {
    /// A kefu event, pushed through the account's outbound (the one account's, or an
    /// authorizer's on the platform).
    Event(std::sync::Arc<Outbound>, KefuEvent, i64),
    Flush(oneshot::Sender<()>),
}

/// The push side, shared by the handle and the delivery task.
/// The longest reply the emulator reads from a webhook: a passive reply is a few KiB
/// (WeChat caps a text reply at 2048 bytes of content).
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A webhook's reply as text, at most [`MAX_REPLY_BYTES`]; a longer one is refused
/// without reading the rest, a broken one is empty (WeChat then retries nothing more).
async fn read_reply(mut response: reqwest::Response) -> Result<String, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(format!(
                        "the reply is longer than {MAX_REPLY_BYTES} bytes: not read"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => return Err(format!("the reply broke off: {error}")),
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(crate) struct Outbound {
    appid: String,
    /// Whose turn it is among the webhook's URLs (round-robin across pushes).
    turn: AtomicUsize,
    /// The HTTP client, or why there is none (no TLS backend, …).
    client: Result<reqwest::Client, String>,
    config: Mutex<Option<WebhookConfig>>,
    log: Mutex<Vec<PushRecord>>,
    changes: Arc<Changes>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outbound {
    pub(crate) fn new(appid: String, changes: Arc<Changes>) -> Outbound {
        // Straight to the configured URL: no proxy from the environment, and no redirect
        // (WeChat follows none; a redirect would point pushes somewhere else).
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string());
        Outbound {
            appid,
            turn: AtomicUsize::new(0),
            client,
            config: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            changes,
        }
    }

    pub(crate) fn configure(&self, config: Option<WebhookConfig>) {
        *lock(&self.config) = config;
        self.changes.bump();
    }

    pub(crate) fn config(&self) -> Option<WebhookConfig> {
        lock(&self.config).clone()
    }

    pub(crate) fn log(&self) -> Vec<PushRecord> {
        lock(&self.log).clone()
    }

    pub(crate) fn record(&self, record: PushRecord) {
        lock(&self.log).push(record);
        self.changes.bump();
    }

    /// Pushes a user message and reads the reply. The caller applies [`Answered`] and
    /// records the push.
    pub(crate) async fn push_message(
        &self,
        config: &WebhookConfig,
        openid: &str,
        input: &UserInput,
        msg_id: i64,
        now_s: i64,
    ) -> (PushRecord, Answered) {
        let xml = format!(
            "<xml>{}{}<CreateTime>{now_s}</CreateTime>{}{}<MsgId>{msg_id}</MsgId></xml>",
            text("ToUserName", &config.original_id),
            text("FromUserName", openid),
            text("MsgType", input.msg_type()),
            input.fields()
        );
        let (urls, outcome, answered) = self.deliver(config, openid, &xml, now_s, true).await;
        let record = PushRecord {
            kind: input.msg_type().to_owned(),
            openid: openid.to_owned(),
            msg_id: Some(msg_id),
            xml,
            attempts: u32::try_from(urls.len()).unwrap_or(u32::MAX),
            urls,
            outcome,
        };
        (record, answered)
    }

    /// Pushes a document of the platform's own (a ticket, an authorization event: `kind`
    /// is its `InfoType`) and records it; the answer must be `success`.
    pub(crate) async fn push_raw(&self, kind: &str, xml: String, now_s: i64) -> PushRecord {
        let Some(config) = self.config() else {
            let record = PushRecord {
                kind: kind.to_owned(),
                openid: String::new(),
                msg_id: None,
                xml,
                attempts: 0,
                urls: Vec::new(),
                outcome: PushOutcome::NoAnswer,
            };
            self.record(record.clone());
            return record;
        };
        let (urls, outcome, _) = self.deliver(&config, "", &xml, now_s, false).await;
        let record = PushRecord {
            kind: kind.to_owned(),
            openid: String::new(),
            msg_id: None,
            xml,
            attempts: u32::try_from(urls.len()).unwrap_or(u32::MAX),
            urls,
            outcome,
        };
        self.record(record.clone());
        record
    }

    /// Pushes a kefu event (its answer changes nothing).
    async fn push_event(&self, config: &WebhookConfig, event: &KefuEvent, now_s: i64) {
        let xml = format!(
            "<xml>{}{}<CreateTime>{now_s}</CreateTime>{}{}{}</xml>",
            text("ToUserName", &config.original_id),
            text("FromUserName", event.openid()),
            text("MsgType", "event"),
            text("Event", event.name()),
            event.fields()
        );
        let (urls, outcome, _) = self
            .deliver(config, event.openid(), &xml, now_s, false)
            .await;
        self.record(PushRecord {
            kind: event.name().to_owned(),
            openid: event.openid().to_owned(),
            msg_id: None,
            xml,
            attempts: u32::try_from(urls.len()).unwrap_or(u32::MAX),
            urls,
            outcome,
        });
    }

    /// Sends `xml` (sealed in safe mode) until an answer comes or the attempts run out.
    async fn deliver(
        &self,
        config: &WebhookConfig,
        openid: &str,
        xml: &str,
        now_s: i64,
        user_message: bool,
    ) -> (Vec<String>, PushOutcome, Answered) {
        let client = match &self.client {
            Ok(client) => client,
            Err(error) => {
                return (
                    Vec::new(),
                    PushOutcome::Invalid(format!("no HTTP client: {error}")),
                    Answered::Nothing,
                );
            }
        };
        let mut attempts = 0;
        let mut urls = Vec::new();
        let targets = config.urls();
        while attempts < config.attempts {
            attempts += 1;
            // The next URL in turn, across pushes (round-robin).
            let target = targets[self.turn.fetch_add(1, Ordering::Relaxed) % targets.len()];
            urls.push(target.to_owned());
            let timestamp = now_s.to_string();
            let nonce = (random_u64() % 1_000_000_000).to_string();
            let mut query = vec![
                (
                    "signature",
                    signature::sign(&[&config.token, &timestamp, &nonce]),
                ),
                ("timestamp", timestamp.clone()),
                ("nonce", nonce.clone()),
                ("openid", openid.to_owned()),
            ];
            let body = match &config.key {
                None => xml.to_owned(),
                Some(key) => {
                    let mut random = [0u8; 16];
                    random[..8].copy_from_slice(&random_u64().to_be_bytes());
                    random[8..].copy_from_slice(&random_u64().to_be_bytes());
                    let encrypted = key.encrypt_with(random, xml, &self.appid);
                    query.push(("encrypt_type", "aes".to_owned()));
                    query.push((
                        "msg_signature",
                        signature::sign(&[&config.token, &timestamp, &nonce, &encrypted]),
                    ));
                    format!(
                        "<xml>{}{}</xml>",
                        text("ToUserName", &config.original_id),
                        text("Encrypt", &encrypted)
                    )
                }
            };
            let sent = client
                .post(target)
                .query(&query)
                .header("content-type", "text/xml")
                .timeout(config.timeout)
                .body(body)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                // No answer (timeout, refused connection): WeChat tries again.
                Err(_) => continue,
            };
            if response.status() != reqwest::StatusCode::OK {
                return (
                    urls,
                    PushOutcome::Status(response.status().as_u16()),
                    Answered::Nothing,
                );
            }
            let answer = match tokio::time::timeout(config.timeout, read_reply(response)).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(too_long)) => {
                    return (urls, PushOutcome::Invalid(too_long), Answered::Nothing);
                }
                Err(_) => continue,
            };
            let (outcome, answered) = self.read_answer(config, openid, &answer, user_message);
            return (urls, outcome, answered);
        }
        (urls, PushOutcome::NoAnswer, Answered::Nothing)
    }

    /// Reads a reply as WeChat would.
    fn read_answer(
        &self,
        config: &WebhookConfig,
        openid: &str,
        answer: &str,
        user_message: bool,
    ) -> (PushOutcome, Answered) {
        let answer = answer.trim();
        if answer.is_empty() || answer == "success" {
            return (PushOutcome::Success, Answered::Nothing);
        }
        let invalid = |why: String| (PushOutcome::Invalid(why), Answered::Nothing);
        let fields = match xml::parse(answer) {
            Ok(fields) => fields,
            Err(error) => return invalid(format!("the reply is not XML: {error}")),
        };
        let inner = match &config.key {
            None => fields,
            Some(key) => {
                let (Some(encrypted), Some(timestamp), Some(nonce), Some(given)) = (
                    fields.get("Encrypt"),
                    fields.get("TimeStamp"),
                    fields.get("Nonce"),
                    fields.get("MsgSignature"),
                ) else {
                    return invalid(
                        "safe mode needs Encrypt, MsgSignature, TimeStamp and Nonce".into(),
                    );
                };
                if !signature::verify(given, &[&config.token, timestamp, nonce, encrypted]) {
                    return invalid("the reply's MsgSignature does not match".into());
                }
                let opened = match key.decrypt(encrypted) {
                    Ok(opened) => opened,
                    Err(error) => return invalid(format!("the reply does not decrypt: {error}")),
                };
                if opened.app_id != self.appid {
                    return invalid(format!("the reply is sealed for `{}`", opened.app_id));
                }
                match xml::parse(&opened.xml) {
                    Ok(fields) => fields,
                    Err(error) => return invalid(format!("the sealed reply is not XML: {error}")),
                }
            }
        };
        if inner.get("ToUserName") != Some(openid)
            || inner.get("FromUserName") != Some(config.original_id.as_str())
        {
            return invalid("the reply is not addressed from the account to the user".into());
        }
        let msg_type = inner.get("MsgType").unwrap_or_default().to_owned();
        if msg_type == "transfer_customer_service" {
            let kf_account = inner
                .get("TransInfo/KfAccount")
                .filter(|k| !k.is_empty())
                .map(str::to_owned);
            if !user_message {
                // WeChat forwards user messages only; on an event it does nothing.
                return (
                    PushOutcome::Replied {
                        msg_type,
                        content: None,
                    },
                    Answered::Nothing,
                );
            }
            return (
                PushOutcome::Transferred {
                    kf_account: kf_account.clone(),
                    serving: None,
                },
                Answered::Transfer(kf_account),
            );
        }
        (
            PushOutcome::Replied {
                content: inner.get("Content").map(str::to_owned),
                msg_type,
            },
            Answered::Nothing,
        )
    }
}

/// The delivery task: pushes the kefu events in order, and answers flushes.
pub(crate) async fn deliver_events(mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Event(outbound, event, now_s) => {
                if let Some(config) = outbound.config() {
                    outbound.push_event(&config, &event, now_s).await;
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
