//! Several instances, one account (feature `shared`): the state the webhook keeps, behind
//! traits, so that instances behind a load balancer can share it.
//!
//! WeChat waits 5 s for an answer to a push and then tries again, three times in all
//! (API.md §pushes; `../shared/SCALE.md`), and the retry may reach another instance.
//! [`Webhook::process`](crate::Webhook::process) (async) keeps three things that must then
//! be shared:
//!
//! - **Which push is being handled** ([`DedupStore`]): unseen → the handler runs; in
//!   progress elsewhere → the retry waits a little for that reply, else answers `success`;
//!   done → the retry gets the same reply, sealed anew. The in-progress mark is a lease
//!   the handling instance renews while its handler runs, so an instance that dies lets a
//!   later retry run the push again. [`Dedup`] is the in-memory store (one instance);
//!   `redis::RedisInbound` the shared one (feature `redis`).
//! - **Who can still be messaged** ([`WindowStore`]): [`Windows`] in memory, or shared.
//! - **Replies that came too late** ([`Outbox`]): a handler that has not replied within
//!   the budget (4 s by default) is answered `success` for WeChat, and its reply, when it
//!   comes, is put in the outbox and sent by the customer-service API
//!   ([`ReplySender`], which `wx-kefu-api`'s `Client` implements). A reply is marked
//!   before it is sent, so it is sent at most once: one whose sender died during the send
//!   is not sent again but [reported](Outbox::reports). [`MemoryOutbox`] keeps them in
//!   the process; `redis::RedisInbound` on a Redis stream with a consumer group, where
//!   another instance claims what a dead one left.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::dedup::{Dedup, Seen};
use crate::error::{Error, Result};
use crate::push::{DedupKey, Push};
use crate::reply::Reply;
use crate::window::{Action, Window, Windows};

/// A boxed future, as the traits of this module return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a push's in-progress mark lives unless renewed, by default. The handling
/// instance renews it every third of this while its handler runs; an instance that dies
/// loses it this long after, before WeChat's last retry (about 10 s after the first try).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

/// How long a handler may take before its push is answered `success` and its reply
/// deferred to the customer-service API, by default: inside WeChat's 5 s.
pub const DEFAULT_REPLY_BUDGET: Duration = Duration::from_secs(4);

/// How long a retry waits for the first delivery's reply, by default: inside WeChat's 5 s.
pub const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(4);

/// A push as the shared stores key it: the account, then the push.
#[derive(Debug, Clone, Copy)]
pub struct PushKey<'a> {
    /// The account the push came to.
    pub app_id: &'a str,
    /// The push ([`Push::dedup_key`]).
    pub key: &'a DedupKey,
}

impl PushKey<'_> {
    /// The push as text: `m:<MsgId>`, or `e:<FromUserName>:<CreateTime>:<kind>`.
    pub fn text(&self) -> String {
        match self.key {
            DedupKey::Message(id) => format!("m:{id}"),
            DedupKey::Event {
                from,
                create_time,
                kind,
            } => format!("e:{from}:{create_time}:{kind}"),
        }
    }
}

/// Which pushes are handled, shared by the instances that may receive them.
pub trait DedupStore: Send + Sync + fmt::Debug {
    /// Where the push stands; an unseen one is marked in progress (by this instance) for
    /// `lease`, and [`Seen::New`] says to handle it.
    fn begin<'a>(&'a self, key: PushKey<'a>, lease: Duration) -> BoxFuture<'a, Result<Seen>>;

    /// Still handling it: the mark lives `lease` more. `false` when this instance no
    /// longer holds it (it expired).
    fn renew<'a>(&'a self, key: PushKey<'a>, lease: Duration) -> BoxFuture<'a, Result<bool>>;

    /// It was answered with `reply`: retries get the same, for `ttl`.
    fn finish<'a>(
        &'a self,
        key: PushKey<'a>,
        reply: &'a Reply,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>>;

    /// Its handling failed: forget it (if this instance still holds it), so a retry runs.
    fn forget<'a>(&'a self, key: PushKey<'a>) -> BoxFuture<'a, Result<()>>;

