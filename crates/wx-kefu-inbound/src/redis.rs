//! [`RedisInbound`]: the webhook's shared state on Redis (feature `redis`), for several
//! instances behind a load balancer.
//!
//! - **Dedup** ([`DedupStore`]): one key per push, `<prefix>{<appid>}:push:<push>`. A new
//!   push is marked in one script, `SET NX PX <lease>` with this instance's value, and
//!   the mark is renewed (compare-and-expire) while the handler runs; the reply replaces
//!   it (compare-and-set) and lives twice the replay window. Two commands per push that
//!   is answered in time.
//! - **Windows** ([`WindowStore`]): one hash per user, `<prefix>{<appid>}:window:<openid>`,
//!   a field per kind of window, counted down in a script; it expires 48 h after the last
//!   action.
//! - **Outbox** ([`Outbox`]): a stream, `<prefix>outbox`, read through the consumer group
//!   `wx-kefu` (one consumer per instance, `XREADGROUP`); what an instance took and left
//!   unsettled for [`claim_after`](RedisInboundBuilder::claim_after) is claimed by another
//!   (`XAUTOCLAIM`). Each reply is marked `<prefix>outbox:sent:<id>` (`SET NX`) before it
//!   is sent, so one whose sender died mid-send is reported, never sent twice. Reports go
//!   to the stream `<prefix>outbox:reports` (the latest 10,000).
//!
//! Every operation is bounded by a timeout; past it, or with Redis away, the webhook
//! refuses the push with [`Error::Store`] (HTTP 503: WeChat retries) and never runs the
//! handler without its mark. No key name holds a token, a secret or a reply.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wx_kefu_inbound::Error> {
//! use std::sync::Arc;
//! use wx_kefu_inbound::Webhook;
//! use wx_kefu_inbound::redis::RedisInbound;
//!
//! let redis = Arc::new(RedisInbound::builder().url("redis://10.0.0.5:6379/0").build()?);
//! let webhook = Webhook::builder()
//!     .token("TOKEN")
//!     .app_id("wx_APPID")
//!     .encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?
//!     .dedup_store(redis.clone())
//!     .window_store(redis.clone())
//!     .build()?;
//! # let _ = webhook; Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamRangeReply, StreamReadReply};
use redis::{RedisError, Script};

use crate::dedup::Seen;
use crate::error::{Error, Result};
use crate::reply::Reply;
use crate::shared::{
    BoxFuture, CANNOT_DEFER_TRANSFER, CANNOT_DEFER_VIDEO, DEFAULT_REPORTS_KEPT, DedupStore,
    Deferred, Outbox, Problem, PushKey, Report, SendFailure, Taken, WindowStore,
};
use crate::window::{Action, Open, Window, summarize};

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "wx-kefu:";
/// The default bound on each Redis operation (connecting included).
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a taken reply may stay unsettled before another instance claims it, by
/// default: longer than a send takes with the client's default timeout (15 s).
pub const DEFAULT_CLAIM_AFTER: Duration = Duration::from_secs(30);
/// The consumer group of the outbox.
pub const GROUP: &str = "wx-kefu";
/// How many replies one take reads at most.
const BATCH: usize = 16;
/// How long a sent-mark lives: far longer than any claim.
const SENT_MARK: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a user's windows are kept after the last action: the longest window, 48 h.
const WINDOW_KEEP_SECS: i64 = 48 * 3600;

/// New push: mark it, or say what it is. KEYS: push. ARGV: mark, lease ms.
/// Returns `false` when marked, else the value found (`p:…` in progress, `r:…` replied).
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
",
    )
});

/// Compare-and-expire. KEYS: push. ARGV: mark, lease ms.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
    )
});

/// Records the reply unless another instance holds the push. KEYS: push.
/// ARGV: mark, `r:<reply>`, ttl ms.
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local found = redis.call('GET', KEYS[1])
if found == false or found == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
",
    )
});

