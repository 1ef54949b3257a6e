//! The emulated official account: access tokens, agent accounts and invitations, users and
//! their reply windows, sessions, the waiting queue and the chat records — and the snapshots
//! of them the handle hands out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use crate::answer::random_u64;
use crate::faults::Faults;
use crate::log::RequestLog;
use crate::push::KefuEvent;
pub(crate) use crate::token::{CLASSIC_GRACE_MS, TOKEN_LIFETIME_MS, Token, random_hex, secs};

/// At most this many agent accounts per official account.
pub(crate) const MAX_ACCOUNTS: usize = 100;
/// The stable token is replaced when less than this is left of it.
pub(crate) const STABLE_ROTATE_BEFORE_MS: i64 = 300_000;
/// Classic token fetches allowed per day.
pub(crate) const CLASSIC_DAILY_QUOTA: u32 = 2000;
/// Forced stable-token refreshes allowed per day.
pub(crate) const FORCE_REFRESH_DAILY_QUOTA: u32 = 20;
/// Forced stable-token refreshes must be this far apart.
pub(crate) const FORCE_REFRESH_INTERVAL_MS: i64 = 30_000;
/// An invitation to work an agent account expires after 7 days.
pub(crate) const INVITE_LIFETIME_S: i64 = 7 * 86_400;
/// Typing needs an interaction within this long.
pub(crate) const TYPING_NEEDS_INTERACTION_MS: i64 = 30_000;
/// A typing state lasts this long.
pub(crate) const TYPING_LASTS_MS: i64 = 15_000;
/// The first agent gets this `kf_id`.
const FIRST_KF_ID: u64 = 1001;

/// The chat record code of a message an agent sent.
pub const OPERCODE_AGENT_SENT: i64 = 2002;
/// The chat record code of a message an agent received.
pub const OPERCODE_AGENT_RECEIVED: i64 = 2003;

/// Something a user did that opens a reply window (or closes them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserEvent {
    /// The user followed the account: 3 messages within 1 minute.
    Follow,
    /// The user scanned a QR code: 3 messages within 1 minute.
    Scan,
    /// The user tapped a menu item: 3 messages within 1 minute.
    MenuClick,
    /// The user paid: any number of messages within 48 hours.
    Payment,
    /// The user stopped following: nothing more can be sent (43004).
    Unfollow,
}

/// The state of an invitation to bind a WeChat user to an agent account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationStatus {
    /// Sent, not answered yet (`waiting`).
    Waiting,
    /// Refused by the invited user (`rejected`).
    Rejected,
    /// Not answered in time (`expired`).
    Expired,
}

impl UserEvent {
    /// The event's name in a conversation.
    pub fn as_str(self) -> &'static str {
        match self {
            UserEvent::Follow => "follow",
            UserEvent::Scan => "scan",
            UserEvent::MenuClick => "menu_click",
            UserEvent::Payment => "payment",
            UserEvent::Unfollow => "unfollow",
        }
    }
}

impl InvitationStatus {
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Waiting => "waiting",
            InvitationStatus::Rejected => "rejected",
            InvitationStatus::Expired => "expired",
        }
    }
}

/// An invitation as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invitation {
    /// The invited WeChat ID.
    pub invite_wx: String,
    /// When it expires (unix seconds).
    pub expire_time: i64,
    /// Its state now.
    pub status: InvitationStatus,
}

/// An agent account as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountInfo {
    /// `prefix@wechat_id`.
    pub kf_account: String,
    /// The nickname.
    pub nickname: String,
    /// The agent's number.
    pub kf_id: u64,
    /// The avatar's URL, once one was uploaded.
    pub headimgurl: Option<String>,
    /// The size in bytes of the uploaded avatar.
    pub avatar_bytes: Option<usize>,
    /// The WeChat ID bound to the account, once an invitation was accepted.
    pub kf_wx: Option<String>,
    /// The agent's openid, once bound.
    pub kf_openid: Option<String>,
    /// The last invitation, while not accepted.
    pub invitation: Option<Invitation>,
    /// Whether the agent is online.
    pub online: bool,
}

/// A session between an agent and a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The user.
    pub openid: String,
    /// The agent serving the user.
    pub kf_account: String,
    /// When the session started (unix seconds).
    pub createtime: i64,
}