    /// The reply it got, once it got one.
    fn reply<'a>(&'a self, key: PushKey<'a>) -> BoxFuture<'a, Result<Option<Reply>>>;
}

/// The in-memory cache, for one instance: the lease plays no part (the process that
/// marks a push is the one that would die with the mark).
impl DedupStore for Dedup {
    fn begin<'a>(&'a self, key: PushKey<'a>, _lease: Duration) -> BoxFuture<'a, Result<Seen>> {
        Box::pin(std::future::ready(Ok(self.begin_for(key.app_id, key.key))))
    }

    fn renew<'a>(&'a self, _key: PushKey<'a>, _lease: Duration) -> BoxFuture<'a, Result<bool>> {
        Box::pin(std::future::ready(Ok(true)))
    }

    fn finish<'a>(
        &'a self,
        key: PushKey<'a>,
        reply: &'a Reply,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<()>> {
        self.finish_for(key.app_id, key.key, reply);
        Box::pin(std::future::ready(Ok(())))
    }

    fn forget<'a>(&'a self, key: PushKey<'a>) -> BoxFuture<'a, Result<()>> {
        self.forget_for(key.app_id, key.key);
        Box::pin(std::future::ready(Ok(())))
    }

    fn reply<'a>(&'a self, key: PushKey<'a>) -> BoxFuture<'a, Result<Option<Reply>>> {
        Box::pin(std::future::ready(Ok(self.reply_for(key.app_id, key.key))))
    }
}

/// The reply windows, shared by the instances (see [`crate::window`] for the rules).
pub trait WindowStore: Send + Sync + fmt::Debug {
    /// The user did `action` at `at` (unix seconds): its window opens anew.
    fn opened<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        action: Action,
        at: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// The user unfollowed: no window is open.
    fn closed<'a>(&'a self, app_id: &'a str, openid: &'a str) -> BoxFuture<'a, Result<()>>;

    /// A message was sent at `now`: it counts against the window closing first. Whether
    /// one was open.
    fn replied<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Where the user stands at `now`.
    fn window<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<Window>>>;
}

/// Feeds one new push to a store.
pub(crate) async fn saw(store: &dyn WindowStore, app_id: &str, push: &Push) -> Result<()> {
    match Action::of(push) {
        Some(Ok(action)) => {
            store
                .opened(app_id, &push.from_user_name, action, push.create_time)
                .await
        }
        Some(Err(())) => store.closed(app_id, &push.from_user_name).await,
        None => Ok(()),
    }
}

/// The in-memory tracker, for one instance (one account: the appid plays no part).
impl WindowStore for Windows {
    fn opened<'a>(
        &'a self,
        _app_id: &'a str,
        openid: &'a str,
        action: Action,
        at: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Windows::opened(self, openid, action, at);
        Box::pin(std::future::ready(Ok(())))
    }

    fn closed<'a>(&'a self, _app_id: &'a str, openid: &'a str) -> BoxFuture<'a, Result<()>> {
        Windows::closed(self, openid);
        Box::pin(std::future::ready(Ok(())))
    }

    fn replied<'a>(
        &'a self,
        _app_id: &'a str,
        openid: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(std::future::ready(Ok(Windows::replied(self, openid, now))))
    }

    fn window<'a>(
        &'a self,
        _app_id: &'a str,
        openid: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<Window>>> {
        Box::pin(std::future::ready(Ok(Windows::window(self, openid, now))))
    }
}

/// Sends a deferred reply through the customer-service API (`message/custom/send`).
/// `wx-kefu-api`'s `Client` implements it (feature `inbound`).
pub trait ReplySender: Send + Sync {
    /// Sends `reply` to `openid` of the account `app_id`.
    fn send<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, std::result::Result<(), SendFailure>>;
}

/// Why a deferred reply was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendFailure {
    /// What went wrong (an errcode and its meaning, a transport failure …; never a token).
    pub reason: String,
    /// Whether the message may have reached WeChat all the same (an answer lost on the
    /// way back): it is not sent again either way.
    pub may_have_arrived: bool,
}

