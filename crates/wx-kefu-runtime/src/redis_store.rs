//! [`RedisTokenStore`]: one access token for every instance of a service, kept in Redis
//! (feature `redis`).
//!
//! Every instance reads the shared token, and keeps a copy while it is fresh (until its
//! refresh time, by Redis' clock): in steady state a call makes no Redis command. A token
//! WeChat rejects (40001) is dropped from the copy and compare-and-deleted in Redis, so a
//! token another instance replaced is read anew on the next call. When the shared token is
//! missing or due for refresh, one instance fetches while the others wait:
//!
//! - **Lock with a lease.** The fetcher takes `SET <lock> <unique value> NX PX <lease>`,
//!   fetches, and then, in one script, stores the token and deletes the lock *only if the
//!   lock still holds its value* (a compare-and-delete). The others poll, with a bound,
//!   until the new token appears. A holder that dies (or hangs) loses the lock when the
//!   lease runs out, and the next instance takes over; a token fetched after its lease ran
//!   out is not stored, so a slow holder never overwrites a newer token.
//! - **Classic tokens are never fetched without the lock**: each classic fetch retires the
//!   previous token, so a second fetcher would invalidate the first one's token. With the
//!   stable token (the default) a waiter that outwaits its bound fetches by itself, since
//!   the stable call returns the same token.
//! - **Compare-and-invalidate across instances.** After 40001/42001 an instance deletes the
//!   shared token only if it still is the token that failed (a script), so instances that
//!   saw the same rejection cause one refresh, and one that saw an old token cannot delete
//!   a new one.
//! - **The same safety margin everywhere.** The entry holds the token, its lifetime and the
//!   time after which it is due for refresh (computed by the instance that fetched it, from
//!   `expires_in` and its margin); the key expires with the token, and freshness is read from
//!   Redis' own clock (`PTTL`), so the instances' clocks play no part.
//! - **Redis unreachable.** Every Redis operation is bounded by a timeout; past it the call
//!   fails with [`Error::Store`] of kind [`StoreErrorKind::Unavailable`]. With
//!   [`fallback_to_local`](RedisTokenStoreBuilder::fallback_to_local) the store instead
//!   keeps a process-local token (a [`MemoryTokenStore`]) while Redis is away, with a
//!   warning (stable token only).
//!
//! Keys are `<prefix>{<appid>}:token`, `:lock` and `:failed` (the braces keep them in one
//! Redis Cluster slot); they never contain the secret. No token, secret or Redis URL reaches
//! a log line or an error.
//!
//! ```no_run
//! # async fn demo() -> wx_kefu_runtime::Result<()> {
//! use wx_kefu_runtime::{Client, RedisTokenStore};
//!
//! let store = RedisTokenStore::builder()
//!     .url("redis://10.0.0.5:6379/0")
//!     .app_id("wx0123456789abcdef")
//!     .key_prefix("myapp:wx-kefu:")
//!     .build()?;
//! let client = Client::builder()
//!     .app_id("wx0123456789abcdef")
//!     .app_secret(std::env::var("WX_SECRET").unwrap_or_default())
//!     .token_store(store)
//!     .build()?;
//! # let _ = client; Ok(()) }
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use tokio::time::Instant;

use crate::error::{Error, Result, StoreErrorKind, parse_rid};
use crate::generated::errcode::ErrCode;
use crate::secret::AccessToken;
use crate::token::{
    BoxFuture, DEFAULT_MARGIN, FetchedToken, MIN_CACHE_LIFETIME, MemoryTokenStore, TokenFetcher,
    TokenMode, TokenStore, cache_lifetime,
};

/// The name [`Error::Store`] carries for this store.
pub const STORE_NAME: &str = "redis";

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "wx-kefu:";

/// The default lease of the refresh lock: longer than a token fetch may take with the
/// client's default timeout (15 s).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(20);

/// The default bound on waiting for another instance's fetch: one lease and then some,
/// so that a waiter outlasts a holder that died.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(25);

/// The default bound on each Redis operation (connecting included).
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// While Redis is unreachable, a store with the local fallback tries it again this often.
pub const FALLBACK_RECHECK: Duration = Duration::from_secs(5);

/// The first and the longest pause between two polls of a waiter.
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(100);

