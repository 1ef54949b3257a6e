//! The Redis token store against a real `redis-server`, started by each test on a free
//! loopback port, and a small token server on 127.0.0.1 that counts every fetch.
//!
//! Without `redis-server` on PATH the tests report themselves skipped and pass, unless
//! `WX_KEFU_REQUIRE_REDIS=1` (CI sets it), in which case they fail.
//!
//! The multi-process test re-runs this binary as children (`WX_KEFU_REDIS_CHILD` selects
//! the role), each one a separate instance with its own client and Redis connection.
//! Nothing relies on timing luck: instances are lined up with barriers, fetches are
//! counted, and every wait is bounded with a generous limit.
#![cfg(feature = "redis")]

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use wx_kefu_runtime::meta::EndpointMeta;
use wx_kefu_runtime::redis::AsyncCommands;
use wx_kefu_runtime::token::BoxFuture;
use wx_kefu_runtime::{
    AccessToken, Body, Client, Endpoint, Error, FetchedToken, Invalid, Method, RedisTokenStore,
    RedisTokenStoreBuilder, RequestParts, Result, RetryPolicy, StoreErrorKind, TokenFetcher,
    TokenMode, TokenStore,
};
use wx_kefu_test_support::{self as support, RedisServer, finish, init_tracing, logs};

const APPID: &str = "wx0000redis000appid";
/// Must never appear in a key, a log line or an error.
const SECRET: &str = "SECRET-1c9e44d0-never-print";
/// Every token the server issues starts with this; it must never appear in logs or errors.
const TOKEN_PREFIX: &str = "TOKEN-5ab0c7e2";
/// Selects the role of a child process.
const CHILD_ROLE: &str = "WX_KEFU_REDIS_CHILD";

fn token(n: usize) -> String {
    format!("{TOKEN_PREFIX}-{n}")
}

/// A plain connection for inspecting and arranging the server's state.
async fn redis(url: &str) -> wx_kefu_runtime::redis::aio::MultiplexedConnection {
    wx_kefu_runtime::redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

// --- the token server ---

/// WeChat's token calls and one business read, counting everything.
#[derive(Default)]
struct Wechat {
    stable: AtomicUsize,
    classic: AtomicUsize,
    forced: AtomicUsize,
    issued: AtomicUsize,
    delay_ms: AtomicU64,
    /// When set, every token fetch gets this answer.
    error: Mutex<Option<Value>>,
    revoked: Mutex<HashSet<String>>,
    /// Business reads per token.
    reads: Mutex<HashMap<String, usize>>,
    /// Reads with a revoked token wait here before their 40001, so that the instances
    /// see the rejection together.
    gate: Mutex<Option<Arc<tokio::sync::Barrier>>>,
}

impl Wechat {
    fn fetches(&self) -> usize {
        self.stable.load(SeqCst) + self.classic.load(SeqCst)
    }

    async fn issue(&self) -> Response {
        let delay = self.delay_ms.load(SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if let Some(error) = self.error.lock().unwrap().clone() {
            return axum::Json(error).into_response();
        }
        let n = self.issued.fetch_add(1, SeqCst) + 1;
        axum::Json(json!({"access_token": token(n), "expires_in": 7200})).into_response()
    }

    fn reads_with(&self, token: &str) -> usize {
        self.reads.lock().unwrap().get(token).copied().unwrap_or(0)
    }
}

async fn stable_token(State(wechat): State<Arc<Wechat>>, body: Bytes) -> Response {
    wechat.stable.fetch_add(1, SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if body["appid"] != APPID || body["secret"] != SECRET {
        return axum::Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}))
            .into_response();
    }
    if body["force_refresh"] == true {
        wechat.forced.fetch_add(1, SeqCst);
    }
    wechat.issue().await
}

async fn classic_token(
    State(wechat): State<Arc<Wechat>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    wechat.classic.fetch_add(1, SeqCst);
    if query.get("appid").map(String::as_str) != Some(APPID)
        || query.get("secret").map(String::as_str) != Some(SECRET)
    {
        return axum::Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}))
            .into_response();
    }
    wechat.issue().await
}