impl SendFailure {
    /// A failure that certainly sent nothing.
    pub fn not_sent(reason: impl Into<String>) -> SendFailure {
        SendFailure {
            reason: reason.into(),
            may_have_arrived: false,
        }
    }

    /// A failure after which the message may have arrived.
    pub fn maybe_sent(reason: impl Into<String>) -> SendFailure {
        SendFailure {
            reason: reason.into(),
            may_have_arrived: true,
        }
    }
}

/// A reply that missed WeChat's 5 s, to send through the customer-service API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deferred {
    /// The account.
    pub app_id: String,
    /// The user.
    pub openid: String,
    /// What the handler replied.
    pub reply: Reply,
    /// When the push came (unix seconds).
    pub pushed_at: i64,
}

impl Deferred {
    /// A deferred reply.
    pub fn new(
        app_id: impl Into<String>,
        openid: impl Into<String>,
        reply: Reply,
        pushed_at: i64,
    ) -> Deferred {
        Deferred {
            app_id: app_id.into(),
            openid: openid.into(),
            reply,
            pushed_at,
        }
    }
}

/// A deferred reply taken from an outbox, to be sent by the one who took it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Taken {
    /// Its id in the outbox.
    pub id: String,
    /// The reply.
    pub deferred: Deferred,
    /// Whether it was taken over from an instance that took it and went silent.
    pub claimed: bool,
}

impl Taken {
    /// A taken reply (for [`Outbox`] implementations).
    pub fn new(id: impl Into<String>, deferred: Deferred, claimed: bool) -> Taken {
        Taken {
            id: id.into(),
            deferred,
            claimed,
        }
    }
}

/// What became of a deferred reply that was not simply sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// An instance marked it for sending and went silent: it may have been sent, so it is
    /// not sent again.
    MaybeSent,
    /// The send failed (`may_have_arrived` says whether it may have reached WeChat).
    SendFailed(SendFailure),
    /// This kind of reply cannot be sent later (a hand-off to the agents only works as a
    /// passive reply; a video needs a thumbnail for the customer-service API).
    CannotDefer(&'static str),
    /// The window tracker says the user's window is closed, and the webhook was asked to
    /// skip such sends ([`WebhookBuilder::skip_closed_windows`](crate::WebhookBuilder::skip_closed_windows)).
    WindowClosed,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MaybeSent => f.write_str(
                "taken for sending by an instance that went silent: maybe sent, not sent again",
            ),
            Problem::SendFailed(failure) if failure.may_have_arrived => {
                write!(
                    f,
                    "the send failed after it may have arrived: {}",
                    failure.reason
                )
            }
            Problem::SendFailed(failure) => write!(f, "the send failed: {}", failure.reason),
            Problem::CannotDefer(why) => write!(f, "cannot be sent later: {why}"),
            Problem::WindowClosed => {
                f.write_str("the user's window is closed (by the tracker's word): not sent")
            }
        }
    }
}

/// A deferred reply that was not sent, with why: where the application sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The reply.
    pub deferred: Deferred,
    /// What happened.
    pub problem: Problem,
}

/// Where deferred replies wait to be sent.
pub trait Outbox: Send + Sync + fmt::Debug {
    /// Adds one.
    fn put<'a>(&'a self, deferred: &'a Deferred) -> BoxFuture<'a, Result<()>>;

    /// Takes the next ones for this instance to send (and those a silent instance left),
    /// waiting up to `wait` when there are none.
    fn take<'a>(&'a self, wait: Duration) -> BoxFuture<'a, Result<Vec<Taken>>>;

    /// Marks one as being sent, before the send; `false` when it already was (by an
    /// instance that went silent): then it must not be sent again.
    fn begin_send<'a>(&'a self, taken: &'a Taken) -> BoxFuture<'a, Result<bool>>;

    /// Done with one: sent (`None`), or not, with why (kept as a [`Report`]).
    fn settle<'a>(
        &'a self,
        taken: &'a Taken,
        problem: Option<&'a Problem>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Records a reply that never entered the outbox (one that cannot be deferred).
    fn report<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, Result<()>>;

    /// The replies that were not sent, oldest first (the latest ones, bounded).
    fn reports<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Report>>>;
}