/// Reads the shared entry, the last shared failure and the lock in one step.
/// KEYS: token, lock, failed. Returns `{token, ttl_ms, fresh_ms, pttl, failed, lock_pttl}`.
static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local entry = redis.call('HMGET', KEYS[1], 'token', 'ttl_ms', 'fresh_ms')
return {entry[1], entry[2], entry[3], redis.call('PTTL', KEYS[1]),
        redis.call('GET', KEYS[3]), redis.call('PTTL', KEYS[2])}
",
    )
});

/// Stores a token and releases the lock, only while the lock holds the caller's value.
/// KEYS: token, lock. ARGV: lock value, token, ttl_ms, fresh_ms.
static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'ttl_ms', ARGV[3], 'fresh_ms', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
",
    )
});

/// Records a fetch failure for the waiters and releases the lock, only while the lock
/// holds the caller's value. KEYS: failed, lock. ARGV: lock value, failure, ttl_ms.
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
",
    )
});

/// Compare-and-delete: releases the lock only if it holds the caller's value.
/// KEYS: lock. ARGV: lock value.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Compare-and-invalidate: deletes the shared token only if it is the one that failed.
/// KEYS: token. ARGV: the failed token.
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Where the store connects.
enum Source {
    Url(String),
    Manager(ConnectionManager),
}

/// Settings for a [`RedisTokenStore`]; made by [`RedisTokenStore::builder`].
///
/// A Redis URL (or a connection) and the app id are required.
pub struct RedisTokenStoreBuilder {
    source: Option<Source>,
    appid: Option<String>,
    prefix: String,
    lease: Duration,
    wait: Duration,
    timeout: Duration,
    margin: Duration,
    mode: Option<TokenMode>,
    fallback: bool,
}

impl fmt::Debug for RedisTokenStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold Redis' password: only its presence is shown.
        let source = match &self.source {
            None => "none",
            Some(Source::Url(_)) => "url",
            Some(Source::Manager(_)) => "connection",
        };
        f.debug_struct("RedisTokenStoreBuilder")
            .field("source", &source)
            .field("appid", &self.appid)
            .field("key_prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("wait", &self.wait)
            .field("timeout", &self.timeout)
            .field("margin", &self.margin)
            .field("token_mode", &self.mode)
            .field("fallback_to_local", &self.fallback)
            .finish()
    }
}

impl Default for RedisTokenStoreBuilder {
    fn default() -> Self {
        RedisTokenStoreBuilder {
            source: None,
            appid: None,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            lease: DEFAULT_LEASE,
            wait: DEFAULT_WAIT,
            timeout: DEFAULT_REDIS_TIMEOUT,
            margin: DEFAULT_MARGIN,
            mode: None,
            fallback: false,
        }
    }
}

impl RedisTokenStoreBuilder {
    /// Connects to this Redis URL (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` when the `redis` crate has TLS enabled). The connection is made on first
    /// use and re-made after a failure.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Uses an existing connection manager (its reconnect settings are kept; each
    /// operation is still bounded by [`timeout`](Self::timeout)).
    pub fn connection(mut self, connection: ConnectionManager) -> Self {
        self.source = Some(Source::Manager(connection));
        self
    }