/// A user waiting for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitingUser {
    /// The user.
    pub openid: String,
    /// When the user last wrote (unix seconds).
    pub latest_time: i64,
}

/// A chat record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatRecord {
    /// Its position, from 1: what `msgid` pages by.
    pub msgid: i64,
    /// The user.
    pub openid: String,
    /// 2002 agent sent, 2003 agent received.
    pub opercode: i64,
    /// The text; media show as `[image]`, `[voice]`, `[video]`, ….
    pub text: String,
    /// When (unix seconds).
    pub time: i64,
    /// The agent account, or empty.
    pub worker: String,
}

/// A mistake in a call on the handle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockError {
    /// No agent account has this name.
    UnknownAccount(String),
    /// An agent account with this name exists already.
    AccountExists(String),
    /// The official account has 100 agent accounts already.
    TooManyAccounts,
    /// The agent account has no invitation waiting for an answer.
    NoPendingInvitation(String),
    /// The agent account is not bound to a WeChat user.
    NotBound(String),
    /// The user is in a session, so cannot wait for an agent.
    InSession(String),
    /// The user is in no session.
    NoSession(String),
    /// No webhook is configured: there is nowhere to push to.
    NoWebhook,
    /// The account has no template of this id.
    UnknownTemplate(String),
    /// The emulator plays no third-party platform ([`MockHandle::set_platform`](crate::MockHandle::set_platform)).
    NoPlatform,
    /// No account of this appid ever authorized the platform.
    UnknownAuthorizer(String),
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::UnknownAccount(kf) => write!(f, "no agent account `{kf}`"),
            MockError::AccountExists(kf) => write!(f, "the agent account `{kf}` exists already"),
            MockError::TooManyAccounts => {
                write!(f, "there are {MAX_ACCOUNTS} agent accounts already")
            }
            MockError::NoPendingInvitation(kf) => {
                write!(
                    f,
                    "the agent account `{kf}` has no invitation waiting for an answer"
                )
            }
            MockError::NotBound(kf) => {
                write!(f, "the agent account `{kf}` is not bound to a WeChat user")
            }
            MockError::InSession(openid) => write!(f, "the user `{openid}` is in a session"),
            MockError::NoSession(openid) => write!(f, "the user `{openid}` is in no session"),
            MockError::NoWebhook => write!(f, "no webhook is configured (set_webhook)"),
            MockError::UnknownTemplate(id) => write!(f, "the account has no template `{id}`"),
            MockError::NoPlatform => write!(f, "no platform is configured (set_platform)"),
            MockError::UnknownAuthorizer(appid) => {
                write!(f, "no account `{appid}` ever authorized the platform")
            }
        }
    }
}

impl std::error::Error for MockError {}

/// An agent account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) kf_account: String,
    pub(crate) nickname: String,
    pub(crate) kf_id: u64,
    pub(crate) headimgurl: Option<String>,
    pub(crate) avatar_bytes: Option<usize>,
    pub(crate) kf_wx: Option<String>,
    pub(crate) kf_openid: Option<String>,
    pub(crate) invite: Option<Invite>,
    pub(crate) online: bool,
}

/// An invitation; a waiting one past its expiry reads as expired.
#[derive(Debug, Clone)]
pub(crate) struct Invite {
    pub(crate) wx: String,
    pub(crate) expire_time: i64,
    pub(crate) status: InvitationStatus,
}

impl Invite {
    pub(crate) fn status_at(&self, now_ms: i64) -> InvitationStatus {
        if self.status == InvitationStatus::Waiting && now_ms.div_euclid(1000) >= self.expire_time {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }
}

/// The reply windows a user's interactions open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowClass {
    /// A message: 5 within 48 hours.
    Message,
    /// A follow, scan or menu tap: 3 within 1 minute.
    Event,
    /// A payment: unlimited within 48 hours.
    Payment,
}

impl WindowClass {
    fn length_ms(self) -> i64 {
        match self {
            WindowClass::Message | WindowClass::Payment => 48 * 3_600_000,
            WindowClass::Event => 60_000,
        }
    }