/// How many reports an outbox keeps by default.
pub const DEFAULT_REPORTS_KEPT: usize = 10_000;

/// The in-process outbox: the same interface, for one instance (what is in it dies with
/// the process).
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    inner: Mutex<MemoryInner>,
    ready: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct MemoryInner {
    next_id: u64,
    queue: VecDeque<Taken>,
    reports: VecDeque<Report>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keep(&self, report: Report) {
        let mut inner = self.lock();
        if inner.reports.len() >= DEFAULT_REPORTS_KEPT {
            inner.reports.pop_front();
        }
        inner.reports.push_back(report);
    }
}

impl Outbox for MemoryOutbox {
    fn put<'a>(&'a self, deferred: &'a Deferred) -> BoxFuture<'a, Result<()>> {
        {
            let mut inner = self.lock();
            inner.next_id += 1;
            let id = inner.next_id.to_string();
            inner
                .queue
                .push_back(Taken::new(id, deferred.clone(), false));
        }
        self.ready.notify_one();
        Box::pin(std::future::ready(Ok(())))
    }

    fn take<'a>(&'a self, wait: Duration) -> BoxFuture<'a, Result<Vec<Taken>>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let ready = self.ready.notified();
                let taken: Vec<Taken> = self.lock().queue.drain(..).collect();
                if !taken.is_empty() {
                    return Ok(taken);
                }
                if tokio::time::timeout_at(deadline, ready).await.is_err() {
                    return Ok(Vec::new());
                }
            }
        })
    }

    fn begin_send<'a>(&'a self, _taken: &'a Taken) -> BoxFuture<'a, Result<bool>> {
        // Taken once from the queue, by this process only.
        Box::pin(std::future::ready(Ok(true)))
    }

    fn settle<'a>(
        &'a self,
        taken: &'a Taken,
        problem: Option<&'a Problem>,
    ) -> BoxFuture<'a, Result<()>> {
        if let Some(problem) = problem {
            self.keep(Report {
                deferred: taken.deferred.clone(),
                problem: problem.clone(),
            });
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn report<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, Result<()>> {
        self.keep(report.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn reports<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Report>>> {
        let reports = self.lock().reports.iter().cloned().collect();
        Box::pin(std::future::ready(Ok(reports)))
    }
}

/// Deferral: how long a handler may take, who sends late replies, and where they wait.
#[derive(Clone)]
pub(crate) struct Deferral {
    pub(crate) budget: Duration,
    pub(crate) sender: Arc<dyn ReplySender>,
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) skip_closed: bool,
}

impl fmt::Debug for Deferral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferral")
            .field("budget", &self.budget)
            .field("outbox", &self.outbox)
            .field("skip_closed", &self.skip_closed)
            .finish_non_exhaustive()
    }
}

/// Why a hand-off cannot be deferred.
pub const CANNOT_DEFER_TRANSFER: &str =
    "transfer_customer_service works only as the passive reply, within WeChat's 5 s";
/// Why a video without a thumbnail cannot be deferred.
pub const CANNOT_DEFER_VIDEO: &str = "a customer-service video needs thumb_media_id";

/// Why a reply cannot be deferred, if it cannot.
pub(crate) fn cannot_defer(reply: &Reply) -> Option<&'static str> {
    match reply {
        Reply::TransferCustomerService { .. } => Some(CANNOT_DEFER_TRANSFER),
        Reply::Video {
            thumb_media_id: None,
            ..
        } => Some(CANNOT_DEFER_VIDEO),
        _ => None,
    }
}