async fn read(
    State(wechat): State<Arc<Wechat>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = query.get("access_token").cloned().unwrap_or_default();
    *wechat
        .reads
        .lock()
        .unwrap()
        .entry(token.clone())
        .or_default() += 1;
    if wechat.revoked.lock().unwrap().contains(&token) {
        let gate = wechat.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            gate.wait().await;
        }
        return axum::Json(json!({
            "errcode": 40001,
            "errmsg": "invalid credential, access_token is invalid or not latest rid: 6561a4b1-1c2b6e1f-0d5c8a3e"
        }))
        .into_response();
    }
    axum::Json(json!({"errcode": 0, "errmsg": "ok", "value": "read"})).into_response()
}

async fn serve(wechat: Arc<Wechat>) -> String {
    let router = Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/token", get(classic_token))
        .route("/test/read", get(read))
        .with_state(wechat);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn wechat() -> (Arc<Wechat>, String) {
    let wechat = Arc::new(Wechat::default());
    let base = serve(wechat.clone()).await;
    (wechat, base)
}

/// An idempotent read, `GET /test/read`.
struct Read;

#[derive(Debug, Deserialize)]
struct Echo {
    value: String,
}

impl Endpoint for Read {
    const META: &'static EndpointMeta = &EndpointMeta::new("test_read", Method::Get, "/test/read")
        .group("test")
        .idempotent(true);
    type Response = Echo;
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        RequestParts {
            query: Vec::new(),
            body: Body::Empty,
        }
    }
}

// --- clients, stores, logs ---

/// The store settings of these tests: short lease and timeouts, a generous wait.
fn store(url: &str, prefix: &str) -> RedisTokenStoreBuilder {
    RedisTokenStore::builder()
        .url(url)
        .app_id(APPID)
        .key_prefix(prefix)
        .lease(Duration::from_secs(2))
        .wait(Duration::from_secs(10))
        .timeout(Duration::from_millis(500))
}

fn client(base: &str, store: RedisTokenStore) -> Client {
    init_tracing();
    Client::builder()
        .app_id(APPID)
        .app_secret(SECRET)
        .base_url(base)
        .timeout(Duration::from_secs(10))
        .retry_policy(
            RetryPolicy::new()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5)),
        )
        .token_store(store)
        .build()
        .unwrap()
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} leaks the secret: {text}");
    assert!(!text.contains(TOKEN_PREFIX), "{what} leaks a token: {text}");
}

/// Renders an error with its sources, fails if anything leaks, and returns it.
fn checked(error: Error) -> Error {
    let mut rendered = format!("{error}\n{error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        rendered.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    assert_clean("an error", &rendered);
    error
}

fn store_kind(error: &Error) -> Option<StoreErrorKind> {
    match error {
        Error::Store { kind, .. } => Some(*kind),
        _ => None,
    }
}

/// Polls `condition` every 10 ms for up to `limit`.
async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// A fetcher that never answers, after saying it started.
struct Hanging(AtomicUsize);

impl TokenFetcher for Hanging {
    fn fetch(&self, _force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        self.0.fetch_add(1, SeqCst);
        Box::pin(std::future::pending())
    }

    fn mode(&self) -> Option<TokenMode> {
        Some(TokenMode::Stable)
    }
}

/// A fetcher that counts and issues `HELD-<n>` tokens at once.
struct Counting(AtomicUsize);

impl TokenFetcher for Counting {
    fn fetch(&self, _force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        let n = self.0.fetch_add(1, SeqCst) + 1;
        Box::pin(std::future::ready(Ok(FetchedToken {
            token: AccessToken::new(token(1000 + n)),
            expires_in: Duration::from_secs(7200),
        })))
    }

    fn mode(&self) -> Option<TokenMode> {
        Some(TokenMode::Stable)
    }
}

// --- the tests ---

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_clients_in_separate_tasks_cold_start_with_one_fetch() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    // The one fetch stays in flight while the others arrive.
    wechat.delay_ms.store(300, SeqCst);
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            // Each client is an instance of its own: its own store and Redis connection.
            let client = client(&base, store(&server.url(), "eight:").build().unwrap());
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                client.call(Read).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().value, "read");
    }
    assert_eq!(wechat.fetches(), 1, "one token fetch for eight instances");
    assert_eq!(
        wechat.reads_with(&token(1)),
        8,
        "every instance used that token"
    );

    // The entry: under prefix{appid}, holding the token, expiring with it; no secret in keys.
    let mut redis = redis(&server.url()).await;
    let keys: Vec<String> = redis.keys("*").await.unwrap();
    assert_eq!(keys, vec![format!("eight:{{{APPID}}}:token")]);
    assert!(keys.iter().all(|key| !key.contains(SECRET)));
    let stored: HashMap<String, String> = redis.hgetall(&keys[0]).await.unwrap();
    assert_eq!(stored["token"], token(1));
    assert_eq!(stored["ttl_ms"], "7200000");
    assert_eq!(stored["fresh_ms"], "6900000");
    let pttl: i64 = redis.pttl(&keys[0]).await.unwrap();
    assert!((7_000_000..=7_200_000).contains(&pttl), "pttl {pttl}");
}

