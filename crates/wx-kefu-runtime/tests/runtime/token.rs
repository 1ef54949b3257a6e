//! Access tokens: the herd, expiry and refresh, the replay after a rejected token,
//! compare-and-invalidate, fetch failures, the classic mode and external providers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Semaphore;
use wx_kefu_runtime::meta::EndpointMeta;
use wx_kefu_runtime::token::BoxFuture;
use wx_kefu_runtime::{
    AccessToken, Endpoint, Error, FetchedToken, Invalid, MemoryTokenStore, Method, RequestParts,
    Result, TokenFetcher, TokenMode, TokenProvider, TokenStore,
};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_calls_on_a_cold_client_make_one_token_request() {
    let (mock, base) = start().await;
    // Keep the one fetch in flight while the herd gathers behind it.
    mock.token_delay_ms.store(300, SeqCst);
    let client = builder(&base)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call(Read).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().value, "read");
    }
    assert_eq!(mock.token_hits(), 1);
    assert_eq!(mock.hits("read"), 1000);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_and_a_fresh_one_is_reused() {
    let (mock, base) = start().await;
    // expires_in 0 still caches for MIN_CACHE_LIFETIME (1 s), never for 0 s.
    mock.expires_in.store(0, SeqCst);
    let client = builder(&base).build().unwrap();
    client.call(Read).await.unwrap();
    assert_eq!(mock.token_hits(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    mock.expires_in.store(7200, SeqCst);
    client.call(Read).await.unwrap();
    client.call(Read).await.unwrap();
    assert_eq!(mock.token_hits(), 2);
    assert_eq!(client.access_token().await.unwrap().expose(), token(2));
}

/// A fetcher that counts, waits for the test to open its gate, then succeeds or fails.
struct Gated {
    calls: AtomicUsize,
    gate: Semaphore,
    fail: bool,
    expires_in: Duration,
}

impl Gated {
    fn new(fail: bool, expires_in: Duration, open: bool) -> Arc<Gated> {
        let permits = if open { Semaphore::MAX_PERMITS } else { 0 };
        Arc::new(Gated {
            calls: AtomicUsize::new(0),
            gate: Semaphore::new(permits),
            fail,
            expires_in,
        })
    }
}

impl TokenFetcher for Gated {
    fn fetch(&self, _force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, SeqCst) + 1;
            self.gate.acquire().await.unwrap().forget();
            if self.fail {
                Err(Error::Token {
                    endpoint: "stable_token",
                    code: Some(wx_kefu_runtime::ErrCode::from_code(40125)),
                    message: "invalid appsecret".into(),
                    rid: None,
                    hint: "check the app secret",
                })
            } else {
                Ok(FetchedToken {
                    token: AccessToken::new(format!("t{n}")),
                    expires_in: self.expires_in,
                })
            }
        })
    }
}

/// Spawns `n` concurrent `get`s, lets them all reach the store, then opens the gate.
async fn herd(
    store: &Arc<MemoryTokenStore>,
    fetcher: &Arc<Gated>,
    n: usize,
) -> Vec<Result<AccessToken>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (store, fetcher) = (store.clone(), fetcher.clone());
            tokio::spawn(async move { store.get(&*fetcher).await })
        })
        .collect();
    // On the current-thread runtime every spawned task runs up to its first wait here.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        fetcher.calls.load(SeqCst),
        1,
        "one caller fetches, the others wait"
    );
    fetcher.gate.add_permits(1);
    let mut results = Vec::new();
    for task in tasks {
        // A waiter that fetches again instead of taking the shared outcome would wait on
        // the gate for ever: fail in seconds rather than hang the suite.
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("a waiter hung instead of sharing the fetch it waited on");
        results.push(result.unwrap());
    }
    results
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch_and_its_failure() {
    let store = Arc::new(MemoryTokenStore::new());
    let fetcher = Gated::new(false, Duration::from_secs(7200), false);
    let tokens = herd(&store, &fetcher, 100).await;
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().expose() == "t1"));
    assert_eq!(fetcher.calls.load(SeqCst), 1);

    let store = Arc::new(MemoryTokenStore::new());
    let failing = Gated::new(true, Duration::ZERO, false);
    let results = herd(&store, &failing, 100).await;
    assert!(
        results
            .into_iter()
            .all(|r| checked(r.unwrap_err()).is_token_error())
    );
    assert_eq!(
        failing.calls.load(SeqCst),
        1,
        "waiters receive the failure, not a fetch each"
    );
}