/// Compare-and-delete. KEYS: push. ARGV: mark.
static FORGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Opens a window. KEYS: user. ARGV: class, `action:at:closes:left`, keep s.
static OPENED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// Counts a message against the open window closing first that has any left (`-1`:
/// unlimited). KEYS: user. ARGV: now. Returns 1 when one was open.
static REPLIED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
local best, best_closes, best_value
for i = 1, #fields, 2 do
  local action, at, closes, left = string.match(fields[i + 1], '^([%w_]+):(%-?%d+):(%-?%d+):(%-?%d+)$')
  closes = tonumber(closes)
  left = tonumber(left)
  if closes and closes > now and left ~= 0 and (best == nil or closes < best_closes) then
    best, best_closes = fields[i], closes
    if left > 0 then left = left - 1 end
    best_value = action .. ':' .. at .. ':' .. closes .. ':' .. left
  end
end
if best == nil then return 0 end
redis.call('HSET', KEYS[1], best, best_value)
return 1
",
    )
});

/// Configures a [`RedisInbound`].
#[derive(Default)]
pub struct RedisInboundBuilder {
    url: Option<String>,
    connection: Option<ConnectionManager>,
    prefix: Option<String>,
    timeout: Option<Duration>,
    claim_after: Option<Duration>,
}

impl fmt::Debug for RedisInboundBuilder {
    // The URL may hold Redis' password: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInboundBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisInboundBuilder {
    /// The Redis server: `redis://[user:password@]host[:port][/db]`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// A connection of the application's own (it is cloned for every command; the
    /// outbox's blocking reads open one more from the URL when one is given, else poll).
    pub fn connection(mut self, connection: ConnectionManager) -> Self {
        self.connection = Some(connection);
        self
    }

    /// The prefix of every key (default `wx-kefu:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The bound on each Redis operation (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a taken reply may stay unsettled before another instance claims it
    /// (default 30 s; at least 1 s).
    pub fn claim_after(mut self, after: Duration) -> Self {
        self.claim_after = Some(after);
        self
    }

    /// The store, or what is wrong. Inside a Tokio runtime (it connects lazily).
    pub fn build(self) -> Result<RedisInbound> {
        let timeout = self.timeout.unwrap_or(DEFAULT_REDIS_TIMEOUT);
        let claim_after = self.claim_after.unwrap_or(DEFAULT_CLAIM_AFTER);
        if claim_after < Duration::from_secs(1) {
            return Err(Error::Config(
                "redis inbound: claim_after must be at least 1 s",
            ));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config(
                "redis inbound: build it inside a Tokio runtime",
            ));
        }
        let manager = |response: Duration| -> Result<Option<ConnectionManager>> {
            let Some(url) = &self.url else {
                return Ok(None);
            };
            // The URL is never quoted: it may hold a password.
            let client = redis::Client::open(url.as_str()).map_err(|_| {
                Error::Config(
                    "redis inbound: the Redis URL is not valid (expected redis://[user:password@]host[:port][/db])",
                )
            })?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(response))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            client
                .get_connection_manager_lazy(config)
                .map(Some)
                .map_err(|_| Error::Config("redis inbound: could not set up the connection"))
        };
        let blocking = manager(timeout + BLOCK)?;
        let connection = match self.connection {
            Some(connection) => connection,
            None => manager(timeout)?
                .ok_or(Error::Config("redis inbound: no Redis URL or connection"))?,
        };
        Ok(RedisInbound {
            connection,
            blocking,
            prefix: self.prefix.unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned()),
            instance: instance_id(),
            timeout,
            claim_after,
            group_ready: AtomicBool::new(false),
        })
    }
}

/// How long one blocking read of the outbox waits at most.
const BLOCK: Duration = Duration::from_secs(1);