    /// The official account's app id; the keys are namespaced by it.
    pub fn app_id(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// The start of every key (default [`DEFAULT_KEY_PREFIX`]), to share a Redis database
    /// with other applications.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long the refresh lock is held at most (default [`DEFAULT_LEASE`]): a holder that
    /// dies loses it after this long. Keep it longer than a token fetch may take (the
    /// client's request timeout); a fetch that outlasts it is abandoned.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long an instance waits for another one's fetch (default [`DEFAULT_WAIT`]).
    /// Past it, a stable-token instance fetches by itself and a classic-token instance
    /// fails with [`StoreErrorKind::LockTimeout`]. Keep it longer than the lease.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The bound on each Redis operation, connecting included (default
    /// [`DEFAULT_REDIS_TIMEOUT`]); past it Redis counts as unavailable.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long before WeChat's expiry a token is refreshed (default [`DEFAULT_MARGIN`];
    /// see [`cache_lifetime`]). The instance that fetches a token decides its refresh time
    /// for all.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The token call the clients use, as set with
    /// [`ClientBuilder::token_mode`](crate::ClientBuilder::token_mode). The client tells
    /// the store its mode on every fetch anyway; setting it here also makes
    /// [`build`](Self::build) refuse the local fallback for the classic token. Until a
    /// mode is known, the store behaves as for the classic token (it never fetches
    /// without the lock).
    pub fn token_mode(mut self, mode: TokenMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// When Redis is unreachable, keep a process-local token instead of failing, with a
    /// warning; Redis is tried again every [`FALLBACK_RECHECK`]. Off by default. Only for
    /// the stable token: a classic token fetched locally would retire the other
    /// instances' token, so in classic mode the store fails instead.
    pub fn fallback_to_local(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }

    /// Builds the store. With a URL, call it inside a Tokio runtime; it does not connect
    /// yet, so it succeeds while Redis is down.
    ///
    /// Fails with [`Error::Config`] when the URL or the app id is missing or invalid, a
    /// duration is zero, or the local fallback is asked for with the classic token.
    pub fn build(self) -> Result<RedisTokenStore> {
        let appid = match self.appid {
            Some(appid) if !appid.is_empty() && !appid.chars().any(char::is_whitespace) => appid,
            _ => {
                return Err(Error::config(
                    "redis token store: the app id is missing or contains whitespace",
                ));
            }
        };
        if self.lease < Duration::from_millis(1) || self.timeout.is_zero() {
            return Err(Error::config(
                "redis token store: the lease and the timeout must be at least 1 ms",
            ));
        }
        if self.fallback && self.mode == Some(TokenMode::Classic) {
            return Err(Error::config(
                "redis token store: the local fallback would fetch classic tokens without the lock; \
                 use it with the stable token only",
            ));
        }
        let connection = match self.source {
            None => {
                return Err(Error::config(
                    "redis token store: no Redis URL or connection",
                ));
            }
            Some(Source::Manager(connection)) => connection,
            Some(Source::Url(url)) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(Error::config(
                        "redis token store: build it inside a Tokio runtime",
                    ));
                }
                // The URL is not quoted: it may hold Redis' password.
                let client = redis::Client::open(url.as_str()).map_err(|_| {
                    Error::config(
                        "redis token store: the Redis URL is not valid \
                         (expected redis://[user:password@]host[:port][/db])",
                    )
                })?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                client.get_connection_manager_lazy(config).map_err(|e| {
                    Error::config(format!(
                        "redis token store: could not set up the connection: {}",
                        e.category()
                    ))
                })?
            }
        };
        let base = format!("{}{{{}}}", self.prefix, appid);
        Ok(RedisTokenStore {
            connection,
            keys: Keys {
                token: format!("{base}:token"),
                lock: format!("{base}:lock"),
                failed: format!("{base}:failed"),
            },
            lease: self.lease,
            wait: self.wait,
            timeout: self.timeout,
            margin: self.margin,
            mode: self.mode,
            fallback: self.fallback.then(|| Fallback {
                store: MemoryTokenStore::with_margin(self.margin),
                active: AtomicBool::new(false),
                retry_at: Mutex::new(None),
            }),
            flight: tokio::sync::Mutex::new(()),
            local: Mutex::new(Local::default()),
            copy: Mutex::new(None),
            instance: instance_id(),
            locks: AtomicU64::new(0),
        })
    }
}

/// A [`TokenStore`] in Redis, shared by every instance of a service: one token, one fetch
/// at a time across all instances, compare-and-invalidate across instances.
/// See the [module documentation](self) for how.
///
/// Cheap to share: give each client its own or one `Arc` for several clients of a process;
/// within a process, concurrent callers also share one fetch.
pub struct RedisTokenStore {
    connection: ConnectionManager,
    keys: Keys,
    lease: Duration,
    wait: Duration,
    timeout: Duration,
    margin: Duration,
    mode: Option<TokenMode>,
    fallback: Option<Fallback>,
    /// Held by the one caller of this process that takes part in a refresh.
    flight: tokio::sync::Mutex<()>,
    local: Mutex<Local>,
    /// The shared token as last read, and until when it is fresh by Redis' word (converted
    /// to this process's clock): calls take it without a round trip until then.
    copy: Mutex<Option<(AccessToken, Instant)>>,
    /// Unique per store; the lock values start with it.
    instance: String,
    locks: AtomicU64,
}

