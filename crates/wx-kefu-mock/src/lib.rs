//! wx-kefu-mock: a stateful emulator of the WeChat Official Account customer-service (客服)
//! API on loopback, so code using the API runs without a real, certified account.
//!
//! It serves every endpoint of the kefu API with WeChat's semantics and errcodes — access
//! tokens (stable and classic), agent accounts and invitations, avatars, sessions and the
//! waiting queue, messages with their reply windows, typing, chat records, media and
//! materials — and checks each
//! request as strictly as the spec in `api-spec/` allows (the rules come from the SDK's
//! generated request types, so the two cannot drift apart).
//!
//! The [`MockServer`] handle drives what WeChat users would do (write, tap a menu, accept an
//! invitation), moves the clock, injects faults, and shows the state and every request.
//! With [`MockServerBuilder::web_view`] (always on in the standalone emulator) the same
//! port serves a live web page of the account under `/_mock/`, and a JSON control API that
//! calls the handle's own methods, for tests in any language (see the `web` module's
//! table, and the README).
//!
//! It also plays WeChat's other direction: given the account server's address
//! ([`MockServer::set_webhook`](MockHandle::set_webhook)), it pushes user messages ([`MockServer::push_message`](MockHandle::push_message)) and
//! the kefu events (`kf_create_session`, `kf_close_session`, `kf_switch_session`) as sessions
//! change, signed — and in safe mode sealed — like WeChat, and it honours a
//! `transfer_customer_service` reply by handing the user to the agents.
//!
//! ```
//! use std::time::Duration;
//! use wx_kefu_mock::{Fault, MockServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mock = MockServer::start().await;
//! mock.add_online_agent("test1@gh_test", "客服1").unwrap();
//! mock.user_message("OPENID", "你好");
//! // ... point a client at mock.base_url() with mock.appid() and mock.secret() ...
//! mock.advance(Duration::from_secs(48 * 3600)); // the reply window closes
//! mock.inject(Fault::errcode(-1).on_path("/cgi-bin/customservice/getkflist"));
//! assert!(mock.requests().iter().all(|r| r.status.is_some()));
//! # }
//! ```
//!
//! # What it does where WeChat's documentation is silent
//!
//! - Errors answer HTTP 200 with `{"errcode":N,"errmsg":"… rid: <unique rid>"}`, as WeChat
//!   does, an unknown path included (errcode 40066, `invalid url`).
//! - Checks run in this order: path, access token (41001 missing, 40001 unknown or replaced,
//!   42001 expired), method (43002 for a `POST` call, 43001 for a `GET` call), 65400 when
//!   the customer-service feature is off, then the request itself.
//! - A JSON body must be a JSON object labelled `application/json`, `text/json`,
//!   `text/plain` or not labelled at all; an empty body answers 44002, anything else that
//!   is not such an object 47001 (the delete call may instead carry `kf_account` in the
//!   query alone, its older form). Unknown fields (at any depth) and query parameters, and
//!   fields of the wrong JSON type, answer 47001; a rule the spec gives an errcode answers
//!   that errcode (65404 `kf_account` where the endpoint documents it, else 65401; 65403
//!   `nickname`, 40003 `openid`, 45008 one article, 44004 an empty text and 45002 a long
//!   one, 65417 a records window over 24 hours and 65416 one that ends before it starts…),
//!   other rules 47001; a missing or unknown media `type` 40004. `msgtype: link` answers
//!   45162, an unknown `msgtype` 40008. These checks run for every endpoint of the spec,
//!   before an endpoint without a behaviour answers 48001 "not emulated".
//! - Uploads need `multipart/form-data` with the file field `media` (41005 when it is
//!   missing, misnamed or empty; other form fields are JSON, the video material's
//!   `description`). An avatar over the
//!   size limit or not a JPEG answers 40005 (the current page's code); a media file of the
//!   wrong kind for its `type` answers 40005, one too large 40006 (temporary) or 45001
//!   (permanent), as the spec says.
//! - Media: a temporary media lives 3 days on the emulator's clock, a material until it is
//!   deleted; their ids are 64 characters. `media/get` and `get_material` answer the file
//!   with its `Content-Type` and `Content-Disposition: attachment; filename="<id>.<ext>"`,
//!   a video's address as JSON instead; a thumbnail's upload answers `thumb_media_id`, as
//!   recorded WeChat answers do. A temporary id is not a material's and the other way round
//!   (40007). Every message that names a media id (image, voice, video, music,
//!   miniprogrampage) answers 40007 unless the account holds it.
//! - Users are known once the handle made them interact ([`MockServer::user_message`](MockHandle::user_message),
//!   [`MockServer::user_event`](MockHandle::user_event), [`MockServer::enqueue_waiting`](MockHandle::enqueue_waiting)); other openids answer 40003.
//! - Creating a session for a user another agent serves answers 65414.
//! - `getkflist` gives `kf_id` as a string (as WeChat's sample), `getonlinekflist` as a
//!   number (as the newer documentation); both shapes exist on the wire.
//! - A records page holds the records with `msgid` at or after the one asked, inside the
//!   window (both ends included), in order; the returned `msgid` is the last one plus 1, and
//!   a page past the end is empty and returns the `msgid` asked.
//! - Daily quotas (2000 classic tokens, 20 forced stable refreshes) count the last 24 hours.
//!
//! And for pushes:
//!
//! - A push carries the emulator's time (`timestamp`, `CreateTime`): after
//!   [`MockServer::advance`](MockHandle::advance), a webhook checking its replay window needs
//!   [`MockServer::time_source`](MockHandle::time_source) as its clock.
//! - A push is sent again, the same XML (same `MsgId`) signed anew, when no answer comes
//!   within the timeout (5 s), up to 3 attempts in all; an answer other than HTTP 200 is not
//!   retried and is reported as [`PushOutcome::Status`].
//! - In safe mode a reply must be sealed and signed; a plain one, or one not addressed from
//!   the account to the user, is [`PushOutcome::Invalid`] and changes nothing.
//! - `transfer_customer_service` naming an agent who is online starts the session at once;
//!   naming one who is offline or unknown puts the user in the waiting queue (WeChat keeps
//!   such a user waiting for that agent). A user already in a session stays with its agent.
//! - Session events are pushed in order by one task, after the change: by the session calls,
//!   by deleting an agent (its sessions close), and by [`MockServer::accept_waiting`](MockHandle::accept_waiting),
//!   [`MockServer::switch_session`](MockHandle::switch_session) and [`MockServer::end_session`](MockHandle::end_session);
//!   [`MockServer::settle_pushes`](MockHandle::settle_pushes) waits for them. Without a webhook they are dropped.