/// The webhook's dedup, windows and outbox on Redis, shared by every instance.
pub struct RedisInbound {
    connection: ConnectionManager,
    /// A connection of its own for the outbox's blocking reads (which would hold up the
    /// other commands of a shared one); `None`: the reads poll.
    blocking: Option<ConnectionManager>,
    prefix: String,
    /// This process's mark and consumer name.
    instance: String,
    timeout: Duration,
    claim_after: Duration,
    group_ready: AtomicBool,
}

impl fmt::Debug for RedisInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInbound")
            .field("prefix", &self.prefix)
            .field("instance", &self.instance)
            .field("timeout", &self.timeout)
            .field("claim_after", &self.claim_after)
            .finish_non_exhaustive()
    }
}

/// A random id for this process (its marks and its consumer name).
fn instance_id() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness, the time and the process id still tell instances apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id()) << 32).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl RedisInbound {
    /// A builder; the URL (or a connection) is required.
    pub fn builder() -> RedisInboundBuilder {
        RedisInboundBuilder::default()
    }

    /// This instance's name among the outbox's consumers.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Runs one Redis operation within the timeout.
    async fn op<T>(
        &self,
        store: &'static str,
        what: &'static str,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(redis_error(store, what, &error)),
            Err(_) => Err(store_error(
                store,
                what,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }

    fn push_key(&self, key: PushKey<'_>) -> String {
        format!("{}{{{}}}:push:{}", self.prefix, key.app_id, key.text())
    }

    fn mark(&self) -> String {
        format!("p:{}", self.instance)
    }

    fn window_key(&self, app_id: &str, openid: &str) -> String {
        format!("{}{{{}}}:window:{}", self.prefix, app_id, openid)
    }

    fn outbox_key(&self) -> String {
        format!("{}outbox", self.prefix)
    }

    fn reports_key(&self) -> String {
        format!("{}outbox:reports", self.prefix)
    }

    fn sent_key(&self, id: &str) -> String {
        format!("{}outbox:sent:{}", self.prefix, id)
    }

    async fn ensure_group(&self) -> Result<()> {
        if self.group_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let created: redis::RedisResult<()> = self
            .op_raw(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(self.outbox_key())
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut connection),
            )
            .await?;
        match created {
            Ok(()) => {}
            Err(error) if error.code() == Some("BUSYGROUP") => {}
            Err(error) => return Err(redis_error("outbox", "create its consumer group", &error)),
        }
        self.group_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Like [`op`](RedisInbound::op), handing the command's own error back.
    async fn op_raw<T>(
        &self,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<redis::RedisResult<T>> {
        tokio::time::timeout(self.timeout, operation)
            .await
            .map_err(|_| {
                store_error(
                    "outbox",
                    "create its consumer group",
                    format!("no answer within {:?}", self.timeout),
                )
            })
    }

    fn entry(&self, id: &StreamId, claimed: bool) -> Result<Taken> {
        let field = |name: &str| -> Result<String> {
            id.get::<String>(name).ok_or_else(|| {
                store_error(
                    "outbox",
                    "read a deferred reply",
                    format!("no `{name}` field"),
                )
            })
        };
        let reply = Reply::decode(&field("reply")?).ok_or_else(|| {
            store_error(
                "outbox",
                "read a deferred reply",
                "an unreadable reply".into(),
            )
        })?;
        let pushed_at = field("pushed_at")?.parse().unwrap_or(0);
        Ok(Taken::new(
            id.id.clone(),
            Deferred::new(field("app_id")?, field("openid")?, reply, pushed_at),
            claimed,
        ))
    }

    fn report_fields(report: &Report) -> Vec<(&'static str, String)> {
        let (problem, reason, maybe) = match &report.problem {
            Problem::MaybeSent => ("maybe_sent", String::new(), true),
            Problem::SendFailed(failure) => (
                "send_failed",
                failure.reason.clone(),
                failure.may_have_arrived,
            ),
            Problem::CannotDefer(why) => ("cannot_defer", (*why).to_owned(), false),
            Problem::WindowClosed => ("window_closed", String::new(), false),
        };
        vec![
            ("app_id", report.deferred.app_id.clone()),
            ("openid", report.deferred.openid.clone()),
            ("reply", report.deferred.reply.encode()),
            ("pushed_at", report.deferred.pushed_at.to_string()),
            ("problem", problem.to_owned()),
            ("reason", reason),
            ("maybe", u8::from(maybe).to_string()),
        ]
    }

    async fn add_report(&self, report: &Report) -> Result<()> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("XADD");
        command
            .arg(self.reports_key())
            .arg("MAXLEN")
            .arg("~")
            .arg(DEFAULT_REPORTS_KEPT)
            .arg("*");
        for (name, value) in Self::report_fields(report) {
            command.arg(name).arg(value);
        }
        self.op(
            "outbox",
            "record a report",
            command.query_async::<String>(&mut connection),
        )
        .await
        .map(drop)
    }
}

/// A store's failure as the webhook's error.
fn store_error(store: &'static str, what: &'static str, reason: String) -> Error {
    Error::Store {
        store,
        what,
        reason,
    }
}

fn redis_error(store: &'static str, what: &'static str, error: &RedisError) -> Error {
    // The category only: Redis' own text may quote a key or the URL.
    store_error(store, what, error.category().to_owned())
}

impl DedupStore for RedisInbound {
    fn begin<'a>(&'a self, key: PushKey<'a>, lease: Duration) -> BoxFuture<'a, Result<Seen>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let found: Option<String> = self
                .op(
                    "dedup",
                    "mark a push",
                    BEGIN
                        .key(self.push_key(key))
                        .arg(self.mark())
                        .arg(ms(lease))
                        .invoke_async(&mut connection),
                )
                .await?;
            match found.as_deref() {
                None => Ok(Seen::New),
                Some(value) if value.starts_with("p:") => Ok(Seen::InProgress),
                Some(value) => value
                    .strip_prefix("r:")
                    .and_then(Reply::decode)
                    .map(Seen::Answered)
                    .ok_or_else(|| {
                        store_error("dedup", "mark a push", "an unreadable entry".into())
                    }),
            }
        })
    }

    fn renew<'a>(&'a self, key: PushKey<'a>, lease: Duration) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let renewed: i64 = self
                .op(
                    "dedup",
                    "renew a push's mark",
                    RENEW
                        .key(self.push_key(key))
                        .arg(self.mark())
                        .arg(ms(lease))
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(renewed == 1)
        })
    }

    fn finish<'a>(
        &'a self,
        key: PushKey<'a>,
        reply: &'a Reply,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = self
                .op(
                    "dedup",
                    "record a push's reply",
                    FINISH
                        .key(self.push_key(key))
                        .arg(self.mark())
                        .arg(format!("r:{}", reply.encode()))
                        .arg(ms(ttl))
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(())
        })
    }

    fn forget<'a>(&'a self, key: PushKey<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = self
                .op(
                    "dedup",
                    "forget a push",
                    FORGET
                        .key(self.push_key(key))
                        .arg(self.mark())
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(())
        })
    }

    fn reply<'a>(&'a self, key: PushKey<'a>) -> BoxFuture<'a, Result<Option<Reply>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let found: Option<String> = self
                .op(
                    "dedup",
                    "read a push's reply",
                    redis::cmd("GET")
                        .arg(self.push_key(key))
                        .query_async(&mut connection),
                )
                .await?;
            Ok(found
                .as_deref()
                .and_then(|value| value.strip_prefix("r:"))
                .and_then(Reply::decode))
        })
    }
}