struct Keys {
    token: String,
    lock: String,
    failed: String,
}

/// The process-local token used while Redis is unreachable.
struct Fallback {
    store: MemoryTokenStore,
    /// Whether the store is on the local token (so the switch is logged once each way).
    active: AtomicBool,
    /// Until when Redis is not tried again.
    retry_at: Mutex<Option<Instant>>,
}

/// What the callers of this process that waited on a refresh learn from it.
#[derive(Default)]
struct Local {
    /// Counts finished refreshes, so a waiter can tell that the one it waited on failed.
    refreshes: u64,
    failure: Option<Error>,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("token_key", &self.keys.token)
            .field("lease", &self.lease)
            .field("wait", &self.wait)
            .field("timeout", &self.timeout)
            .field("margin", &self.margin)
            .field("token_mode", &self.mode)
            .field("fallback_to_local", &self.fallback.is_some())
            .finish_non_exhaustive()
    }
}

/// The shared state as one read saw it.
struct Snapshot {
    token: Option<AccessToken>,
    fresh: bool,
    /// How much longer the token is fresh, by Redis' clock.
    fresh_left: Duration,
    /// The last shared failure (its first line is the lock value of the fetch that failed).
    failed: Option<String>,
    locked: bool,
}

type RawSnapshot = (
    Option<String>,
    Option<u64>,
    Option<u64>,
    i64,
    Option<String>,
    i64,
);

impl Snapshot {
    fn from_raw((token, ttl_ms, fresh_ms, pttl, failed, lock_pttl): RawSnapshot) -> Snapshot {
        // Fresh while less than `fresh_ms` of the entry's `ttl_ms` has passed, by Redis' clock.
        let (fresh, fresh_left) = match (&token, ttl_ms, fresh_ms, u64::try_from(pttl)) {
            (Some(token), Some(ttl), Some(fresh), Ok(left)) if !token.is_empty() && left > 0 => {
                let age = ttl.saturating_sub(left);
                (
                    age < fresh,
                    Duration::from_millis(fresh.saturating_sub(age)),
                )
            }
            _ => (false, Duration::ZERO),
        };
        Snapshot {
            token: token.filter(|t| !t.is_empty()).map(AccessToken::new),
            fresh,
            fresh_left,
            failed,
            // -2: no lock; -1: a lock without expiry (never written by this store), which
            // would block forever: treat it as taken so that it is not ignored silently.
            locked: lock_pttl != -2,
        }
    }

    fn fresh_token(&self) -> Option<AccessToken> {
        self.token.clone().filter(|_| self.fresh)
    }
}

impl RedisTokenStore {
    /// Settings for a new store.
    pub fn builder() -> RedisTokenStoreBuilder {
        RedisTokenStoreBuilder::default()
    }

    /// The key the shared token is kept under (`<prefix>{<appid>}:token`).
    pub fn token_key(&self) -> &str {
        &self.keys.token
    }

    /// The key of the refresh lock (`<prefix>{<appid>}:lock`).
    pub fn lock_key(&self) -> &str {
        &self.keys.lock
    }

    fn copy(&self) -> MutexGuard<'_, Option<(AccessToken, Instant)>> {
        // Plain data replaced in one step: a poisoned lock is still consistent.
        self.copy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        // Plain data updated in one step: a poisoned lock is still consistent.
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one Redis operation within the timeout.
    async fn op<T>(
        &self,
        what: &'static str,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        bounded(self.timeout, what, operation).await
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let mut connection = self.connection.clone();
        let raw: RawSnapshot = self
            .op(
                "read the token",
                SNAPSHOT
                    .key(&self.keys.token)
                    .key(&self.keys.lock)
                    .key(&self.keys.failed)
                    .invoke_async(&mut connection),
            )
            .await?;
        Ok(Snapshot::from_raw(raw))
    }