mod answer;
mod changes;
mod clock;
mod faults;
mod handlers;
mod hosts;
mod log;
mod notify;
mod push;
mod server;
mod spec;
mod state;
mod web;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use faults::{Fault, FaultKind};
pub use log::{LOG_BODY_CHARS, LOG_CAPACITY, LoggedRequest};
pub use notify::TemplateInfo;
pub use push::{PushOutcome, PushRecord, UserInput, WebhookConfig};
pub use state::{
    AccountInfo, Bubble, ChatRecord, Invitation, InvitationStatus, MockError,
    OPERCODE_AGENT_RECEIVED, OPERCODE_AGENT_SENT, SessionInfo, Speaker, UserEvent, WaitingUser,
};

use crate::changes::Changes;
use crate::clock::Clock;
use crate::push::{Answered, Job, Outbound};
use crate::server::Shared;
use crate::state::{State, StoredMedia, random_hex, secs};

/// A running emulator and the handle that drives it. Dropping it shuts the server down.
///
/// It dereferences to its [`MockHandle`], whose methods drive the emulated account: the
/// same methods the web view's control API calls.
pub struct MockServer {
    handle: MockHandle,
    addr: SocketAddr,
    appid: String,
    secret: String,
}

/// Chooses the appid, secret or port of an emulator before starting it.
#[derive(Debug, Clone, Default)]
pub struct MockServerBuilder {
    appid: Option<String>,
    secret: Option<String>,
    host: Option<IpAddr>,
    port: u16,
    hosts: usize,
    web_view: bool,
    allowed_hosts: Vec<String>,
}