impl WindowStore for RedisInbound {
    fn opened<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        action: Action,
        at: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let open = Open::new(action, at);
            let value = format!(
                "{}:{}:{}:{}",
                action.name(),
                open.at,
                open.closes_at,
                open.left.map_or(-1, i64::from)
            );
            let mut connection = self.connection.clone();
            let _: i64 = self
                .op(
                    "windows",
                    "open a window",
                    OPENED
                        .key(self.window_key(app_id, openid))
                        .arg(action.class())
                        .arg(value)
                        .arg(WINDOW_KEEP_SECS)
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(())
        })
    }

    fn closed<'a>(&'a self, app_id: &'a str, openid: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = self
                .op(
                    "windows",
                    "close the windows",
                    redis::cmd("DEL")
                        .arg(self.window_key(app_id, openid))
                        .query_async(&mut connection),
                )
                .await?;
            Ok(())
        })
    }

    fn replied<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let counted: i64 = self
                .op(
                    "windows",
                    "count a reply",
                    REPLIED
                        .key(self.window_key(app_id, openid))
                        .arg(now)
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(counted == 1)
        })
    }

    fn window<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<Window>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let fields: HashMap<String, String> = self
                .op(
                    "windows",
                    "read a user's windows",
                    redis::cmd("HGETALL")
                        .arg(self.window_key(app_id, openid))
                        .query_async(&mut connection),
                )
                .await?;
            let open: Vec<Open> = fields.values().filter_map(|v| parse_open(v)).collect();
            Ok(summarize(&open, now))
        })
    }
}