    fn allowance(self) -> Option<u32> {
        match self {
            WindowClass::Message => Some(5),
            WindowClass::Event => Some(3),
            WindowClass::Payment => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Window {
    class: WindowClass,
    closes_ms: i64,
    remaining: Option<u32>,
}

/// A user the emulator knows (one who interacted through the handle).
#[derive(Debug, Clone, Default)]
pub(crate) struct User {
    pub(crate) unfollowed: bool,
    /// The user refused the account's messages (48002 to every send).
    pub(crate) refuses: bool,
    windows: Vec<Window>,
    pub(crate) last_interaction_ms: Option<i64>,
    pub(crate) typing_until_ms: Option<i64>,
}

/// Why a message may not be sent to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendRefused {
    /// No open window (45015).
    OutOfWindow,
    /// Every open window is used up (45047).
    OverCount,
}

impl User {
    fn open(&mut self, class: WindowClass, now_ms: i64) {
        self.windows.retain(|w| w.class != class);
        self.windows.push(Window {
            class,
            closes_ms: now_ms.saturating_add(class.length_ms()),
            remaining: class.allowance(),
        });
        self.last_interaction_ms = Some(now_ms);
    }

    /// Uses one message of an open window.
    pub(crate) fn consume(&mut self, now_ms: i64) -> Result<(), SendRefused> {
        self.windows.retain(|w| w.closes_ms > now_ms);
        if self.windows.is_empty() {
            return Err(SendRefused::OutOfWindow);
        }
        // Use the window that closes first, so the longer one lasts.
        self.windows.sort_by_key(|w| w.closes_ms);
        let window = self
            .windows
            .iter_mut()
            .find(|w| w.remaining.is_none_or(|n| n > 0))
            .ok_or(SendRefused::OverCount)?;
        if let Some(n) = window.remaining.as_mut() {
            *n -= 1;
        }
        Ok(())
    }

    pub(crate) fn is_typing(&self, now_ms: i64) -> bool {
        self.typing_until_ms.is_some_and(|until| now_ms < until)
    }
}

/// A session as stored, keyed by the user's openid.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) kf_account: String,
    pub(crate) createtime: i64,
}

/// Everything the emulator knows; behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// The account's WeChat ID (`gh_…`): when set, a new agent account's suffix must be it.
    pub(crate) wechat_id: Option<String>,
    /// Answers for paths the spec does not have (a raw call's), by path.
    pub(crate) stubs: HashMap<String, serde_json::Value>,
    pub(crate) appid: String,
    pub(crate) secret: String,
    pub(crate) kefu_enabled: bool,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) current_stable: Option<String>,
    pub(crate) latest_classic: Option<String>,
    pub(crate) stable_fetches: u64,
    pub(crate) classic_fetches: u64,
    /// When classic tokens were fetched within the last 24 hours.
    pub(crate) classic_quota: Quota,
    /// When the stable token was force-refreshed within the last 24 hours.
    pub(crate) force_quota: Quota,
    pub(crate) last_force_ms: Option<i64>,
    pub(crate) accounts: Vec<Account>,
    next_kf_id: u64,
    pub(crate) workers_at_limit: BTreeSet<String>,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) sessions: BTreeMap<String, Session>,
    pub(crate) waiting: Vec<WaitingUser>,
    pub(crate) records: Vec<ChatRecord>,
    pub(crate) faults: Faults,
    pub(crate) log: RequestLog,
    /// Session changes not pushed yet, in order.
    pub(crate) kefu_events: Vec<KefuEvent>,
    /// The `MsgId` of the next pushed user message.
    next_msg_id: i64,
    /// Temporary media (uploads and users' pictures and recordings) and permanent
    /// materials, by media id.
    pub(crate) media: HashMap<String, StoredMedia>,
    /// Each user's conversation, as their phone shows it.
    pub(crate) conversations: BTreeMap<String, Vec<Bubble>>,
    /// Templates, subscriptions and what they sent.
    pub(crate) notify: crate::notify::Notify,
    /// Set by a behaviour that answered success without carrying anything out (a repeat
    /// WeChat deduplicates, such as a template's `client_msg_id` within 10 minutes); the
    /// server takes it, and the request log says the request was not applied.
    pub(crate) no_effect: bool,
    /// The third-party platform this emulator plays, once configured (the primary
    /// account's state holds it; each authorizer's own state is inside).
    pub(crate) platform: Option<crate::platform::PlatformState>,
    /// Each authorizer's own account, by appid (never removed: a revoked one stays, its
    /// tokens refused).
    pub(crate) authorizer_states: BTreeMap<String, AccountState>,
}