impl MockServerBuilder {
    /// The appid the token calls accept (default: `wx` and 16 random hex digits).
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// The secret the token calls accept (default: 32 random hex digits).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// The address to listen on (default `127.0.0.1`). Another one (`0.0.0.0` in a
    /// container) makes the emulator, its web view and its control API reachable from
    /// the network: anyone who reaches it can play WeChat's side, read the request log
    /// and point pushes at any URL. See SECURITY.md.
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = Some(host);
        self
    }

    /// A host name (or IP) the web view and control API answer to besides `127.0.0.1`,
    /// `localhost` and `[::1]` (with the emulator's port): a compose service's name, say.
    /// Any other `Host` is refused, so a DNS-rebinding page cannot reach them.
    pub fn allow_host(mut self, name: impl Into<String>) -> Self {
        self.allowed_hosts.push(name.into());
        self
    }

    /// Serves the account on `n` ports (default 1), as WeChat serves one API on several
    /// hosts: a client given them all ([`ClientBuilder::hosts`](wx_kefu_api::ClientBuilder::hosts))
    /// moves between them, and [`MockHandle::stop_host`] takes one down mid-run. The
    /// first listens on [`port`](MockServerBuilder::port), the others on free ports.
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n.max(1);
        self
    }

    /// The loopback port to listen on (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves the web view and its JSON control API under `/_mock/` (default: off in
    /// tests; the standalone emulator turns it on).
    pub fn web_view(mut self, on: bool) -> Self {
        self.web_view = on;
        self
    }

    /// Binds `127.0.0.1:<port>` (or the [`host`](MockServerBuilder::host) given) and
    /// starts serving on the current tokio runtime.
    pub async fn start(self) -> io::Result<MockServer> {
        let host = self.host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut listeners = vec![tokio::net::TcpListener::bind((host, self.port)).await?];
        for _ in 1..self.hosts.max(1) {
            listeners.push(tokio::net::TcpListener::bind((host, 0)).await?);
        }
        let addrs = listeners
            .iter()
            .map(tokio::net::TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let addr = addrs[0];
        let appid = self.appid.unwrap_or_else(|| format!("wx{}", random_hex(1)));
        let secret = self.secret.unwrap_or_else(|| random_hex(2));
        let changes = Arc::new(Changes::new());
        let outbound = Arc::new(Outbound::new(appid.clone(), Arc::clone(&changes)));
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(push::deliver_events(Arc::clone(&outbound), queue));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(appid.clone(), secret.clone())),
            clock: Clock::default(),
            outbound,
            jobs,
            changes,
            hosts: hosts::Hosts::default(),
        });
        let handle = MockHandle {
            shared: Arc::clone(&shared),
        };
        let routes = match self.web_view {
            true => {
                let ports: Vec<u16> = addrs.iter().map(SocketAddr::port).collect();
                let mut names = self.allowed_hosts;
                for addr in &addrs {
                    names = allowed_hosts(*addr, names);
                }
                Router::new()
                    .route("/_mock/", axum::routing::get(web::page))
                    .nest(
                        "/_mock",
                        web::router(handle.clone(), web::Guard::new(&ports, &names)),
                    )
            }
            false => Router::new(),
        };
        let app = routes
            .fallback(server::serve)
            .with_state(Arc::clone(&shared))
            .layer(DefaultBodyLimit::disable());
        shared.hosts.set_app(app);
        for listener in listeners {
            shared.hosts.add(listener)?;
        }
        Ok(MockServer {
            handle,
            addr,
            appid,
            secret,
        })
    }
}

impl MockServer {
    /// Starts an emulator on a free loopback port with a random appid and secret.
    ///
    /// # Panics
    /// When no loopback port can be bound; use [`MockServer::builder`] to handle that.
    pub async fn start() -> MockServer {
        match MockServer::builder().start().await {
            Ok(server) => server,
            Err(error) => panic!("wx-kefu-mock cannot listen on 127.0.0.1: {error}"),
        }
    }

    /// A builder to choose the appid, secret or port.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// `http://127.0.0.1:<port>`, the base URL to point a client at.
    pub fn base_url(&self) -> String {
        // Listening on every address (`0.0.0.0`): this machine reaches it on loopback.
        match self.addr.ip().is_unspecified() {
            true => format!("http://127.0.0.1:{}", self.addr.port()),
            false => format!("http://{}", self.addr),
        }
    }

    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The appid the token calls accept.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The secret the token calls accept.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Stops accepting connections and waits (at most 5 s) for open ones to finish.
    pub async fn shutdown(self) {
        self.handle.shared.hosts.shutdown().await;
    }
}

/// What drives an emulated account: its users, agents, clock, faults and pushes, and what
/// reads its state. A clone drives the same emulator; [`MockServer`] dereferences to one,
/// and the web view's control API (under `/_mock/`) calls these same methods.
#[derive(Clone)]
pub struct MockHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MockHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockHandle").finish_non_exhaustive()
    }
}

impl std::ops::Deref for MockServer {
    type Target = MockHandle;

    fn deref(&self) -> &MockHandle {
        &self.handle
    }
}