/// The body of a child process (no-op in a normal run). Roles:
/// - `cold`: line up with the other children, then make one call;
/// - `hold`: take the refresh lock with a fetch that never ends (the parent kills it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let url = std::env::var("WX_KEFU_REDIS_URL").unwrap();
    let prefix = std::env::var("WX_KEFU_REDIS_PREFIX").unwrap();
    let store = store(&url, &prefix).build().unwrap();
    match role.as_str() {
        "cold" => {
            let base = std::env::var("WX_KEFU_TOKEN_BASE").unwrap();
            let client = client(&base, store);
            ready_then_go(&url).await;
            let answer = client.call(Read).await.unwrap();
            assert_eq!(answer.value, "read");
            let token = client.access_token().await.unwrap();
            let number = token.expose().rsplit('-').next().unwrap().to_owned();
            println!("child-result: token number {number}");
        }
        "steady" => {
            let base = std::env::var("WX_KEFU_TOKEN_BASE").unwrap();
            let client = client(&base, store);
            // Warm: the token is fetched (or read) once before the measured calls.
            client.call(Read).await.unwrap();
            ready_then_go(&url).await;
            for _ in 0..200 {
                client.call(Read).await.unwrap();
            }
            println!("child-result: 200 calls");
        }
        "hold" => {
            let hanging = Hanging(AtomicUsize::new(0));
            let _ = store.get(&hanging).await;
            unreachable!("the fetch never ends");
        }
        other => panic!("unknown child role {other}"),
    }
}

/// A child's side of the line-up: says it is ready, then waits for the parent's go.
async fn ready_then_go(url: &str) {
    let mut redis = redis(url).await;
    let _: i64 = redis.incr("test:ready", 1).await.unwrap();
    let go = eventually(Duration::from_secs(20), async || {
        redis.exists("test:go").await.unwrap()
    })
    .await;
    assert!(go, "the parent never said go");
}

/// The parent's side: waits (bounded) until `n` children are ready.
async fn lined_up(url: &str, n: i64) {
    let mut redis = redis(url).await;
    let ready = eventually(Duration::from_secs(20), async || {
        redis.get::<_, Option<i64>>("test:ready").await.unwrap() == Some(n)
    })
    .await;
    assert!(ready, "the children did not start");
}