#[tokio::test(start_paused = true)]
async fn the_memory_store_refreshes_before_expiry_and_never_caches_for_zero() {
    let store = MemoryTokenStore::new();
    let fetcher = Gated::new(false, Duration::from_secs(7200), true);
    assert_eq!(store.get(&*fetcher).await.unwrap().expose(), "t1");
    tokio::time::advance(Duration::from_secs(6899)).await;
    assert_eq!(store.get(&*fetcher).await.unwrap().expose(), "t1");
    // 300 s before WeChat's expiry the token is replaced.
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(store.get(&*fetcher).await.unwrap().expose(), "t2");
    assert_eq!(fetcher.calls.load(SeqCst), 2);

    let store = MemoryTokenStore::new();
    let zero = Gated::new(false, Duration::ZERO, true);
    store.get(&*zero).await.unwrap();
    store.get(&*zero).await.unwrap();
    assert_eq!(
        zero.calls.load(SeqCst),
        1,
        "expires_in 0 is cached briefly, not refetched per call"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    store.get(&*zero).await.unwrap();
    assert_eq!(zero.calls.load(SeqCst), 2);
}

#[tokio::test]
async fn invalidation_only_forgets_the_token_still_cached() {
    let store = MemoryTokenStore::new();
    let fetcher = Gated::new(false, Duration::from_secs(7200), true);
    let first = store.get(&*fetcher).await.unwrap();
    store.invalidate(&first).await;
    let second = store.get(&*fetcher).await.unwrap();
    assert_eq!(second.expose(), "t2");
    // A late caller reporting the old token does not discard the new one.
    store.invalidate(&first).await;
    assert_eq!(store.get(&*fetcher).await.unwrap(), second);
    assert_eq!(fetcher.calls.load(SeqCst), 2);
}

#[tokio::test]
async fn a_rejected_token_is_replaced_and_the_call_replayed_once() {
    let (mock, base) = start().await;
    let client = builder(&base).build().unwrap();
    client.call(Read).await.unwrap();
    mock.revoke(1);
    client.call(Send::new("hello")).await.unwrap();
    assert_eq!(
        mock.hits("send"),
        2,
        "the send was replayed once with the new token"
    );
    assert_eq!(mock.token_hits(), 2);
    assert_eq!(client.access_token().await.unwrap().expose(), token(2));
}

#[tokio::test]
async fn a_second_rejection_is_returned_not_looped() {
    let (mock, base) = start().await;
    let client = builder(&base).build().unwrap();
    mock.reject_all.store(true, SeqCst);
    for (name, result) in [
        ("read", client.call(Read).await.map(drop)),
        ("send", client.call(Send::new("hi")).await.map(drop)),
    ] {
        let error = err(result);
        assert!(
            matches!(&error, Error::Api { code, .. } if code.code() == 40001),
            "{error}"
        );
        assert!(error.is_token_error());
        assert_eq!(error.rid(), Some("6561a4b1-1c2b6e1f-0d5c8a3e"));
        assert_eq!(mock.hits(name), 2, "{name}: one attempt and one replay");
    }
    assert_eq!(mock.token_hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herd_of_rejections_refreshes_once() {
    let (mock, base) = start().await;
    let client = builder(&base).build().unwrap();
    client.call(Read).await.unwrap();
    mock.revoke(1);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call(Read).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        mock.token_hits(),
        2,
        "compare-and-invalidate: one refresh for the whole herd"
    );
}

#[tokio::test]
async fn refresh_token_forces_a_new_token() {
    let (mock, base) = start().await;
    let client = builder(&base).build().unwrap();
    client.call(Read).await.unwrap();
    assert_eq!(
        mock.force_refreshes.load(SeqCst),
        0,
        "calls never force a refresh"
    );
    client.refresh_token().await.unwrap();
    assert_eq!(mock.force_refreshes.load(SeqCst), 1);
    mock.revoke(1);
    client.call(Read).await.unwrap();
    assert_eq!(mock.hits("read"), 2, "the refreshed token was used at once");
    assert_eq!(mock.token_hits(), 2);
}

#[tokio::test]
async fn the_classic_mode_uses_the_classic_call() {
    let (mock, base) = start().await;
    let client = builder(&base)
        .token_mode(TokenMode::Classic)
        .build()
        .unwrap();
    client.call(Read).await.unwrap();
    client.call(Read).await.unwrap();
    assert_eq!(mock.classic_hits.load(SeqCst), 1);
    assert_eq!(mock.stable_hits.load(SeqCst), 0);
}

#[tokio::test]
async fn token_fetch_failures_are_typed_say_what_to_fix_and_are_not_retried() {
    for (code, errmsg) in [
        (40013, "invalid appid rid: 0003-a1"),
        (
            40125,
            "invalid appsecret, view more at http://t.cn/RAEkdVq rid: 0003-a2",
        ),
        (
            40164,
            "invalid ip 203.0.113.7, not in whitelist rid: 0003-a3",
        ),
        (45009, "reach max api daily quota limit rid: 0003-a4"),
    ] {
        let (mock, base) = start().await;
        *mock.token_error.lock().unwrap() = Some(json!({"errcode": code, "errmsg": errmsg}));
        let client = builder(&base).build().unwrap();
        let error = err(client.call(Send::new("hi")).await);
        let Error::Token {
            code: Some(found),
            rid,
            hint,
            ..
        } = &error
        else {
            panic!("{code}: expected a token error, got {error:?}");
        };
        assert_eq!(found.code(), code);
        assert!(rid.as_deref().is_some_and(|rid| rid.starts_with("0003-a")));
        assert!(!hint.is_empty());
        assert!(error.is_token_error() && !error.is_retryable());
        assert!(error.to_string().contains(hint), "{error}");
        assert_eq!(mock.token_hits(), 1, "{code}: not retried");
        assert_eq!(mock.business_hits(), 0);
    }
}

#[tokio::test]
async fn a_wrong_secret_is_reported_as_such() {
    let (mock, base) = start().await;
    let client = builder(&base).app_secret("not-the-secret").build().unwrap();
    let error = err(client.access_token().await);
    assert!(
        matches!(&error, Error::Token { code: Some(code), .. } if code.code() == 40125),
        "{error}"
    );
    assert_eq!(mock.token_hits(), 1);
}

#[tokio::test]
async fn a_busy_token_call_is_retried_before_the_call() {
    let (mock, base) = start().await;
    mock.token_replies
        .lock()
        .unwrap()
        .push_back(json!({"errcode": -1, "errmsg": "system error"}));
    let client = builder(&base).build().unwrap();
    client.call(Send::new("hi")).await.unwrap();
    assert_eq!(mock.token_hits(), 2);
    assert_eq!(mock.hits("send"), 1);
}

#[tokio::test]
async fn an_answer_that_is_not_a_token_is_a_token_error_without_the_body() {
    let (mock, base) = start().await;
    mock.token_replies
        .lock()
        .unwrap()
        .push_back(json!({"access_token": 12345}));
    let client = builder(&base).build().unwrap();
    let error = err(client.access_token().await);
    assert!(
        matches!(&error, Error::Token { code: None, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("12345"));
}

/// A central token service: hands out a new token per request, counts rejections.
#[derive(Default)]
struct Central {
    issued: AtomicUsize,
    rejected: AtomicUsize,
}

impl TokenProvider for Central {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        let n = self.issued.fetch_add(1, SeqCst) + 1;
        Box::pin(async move { Ok(AccessToken::new(format!("{TOKEN_PREFIX}-central-{n}"))) })
    }

    fn rejected<'a>(&'a self, _token: &'a AccessToken) -> BoxFuture<'a, ()> {
        self.rejected.fetch_add(1, SeqCst);
        Box::pin(async {})
    }
}

#[tokio::test]
async fn an_external_provider_supplies_every_token() {
    let (mock, base) = start().await;
    init_tracing();
    let central = Arc::new(Central::default());
    let client = wx_kefu_runtime::Client::builder()
        .base_url(&base)
        .token_provider(central.clone())
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    client.call(Read).await.unwrap();
    mock.revoke_raw(&format!("{TOKEN_PREFIX}-central-2"));
    client.call(Read).await.unwrap();
    assert_eq!(central.rejected.load(SeqCst), 1);
    assert_eq!(central.issued.load(SeqCst), 3);
    assert_eq!(mock.hits("read"), 3);
    assert_eq!(mock.token_hits(), 0, "the SDK never fetched a token");
    assert!(matches!(
        err(client.refresh_token().await),
        Error::Config { .. }
    ));
}

#[tokio::test]
async fn builder_errors_and_debug_output_hold_no_secret() {
    let missing = wx_kefu_runtime::Client::builder().app_id(APPID).build();
    assert!(matches!(err(missing), Error::Config { .. }));
    let bad_url = builder("ftp://example.com").build();
    assert!(matches!(err(bad_url), Error::Config { .. }));
    let both = builder("http://127.0.0.1:1")
        .token_store(MemoryTokenStore::new())
        .token_provider(Central::default())
        .build();
    assert!(matches!(err(both), Error::Config { .. }));

    let builder = builder("http://127.0.0.1:1");
    assert_clean("the builder's Debug", &format!("{builder:?}"));
    let client = builder.build().unwrap();
    let shown = format!("{client:?}");
    assert_clean("the client's Debug", &shown);
    assert!(shown.contains("***"));
    assert_eq!(
        format!("{:?}", AccessToken::new(token(1))),
        "AccessToken(***)"
    );
    assert_eq!(
        format!("{:?}", wx_kefu_runtime::AppSecret::new(SECRET)),
        "AppSecret(***)"
    );
}

/// Hands out `TOKEN-…-rotating-N` and moves to the next token every `every` calls.
struct Rotating {
    asked: AtomicUsize,
    every: usize,
}

impl Rotating {
    fn token_for(&self, ask: usize) -> AccessToken {
        AccessToken::new(format!("{TOKEN_PREFIX}-rotating-{}", ask / self.every))
    }
}

impl TokenProvider for Rotating {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        let ask = self.asked.fetch_add(1, SeqCst);
        Box::pin(std::future::ready(Ok(self.token_for(ask))))
    }
}

#[tokio::test]
async fn every_request_carries_the_token_the_store_gave_for_it() {
    // The client keeps the finished URL per path and token: a new token must show in
    // the very next request, on every path.
    async fn echo(
        axum::extract::Query(query): axum::extract::Query<
            std::collections::HashMap<String, String>,
        >,
    ) -> axum::Json<serde_json::Value> {
        axum::Json(json!({"errcode": 0, "errmsg": "ok", "value": query["access_token"]}))
    }
    let router = axum::Router::new()
        .route("/echo/a", axum::routing::get(echo))
        .route("/echo/b", axum::routing::get(echo));
    let base = serve(router).await;
    init_tracing();
    for every in [1, 3] {
        let provider = Arc::new(Rotating {
            asked: AtomicUsize::new(0),
            every,
        });
        let client = wx_kefu_runtime::Client::builder()
            .base_url(&base)
            .token_provider(provider.clone())
            .build()
            .unwrap();
        for call in 0..12 {
            let echoed = if call % 2 == 0 {
                client.call(EchoAt::<false>).await
            } else {
                client.call(EchoAt::<true>).await
            };
            assert_eq!(
                echoed.unwrap().value,
                provider.token_for(call).expose(),
                "call {call}, a new token every {every} calls"
            );
        }
    }
}

/// `GET /echo/a`, or `GET /echo/b` as `EchoAt<true>`: two paths of one shape.
struct EchoAt<const B: bool>;

impl<const B: bool> Endpoint for EchoAt<B> {
    const META: &'static EndpointMeta = match B {
        false => meta!("test_echo_a", Get, "/echo/a", true),
        true => meta!("test_echo_b", Get, "/echo/b", true),
    };
    type Response = Echo;
    fn validate(&self) -> std::result::Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        RequestParts::default()
    }
}