/// An authorizer's own account, behind a lock of its own. Lock order: the emulator's state
/// first, then an authorizer's; never the other way.
pub(crate) type AccountState = std::sync::Arc<std::sync::Mutex<State>>;

/// Locks an authorizer's account; a panic elsewhere while holding it leaves it usable.
pub(crate) fn lock_account(state: &AccountState) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The state of the account a handle drives: the emulator's own, or an authorizer's.
pub(crate) enum StateGuard<'a> {
    Own(std::sync::MutexGuard<'a, State>),
    Authorizer(std::sync::MutexGuard<'a, State>),
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        match self {
            StateGuard::Own(state) | StateGuard::Authorizer(state) => state,
        }
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        match self {
            StateGuard::Own(state) | StateGuard::Authorizer(state) => state,
        }
    }
}

/// The most bubbles kept per conversation (the oldest go first).
const CONVERSATION_LIMIT: usize = 500;

/// Who a bubble of a conversation is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The user, from their phone.
    User,
    /// An agent or the account's bot (a customer-service message).
    Agent,
    /// Something the user did that is not a message (follow, unfollow, payment, …).
    Event,
}

/// One bubble of a user's conversation, as their phone shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bubble {
    /// When (the emulator's unix seconds).
    pub at: i64,
    /// Who.
    pub from: Speaker,
    /// The agent account a customer-service message was sent as, if any.
    pub kf_account: Option<String>,
    /// `text`, `image`, `msgmenu`, … (a message's type), or the event's name.
    pub kind: String,
    /// The message's content as on the wire (`{"content": "…"}`, `{"media_id": "…"}`, …).
    pub content: serde_json::Value,
}

/// The most bytes of media the emulator holds: past it, the oldest temporary media go
/// (WeChat would forget them after 3 days anyway); permanent materials alone past it are
/// refused.
pub(crate) const MEDIA_CAPACITY: usize = 256 * 1024 * 1024;

/// How long WeChat keeps a temporary media: 3 days.
pub(crate) const TEMP_MEDIA_LIFETIME_MS: i64 = 3 * 86_400_000;

/// A media file the emulated account holds.
#[derive(Debug, Clone)]
pub(crate) struct StoredMedia {
    /// `image`, `voice`, `video` or `thumb`.
    pub(crate) kind: String,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) data: bytes::Bytes,
    pub(crate) created_ms: i64,
    /// A permanent material (kept until deleted), or a temporary media (3 days).
    pub(crate) permanent: bool,
    /// A video material's title and introduction.
    pub(crate) description: Option<(String, String)>,
}

impl StoredMedia {
    /// Whether WeChat still knows it at `now_ms`.
    pub(crate) fn alive(&self, now_ms: i64) -> bool {
        self.permanent || now_ms - self.created_ms < TEMP_MEDIA_LIFETIME_MS
    }
}

/// A daily quota, counted over the last 24 hours (WeChat resets at midnight; a rolling
/// window behaves the same for tests and never depends on when they run).
#[derive(Debug, Default)]
pub(crate) struct Quota {
    uses: VecDeque<i64>,
}

impl Quota {
    /// Takes one use at `now_ms` if fewer than `limit` were taken in the last 24 hours.
    pub(crate) fn take(&mut self, limit: u32, now_ms: i64) -> bool {
        while self
            .uses
            .front()
            .is_some_and(|at| now_ms - at >= 86_400_000)
        {
            self.uses.pop_front();
        }
        if self.uses.len() >= limit as usize {
            return false;
        }
        self.uses.push_back(now_ms);
        true
    }
}

impl State {
    /// Keeps a media file and answers its new id (64 characters, as WeChat's). Within
    /// [`MEDIA_CAPACITY`]: the oldest temporary media make room; `None` when permanent
    /// materials fill it.
    pub(crate) fn store_media(&mut self, media: StoredMedia) -> Option<String> {
        self.store_media_within(media, MEDIA_CAPACITY)
    }

    /// [`store_media`](State::store_media) with another capacity.
    fn store_media_within(&mut self, media: StoredMedia, capacity: usize) -> Option<String> {
        let mut held: usize = self.media.values().map(|m| m.data.len()).sum();
        while held + media.data.len() > capacity {
            let oldest = self
                .media
                .iter()
                .filter(|(_, m)| !m.permanent)
                .min_by_key(|(_, m)| m.created_ms)
                .map(|(id, m)| (id.clone(), m.data.len()));
            let (id, len) = oldest?;
            self.media.remove(&id);
            held -= len;
        }
        let prefix = if media.permanent { "M" } else { "T" };
        let id = format!("{prefix}{}", &random_hex(4)[..63]);
        self.media.insert(id.clone(), media);
        Some(id)
    }