    fn lock_value(&self) -> String {
        let n = self.locks.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.instance)
    }

    /// `SET lock value NX PX lease`: whether this caller now holds the lock.
    async fn try_lock(&self, value: &str) -> Result<bool> {
        let mut connection = self.connection.clone();
        let answer: Option<String> = self
            .op(
                "take the refresh lock",
                redis::cmd("SET")
                    .arg(&self.keys.lock)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(self.lease))
                    .query_async(&mut connection),
            )
            .await?;
        Ok(answer.is_some())
    }

    /// Whether a token may be fetched without the lock: only when the mode is known to
    /// be the stable token.
    fn may_fetch_unlocked(&self, fetcher: &dyn TokenFetcher) -> bool {
        let modes = [fetcher.mode(), self.mode];
        !modes.contains(&Some(TokenMode::Classic)) && modes.contains(&Some(TokenMode::Stable))
    }

    /// Whether Redis is skipped for now (the fallback is on and Redis failed recently).
    fn on_fallback(&self) -> Option<&MemoryTokenStore> {
        let fallback = self.fallback.as_ref()?;
        let retry_at = *fallback
            .retry_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        retry_at
            .is_some_and(|at| Instant::now() < at)
            .then_some(&fallback.store)
    }

    /// Redis answered: leave the fallback if it was in use.
    fn redis_is_back(&self) {
        if let Some(fallback) = &self.fallback
            && fallback.active.swap(false, Ordering::Relaxed)
        {
            *fallback
                .retry_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            tracing::info!(
                key = %self.keys.token,
                "Redis is reachable again; back to the shared access token"
            );
        }
    }

    /// The local store to use after `error`, when the fallback applies to it.
    fn fallback_for(&self, error: &Error, fetcher: &dyn TokenFetcher) -> Option<&MemoryTokenStore> {
        let fallback = self.fallback.as_ref()?;
        let unavailable = matches!(
            error,
            Error::Store {
                kind: StoreErrorKind::Unavailable,
                ..
            }
        );
        if !unavailable || !self.may_fetch_unlocked(fetcher) {
            return None;
        }
        *fallback
            .retry_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + FALLBACK_RECHECK);
        if !fallback.active.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                key = %self.keys.token,
                error = %error,
                "Redis is unreachable; using a process-local access token until it is back"
            );
        }
        Some(&fallback.store)
    }

    /// The shared token as this process last read it, while it is fresh: in steady state a
    /// call costs no Redis command. (Off Redis, on the local fallback, `None`: `get` decides.)
    fn at_hand(&self) -> Option<AccessToken> {
        if self
            .fallback
            .as_ref()
            .is_some_and(|f| f.active.load(Ordering::Relaxed))
        {
            return None;
        }
        let copy = self.copy();
        match &*copy {
            Some((token, until)) if Instant::now() < *until => Some(token.clone()),
            _ => None,
        }
    }

    async fn get_token(&self, fetcher: &dyn TokenFetcher) -> Result<AccessToken> {
        if let Some(token) = self.at_hand() {
            return Ok(token);
        }
        if let Some(local) = self.on_fallback() {
            return local.get(fetcher).await;
        }
        let result = match self.snapshot().await {
            Ok(snapshot) => {
                self.redis_is_back();
                if let Some(token) = snapshot.fresh_token() {
                    // Kept until it stops being fresh: the calls until then read no Redis.
                    *self.copy() = Some((token.clone(), Instant::now() + snapshot.fresh_left));
                    return Ok(token);
                }
                // A failure already shared when this caller first looked is not its own.
                self.refresh_once(fetcher, snapshot.failed).await
            }
            Err(error) => Err(error),
        };
        match result {
            Err(error) => match self.fallback_for(&error, fetcher) {
                Some(local) => local.get(fetcher).await,
                None => Err(error),
            },
            ok => ok,
        }
    }

    /// One caller of this process takes part in the refresh; the others wait for it and
    /// share its failure instead of trying again.
    async fn refresh_once(
        &self,
        fetcher: &dyn TokenFetcher,
        failure_before: Option<String>,
    ) -> Result<AccessToken> {
        let seen = self.local().refreshes;
        let _flight = self.flight.lock().await;
        {
            let local = self.local();
            if local.refreshes != seen
                && let Some(error) = &local.failure
            {
                return Err(error.clone());
            }
        }
        let result = self.coordinate(fetcher, failure_before).await;
        let mut local = self.local();
        local.refreshes += 1;
        local.failure = result.as_ref().err().cloned();
        result
    }

    /// Waits (bounded) for a fresh shared token, taking the lock and fetching when it is free.
    ///
    /// `failure_before` is the shared failure recorded when the caller first read the
    /// entry: a different one was recorded since, by the fetch this caller waited on.
    async fn coordinate(
        &self,
        fetcher: &dyn TokenFetcher,
        failure_before: Option<String>,
    ) -> Result<AccessToken> {
        let deadline = Instant::now() + self.wait;
        let mut pause = POLL_MIN;
        loop {
            let snapshot = self.snapshot().await?;
            if let Some(token) = snapshot.fresh_token() {
                return Ok(token);
            }
            if snapshot.failed != failure_before
                && let Some(error) = snapshot.failed.as_deref().and_then(shared_failure)
            {
                return Err(error);
            }
            if !snapshot.locked {
                let value = self.lock_value();
                if self.try_lock(&value).await? {
                    return self.fetch_locked(fetcher, false, value).await;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return self.outwaited(fetcher).await;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// The wait bound passed while another instance held the lock.
    async fn outwaited(&self, fetcher: &dyn TokenFetcher) -> Result<AccessToken> {
        if !self.may_fetch_unlocked(fetcher) {
            return Err(store_error(
                StoreErrorKind::LockTimeout,
                format!(
                    "another instance held the token refresh lock for longer than {:?}; \
                     a classic token is never fetched without the lock",
                    self.wait
                ),
            ));
        }
        tracing::warn!(
            key = %self.keys.lock,
            wait_ms = millis(self.wait),
            "the token refresh lock was held past the wait bound; fetching the stable token without it"
        );
        // Not stored: the holder (or the next one) stores the token under the lock.
        fetcher.fetch(false).await.map(|fetched| fetched.token)
    }

    /// Fetches while holding the lock `value`, then stores the token (or shares the
    /// failure) and releases the lock, all only if the lock is still this caller's.
    async fn fetch_locked(
        &self,
        fetcher: &dyn TokenFetcher,
        force_refresh: bool,
        value: String,
    ) -> Result<AccessToken> {
        let guard = LockGuard {
            connection: Some(self.connection.clone()),
            key: self.keys.lock.clone(),
            value,
        };
        if !force_refresh {
            // Another instance may have stored a token between this caller's read and its lock.
            let snapshot = match self.snapshot().await {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    self.release(guard).await;
                    return Err(error);
                }
            };
            if let Some(token) = snapshot.fresh_token() {
                self.release(guard).await;
                return Ok(token);
            }
        }
        let fetched = match tokio::time::timeout(self.lease, fetcher.fetch(force_refresh)).await {
            Ok(fetched) => fetched,
            Err(_) => Err(store_error(
                StoreErrorKind::LockTimeout,
                format!(
                    "the token fetch outlasted the refresh lock's lease of {:?}; abandoned",
                    self.lease
                ),
            )),
        };
        match fetched {
            Ok(FetchedToken { token, expires_in }) => {
                let ttl = expires_in.max(MIN_CACHE_LIFETIME);
                let fresh = cache_lifetime(expires_in, self.margin);
                let mut connection = self.connection.clone();
                let stored: Result<i64> = self
                    .op(
                        "store the token",
                        COMMIT
                            .key(&self.keys.token)
                            .key(&self.keys.lock)
                            .arg(&guard.value)
                            .arg(token.expose())
                            .arg(millis(ttl))
                            .arg(millis(fresh))
                            .invoke_async(&mut connection),
                    )
                    .await;
                match stored {
                    Ok(1) => {
                        guard.disarm();
                        Ok(token)
                    }
                    Ok(_) => {
                        // The lease ran out during the fetch; whoever holds the lock now
                        // stores its token. Prefer a token already stored over this one.
                        guard.disarm();
                        tracing::warn!(
                            key = %self.keys.lock,
                            lease_ms = millis(self.lease),
                            "the refresh lock's lease ran out during the token fetch; the token was not shared"
                        );
                        match self.snapshot().await {
                            Ok(snapshot) => Ok(snapshot.fresh_token().unwrap_or(token)),
                            Err(_) => Ok(token),
                        }
                    }
                    Err(error) => {
                        // The fetch worked: use its token, though the others cannot see it.
                        tracing::warn!(
                            key = %self.keys.token,
                            error = %error,
                            "could not share the new access token"
                        );
                        self.release(guard).await;
                        Ok(token)
                    }
                }
            }
            Err(error) => {
                match shareable(&error, &guard.value) {
                    Some(failure) => {
                        let mut connection = self.connection.clone();
                        let shared: Result<i64> = self
                            .op(
                                "share the fetch failure",
                                FAIL.key(&self.keys.failed)
                                    .key(&self.keys.lock)
                                    .arg(&guard.value)
                                    .arg(failure)
                                    .arg(millis(self.wait).max(1))
                                    .invoke_async(&mut connection),
                            )
                            .await;
                        match shared {
                            Ok(_) => guard.disarm(),
                            Err(_) => self.release(guard).await,
                        }
                    }
                    None => self.release(guard).await,
                }
                Err(error)
            }
        }
    }

    /// Releases the lock now (compare-and-delete); failures are left to the lease.
    async fn release(&self, guard: LockGuard) {
        let mut connection = self.connection.clone();
        let released: Result<i64> = self
            .op(
                "release the refresh lock",
                RELEASE
                    .key(&guard.key)
                    .arg(&guard.value)
                    .invoke_async(&mut connection),
            )
            .await;
        guard.disarm();
        if let Err(error) = released {
            tracing::debug!(error = %error, "could not release the refresh lock; its lease will");
        }
    }

    async fn force_refresh(&self, fetcher: &dyn TokenFetcher) -> Result<AccessToken> {
        let _flight = self.flight.lock().await;
        let deadline = Instant::now() + self.wait;
        let mut pause = POLL_MIN;
        loop {
            let value = self.lock_value();
            if self.try_lock(&value).await? {
                return self.fetch_locked(fetcher, true, value).await;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(store_error(
                    StoreErrorKind::LockTimeout,
                    format!(
                        "another instance held the token refresh lock for longer than {:?}",
                        self.wait
                    ),
                ));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    async fn invalidate_token(&self, failed: &AccessToken) {
        // Never again from this process's copy; the shared entry is compare-and-deleted
        // below, so a token another instance replaced is read anew on the next call.
        self.copy().take();
        if let Some(fallback) = &self.fallback {
            fallback.store.invalidate(failed).await;
        }
        if self.on_fallback().is_some() {
            return;
        }
        let mut connection = self.connection.clone();
        let deleted: Result<i64> = self
            .op(
                "invalidate the token",
                INVALIDATE
                    .key(&self.keys.token)
                    .arg(failed.expose())
                    .invoke_async(&mut connection),
            )
            .await;
        match deleted {
            Ok(deleted) => tracing::debug!(
                key = %self.keys.token,
                deleted = deleted == 1,
                "rejected access token invalidated (if it was still the shared one)"
            ),
            Err(error) => {
                tracing::warn!(key = %self.keys.token, error = %error, "could not invalidate the shared access token");
            }
        }
    }
}

impl TokenStore for RedisTokenStore {
    fn get<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.get_token(fetcher))
    }

    fn invalidate<'a>(&'a self, failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        Box::pin(self.invalidate_token(failed))
    }

    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            self.copy().take();
            if let Some(local) = self.on_fallback() {
                return local.refresh(fetcher).await;
            }
            match self.force_refresh(fetcher).await {
                Err(error) => match self.fallback_for(&error, fetcher) {
                    Some(local) => local.refresh(fetcher).await,
                    None => Err(error),
                },
                ok => ok,
            }
        })
    }
}