/// A store that is down: every `get` fails as unavailable, and is counted.
#[derive(Default)]
struct DownStore {
    gets: AtomicUsize,
}

impl TokenStore for DownStore {
    fn get<'a>(&'a self, _fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        self.gets.fetch_add(1, SeqCst);
        Box::pin(async {
            Err(Error::Store {
                store: "down",
                kind: wx_kefu_runtime::StoreErrorKind::Unavailable,
                message: "no answer within 1 s".into(),
                source: None,
            })
        })
    }

    fn invalidate<'a>(&'a self, _failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        self.get(fetcher)
    }
}

#[tokio::test]
async fn a_store_that_is_down_fails_the_call_once_not_once_per_attempt() {
    // The store bounds its own waits (its timeout); retrying its failure would multiply
    // that bound by the retry policy's attempts.
    let (mock, base) = start().await;
    let store = Arc::new(DownStore::default());
    let client = builder(&base)
        .token_store(store.clone())
        .retry_policy(wx_kefu_runtime::RetryPolicy::new().max_attempts(5))
        .build()
        .unwrap();
    let error = checked(err(client.call(Read).await));
    assert!(matches!(error, Error::Store { .. }), "{error:?}");
    assert!(error.is_not_sent());
    assert_eq!(store.gets.load(SeqCst), 1, "the store was asked once");
    assert_eq!(mock.all_hits(), 0);
}