    /// The media of `id` if WeChat would still serve it at `now_ms`: a temporary one for
    /// `permanent == false`, a material for `true`.
    pub(crate) fn media(&self, id: &str, permanent: bool, now_ms: i64) -> Option<&StoredMedia> {
        self.media
            .get(id)
            .filter(|m| m.permanent == permanent && m.alive(now_ms))
    }

    /// Whether a message may name `id`: a live temporary media or a material.
    pub(crate) fn media_usable(&self, id: &str, now_ms: i64) -> bool {
        self.media.get(id).is_some_and(|m| m.alive(now_ms))
    }

    pub(crate) fn new(appid: String, secret: String) -> Self {
        State {
            appid,
            secret,
            kefu_enabled: true,
            tokens: HashMap::new(),
            current_stable: None,
            latest_classic: None,
            stable_fetches: 0,
            classic_fetches: 0,
            classic_quota: Quota::default(),
            force_quota: Quota::default(),
            last_force_ms: None,
            media: HashMap::new(),
            stubs: HashMap::new(),
            wechat_id: None,
            conversations: BTreeMap::new(),
            notify: crate::notify::Notify::default(),
            no_effect: false,
            platform: None,
            authorizer_states: BTreeMap::new(),
            accounts: Vec::new(),
            next_kf_id: FIRST_KF_ID,
            workers_at_limit: BTreeSet::new(),
            users: BTreeMap::new(),
            sessions: BTreeMap::new(),
            waiting: Vec::new(),
            records: Vec::new(),
            faults: Faults::default(),
            log: RequestLog::default(),
            kefu_events: Vec::new(),
            // WeChat's message ids are large 64-bit numbers.
            next_msg_id: i64::try_from(random_u64() >> 12).unwrap_or(1) + 1_000_000_000_000_000,
        }
    }

    /// A fresh `MsgId`.
    pub(crate) fn next_msg_id(&mut self) -> i64 {
        self.next_msg_id = self.next_msg_id.saturating_add(1);
        self.next_msg_id
    }

    // ---- sessions ----

    /// Starts a session (the user leaves the waiting queue) and queues `kf_create_session`.
    pub(crate) fn open_session(&mut self, openid: &str, kf_account: &str, now_ms: i64) {
        self.sessions.insert(
            openid.to_owned(),
            Session {
                kf_account: kf_account.to_owned(),
                createtime: secs(now_ms),
            },
        );
        self.waiting.retain(|w| w.openid != openid);
        self.kefu_events.push(KefuEvent::Create {
            openid: openid.to_owned(),
            kf_account: kf_account.to_owned(),
        });
    }

    /// Ends a session and queues `kf_close_session`.
    pub(crate) fn end_session(&mut self, openid: &str) -> Option<Session> {
        let session = self.sessions.remove(openid)?;
        self.kefu_events.push(KefuEvent::Close {
            openid: openid.to_owned(),
            kf_account: session.kf_account.clone(),
        });
        Some(session)
    }

    // ---- tokens ----

    /// Issues a new token, valid for two hours.
    pub(crate) fn issue_token(&mut self, now_ms: i64) -> String {
        // WeChat's tokens are 130-160 characters; clients must store at least 512.
        let value = format!("{}_{}", self.tokens.len() + 1, random_hex(9));
        self.tokens.insert(
            value.clone(),
            Token {
                expires_at_ms: now_ms.saturating_add(TOKEN_LIFETIME_MS),
                invalid_after_ms: None,
            },
        );
        value
    }

    /// Whether a token is accepted: 41001 missing, 40001 unknown or replaced, 42001 expired.
    pub(crate) fn check_token(&self, token: Option<&str>, now_ms: i64) -> Result<(), i64> {
        let token = token.filter(|t| !t.is_empty()).ok_or(41001)?;
        self.tokens.get(token).ok_or(40001)?.check(now_ms)
    }

