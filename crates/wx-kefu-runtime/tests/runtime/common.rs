//! A focused in-test WeChat: token calls and scriptable business endpoints on 127.0.0.1,
//! counting every request; tiny test endpoints; a log capture and the leak checks.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use wx_kefu_runtime::endpoint::json_body;
use wx_kefu_runtime::meta::EndpointMeta;
use wx_kefu_runtime::{
    Ack, Body, Client, ClientBuilder, Endpoint, Error, Invalid, Method, RequestParts, RetryPolicy,
};
pub use wx_kefu_test_support::{init_tracing, logs};

pub const APPID: &str = "wx0000test0000appid";
/// The secret; it must never appear in an error or a log line.
pub const SECRET: &str = "SECRET-7f3a9c51-never-print";
/// Every token the server issues starts with this; it must never appear either.
pub const TOKEN_PREFIX: &str = "TOKEN-b41d2e98";

/// The token the server issues on its `n`th fetch (1-based).
pub fn token(n: usize) -> String {
    format!("{TOKEN_PREFIX}-{n}")
}

/// A scripted answer of a business endpoint.
#[derive(Clone, Debug)]
pub enum Reply {
    /// HTTP 200 with this JSON.
    Json(Value),
    /// This status and raw body.
    Raw(u16, &'static str),
    /// This status, with the request URI (query included) echoed in the body, as some
    /// gateways do.
    EchoUri(u16),
    /// No answer for a minute.
    Hang,
}

/// The server's state: counters, scripts and the token rules.
pub struct Mock {
    pub stable_hits: AtomicUsize,
    pub classic_hits: AtomicUsize,
    pub force_refreshes: AtomicUsize,
    /// `expires_in` of issued tokens.
    pub expires_in: AtomicI64,
    /// Delay before answering a token request.
    pub token_delay_ms: AtomicU64,
    /// Answers for the next token requests, before issuing normally.
    pub token_replies: Mutex<VecDeque<Value>>,
    /// An answer for every token request (after the scripted ones).
    pub token_error: Mutex<Option<Value>>,
    issued: AtomicUsize,
    revoked: Mutex<HashSet<String>>,
    /// Every token is rejected with 40001.
    pub reject_all: AtomicBool,
    hits: Mutex<HashMap<String, usize>>,
    replies: Mutex<HashMap<String, VecDeque<Reply>>>,
}

impl Mock {
    pub fn new() -> Arc<Mock> {
        Arc::new(Mock {
            stable_hits: AtomicUsize::new(0),
            classic_hits: AtomicUsize::new(0),
            force_refreshes: AtomicUsize::new(0),
            expires_in: AtomicI64::new(7200),
            token_delay_ms: AtomicU64::new(0),
            token_replies: Mutex::new(VecDeque::new()),
            token_error: Mutex::new(None),
            issued: AtomicUsize::new(0),
            revoked: Mutex::new(HashSet::new()),
            reject_all: AtomicBool::new(false),
            hits: Mutex::new(HashMap::new()),
            replies: Mutex::new(HashMap::new()),
        })
    }

    /// Token requests of both kinds.
    pub fn token_hits(&self) -> usize {
        self.stable_hits.load(Ordering::SeqCst) + self.classic_hits.load(Ordering::SeqCst)
    }

    /// Requests that reached the business endpoint `name`.
    pub fn hits(&self, name: &str) -> usize {
        self.hits.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    /// Requests that reached any business endpoint.
    pub fn business_hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }

    /// Every request of any kind.
    pub fn all_hits(&self) -> usize {
        self.token_hits() + self.business_hits()
    }