/// A store that records what the client hands it.
#[derive(Default)]
struct Watching {
    gets: AtomicUsize,
    modes: std::sync::Mutex<Vec<Option<TokenMode>>>,
}

impl TokenStore for Watching {
    fn get<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        self.gets.fetch_add(1, SeqCst);
        self.modes.lock().unwrap().push(fetcher.mode());
        Box::pin(async move { fetcher.fetch(false).await.map(|fetched| fetched.token) })
    }

    fn invalidate<'a>(&'a self, _failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        self.get(fetcher)
    }
}

#[tokio::test]
async fn the_clients_fetcher_tells_a_store_its_token_mode() {
    // A shared store relies on it to never fetch a classic token without its lock.
    let (_mock, base) = start().await;
    for mode in [TokenMode::Stable, TokenMode::Classic] {
        let store = Arc::new(Watching::default());
        let client = builder(&base)
            .token_mode(mode)
            .token_store(store.clone())
            .build()
            .unwrap();
        client.access_token().await.unwrap();
        assert_eq!(*store.modes.lock().unwrap(), [Some(mode)]);
    }
}

#[tokio::test]
async fn a_store_of_the_callers_own_is_asked_for_every_call() {
    // No method of the public trait lets a store skip `get`: a store sees every call.
    let (mock, base) = start().await;
    let store = Arc::new(Watching::default());
    let client = builder(&base).token_store(store.clone()).build().unwrap();
    for _ in 0..3 {
        client.access_token().await.unwrap();
    }
    assert_eq!(store.gets.load(SeqCst), 3);
    assert_eq!(mock.token_hits(), 3, "this store keeps nothing");
}

#[tokio::test]
async fn the_built_client_sends_no_user_agent_and_a_callers_client_sends_its_own() {
    use axum::http::HeaderMap;
    let agents = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let seen = agents.clone();
    let record = move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let agent = headers
                .get("user-agent")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock().unwrap().push(agent);
            axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
        }
    };
    let (mock, _) = start().await;
    let base = serve(router(&mock).route("/agent", axum::routing::any(record))).await;
    builder(&base).build().unwrap().call(Agent).await.unwrap();
    let own = wx_kefu_runtime::reqwest::Client::builder()
        .user_agent("acme-desk/2.1")
        .redirect(wx_kefu_runtime::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = builder(&base).http_client(own).build().unwrap();
    client.call(Agent).await.unwrap();
    let agents = agents.lock().unwrap().clone();
    assert_eq!(agents, [None, Some("acme-desk/2.1".to_owned())]);
}

/// `POST /agent`, answering an acknowledgement.
struct Agent;

impl Endpoint for Agent {
    const META: &'static EndpointMeta = &EndpointMeta::new("agent", Method::Post, "/agent");
    type Response = wx_kefu_runtime::Ack;
    fn validate(&self) -> std::result::Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        RequestParts::default()
    }
}