/// A window as the store writes it: `action:at:closes:left` (`-1`: unlimited).
fn parse_open(value: &str) -> Option<Open> {
    let mut parts = value.split(':');
    let action = Action::from_name(parts.next()?)?;
    let at = parts.next()?.parse().ok()?;
    let closes_at = parts.next()?.parse().ok()?;
    let left: i64 = parts.next()?.parse().ok()?;
    Some(Open {
        action,
        at,
        closes_at,
        left: u32::try_from(left).ok(),
    })
}

impl Outbox for RedisInbound {
    fn put<'a>(&'a self, deferred: &'a Deferred) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.ensure_group().await?;
            let mut connection = self.connection.clone();
            let _: String = self
                .op(
                    "outbox",
                    "add a deferred reply",
                    redis::cmd("XADD")
                        .arg(self.outbox_key())
                        .arg("*")
                        .arg("app_id")
                        .arg(&deferred.app_id)
                        .arg("openid")
                        .arg(&deferred.openid)
                        .arg("reply")
                        .arg(deferred.reply.encode())
                        .arg("pushed_at")
                        .arg(deferred.pushed_at)
                        .query_async(&mut connection),
                )
                .await?;
            Ok(())
        })
    }

    fn take<'a>(&'a self, wait: Duration) -> BoxFuture<'a, Result<Vec<Taken>>> {
        Box::pin(async move {
            self.ensure_group().await?;
            let mut connection = self.connection.clone();
            // What a silent instance took and left, first.
            let claimed: StreamAutoClaimReply = self
                .op(
                    "outbox",
                    "claim what a silent instance left",
                    redis::cmd("XAUTOCLAIM")
                        .arg(self.outbox_key())
                        .arg(GROUP)
                        .arg(&self.instance)
                        .arg(ms(self.claim_after))
                        .arg("0-0")
                        .arg("COUNT")
                        .arg(BATCH)
                        .query_async(&mut connection),
                )
                .await?;
            if !claimed.claimed.is_empty() {
                return claimed
                    .claimed
                    .iter()
                    .map(|id| self.entry(id, true))
                    .collect();
            }
            let wait = wait.min(BLOCK);
            let mut command = redis::cmd("XREADGROUP");
            command
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.instance)
                .arg("COUNT")
                .arg(BATCH);
            let read = match &self.blocking {
                Some(blocking) => {
                    command
                        .arg("BLOCK")
                        .arg(ms(wait))
                        .arg("STREAMS")
                        .arg(self.outbox_key())
                        .arg(">");
                    let mut blocking = blocking.clone();
                    let read = tokio::time::timeout(
                        self.timeout + wait,
                        command.query_async::<Option<StreamReadReply>>(&mut blocking),
                    )
                    .await;
                    match read {
                        Ok(Ok(read)) => read,
                        Ok(Err(error)) => {
                            return Err(redis_error("outbox", "read deferred replies", &error));
                        }
                        Err(_) => {
                            return Err(store_error(
                                "outbox",
                                "read deferred replies",
                                format!("no answer within {:?}", self.timeout + wait),
                            ));
                        }
                    }
                }
                None => {
                    command.arg("STREAMS").arg(self.outbox_key()).arg(">");
                    let read: Option<StreamReadReply> = self
                        .op(
                            "outbox",
                            "read deferred replies",
                            command.query_async(&mut connection),
                        )
                        .await?;
                    if read
                        .as_ref()
                        .is_none_or(|r| r.keys.iter().all(|k| k.ids.is_empty()))
                    {
                        tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
                    }
                    read
                }
            };
            read.into_iter()
                .flat_map(|reply| reply.keys)
                .flat_map(|key| key.ids)
                .map(|id| self.entry(&id, false))
                .collect()
        })
    }

    fn begin_send<'a>(&'a self, taken: &'a Taken) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let set: Option<String> = self
                .op(
                    "outbox",
                    "mark a reply as being sent",
                    redis::cmd("SET")
                        .arg(self.sent_key(&taken.id))
                        .arg(&self.instance)
                        .arg("NX")
                        .arg("PX")
                        .arg(ms(SENT_MARK))
                        .query_async(&mut connection),
                )
                .await?;
            Ok(set.is_some())
        })
    }

    fn settle<'a>(
        &'a self,
        taken: &'a Taken,
        problem: Option<&'a Problem>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if let Some(problem) = problem {
                self.add_report(&Report {
                    deferred: taken.deferred.clone(),
                    problem: problem.clone(),
                })
                .await?;
            }
            let mut connection = self.connection.clone();
            let _: (i64, i64) = self
                .op(
                    "outbox",
                    "settle a reply",
                    redis::pipe()
                        .atomic()
                        .cmd("XACK")
                        .arg(self.outbox_key())
                        .arg(GROUP)
                        .arg(&taken.id)
                        .cmd("XDEL")
                        .arg(self.outbox_key())
                        .arg(&taken.id)
                        .query_async(&mut connection),
                )
                .await?;
            Ok(())
        })
    }

    fn report<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.add_report(report))
    }

    fn reports<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Report>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let range: StreamRangeReply = self
                .op(
                    "outbox",
                    "read the reports",
                    redis::cmd("XRANGE")
                        .arg(self.reports_key())
                        .arg("-")
                        .arg("+")
                        .query_async(&mut connection),
                )
                .await?;
            Ok(range.ids.iter().filter_map(parse_report).collect())
        })
    }
}

/// A report as [`RedisInbound::report_fields`] wrote it.
fn parse_report(id: &StreamId) -> Option<Report> {
    let field = |name: &str| id.get::<String>(name);
    let reason = field("reason").unwrap_or_default();
    let problem = match field("problem")?.as_str() {
        "maybe_sent" => Problem::MaybeSent,
        "send_failed" => Problem::SendFailed(SendFailure {
            reason,
            may_have_arrived: field("maybe").as_deref() == Some("1"),
        }),
        "cannot_defer" => Problem::CannotDefer(
            [CANNOT_DEFER_TRANSFER, CANNOT_DEFER_VIDEO]
                .into_iter()
                .find(|why| *why == reason)?,
        ),
        "window_closed" => Problem::WindowClosed,
        _ => return None,
    };
    Some(Report {
        deferred: Deferred::new(
            field("app_id")?,
            field("openid")?,
            Reply::decode(&field("reply")?)?,
            field("pushed_at")?.parse().ok()?,
        ),
        problem,
    })
}