    /// Queues answers for the endpoint `name`; after them it answers normally.
    pub fn script(&self, name: &str, replies: impl IntoIterator<Item = Reply>) {
        self.replies
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Makes the token of the `n`th fetch invalid (40001).
    pub fn revoke(&self, n: usize) {
        self.revoke_raw(&token(n));
    }

    /// Makes this token invalid (40001).
    pub fn revoke_raw(&self, token: &str) {
        self.revoked.lock().unwrap().insert(token.to_owned());
    }

    /// Counts a business request and decides its answer: a token error, a scripted
    /// reply, or `None` for the endpoint's normal answer.
    pub fn enter(&self, name: &str, query: &HashMap<String, String>) -> Option<Reply> {
        *self
            .hits
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default() += 1;
        match query.get("access_token") {
            None => {
                return Some(Reply::Json(
                    json!({"errcode": 41001, "errmsg": "access_token missing rid: 0001-miss"}),
                ));
            }
            Some(token)
                if self.reject_all.load(Ordering::SeqCst)
                    || self.revoked.lock().unwrap().contains(token)
                    || !token.starts_with(TOKEN_PREFIX) =>
            {
                return Some(Reply::Json(json!({
                    "errcode": 40001,
                    "errmsg": "invalid credential, access_token is invalid or not latest rid: 6561a4b1-1c2b6e1f-0d5c8a3e"
                })));
            }
            Some(_) => {}
        }
        self.replies
            .lock()
            .unwrap()
            .get_mut(name)
            .and_then(VecDeque::pop_front)
    }

    fn issue(&self) -> Value {
        if let Some(reply) = self.token_replies.lock().unwrap().pop_front() {
            return reply;
        }
        if let Some(error) = self.token_error.lock().unwrap().clone() {
            return error;
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        json!({"access_token": token(n), "expires_in": self.expires_in.load(Ordering::SeqCst)})
    }

    async fn token_delay(&self) {
        let ms = self.token_delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

/// Renders a reply (`None`: the endpoint's normal answer `{"value": name}`).
pub async fn render(reply: Option<Reply>, name: &str, uri: &Uri) -> Response {
    match reply {
        None => axum::Json(json!({"errcode": 0, "errmsg": "ok", "value": name})).into_response(),
        Some(Reply::Json(value)) => axum::Json(value).into_response(),
        Some(Reply::Raw(status, body)) => {
            (StatusCode::from_u16(status).unwrap(), body).into_response()
        }
        Some(Reply::EchoUri(status)) => (
            StatusCode::from_u16(status).unwrap(),
            format!("<html>bad gateway for {uri}</html>"),
        )
            .into_response(),
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            axum::Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
        }
    }
}

async fn stable_token(State(mock): State<Arc<Mock>>, body: Bytes) -> Response {
    mock.stable_hits.fetch_add(1, Ordering::SeqCst);
    mock.token_delay().await;
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(json!({"errcode": 47001, "errmsg": "data format error"}))
            .into_response();
    };
    if body["grant_type"] != "client_credential"
        || body["appid"] != APPID
        || body["secret"] != SECRET
    {
        return axum::Json(json!({"errcode": 40125, "errmsg": "invalid appsecret rid: 0002-bad"}))
            .into_response();
    }
    if body["force_refresh"] == true {
        mock.force_refreshes.fetch_add(1, Ordering::SeqCst);
    }
    axum::Json(mock.issue()).into_response()
}

async fn classic_token(
    State(mock): State<Arc<Mock>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    mock.classic_hits.fetch_add(1, Ordering::SeqCst);
    mock.token_delay().await;
    let arg = |name: &str| query.get(name).map(String::as_str);
    if arg("grant_type") != Some("client_credential")
        || arg("appid") != Some(APPID)
        || arg("secret") != Some(SECRET)
    {
        return axum::Json(json!({"errcode": 40125, "errmsg": "invalid appsecret rid: 0002-bad"}))
            .into_response();
    }
    axum::Json(mock.issue()).into_response()
}

async fn business(
    State(mock): State<Arc<Mock>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    let reply = mock.enter(&name, &query);
    render(reply, &name, &uri).await
}

/// The token calls and `/test/{name}` for any name, plus `extra` routes.
pub fn router(mock: &Arc<Mock>) -> Router {
    Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/token", get(classic_token))
        .route("/test/{name}", any(business))
        .with_state(mock.clone())
}

/// Serves `router` on 127.0.0.1 and returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A server with the standard routes.
pub async fn start() -> (Arc<Mock>, String) {
    let mock = Mock::new();
    let base = serve(router(&mock)).await;
    (mock, base)
}

/// A base URL where nothing listens (connections are refused).
pub fn dead_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A fast retry policy for tests: 3 attempts, millisecond backoff.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::new()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

/// A client of `base` with the test credentials and fast retries.
pub fn builder(base: &str) -> ClientBuilder {
    init_tracing();
    Client::builder()
        .app_id(APPID)
        .app_secret(SECRET)
        .base_url(base)
        .retry_policy(fast_retries())
}

macro_rules! meta {
    ($name:literal, $method:ident, $path:literal, $idempotent:literal) => {
        &EndpointMeta::new($name, Method::$method, $path)
            .group("test")
            .idempotent($idempotent)
    };
}
pub(crate) use meta;

/// The normal answer of a test endpoint.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Echo {
    pub value: String,
}

/// An idempotent read: `GET /test/read`.
pub struct Read;

impl Endpoint for Read {
    const META: &'static EndpointMeta = meta!("test_read", Get, "/test/read", true);
    type Response = Echo;
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        RequestParts {
            query: vec![("openid", "OPENID".to_owned())],
            body: Body::Empty,
        }
    }
}

/// A non-idempotent send: `POST /test/send` with `{"text": …}` (1 to 10 characters).
pub struct Send {
    pub text: String,
}

impl Send {
    pub fn new(text: &str) -> Send {
        Send {
            text: text.to_owned(),
        }
    }
}

impl Endpoint for Send {
    const META: &'static EndpointMeta = meta!("test_send", Post, "/test/send", false);
    type Response = Ack;
    fn validate(&self) -> Result<(), Invalid> {
        wx_kefu_runtime::validate::chars("text", &self.text, Some(1), Some(10))
    }
    fn parts(&self) -> RequestParts {
        RequestParts {
            query: Vec::new(),
            body: json_body(&json!({"text": self.text})),
        }
    }
}

// --- log capture and leak checks ---

/// Fails if `text` holds the secret or a token.
pub fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} leaks the secret: {text}");
    assert!(!text.contains(TOKEN_PREFIX), "{what} leaks a token: {text}");
}

/// Renders an error (Display, Debug and its source chain) and fails if anything leaks;
/// returns the error for further checks.
pub fn checked(error: Error) -> Error {
    let mut rendered = format!("{error}\n{error:?}\n{error:#?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        rendered.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    assert_clean("an error", &rendered);
    error
}

/// Unwraps the error of a result, checking it for leaks.
pub fn err<T: std::fmt::Debug>(result: Result<T, Error>) -> Error {
    checked(result.expect_err("the call should fail"))
}

/// Fails if the captured logs leak anything.
pub fn assert_logs_clean() {
    assert_clean("the logs", &logs());
}