/// Says go, then waits (bounded) for every child: their success and output.
async fn go_and_finish(url: &str, children: Vec<Child>) -> Vec<(bool, String)> {
    let mut redis = redis(url).await;
    let _: () = redis.set("test:go", 1).await.unwrap();
    tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|child| finish(child, Duration::from_secs(30)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap()
}

fn spawn_child(role: &str, vars: &[(&str, &str)]) -> Child {
    support::spawn_child("child_process", CHILD_ROLE, role, vars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_cold_start_with_one_fetch() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    wechat.delay_ms.store(300, SeqCst);
    let url = server.url();
    let vars = [
        ("WX_KEFU_REDIS_URL", url.as_str()),
        ("WX_KEFU_REDIS_PREFIX", "procs:"),
        ("WX_KEFU_TOKEN_BASE", base.as_str()),
    ];
    let children: Vec<_> = (0..4).map(|_| spawn_child("cold", &vars)).collect();
    // Line the four processes up, then let them go together.
    lined_up(&url, 4).await;
    let outputs = go_and_finish(&url, children).await;
    for (ok, out) in &outputs {
        assert!(ok, "a child failed:\n{out}");
        assert!(out.contains("child-result: token number 1"), "{out}");
        assert_clean("a child's output", out);
    }
    assert_eq!(wechat.fetches(), 1, "one token fetch for four processes");
    assert_eq!(wechat.reads_with(&token(1)), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_holder_killed_mid_fetch_is_replaced_within_the_lease() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let url = server.url();
    let vars = [
        ("WX_KEFU_REDIS_URL", url.as_str()),
        ("WX_KEFU_REDIS_PREFIX", "killed:"),
    ];
    let holder = spawn_child("hold", &vars);
    let lock = format!("killed:{{{APPID}}}:lock");
    let mut redis = redis(&url).await;
    let held = eventually(Duration::from_secs(20), async || {
        redis.exists(&lock).await.unwrap()
    })
    .await;
    assert!(held, "the child never took the lock");
    let (ok, _) = tokio::task::spawn_blocking(move || {
        let mut holder = holder;
        holder.kill().unwrap();
        finish(holder, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(!ok, "the holder was killed");
    let left: i64 = redis.pttl(&lock).await.unwrap();
    assert!(
        left > 0,
        "the dead holder's lock is still there, with its lease"
    );

    let lease = Duration::from_secs(2);
    let client = client(&base, store(&url, "killed:").lease(lease).build().unwrap());
    let started = Instant::now();
    assert_eq!(client.call(Read).await.unwrap().value, "read");
    let took = started.elapsed();
    assert!(
        took <= lease + Duration::from_secs(3),
        "took {took:?}, the lease is {lease:?}"
    );
    assert_eq!(wechat.fetches(), 1);
    let released: bool = redis.exists(&lock).await.unwrap();
    assert!(!released, "the new holder released the lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_holder_loses_its_lease_and_a_cancelled_one_releases_at_once() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let url = server.url();
    init_tracing();

    // A holder whose fetch hangs gives up when its lease runs out; a waiter takes over.
    let lease = Duration::from_millis(800);
    let first = Arc::new(store(&url, "hang:").lease(lease).build().unwrap());
    let second = store(&url, "hang:").lease(lease).build().unwrap();
    let hanging = Arc::new(Hanging(AtomicUsize::new(0)));
    let holder = {
        let (first, hanging) = (first.clone(), hanging.clone());
        tokio::spawn(async move { first.get(&*hanging).await })
    };
    let mut redis = redis(&url).await;
    let lock = "hang:{wx0000redis000appid}:lock";
    assert!(
        eventually(Duration::from_secs(10), async || redis
            .exists(lock)
            .await
            .unwrap())
        .await
    );
    let counting = Counting(AtomicUsize::new(0));
    let started = Instant::now();
    let token = second.get(&counting).await.unwrap();
    assert!(started.elapsed() <= lease + Duration::from_secs(3));
    assert_eq!(token.expose(), self::token(1001));
    assert_eq!(counting.0.load(SeqCst), 1);
    let error = checked(holder.await.unwrap().unwrap_err());
    assert_eq!(store_kind(&error), Some(StoreErrorKind::LockTimeout));
    assert_eq!(hanging.0.load(SeqCst), 1);
    // The late holder did not overwrite anything: the shared token is the waiter's.
    assert_eq!(
        first.get(&counting).await.unwrap().expose(),
        self::token(1001)
    );

    // A holder whose caller gives up (the future is dropped) releases the lock at once,
    // long before its lease of a minute would run out.
    let lease = Duration::from_secs(60);
    let first = Arc::new(store(&url, "cancel:").lease(lease).build().unwrap());
    let second = store(&url, "cancel:").lease(lease).build().unwrap();
    let holder = {
        let (first, hanging) = (first.clone(), hanging.clone());
        tokio::spawn(async move { first.get(&*hanging).await })
    };
    let lock = "cancel:{wx0000redis000appid}:lock";
    assert!(
        eventually(Duration::from_secs(10), async || redis
            .exists(lock)
            .await
            .unwrap())
        .await
    );
    holder.abort();
    let started = Instant::now();
    let token = second.get(&counting).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(token.expose(), self::token(1002));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_run_gives_a_bounded_typed_error() {
    let Some(mut server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let client = client(&base, store(&server.url(), "stop:").build().unwrap());
    client.call(Read).await.unwrap();

    // Frozen: connections stay open but nothing answers. Each operation times out (500 ms).
    server.signal("STOP");
    let started = Instant::now();
    let error = checked(client.call(Read).await.unwrap_err());
    let took = started.elapsed();
    assert_eq!(
        store_kind(&error),
        Some(StoreErrorKind::Unavailable),
        "{error}"
    );
    assert!(error.is_retryable() && error.is_not_sent() && error.endpoint().is_none());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    server.signal("CONT");
    // Back: the connection manager reconnects as needed.
    let back = eventually(Duration::from_secs(10), async || {
        client.call(Read).await.is_ok()
    })
    .await;
    assert!(back, "the store works again once Redis answers");

    // Gone: connections are refused. The copy of the fresh token this process read keeps
    // its calls going (issue 25: no Redis round trip while the token is fresh)...
    server.stop();
    client.call(Read).await.unwrap();
    // ...while a process without one gets a bounded, typed error.
    let cold = self::client(&base, store(&server.url(), "stop:").build().unwrap());
    let started = Instant::now();
    let error = checked(cold.call(Read).await.unwrap_err());
    let took = started.elapsed();
    assert_eq!(
        store_kind(&error),
        Some(StoreErrorKind::Unavailable),
        "{error}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(wechat.fetches(), 1, "no token was fetched without Redis");
    // Invalidating does not hang either.
    let started = Instant::now();
    let store = store(&server.url(), "stop:").build().unwrap();
    store.invalidate(&AccessToken::new(token(1))).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_fallback_a_lost_redis_means_a_local_token_and_a_warning() {
    let Some(mut server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let fallback = client(
        &base,
        store(&server.url(), "fallback:")
            .fallback_to_local(true)
            .build()
            .unwrap(),
    );
    fallback.call(Read).await.unwrap();
    assert_eq!(wechat.fetches(), 1);
    // A classic client with the fallback asked for: the store learns the mode from the
    // client and refuses to fetch a classic token without the lock.
    let classic = Client::builder()
        .app_id(APPID)
        .app_secret(SECRET)
        .base_url(&base)
        .token_mode(TokenMode::Classic)
        .retry_policy(RetryPolicy::never())
        .token_store(
            store(&server.url(), "fallback-classic:")
                .fallback_to_local(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    server.stop();
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(fallback.call(Read).await.unwrap().value, "read");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(wechat.fetches(), 2, "one local fetch while Redis is away");
    assert!(logs().contains("Redis is unreachable; using a process-local access token"));

    let error = checked(classic.call(Read).await.unwrap_err());
    assert_eq!(store_kind(&error), Some(StoreErrorKind::Unavailable));
    assert_eq!(
        wechat.classic.load(SeqCst),
        0,
        "no classic fetch without the lock"
    );

    // The builder refuses the combination when it knows the mode.
    let refused = store(&server.url(), "x:")
        .fallback_to_local(true)
        .token_mode(TokenMode::Classic)
        .build()
        .unwrap_err();
    assert!(matches!(refused, Error::Config { .. }));
    assert_clean("the logs", &logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_rejected_for_the_same_token_refresh_once() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let first = client(&base, store(&server.url(), "race:").build().unwrap());
    let second = client(&base, store(&server.url(), "race:").build().unwrap());
    first.call(Read).await.unwrap();
    second.call(Read).await.unwrap();
    assert_eq!(wechat.fetches(), 1);

    // WeChat retires token 1; both instances' next calls carry it and are held until
    // both have been sent, then both get 40001.
    wechat.revoked.lock().unwrap().insert(token(1));
    *wechat.gate.lock().unwrap() = Some(Arc::new(tokio::sync::Barrier::new(2)));
    let calls = [first.clone(), second.clone()]
        .map(|client| tokio::spawn(async move { client.call(Read).await }));
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().value, "read");
    }
    assert_eq!(wechat.reads_with(&token(1)), 4);
    assert_eq!(
        wechat.fetches(),
        2,
        "exactly one refresh for the two rejections"
    );
    assert_eq!(wechat.reads_with(&token(2)), 2);

    // A late rejection of the old token does not delete the new one.
    let store = store(&server.url(), "race:").build().unwrap();
    store.invalidate(&AccessToken::new(token(1))).await;
    first.call(Read).await.unwrap();
    assert_eq!(wechat.fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_wait_a_classic_instance_fails_and_a_stable_one_fetches() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let mut redis = redis(&server.url()).await;
    // Another instance holds the lock and does not finish.
    let _: () = redis
        .pset_ex("wait:{wx0000redis000appid}:lock", "someone-else", 60_000)
        .await
        .unwrap();
    let wait = Duration::from_millis(400);
    let classic = Client::builder()
        .app_id(APPID)
        .app_secret(SECRET)
        .base_url(&base)
        .token_mode(TokenMode::Classic)
        .retry_policy(RetryPolicy::never())
        .token_store(store(&server.url(), "wait:").wait(wait).build().unwrap())
        .build()
        .unwrap();
    let started = Instant::now();
    let error = checked(classic.call(Read).await.unwrap_err());
    assert_eq!(
        store_kind(&error),
        Some(StoreErrorKind::LockTimeout),
        "{error}"
    );
    assert!(started.elapsed() >= wait && started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        wechat.fetches(),
        0,
        "a classic token is never fetched without the lock"
    );

    let stable = client(
        &base,
        store(&server.url(), "wait:").wait(wait).build().unwrap(),
    );
    assert_eq!(stable.call(Read).await.unwrap().value, "read");
    assert_eq!(
        wechat.stable.load(SeqCst),
        1,
        "the stable token may be fetched without it"
    );
    let owner: String = redis.get("wait:{wx0000redis000appid}:lock").await.unwrap();
    assert_eq!(owner, "someone-else", "another's lock is never deleted");
}

/// The connections of a Redis server, as `(id, last command)`.
async fn connections(
    redis: &mut wx_kefu_runtime::redis::aio::MultiplexedConnection,
) -> Vec<(String, String)> {
    let list: String = wx_kefu_runtime::redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(redis)
        .await
        .unwrap();
    list.lines()
        .map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|pair| pair.strip_prefix(name))
                    .unwrap_or_default()
                    .to_owned()
            };
            (field("id="), field("cmd="))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_fetch_is_shared_with_the_waiting_instances() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    *wechat.error.lock().unwrap() = Some(json!({
        "errcode": 40164, "errmsg": "invalid ip 10.0.0.9, not in whitelist rid: 65-ip"
    }));
    let url = server.url();
    let mut redis = redis(&url).await;
    // The instances gather behind a lock the test holds.
    let lock = "refused:{wx0000redis000appid}:lock";
    let _: () = redis.pset_ex(lock, "the-test", 60_000).await.unwrap();
    // Load the scripts (a classic store that may not wait fails without fetching), so
    // that a connection whose last command is EVALSHA has read the entry.
    let warm = store(&url, "refused:")
        .token_mode(TokenMode::Classic)
        .wait(Duration::ZERO)
        .build()
        .unwrap();
    let error = checked(warm.get(&Counting(AtomicUsize::new(0))).await.unwrap_err());
    assert_eq!(store_kind(&error), Some(StoreErrorKind::LockTimeout));
    let before: HashSet<String> = connections(&mut redis)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client(&base, store(&url, "refused:").build().unwrap());
            tokio::spawn(async move { client.access_token().await })
        })
        .collect();
    // Every instance has read the entry (no failure recorded yet) and waits.
    let gathered = eventually(Duration::from_secs(20), async || {
        let read = connections(&mut redis)
            .await
            .into_iter()
            .filter(|(id, cmd)| !before.contains(id) && cmd == "evalsha");
        read.count() == 4
    })
    .await;
    assert!(gathered, "the instances did not gather");
    // Let them go: one takes the lock and is refused; the others take its answer.
    let _: () = redis.del(lock).await.unwrap();
    for task in tasks {
        let error = checked(task.await.unwrap().unwrap_err());
        assert_eq!(error.code().map(|code| code.code()), Some(40164), "{error}");
        assert!(error.is_token_error());
    }
    assert_eq!(wechat.fetches(), 1, "the waiters took the holder's answer");

    // A later call is not refused by that old answer: it tries again.
    let late = client(&base, store(&url, "refused:").build().unwrap());
    let error = checked(late.access_token().await.unwrap_err());
    assert_eq!(error.code().map(|code| code.code()), Some(40164));
    assert_eq!(wechat.fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_refresh_is_seen_by_every_instance() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let first = client(&base, store(&server.url(), "refresh:").build().unwrap());
    let second = client(&base, store(&server.url(), "refresh:").build().unwrap());
    first.call(Read).await.unwrap();
    first.refresh_token().await.unwrap();
    assert_eq!(wechat.forced.load(SeqCst), 1);
    second.call(Read).await.unwrap();
    assert_eq!(
        wechat.reads_with(&token(2)),
        1,
        "the other instance uses the new token"
    );
    assert_eq!(wechat.fetches(), 2);
}

#[tokio::test]
async fn the_builder_refuses_what_cannot_work_without_quoting_the_url() {
    let err = |builder: RedisTokenStoreBuilder| checked(builder.build().unwrap_err());
    let url = "redis://user:p4ss-w0rd@127.0.0.1:1/";
    let bad = err(RedisTokenStore::builder()
        .url("http://user:p4ss-w0rd@x/")
        .app_id(APPID));
    assert!(matches!(bad, Error::Config { .. }));
    assert!(!bad.to_string().contains("p4ss-w0rd"), "{bad}");
    assert!(matches!(
        err(RedisTokenStore::builder().url(url)),
        Error::Config { .. }
    ));
    assert!(matches!(
        err(RedisTokenStore::builder().app_id(APPID)),
        Error::Config { .. }
    ));
    let built = RedisTokenStore::builder()
        .url(url)
        .app_id(APPID)
        .build()
        .unwrap();
    assert!(!format!("{built:?}").contains("p4ss-w0rd"));
    assert_eq!(built.token_key(), format!("wx-kefu:{{{APPID}}}:token"));
    assert_eq!(built.lock_key(), format!("wx-kefu:{{{APPID}}}:lock"));
    // Redis is not reached while building: the store exists while Redis is down, and
    // using it fails within the timeout.
    let store = RedisTokenStore::builder()
        .url(url)
        .app_id(APPID)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = checked(store.get(&Counting(AtomicUsize::new(0))).await.unwrap_err());
    assert_eq!(store_kind(&error), Some(StoreErrorKind::Unavailable));
    assert!(
        !format!("{error} {error:?}").contains("p4ss-w0rd"),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A fetcher that waits for the test to open its gate, then gives its answer.
struct Gated {
    gate: tokio::sync::Semaphore,
    answer: Result<FetchedToken>,
}

impl Gated {
    fn new(answer: Result<FetchedToken>) -> Arc<Gated> {
        Arc::new(Gated {
            gate: tokio::sync::Semaphore::new(0),
            answer,
        })
    }
}

impl TokenFetcher for Gated {
    fn fetch(&self, _force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        Box::pin(async move {
            self.gate.acquire().await.unwrap().forget();
            self.answer.clone()
        })
    }

    fn mode(&self) -> Option<TokenMode> {
        Some(TokenMode::Stable)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_ran_out_neither_stores_its_token_nor_unlocks_the_next() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    init_tracing();
    let url = server.url();
    let mut redis = redis(&url).await;
    let (token_key, lock) = (
        "late:{wx0000redis000appid}:token",
        "late:{wx0000redis000appid}:lock",
    );
    let late = Ok(FetchedToken {
        token: AccessToken::new(token(77)),
        expires_in: Duration::from_secs(7200),
    });
    let failing = Err(Error::Status {
        endpoint: "stable_token",
        status: 502,
        excerpt: "bad gateway".to_owned(),
    });
    for answer in [late, failing] {
        let succeeds = answer.is_ok();
        let store = Arc::new(
            store(&url, "late:")
                .lease(Duration::from_secs(30))
                .build()
                .unwrap(),
        );
        let gated = Gated::new(answer);
        let holder = {
            let (store, gated) = (store.clone(), gated.clone());
            tokio::spawn(async move { store.get(&*gated).await })
        };
        assert!(
            eventually(Duration::from_secs(10), async || redis
                .exists(lock)
                .await
                .unwrap())
            .await
        );
        // The holder's lease runs out and the next instance takes the lock.
        let _: () = redis.pset_ex(lock, "next-holder", 60_000).await.unwrap();
        gated.gate.add_permits(1);
        let got = holder.await.unwrap();
        assert_eq!(got.is_ok(), succeeds);
        let stored: bool = redis.exists(token_key).await.unwrap();
        assert!(
            !stored,
            "a token fetched after the lease ran out is not stored"
        );
        let owner: String = redis.get(lock).await.unwrap();
        assert_eq!(owner, "next-holder", "the next holder's lock is left alone");
        let _: () = redis.del(lock).await.unwrap();
    }
}

/// The commands Redis has processed so far (`INFO stats`).
async fn commands_processed(url: &str) -> u64 {
    let mut redis = redis(url).await;
    let info: String = wx_kefu_runtime::redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut redis)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_commands_processed in INFO stats")
}

/// Issue 25: in steady state a call reads the token from the process's copy, not Redis:
/// two processes make 200 calls each and Redis sees (almost) nothing of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_calls_in_two_processes_make_no_redis_command() {
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let (wechat, base) = wechat().await;
    let url = server.url();
    let vars = [
        ("WX_KEFU_REDIS_URL", url.as_str()),
        ("WX_KEFU_REDIS_PREFIX", "steady:"),
        ("WX_KEFU_TOKEN_BASE", base.as_str()),
    ];
    let children: Vec<_> = (0..2).map(|_| spawn_child("steady", &vars)).collect();
    lined_up(&url, 2).await;
    let before = commands_processed(&url).await;
    let outputs = go_and_finish(&url, children).await;
    for (ok, out) in &outputs {
        assert!(ok, "a child failed:\n{out}");
        assert!(out.contains("child-result: 200 calls"), "{out}");
    }
    // The go key, the children's reads of it (a poll each until it is there), this INFO:
    // a handful; 400 calls reading Redis would be 400 more.
    let during = commands_processed(&url).await - before;
    assert!(during <= 20, "{during} Redis commands for 400 calls");
    assert_eq!(wechat.fetches(), 1);
    assert_eq!(wechat.reads_with(&token(1)), 400 + 2);
}

/// The platform's durable store on Redis: a late ticket (an earlier push delivered after a
/// later one, or by another instance) never replaces the latest; an authorization round
/// trips; the key names hold the component appid and never a credential.
#[tokio::test]
async fn the_platforms_durable_store_keeps_the_latest_ticket() {
    use wx_kefu_runtime::{
        Authorization, AuthorizationStore, Credential, RedisAuthorizations, Ticket,
    };
    let Some(server) = RedisServer::start("the Redis token store tests") else {
        return;
    };
    let connection = wx_kefu_runtime::redis::Client::open(server.url().as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    // Two instances of the platform share it.
    let one = RedisAuthorizations::new(connection.clone(), Some("p:"), "wxcomponent").unwrap();
    let two = RedisAuthorizations::new(connection.clone(), Some("p:"), "wxcomponent").unwrap();
    let ticket = |value: &str, issued_at| Ticket {
        value: Credential::new(value),
        issued_at,
    };
    one.put_ticket(&ticket("ticket@@@new", 1200)).await.unwrap();
    two.put_ticket(&ticket("ticket@@@old", 600)).await.unwrap();
    assert_eq!(
        two.ticket().await.unwrap(),
        Some(ticket("ticket@@@new", 1200))
    );
    two.put_ticket(&ticket("ticket@@@newer", 1800))
        .await
        .unwrap();
    assert_eq!(
        one.ticket().await.unwrap(),
        Some(ticket("ticket@@@newer", 1800))
    );
    let granted = Authorization {
        refresh_token: Credential::new("refreshtoken@@@a"),
        func_info: vec![1, 6],
        authorized_at: 7,
    };
    one.put_authorization("wxa", &granted).await.unwrap();
    assert_eq!(two.authorization("wxa").await.unwrap(), Some(granted));
    assert_eq!(two.authorizers().await.unwrap(), ["wxa"]);
    two.remove_authorization("wxa").await.unwrap();
    assert_eq!(one.authorization("wxa").await.unwrap(), None);
    let mut redis = redis(&server.url()).await;
    let keys: Vec<String> = redis.keys("*").await.unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key.starts_with("p:{wxcomponent}:"), "{key}");
        assert!(!key.contains("@@@"), "{key}");
    }
}