/// The held lock; if the holder's future is dropped mid-fetch (cancelled), the lock is
/// released in the background instead of blocking the others for the rest of the lease.
struct LockGuard {
    connection: Option<ConnectionManager>,
    key: String,
    value: String,
}

impl LockGuard {
    fn disarm(mut self) {
        self.connection = None;
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (key, value) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.value),
        );
        runtime.spawn(async move {
            let mut release = RELEASE.key(&key);
            release.arg(&value);
            let release = release.invoke_async::<i64>(&mut connection);
            let _ = tokio::time::timeout(DEFAULT_REDIS_TIMEOUT, release).await;
        });
    }
}

/// One Redis operation within `timeout`: its answer, or a typed [`Error::Store`]
/// (unavailable past the timeout).
pub(crate) async fn bounded<T>(
    timeout: Duration,
    what: &'static str,
    operation: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(redis_error(what, error)),
        Err(_) => Err(store_error(
            StoreErrorKind::Unavailable,
            format!("{what}: no answer within {timeout:?}"),
        )),
    }
}

pub(crate) fn store_error(kind: StoreErrorKind, message: String) -> Error {
    Error::Store {
        store: STORE_NAME,
        kind,
        message,
        source: None,
    }
}

/// Converts a Redis error; its text never holds the URL, and the commands this store
/// sends are never echoed in it.
fn redis_error(what: &'static str, error: RedisError) -> Error {
    let kind = if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
    {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Rejected
    };
    Error::Store {
        store: STORE_NAME,
        kind,
        message: format!("{what}: {error}"),
        source: Some(Arc::new(error)),
    }
}