    /// A new authorizer token for `appid` (on the platform this state plays), its previous
    /// one retired, entered into the authorizer's own account: `None` for an appid that
    /// never authorized the platform.
    pub(crate) fn issue_authorizer_token(&mut self, appid: &str, now_ms: i64) -> Option<String> {
        let (token, previous) = self.platform.as_mut()?.issue_authorizer_token(appid)?;
        let mut account = lock_account(self.authorizer_states.get(appid)?);
        if let Some(previous) = previous.and_then(|value| account.tokens.get_mut(&value)) {
            previous.retire(now_ms);
        }
        account.tokens.insert(token.clone(), Token::issued(now_ms));
        Some(token)
    }

    /// Replaces every token at once: they all answer 40001 from now on.
    pub(crate) fn invalidate_tokens(&mut self, now_ms: i64) {
        for token in self.tokens.values_mut() {
            token.invalid_after_ms =
                Some(token.invalid_after_ms.map_or(now_ms, |at| at.min(now_ms)));
        }
    }

    // ---- accounts ----

    pub(crate) fn account(&self, kf_account: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.kf_account == kf_account)
    }

    pub(crate) fn account_mut(&mut self, kf_account: &str) -> Option<&mut Account> {
        self.accounts
            .iter_mut()
            .find(|a| a.kf_account == kf_account)
    }

    /// Adds an account, or says why not.
    pub(crate) fn add_account(
        &mut self,
        kf_account: &str,
        nickname: &str,
    ) -> Result<(), MockError> {
        if self.account(kf_account).is_some() {
            return Err(MockError::AccountExists(kf_account.to_owned()));
        }
        if self.accounts.len() >= MAX_ACCOUNTS {
            return Err(MockError::TooManyAccounts);
        }
        let kf_id = self.next_kf_id;
        self.next_kf_id += 1;
        self.accounts.push(Account {
            kf_account: kf_account.to_owned(),
            nickname: nickname.to_owned(),
            kf_id,
            headimgurl: None,
            avatar_bytes: None,
            kf_wx: None,
            kf_openid: None,
            invite: None,
            online: false,
        });
        Ok(())
    }

    /// Binds a WeChat user to an account, ending any invitation.
    pub(crate) fn bind(&mut self, kf_account: &str, wx: &str) -> Result<(), MockError> {
        let account = self
            .account_mut(kf_account)
            .ok_or_else(|| MockError::UnknownAccount(kf_account.to_owned()))?;
        account.kf_wx = Some(wx.to_owned());
        account.kf_openid = Some(format!("oKF_{}", &random_hex(2)[..24]));
        account.invite = None;
        Ok(())
    }

    /// The account with a pending (waiting, unexpired) invitation.
    pub(crate) fn pending_invite(
        &mut self,
        kf_account: &str,
        now_ms: i64,
    ) -> Result<&mut Invite, MockError> {
        let account = self
            .account_mut(kf_account)
            .ok_or_else(|| MockError::UnknownAccount(kf_account.to_owned()))?;
        match account.invite.as_mut() {
            Some(invite) if invite.status_at(now_ms) == InvitationStatus::Waiting => Ok(invite),
            _ => Err(MockError::NoPendingInvitation(kf_account.to_owned())),
        }
    }

    /// How many sessions an agent serves.
    pub(crate) fn accepted_case(&self, kf_account: &str) -> usize {
        self.sessions
            .values()
            .filter(|s| s.kf_account == kf_account)
            .count()
    }

    pub(crate) fn account_info(&self, account: &Account, now_ms: i64) -> AccountInfo {
        AccountInfo {
            kf_account: account.kf_account.clone(),
            nickname: account.nickname.clone(),
            kf_id: account.kf_id,
            headimgurl: account.headimgurl.clone(),
            avatar_bytes: account.avatar_bytes,
            kf_wx: account.kf_wx.clone(),
            kf_openid: account.kf_openid.clone(),
            invitation: account.invite.as_ref().map(|invite| Invitation {
                invite_wx: invite.wx.clone(),
                expire_time: invite.expire_time,
                status: invite.status_at(now_ms),
            }),
            online: account.online,
        }
    }

    // ---- users ----

    /// Adds a bubble to the user's conversation.
    pub(crate) fn converse(&mut self, openid: &str, bubble: Bubble) {
        let conversation = self.conversations.entry(openid.to_owned()).or_default();
        if conversation.len() >= CONVERSATION_LIMIT {
            conversation.remove(0);
        }
        conversation.push(bubble);
    }

    /// Whether a reply may be sent now, when the last window closes (ms), and how many
    /// replies remain (`None`: any number).
    pub(crate) fn window(&self, openid: &str, now_ms: i64) -> (bool, Option<i64>, Option<u32>) {
        let Some(user) = self.users.get(openid) else {
            return (false, None, Some(0));
        };
        let open: Vec<&Window> = user
            .windows
            .iter()
            .filter(|w| w.closes_ms > now_ms)
            .collect();
        let closes = open.iter().map(|w| w.closes_ms).max();
        let remaining = if open.iter().any(|w| w.remaining.is_none()) {
            None
        } else {
            Some(open.iter().filter_map(|w| w.remaining).sum())
        };
        (remaining != Some(0) && !open.is_empty(), closes, remaining)
    }

    /// The user, created on first sight.
    pub(crate) fn user_mut(&mut self, openid: &str) -> &mut User {
        self.users.entry(openid.to_owned()).or_default()
    }

    /// A message from the user: opens the 48-hour window and is recorded (2003).
    pub(crate) fn user_message(&mut self, openid: &str, text: &str, now_ms: i64) {
        let user = self.user_mut(openid);
        user.unfollowed = false;
        user.open(WindowClass::Message, now_ms);
        if let Some(waiting) = self.waiting.iter_mut().find(|w| w.openid == openid) {
            waiting.latest_time = secs(now_ms);
        }
        let worker = self
            .sessions
            .get(openid)
            .map(|s| s.kf_account.clone())
            .unwrap_or_default();
        self.record(openid, OPERCODE_AGENT_RECEIVED, text, worker, now_ms);
    }

    /// An event from the user.
    pub(crate) fn user_event(&mut self, openid: &str, event: UserEvent, now_ms: i64) {
        let user = self.user_mut(openid);
        match event {
            UserEvent::Follow | UserEvent::Scan | UserEvent::MenuClick => {
                user.unfollowed = false;
                user.open(WindowClass::Event, now_ms);
            }
            UserEvent::Payment => {
                user.unfollowed = false;
                user.open(WindowClass::Payment, now_ms);
            }
            UserEvent::Unfollow => {
                user.unfollowed = true;
                user.windows.clear();
                user.typing_until_ms = None;
            }
        }
    }

    /// Puts the user at the end of the waiting queue (or refreshes its time if queued).
    pub(crate) fn enqueue_waiting(&mut self, openid: &str, now_ms: i64) -> Result<(), MockError> {
        if self.sessions.contains_key(openid) {
            return Err(MockError::InSession(openid.to_owned()));
        }
        self.user_mut(openid);
        let latest_time = secs(now_ms);
        match self.waiting.iter_mut().find(|w| w.openid == openid) {
            Some(waiting) => waiting.latest_time = latest_time,
            None => self.waiting.push(WaitingUser {
                openid: openid.to_owned(),
                latest_time,
            }),
        }
        Ok(())
    }

    // ---- records ----

    pub(crate) fn record(
        &mut self,
        openid: &str,
        opercode: i64,
        text: &str,
        worker: String,
        now_ms: i64,
    ) {
        let msgid = i64::try_from(self.records.len())
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        self.records.push(ChatRecord {
            msgid,
            openid: openid.to_owned(),
            opercode,
            text: text.to_owned(),
            time: secs(now_ms),
            worker,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_allows_five_replies_and_an_event_three() {
        let mut user = User::default();
        assert_eq!(user.consume(0), Err(SendRefused::OutOfWindow));
        user.open(WindowClass::Message, 0);
        for _ in 0..5 {
            assert_eq!(user.consume(1), Ok(()));
        }
        assert_eq!(user.consume(1), Err(SendRefused::OverCount));
        user.open(WindowClass::Event, 2);
        for _ in 0..3 {
            assert_eq!(user.consume(3), Ok(()));
        }
        assert_eq!(user.consume(3), Err(SendRefused::OverCount));
        assert_eq!(user.consume(48 * 3_600_000), Err(SendRefused::OutOfWindow));
    }

    #[test]
    fn invitations_expire_with_time() {
        let invite = Invite {
            wx: "w".into(),
            expire_time: 100,
            status: InvitationStatus::Waiting,
        };
        assert_eq!(invite.status_at(99_999), InvitationStatus::Waiting);
        assert_eq!(invite.status_at(100_000), InvitationStatus::Expired);
    }
}
