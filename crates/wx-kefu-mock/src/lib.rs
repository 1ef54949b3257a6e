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
mod component;
mod faults;
mod handle;
mod handlers;
mod hosts;
mod log;
mod notify;
mod platform;
mod push;
mod server;
mod spec;
mod state;
mod token;
mod web;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use faults::{Fault, FaultKind};
pub use handle::platform::{GO_LIVE_APPID, GO_LIVE_OPENID, GO_LIVE_ORIGINAL_ID, GoLiveReport};
pub use log::{LOG_BODY_CHARS, LOG_CAPACITY, LoggedRequest};
pub use notify::TemplateInfo;
pub use platform::{AuthorizerInfo, PlatformConfig, PlatformStats};
pub use push::{PushOutcome, PushRecord, UserInput, WebhookConfig};
pub use state::{
    AccountInfo, Bubble, ChatRecord, Invitation, InvitationStatus, MockError,
    OPERCODE_AGENT_RECEIVED, OPERCODE_AGENT_SENT, SessionInfo, Speaker, UserEvent, WaitingUser,
};

use crate::changes::Changes;
use crate::clock::Clock;
use crate::push::Outbound;
use crate::server::Shared;
use crate::state::{State, random_hex};

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
        tokio::spawn(push::deliver_events(queue));
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
            account: None,
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
    /// The account this handle drives: the emulator's own (`None`), or an authorizer of
    /// the platform it plays ([`MockHandle::authorizer`]).
    account: Option<(Arc<str>, state::AccountState)>,
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
    /// The state of this handle's account, for a change (the web view hears of it) or a read.
    fn state(&self) -> state::StateGuard<'_> {
        self.shared.changes.bump();
        match self.account_state() {
            Some(account) => state::StateGuard::Authorizer(state::lock_account(account)),
            None => state::StateGuard::Own(self.shared.lock()),
        }
    }

    /// The authorizer's account this handle drives (found once, when the handle is made).
    fn account_state(&self) -> Option<&state::AccountState> {
        self.account.as_ref().map(|(_, state)| state)
    }

    /// The state of this handle's account for a read: the web view hears of nothing (its
    /// own reads must not make it read again).
    fn peek(&self) -> state::StateGuard<'_> {
        match self.account_state() {
            Some(account) => state::StateGuard::Authorizer(state::lock_account(account)),
            None => state::StateGuard::Own(self.shared.lock()),
        }
    }

    /// The emulator's own state, whichever account this handle drives: the faults, the
    /// request log and the platform live there.
    fn primary(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.changes.bump();
        self.shared.lock()
    }

    /// Where this handle's account pushes to.
    fn outbound(&self) -> Arc<Outbound> {
        let Some((account, _)) = &self.account else {
            return Arc::clone(&self.shared.outbound);
        };
        self.shared
            .lock()
            .platform
            .as_ref()
            .and_then(|platform| platform.authorizers.get(&**account))
            .map_or_else(
                || Arc::clone(&self.shared.outbound),
                |authorizer| Arc::clone(&authorizer.outbound),
            )
    }

    fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
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