/// A fetch failure worth sharing with the waiting instances: WeChat's definite answer
/// (wrong credentials, IP allow-list, quota), as `value \n endpoint \n errcode \n errmsg`.
/// Passing failures (network, busy) are not shared: the next instance tries itself.
fn shareable(error: &Error, value: &str) -> Option<String> {
    match error {
        Error::Token {
            endpoint,
            code: Some(code),
            message,
            ..
        } if !code.is_transient() => Some(format!(
            "{value}\n{endpoint}\n{}\n{}",
            code.code(),
            message.replace('\n', " ")
        )),
        _ => None,
    }
}

/// Reads a failure another instance shared.
fn shared_failure(failure: &str) -> Option<Error> {
    let mut parts = failure.splitn(4, '\n');
    let (_value, endpoint, code, message) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let code = ErrCode::from_code(code.parse().ok()?);
    Some(Error::Token {
        endpoint: match endpoint {
            "token" => "token",
            "stable_token" => "stable_token",
            _ => "redis_token_store",
        },
        code: Some(code),
        message: format!("{message} (fetched by another instance)"),
        rid: parse_rid(message),
        hint: code
            .token_fetch_hint()
            .unwrap_or("see WeChat's global error codes"),
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A value unique to this store among all instances: process id, time and randomness.
fn instance_id() -> String {
    static STORES: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(STORES.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    hasher.write_u128(nanos);
    format!("{:x}-{:016x}", std::process::id(), hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_read_from_the_entry_and_redis_clock() {
        let raw = |pttl: i64| -> RawSnapshot {
            (
                Some("T".to_owned()),
                Some(7_200_000),
                Some(6_900_000),
                pttl,
                None,
                -2,
            )
        };
        assert!(Snapshot::from_raw(raw(7_200_000)).fresh);
        assert!(Snapshot::from_raw(raw(300_001)).fresh);
        assert!(!Snapshot::from_raw(raw(300_000)).fresh);
        assert!(!Snapshot::from_raw(raw(-1)).fresh);
        let missing = Snapshot::from_raw((None, None, None, -2, None, -2));
        assert!(missing.token.is_none() && !missing.fresh && !missing.locked);
        let locked = Snapshot::from_raw((None, None, None, -2, None, 1500));
        assert!(locked.locked);
    }

    #[test]
    fn only_definite_failures_are_shared_and_they_come_back_typed() {
        let error = Error::Token {
            endpoint: "stable_token",
            code: Some(ErrCode::from_code(40125)),
            message: "invalid appsecret rid: 65-ab".to_owned(),
            rid: Some("65-ab".to_owned()),
            hint: "",
        };
        let failure = shareable(&error, "lock-1").unwrap();
        let back = shared_failure(&failure).unwrap();
        assert_eq!(back.code().map(ErrCode::code), Some(40125));
        assert_eq!(back.rid(), Some("65-ab"));
        assert_eq!(back.endpoint(), Some("stable_token"));
        let busy = Error::Token {
            endpoint: "stable_token",
            code: Some(ErrCode::from_code(-1)),
            message: "system busy".to_owned(),
            rid: None,
            hint: "",
        };
        assert!(shareable(&busy, "lock-1").is_none());
        assert!(shared_failure("garbage").is_none());
    }

    #[test]
    fn lock_values_are_unique() {
        let (a, b) = (instance_id(), instance_id());
        assert_ne!(a, b);
    }
}