impl MockHandle {
    /// The state, for a change (the web view hears of it) or a read.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.changes.bump();
        self.shared.lock()
    }

    fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    // ---- clock ----

    /// Moves the emulator's clock forward: tokens, reply windows, typing states and
    /// invitations expire as if the time had passed.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.changes.bump();
    }

    /// The emulator's time in unix seconds.
    pub fn now(&self) -> i64 {
        secs(self.now_ms())
    }

    // ---- tokens ----

    /// A valid access token, issued without a fetch (not counted in the fetch counts).
    pub fn access_token(&self) -> String {
        let now = self.now_ms();
        self.state().issue_token(now)
    }

    /// Invalidates every token issued so far: calls with them answer 40001 and the next
    /// stable-token fetch issues a new one.
    pub fn invalidate_tokens(&self) {
        let now = self.now_ms();
        self.state().invalidate_tokens(now);
    }

    /// How many stable tokens (`POST /cgi-bin/stable_token`) were handed out.
    pub fn stable_token_fetches(&self) -> u64 {
        self.state().stable_fetches
    }

    /// How many classic tokens (`GET /cgi-bin/token`) were handed out.
    pub fn classic_token_fetches(&self) -> u64 {
        self.state().classic_fetches
    }

    // ---- agent accounts ----

    /// Every agent account, in creation order.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        let now = self.now_ms();
        let state = self.state();
        state
            .accounts
            .iter()
            .map(|account| state.account_info(account, now))
            .collect()
    }

    /// One agent account.
    pub fn account(&self, kf_account: &str) -> Option<AccountInfo> {
        let now = self.now_ms();
        let state = self.state();
        state
            .account(kf_account)
            .map(|account| state.account_info(account, now))
    }

    /// Adds an agent account without a request (no format checks; the 100 limit holds).
    pub fn add_account(&self, kf_account: &str, nickname: &str) -> Result<(), MockError> {
        self.state().add_account(kf_account, nickname)
    }

    /// Binds a WeChat user to an agent account at once, as if an invitation was accepted.
    pub fn bind_account(&self, kf_account: &str, wx: &str) -> Result<(), MockError> {
        self.state().bind(kf_account, wx)
    }

    /// Adds an agent account, binds it and puts it online: ready to serve sessions.
    pub fn add_online_agent(&self, kf_account: &str, nickname: &str) -> Result<(), MockError> {
        let mut state = self.state();
        state.add_account(kf_account, nickname)?;
        let wx = format!("wx_{}", kf_account.split('@').next().unwrap_or(kf_account));
        state.bind(kf_account, &wx)?;
        if let Some(account) = state.account_mut(kf_account) {
            account.online = true;
        }
        Ok(())
    }

    /// The invited user accepts: the account is bound to the invited WeChat ID.
    pub fn accept_invitation(&self, kf_account: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        let mut state = self.state();
        let wx = state.pending_invite(kf_account, now)?.wx.clone();
        state.bind(kf_account, &wx)
    }

    /// The invited user refuses: the invitation shows `rejected`.
    pub fn reject_invitation(&self, kf_account: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        self.state().pending_invite(kf_account, now)?.status = InvitationStatus::Rejected;
        Ok(())
    }

    /// The invitation expires now (it also expires by itself 7 days after it was sent).
    pub fn expire_invitation(&self, kf_account: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        let mut state = self.state();
        let invite = state.pending_invite(kf_account, now)?;
        invite.status = InvitationStatus::Expired;
        invite.expire_time = invite.expire_time.min(secs(now));
        Ok(())
    }

    /// Puts a bound agent online (web) or offline.
    pub fn set_online(&self, kf_account: &str, online: bool) -> Result<(), MockError> {
        let mut state = self.state();
        let account = state
            .account_mut(kf_account)
            .ok_or_else(|| MockError::UnknownAccount(kf_account.to_owned()))?;
        if online && account.kf_wx.is_none() {
            return Err(MockError::NotBound(kf_account.to_owned()));
        }
        account.online = online;
        Ok(())
    }

    /// Marks a WeChat ID as working for too many accounts: inviting it answers 65410.
    pub fn set_worker_at_limit(&self, wx: &str) {
        self.state().workers_at_limit.insert(wx.to_owned());
    }

    /// Turns the new customer-service feature off (every account, session and record call
    /// answers 65400) or back on.
    pub fn set_kefu_enabled(&self, enabled: bool) {
        self.state().kefu_enabled = enabled;
    }

    // ---- users ----

    /// The user writes a message: it opens the 48-hour window of 5 replies (and counts as
    /// an interaction for typing), and is recorded as a chat record with opercode 2003.
    pub fn user_message(&self, openid: &str, text: &str) {
        let now = self.now_ms();
        hear(&mut self.state(), openid, &UserInput::text(text), now);
    }

    /// The user follows, scans, taps a menu (1 minute, 3 replies), pays (48 hours, any number)
    /// or unfollows (nothing can be sent: 43004).
    pub fn user_event(&self, openid: &str, event: UserEvent) {
        let now = self.now_ms();
        let mut state = self.state();
        state.user_event(openid, event, now);
        state.converse(
            openid,
            Bubble {
                at: secs(now),
                from: Speaker::Event,
                kf_account: None,
                kind: event.as_str().to_owned(),
                content: serde_json::Value::Null,
            },
        );
    }

    /// The user waits for an agent: appended to the waiting queue (or its time refreshed).
    /// It opens no reply window; call [`MockServer::user_message`](MockHandle::user_message) for that.
    pub fn enqueue_waiting(&self, openid: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        self.state().enqueue_waiting(openid, now)
    }

    /// Whether the user is shown "typing…".
    pub fn is_typing(&self, openid: &str) -> bool {
        let now = self.now_ms();
        self.state()
            .users
            .get(openid)
            .is_some_and(|user| user.is_typing(now))
    }

    // ---- sessions and records ----

    /// Every open session, by openid.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.state()
            .sessions
            .iter()
            .map(|(openid, session)| SessionInfo {
                openid: openid.clone(),
                kf_account: session.kf_account.clone(),
                createtime: session.createtime,
            })
            .collect()
    }

    /// The waiting queue, earliest first (all of it, not only the first 100).
    pub fn waiting(&self) -> Vec<WaitingUser> {
        self.state().waiting.clone()
    }

    /// Every chat record, in order.
    pub fn records(&self) -> Vec<ChatRecord> {
        self.state().records.clone()
    }

    // ---- pushes to the account's server ----

    /// Pushes from now on go to this webhook (user messages on request, kefu events as
    /// sessions change); replaces any previous one.
    pub fn set_webhook(&self, config: WebhookConfig) {
        self.shared.outbound.configure(Some(config));
    }

    /// Stops pushing.
    pub fn clear_webhook(&self) {
        self.shared.outbound.configure(None);
    }

    /// The emulator's time source (unix seconds), for a webhook whose replay check must
    /// agree with the emulator's clock after [`MockServer::advance`](MockHandle::advance):
    /// `Webhook::builder().clock(mock.time_source())`.
    pub fn time_source(&self) -> impl Fn() -> i64 + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || secs(shared.clock.now_ms())
    }

    /// A picture or recording a user sends, kept by the emulated WeChat as a temporary
    /// media (3 days on the emulator's clock) under a new id, which `media/get` serves:
    /// the `MediaId` of the push that carries it ([`UserInput::Image`], [`UserInput::Voice`]).
    /// `kind` is `image`, `voice`, `video` or `thumb`; the content type is read from the
    /// file's first bytes.
    pub fn user_media(&self, kind: &str, data: impl Into<bytes::Bytes>) -> String {
        self.keep_media(kind, data.into(), false)
    }

    /// A permanent material already in the account's library (as if added on the
    /// official platform), under a new id that `get_material` serves; see
    /// [`MockServer::user_media`](MockHandle::user_media) for `kind`.
    pub fn add_material(&self, kind: &str, data: impl Into<bytes::Bytes>) -> String {
        self.keep_media(kind, data.into(), true)
    }

    /// Keeps a media file, named and typed by its first bytes; a video material gets a
    /// description, as `add_material` requires one.
    fn keep_media(&self, kind: &str, data: bytes::Bytes, permanent: bool) -> String {
        let (content_type, extension) = sniff(&data);
        let now = self.now_ms();
        let stored = self.state().store_media(StoredMedia {
            kind: kind.to_owned(),
            filename: format!("media.{extension}"),
            content_type: content_type.to_owned(),
            data,
            created_ms: now,
            permanent,
            description: (permanent && kind == "video")
                .then(|| ("video".to_owned(), String::new())),
        });
        stored.unwrap_or_else(|| {
            panic!(
                "wx-kefu-mock holds {} MiB of permanent materials, its most: delete some first",
                state::MEDIA_CAPACITY >> 20
            )
        })
    }

    /// The user sends a picture without a webhook to push it to: it is kept as a
    /// temporary media and is part of the conversation and the records, as a message; the
    /// media id, which `media/get` serves.
    pub fn user_picture(&self, openid: &str, image: impl Into<bytes::Bytes>) -> String {
        let media_id = self.user_media("image", image);
        let input = UserInput::Image {
            pic_url: pic_url(&media_id),
            media_id: media_id.clone(),
        };
        let now = self.now_ms();
        hear(&mut self.state(), openid, &input, now);
        media_id
    }

    /// The emulated account as JSON, what the web view shows and `GET /_mock/api/state`
    /// answers: the clock, users (their conversation, reply window, typing, session,
    /// place in the queue), agents, sessions, the waiting queue, pending faults, pushes,
    /// token fetches. Never the secret or a token.
    pub fn snapshot(&self) -> serde_json::Value {
        use serde_json::json;
        let now = self.now_ms();
        let webhook = self.shared.outbound.config();
        let pushes = self.shared.outbound.log();
        let state = self.shared.lock();
        let mut openids: Vec<&String> = state.users.keys().collect();
        openids.extend(state.conversations.keys());
        openids.sort();
        openids.dedup();
        let users: Vec<serde_json::Value> = openids
            .into_iter()
            .map(|openid| {
                let user = state.users.get(openid);
                let (open, closes, remaining) = state.window(openid, now);
                json!({
                    "openid": openid,
                    "followed": !user.is_some_and(|u| u.unfollowed),
                    "window": {
                        "open": open,
                        "closes_at": closes.map(secs),
                        "remaining": remaining,
                    },
                    "typing": user.is_some_and(|u| u.is_typing(now)),
                    "session": state.sessions.get(openid.as_str()).map(|s| &s.kf_account),
                    "waiting": state.waiting.iter().any(|w| &w.openid == openid),
                    "subscriptions": state.notify.subscriptions.iter()
                        .filter(|((user, _), _)| user == openid)
                        .map(|((_, template), left)| json!({ "template_id": template, "left": left }))
                        .collect::<Vec<_>>(),
                    "conversation": state.conversations.get(openid.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let agents: Vec<serde_json::Value> = state
            .accounts
            .iter()
            .map(|account| {
                json!({
                    "kf_account": account.kf_account,
                    "nickname": account.nickname,
                    "kf_id": account.kf_id,
                    "kf_wx": account.kf_wx,
                    "online": account.online,
                    "serving": state.accepted_case(&account.kf_account),
                    "invite": account.invite.as_ref().map(|invite| json!({
                        "wx": invite.wx,
                        "status": invite.status_at(now).as_str(),
                    })),
                })
            })
            .collect();
        let sessions: Vec<serde_json::Value> = state
            .sessions
            .iter()
            .map(|(openid, session)| {
                json!({ "openid": openid, "kf_account": session.kf_account, "createtime": session.createtime })
            })
            .collect();
        let waiting: Vec<serde_json::Value> = state
            .waiting
            .iter()
            .map(|w| json!({ "openid": w.openid, "latest_time": w.latest_time }))
            .collect();
        let faults: Vec<serde_json::Value> = state
            .faults
            .pending()
            .iter()
            .map(|fault| {
                json!({
                    "path": fault.path,
                    "kind": format!("{:?}", fault.kind),
                    "remaining": fault.times,
                    "after_handling": fault.after_handling,
                })
            })
            .collect();
        let pushes: Vec<serde_json::Value> = pushes
            .iter()
            .rev()
            .take(50)
            .map(|p| {
                json!({
                    "kind": p.kind,
                    "openid": p.openid,
                    "attempts": p.attempts,
                    "urls": p.urls,
                    "outcome": format!("{:?}", p.outcome),
                })
            })
            .collect();
        json!({
            "now": secs(now),
            "appid": state.appid,
            "kefu_enabled": state.kefu_enabled,
            "webhook": webhook.map(|w| json!({ "url": w.url, "safe_mode": w.key.is_some() })),
            "hosts": self.host_urls().into_iter().zip(self.hosts_up())
                .map(|(url, up)| json!({ "url": url, "up": up }))
                .collect::<Vec<_>>(),
            "users": users,
            "agents": agents,
            "sessions": sessions,
            "waiting": waiting,
            "faults": faults,
            "pushes": pushes,
            "requests": state.log.total(),
            "token_fetches": { "stable": state.stable_fetches, "classic": state.classic_fetches },
            "media": state.media.len(),
            "templates": state.notify.templates,
        })
    }

    /// A user's conversation, as their phone shows it (and the web view).
    pub fn conversation(&self, openid: &str) -> Vec<Bubble> {
        self.shared
            .lock()
            .conversations
            .get(openid)
            .cloned()
            .unwrap_or_default()
    }

    /// The user sends a picture: it is kept as a temporary media ([`MockServer::user_media`](MockHandle::user_media))
    /// and pushed as an image message whose `MediaId` `media/get` serves; see
    /// [`MockServer::push_message`](MockHandle::push_message).
    pub async fn push_image(
        &self,
        openid: &str,
        image: impl Into<bytes::Bytes>,
    ) -> Result<PushRecord, MockError> {
        let media_id = self.user_media("image", image);
        let pic_url = pic_url(&media_id);
        self.push_message(openid, UserInput::Image { pic_url, media_id })
            .await
    }

    /// The user sends a voice recording (AMR, as WeChat's app records): see
    /// [`MockServer::push_image`](MockHandle::push_image).
    pub async fn push_voice(
        &self,
        openid: &str,
        recording: impl Into<bytes::Bytes>,
    ) -> Result<PushRecord, MockError> {
        let media_id = self.user_media("voice", recording);
        let format = "amr".to_owned();
        self.push_message(openid, UserInput::Voice { media_id, format })
            .await
    }

    /// The user writes a text: see [`MockServer::push_message`](MockHandle::push_message).
    pub async fn push_text(&self, openid: &str, text: &str) -> Result<PushRecord, MockError> {
        self.push_message(openid, UserInput::text(text)).await
    }

    /// The user sends something, and WeChat pushes it to the webhook: it counts as
    /// [`MockServer::user_message`](MockHandle::user_message) (the reply window opens, a chat record is written), the
    /// push is signed (and sealed in safe mode) and sent up to the configured attempts, and
    /// the reply is read as WeChat would. `transfer_customer_service` hands the user to the
    /// agents: to the named agent at once when that agent is online (`kf_create_session`
    /// follows), otherwise into the waiting queue; a user already in a session stays there.
    pub async fn push_message(
        &self,
        openid: &str,
        input: UserInput,
    ) -> Result<PushRecord, MockError> {
        let config = self.shared.outbound.config().ok_or(MockError::NoWebhook)?;
        let now = self.now_ms();
        let msg_id = {
            let mut state = self.state();
            hear(&mut state, openid, &input, now);
            state.next_msg_id()
        };
        let (mut record, answered) = self
            .shared
            .outbound
            .push_message(&config, openid, &input, msg_id, secs(now))
            .await;
        if let Answered::Transfer(kf_account) = answered {
            let serving = self.transfer(openid, kf_account.as_deref());
            record.outcome = PushOutcome::Transferred {
                kf_account,
                serving,
            };
        }
        self.shared.outbound.record(record.clone());
        self.shared.dispatch_events();
        Ok(record)
    }

    /// Applies `transfer_customer_service`: the agent now serving the user, if any.
    fn transfer(&self, openid: &str, kf_account: Option<&str>) -> Option<String> {
        let now = self.now_ms();
        let mut state = self.state();
        if let Some(session) = state.sessions.get(openid) {
            return Some(session.kf_account.clone());
        }
        let available = kf_account.filter(|kf| {
            state
                .account(kf)
                .is_some_and(|a| a.online && a.kf_wx.is_some())
        });
        match available {
            Some(kf) => {
                state.open_session(openid, kf, now);
                Some(kf.to_owned())
            }
            None => {
                // Not in a session (checked above), so queuing cannot fail.
                let _ = state.enqueue_waiting(openid, now);
                None
            }
        }
    }

    /// An agent takes a user (from the waiting queue, in the agent's client): a session
    /// starts and `kf_create_session` is pushed.
    pub fn accept_waiting(&self, kf_account: &str, openid: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        {
            let mut state = self.state();
            let account = state
                .account(kf_account)
                .ok_or_else(|| MockError::UnknownAccount(kf_account.to_owned()))?;
            if account.kf_wx.is_none() {
                return Err(MockError::NotBound(kf_account.to_owned()));
            }
            if state.sessions.contains_key(openid) {
                return Err(MockError::InSession(openid.to_owned()));
            }
            state.user_mut(openid);
            state.open_session(openid, kf_account, now);
        }
        self.shared.dispatch_events();
        Ok(())
    }

    /// The serving agent hands the user to another agent: `kf_switch_session` is pushed.
    pub fn switch_session(&self, openid: &str, to_kf_account: &str) -> Result<(), MockError> {
        {
            let mut state = self.state();
            let target = state
                .account(to_kf_account)
                .ok_or_else(|| MockError::UnknownAccount(to_kf_account.to_owned()))?;
            if target.kf_wx.is_none() {
                return Err(MockError::NotBound(to_kf_account.to_owned()));
            }
            let session = state
                .sessions
                .get_mut(openid)
                .ok_or_else(|| MockError::NoSession(openid.to_owned()))?;
            let from = std::mem::replace(&mut session.kf_account, to_kf_account.to_owned());
            state.kefu_events.push(push::KefuEvent::Switch {
                openid: openid.to_owned(),
                from,
                to: to_kf_account.to_owned(),
            });
        }
        self.shared.dispatch_events();
        Ok(())
    }

    /// The serving agent ends the session (in the agent's client): `kf_close_session` is pushed.
    pub fn end_session(&self, openid: &str) -> Result<(), MockError> {
        let ended = self.state().end_session(openid);
        self.shared.dispatch_events();
        ended
            .map(|_| ())
            .ok_or_else(|| MockError::NoSession(openid.to_owned()))
    }

    /// Waits until every kefu event queued so far was pushed (and answered or given up on).
    pub async fn settle_pushes(&self) {
        let (done, finished) = tokio::sync::oneshot::channel();
        if self.shared.jobs.send(Job::Flush(done)).is_ok() {
            let _ = finished.await;
        }
    }

    /// Every push made so far, in order, with what the webhook answered.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.shared.outbound.log()
    }

    /// The user refuses (or accepts again) the account's messages: every send to them
    /// answers 48002 (`user refuse to accept the msg`) while they do.
    pub fn set_user_refuses(&self, openid: &str, refuses: bool) {
        self.state().user_mut(openid).refuses = refuses;
        self.shared.changes.bump();
    }

    // ---- templates and subscriptions ----

    /// Adds (or replaces) a template of the account, as choosing one in WeChat's console
    /// does; sends to any other template id answer 40037.
    pub fn add_template(&self, template_id: &str, title: &str, content: &str) {
        self.state().notify.add_template(TemplateInfo {
            template_id: template_id.to_owned(),
            title: title.to_owned(),
            content: content.to_owned(),
            banned: false,
        });
        self.shared.changes.bump();
    }

    /// WeChat bans (or lifts the ban on) a template: sends to it answer 43116.
    pub fn set_template_banned(&self, template_id: &str, banned: bool) -> Result<(), MockError> {
        let mut state = self.state();
        let template = state
            .notify
            .templates
            .iter_mut()
            .find(|t| t.template_id == template_id)
            .ok_or_else(|| MockError::UnknownTemplate(template_id.to_owned()))?;
        template.banned = banned;
        drop(state);
        self.shared.changes.bump();
        Ok(())
    }

    /// The account's templates.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.state().notify.templates.clone()
    }

    /// The user subscribes `count` more times to a template (a one-time subscription
    /// each: one notification apiece).
    pub fn grant_subscription(&self, openid: &str, template_id: &str, count: u32) {
        let mut state = self.state();
        state.user_mut(openid);
        *state
            .notify
            .subscriptions
            .entry((openid.to_owned(), template_id.to_owned()))
            .or_default() += count;
        drop(state);
        self.shared.changes.bump();
    }

    /// How many one-time subscriptions the user has left for a template.
    pub fn subscriptions_left(&self, openid: &str, template_id: &str) -> u32 {
        self.state()
            .notify
            .subscriptions
            .get(&(openid.to_owned(), template_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How many template messages reached users (a repeat by `client_msg_id` is not one),
    /// and how many subscribe notifications.
    pub fn notices_sent(&self) -> (u64, u64) {
        let state = self.state();
        (state.notify.templates_sent, state.notify.notifications_sent)
    }

    /// The account's WeChat ID (`gh_…`): from now on a new agent account must end in
    /// `@` and it (65404 otherwise), as WeChat requires; `None` accepts any suffix.
    pub fn set_wechat_id(&self, id: Option<&str>) {
        self.state().wechat_id = id.map(str::to_owned);
    }

    /// Back to an empty account: no agents, users, sessions, records, media, faults,
    /// pushes' webhook or request log; customer service on. The appid, the secret and the
    /// tokens issued stay valid, so clients carry on.
    pub fn reset(&self) {
        {
            let mut state = self.state();
            let fresh = State::new(state.appid.clone(), state.secret.clone());
            let tokens = std::mem::take(&mut state.tokens);
            let current = state.current_stable.take();
            *state = fresh;
            state.tokens = tokens;
            state.current_stable = current;
        }
        self.shared.outbound.configure(None);
        self.shared.changes.bump();
    }

    // ---- paths the spec does not have ----

    /// Answers `answer` to a request for `path`, a path the spec does not have (and so the
    /// emulator neither: it answers 40066 there), once the access token checks out: for
    /// testing a raw call ([`Client::raw`](wx_kefu_api::Client::raw)) before the
    /// endpoint is in the spec.
    pub fn stub(&self, path: impl Into<String>, answer: serde_json::Value) {
        self.state().stubs.insert(path.into(), answer);
    }

    // ---- hosts ----

    /// The base URL of each host (`http://127.0.0.1:<port>`), the first being
    /// [`MockServer::base_url`]: hand them all to a client's `hosts(…)`.
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

    // ---- faults and the request log ----

    /// Injects a fault into the next matching requests.
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// The faults not used up yet.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.state().faults.pending()
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Every request received so far, in order.
    ///
    /// The log keeps the last [`LOG_CAPACITY`] requests, each body cut at
    /// [`LOG_BODY_CHARS`] characters.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.iter().cloned().collect()
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
        self.state().log.clear();
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of Debug output.
        f.debug_struct("MockServer")
            .field("base_url", &self.base_url())
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.handle.shared.hosts.signal_shutdown();
    }
}

/// The names the control API answers to besides loopback: those given, and the address
/// it listens on when that is a specific one.
fn allowed_hosts(addr: SocketAddr, mut names: Vec<String>) -> Vec<String> {
    match addr.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => {}
        IpAddr::V4(ip) => names.push(ip.to_string()),
        IpAddr::V6(ip) => names.push(format!("[{ip}]")),
    }
    names
}

/// A file's content type and extension, from its first bytes.
fn sniff(data: &[u8]) -> (&'static str, &'static str) {
    use wx_kefu_api::FileKind;
    [
        (FileKind::Jpeg, "image/jpeg", "jpg"),
        (FileKind::Png, "image/png", "png"),
        (FileKind::Gif, "image/gif", "gif"),
        (FileKind::Amr, "audio/amr", "amr"),
        (FileKind::Mp3, "audio/mpeg", "mp3"),
        (FileKind::Mp4, "video/mp4", "mp4"),
    ]
    .into_iter()
    .find(|(kind, _, _)| kind.matches(data))
    .map_or(("application/octet-stream", "bin"), |(_, ty, ext)| {
        (ty, ext)
    })
}

/// What the user sent reaches WeChat: the reply window opens, a chat record is written,
/// and it is a bubble of the conversation.
fn hear(state: &mut State, openid: &str, input: &UserInput, now_ms: i64) {
    state.user_message(openid, &input.record_text(), now_ms);
    state.converse(
        openid,
        Bubble {
            at: secs(now_ms),
            from: Speaker::User,
            kf_account: None,
            kind: input.msg_type().to_owned(),
            content: input.content(),
        },
    );
}

/// The `PicUrl` of a user's picture.
fn pic_url(media_id: &str) -> String {
    format!("http://mmbiz.qpic.cn/mmbiz_jpg/{}/0", &media_id[..24])
}