/// Sends what the outbox holds, until the future is dropped: each reply marked, sent
/// once, settled; a store failure is logged and tried again a second later.
pub(crate) async fn deliver(
    deferral: Deferral,
    windows: Arc<dyn WindowStore>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
) {
    loop {
        let batch = match deferral.outbox.take(Duration::from_secs(1)).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "wx-kefu outbox: could not take deferred replies");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for taken in batch {
            if let Err(error) = deliver_one(&deferral, windows.as_ref(), clock(), &taken).await {
                tracing::warn!(%error, openid = %taken.deferred.openid, "wx-kefu outbox: a deferred reply could not be settled");
            }
        }
    }
}

/// Sends one taken reply at most once.
pub(crate) async fn deliver_one(
    deferral: &Deferral,
    windows: &dyn WindowStore,
    now: i64,
    taken: &Taken,
) -> Result<()> {
    let outbox = deferral.outbox.as_ref();
    let deferred = &taken.deferred;
    if !outbox.begin_send(taken).await? {
        tracing::warn!(openid = %deferred.openid, "wx-kefu outbox: a deferred reply was taken by an instance that went silent: not sent again");
        return outbox.settle(taken, Some(&Problem::MaybeSent)).await;
    }
    if deferral.skip_closed
        && !windows
            .window(&deferred.app_id, &deferred.openid, now)
            .await?
            .is_some_and(|window| window.is_open())
    {
        return outbox.settle(taken, Some(&Problem::WindowClosed)).await;
    }
    match deferral
        .sender
        .send(&deferred.app_id, &deferred.openid, &deferred.reply)
        .await
    {
        Ok(()) => {
            windows
                .replied(&deferred.app_id, &deferred.openid, now)
                .await?;
            outbox.settle(taken, None).await
        }
        Err(failure) => {
            tracing::warn!(openid = %deferred.openid, reason = %failure.reason, "wx-kefu outbox: a deferred reply was not sent");
            outbox
                .settle(taken, Some(&Problem::SendFailed(failure)))
                .await
        }
    }
}

/// What the builder collects for the shared path.
pub(crate) struct Settings {
    pub(crate) dedup: Option<Arc<dyn DedupStore>>,
    pub(crate) windows: Option<Arc<dyn WindowStore>>,
    pub(crate) deferral: Option<(Arc<dyn ReplySender>, Arc<dyn Outbox>)>,
    pub(crate) budget: Duration,
    pub(crate) retry_wait: Duration,
    pub(crate) lease: Duration,
    pub(crate) skip_closed: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            dedup: None,
            windows: None,
            deferral: None,
            budget: DEFAULT_REPLY_BUDGET,
            retry_wait: DEFAULT_RETRY_WAIT,
            lease: DEFAULT_LEASE,
            skip_closed: false,
        }
    }
}

impl Settings {
    pub(crate) fn build(self) -> Result<Shared> {
        if self.lease < Duration::from_millis(300) {
            return Err(Error::Config(
                "the lease must be at least 300 ms: it is renewed every third of it",
            ));
        }
        if self.skip_closed && self.deferral.is_none() {
            return Err(Error::Config(
                "skip_closed_windows applies to deferred replies: call defer_replies too",
            ));
        }
        Ok(Shared {
            dedup: self.dedup,
            windows: self.windows,
            deferral: self.deferral.map(|(sender, outbox)| Deferral {
                budget: self.budget,
                sender,
                outbox,
                skip_closed: self.skip_closed,
            }),
            retry_wait: self.retry_wait,
            lease: self.lease,
            delivery: std::sync::OnceLock::new(),
        })
    }
}

/// The shared path's part of a webhook.
pub(crate) struct Shared {
    pub(crate) dedup: Option<Arc<dyn DedupStore>>,
    pub(crate) windows: Option<Arc<dyn WindowStore>>,
    pub(crate) deferral: Option<Deferral>,
    pub(crate) retry_wait: Duration,
    pub(crate) lease: Duration,
    /// The task sending deferred replies, once started (stopped with the webhook).
    pub(crate) delivery: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.delivery.get() {
            task.abort();
        }
    }
}

impl Shared {
    /// Whether a store is shared with other instances (the sync path cannot use it).
    pub(crate) fn is_shared(&self) -> bool {
        self.dedup.is_some() || self.windows.is_some()
    }
}
