//! The client: one connection pool, the access token, and [`Client::call`], which turns any
//! [`Endpoint`] into HTTP attempts (validation, body, token, retries, decoding, tracing).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, TryFutureExt};
use reqwest::header::CONTENT_TYPE;
use reqwest::multipart::Form;
use tokio::time::Instant;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::decode::{decode, token_answer};
use crate::download::{self, Download, Fetched, MediaFile};
use crate::endpoint::{Body, Endpoint, FileAnswer, Method, RequestParts};
use crate::error::{DecodeReason, Error, Result};
use crate::generated::errcode::ErrCode;
use crate::guard::CallGuard;
use crate::hosts::{self, DEFAULT_HOST_COOLDOWN, DEFAULT_HOSTS, Hosts, shown_url};
use crate::retry::{self, RetryPolicy};
use crate::secret::{AccessToken, AppSecret};
use crate::token::{
    self, BoxFuture, CLASSIC_TOKEN_PATH, FetchedToken, MemoryTokenStore, STABLE_TOKEN_PATH, Store,
    TokenFetcher, TokenMode, TokenProvider, TokenStore,
};
use crate::upload::multipart;

/// WeChat's API host, the first of [`DEFAULT_HOSTS`].
pub const DEFAULT_BASE_URL: &str = crate::hosts::PRIMARY;

/// The default time allowed to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default time allowed for a whole request, answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest answer the client reads by default: 64 MiB, well above WeChat's largest
/// (a 10 MB video, a page of 10,000 chat records at a few MB). A larger body is
/// [`Error::TooLarge`]; `Content-Length` is only a hint, the bytes that came are counted.
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// How long a download may take in all by default, its body included: 5 minutes (each
/// wait for data is also bounded by the client's timeout).
pub const DEFAULT_DOWNLOAD_DEADLINE: Duration = Duration::from_secs(300);

/// A client of the WeChat API for one official account.
///
/// Cheap to clone: clones share the connection pool, the token store and the settings.
///
/// ```no_run
/// # async fn demo() -> wx_kefu_runtime::Result<()> {
/// let client = wx_kefu_runtime::Client::builder()
///     .app_id("wx0123456789abcdef")
///     .app_secret(std::env::var("WX_SECRET").unwrap_or_default())
///     .build()?;
/// let _token = client.access_token().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What clones of a [`Client`] share. The token fetch (`token.rs`) reads its settings.
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// The hosts, each parsed once (a call only sets the path of a copy), and the one in use.
    pub(crate) hosts: Hosts,
    pub(crate) timeout: Duration,
    /// The most bytes an answer may have.
    pub(crate) max_answer: u64,
    /// How long a download may take in all.
    download_deadline: Duration,
    pub(crate) appid: Option<String>,
    pub(crate) secret: Option<AppSecret>,
    pub(crate) mode: TokenMode,
    store: Store,
    retry: RetryPolicy,
    /// Asked before each endpoint's call.
    guard: Option<Box<dyn CallGuard>>,
    /// Finished URLs of the current token; holds the token, so it is never printed.
    urls: RwLock<UrlCache>,
}

/// The finished URL (base, path, `access_token`) of each path called with the current
/// token. A call without other query pairs clones one instead of building it: setting
/// the path and form-encoding the token were the largest part of the runtime's own cost
/// per call. Bounded by the number of distinct endpoint paths, and emptied when the
/// store hands out another token.
#[derive(Default)]
struct UrlCache {
    token: Option<AccessToken>,
    /// The host they are on.
    host: usize,
    urls: Vec<(&'static str, reqwest::Url)>,
}

/// The most URLs a [`UrlCache`] keeps (the kefu API has fewer than 20 paths).
const URL_CACHE_CAPACITY: usize = 64;

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Client")
            .field(
                "hosts",
                &inner
                    .hosts
                    .all()
                    .map(|host| host.shown.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("appid", &inner.appid)
            .field("secret", &inner.secret)
            .field("token_mode", &inner.mode)
            .field("timeout", &inner.timeout)
            .field("retry", &inner.retry)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Client`]; made by [`Client::builder`].
pub struct ClientBuilder {
    appid: Option<String>,
    secret: Option<AppSecret>,
    hosts: Vec<String>,
    host_cooldown: Duration,
    connect_timeout: Duration,
    timeout: Duration,
    max_answer: u64,
    download_deadline: Duration,
    http: Option<reqwest::Client>,
    retry: RetryPolicy,
    mode: TokenMode,
    store: Option<Store>,
    provider: Option<Box<dyn TokenProvider>>,
    guard: Option<Box<dyn CallGuard>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("appid", &self.appid)
            .field("secret", &self.secret)
            .field(
                "hosts",
                &self
                    .hosts
                    .iter()
                    .map(|url| shown_url(url))
                    .collect::<Vec<_>>(),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("token_mode", &self.mode)
            .field("custom_store", &self.store.is_some())
            .field("token_provider", &self.provider.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            appid: None,
            secret: None,
            hosts: DEFAULT_HOSTS
                .iter()
                .map(|host| (*host).to_owned())
                .collect(),
            host_cooldown: DEFAULT_HOST_COOLDOWN,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_answer: DEFAULT_MAX_ANSWER_BYTES,
            download_deadline: DEFAULT_DOWNLOAD_DEADLINE,
            http: None,
            retry: RetryPolicy::default(),
            mode: TokenMode::default(),
            store: None,
            provider: None,
            guard: None,
        }
    }
}

impl ClientBuilder {
    /// The official account's app id (`AppID`).
    pub fn app_id(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// The official account's app secret (`AppSecret`).
    pub fn app_secret(mut self, secret: impl Into<AppSecret>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// One base URL for every call, with no other host to move to: an emulator, a proxy,
    /// or one of WeChat's hosts. A path prefix is kept. (By default the client uses
    /// [`DEFAULT_HOSTS`]; see [`hosts`](Self::hosts).)
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.hosts = vec![base_url.into()];
        self
    }

    /// The hosts to use, in order of preference (default [`DEFAULT_HOSTS`]:
    /// `api.weixin.qq.com`, then the disaster-recovery `api2.weixin.qq.com`; the regional
    /// [`SHANGHAI`](crate::hosts::SHANGHAI), [`SHENZHEN`](crate::hosts::SHENZHEN) and
    /// [`HONG_KONG`](crate::hosts::HONG_KONG) are there to add).
    ///
    /// Calls use one host at a time and move to the next only when the request provably
    /// never left (DNS, connect or TLS failure) or, for a read, when the host timed out,
    /// broke the answer or answered HTTP 5xx: a send is never sent to two hosts. The host
    /// that worked stays in use; after [`host_cooldown`](Self::host_cooldown) the first is
    /// tried again. Each switch is logged with both hosts and the cause.
    pub fn hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// How long calls stay on a later host before the first is tried again (default
    /// [`DEFAULT_HOST_COOLDOWN`], 5 minutes).
    pub fn host_cooldown(mut self, cooldown: Duration) -> Self {
        self.host_cooldown = cooldown;
        self
    }

    /// The time allowed to connect (default 5 s); ignored with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The time allowed for a whole request, answer included (default 15 s).
    /// It applies to every request, also with a caller-supplied HTTP client.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most bytes an answer may have (default [`DEFAULT_MAX_ANSWER_BYTES`]): a larger
    /// one is [`Error::TooLarge`], counted as it arrives, whatever `Content-Length` says.
    /// It is also a download's byte limit unless [`MediaFile::max_bytes`](crate::MediaFile::max_bytes)
    /// sets another.
    pub fn max_answer_bytes(mut self, max: u64) -> Self {
        self.max_answer = max;
        self
    }

    /// How long a download may take in all, its body included (default
    /// [`DEFAULT_DOWNLOAD_DEADLINE`]); a slow trickle of bytes cannot hold it open past
    /// this. [`MediaFile::deadline`](crate::MediaFile::deadline) sets another per file.
    pub fn download_deadline(mut self, deadline: Duration) -> Self {
        self.download_deadline = deadline;
        self
    }

    /// Uses this HTTP client (its pool, proxy, TLS settings and default headers, such as a
    /// `User-Agent`) instead of building one. Turn its redirects off
    /// (`redirect::Policy::none()`): WeChat's API never redirects. Build it with the reqwest
    /// this crate re-exports (`wx_kefu_runtime::reqwest`, also `wx_kefu_api::reqwest`).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How failed calls are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Which WeChat call supplies tokens (default [`TokenMode::Stable`]).
    pub fn token_mode(mut self, mode: TokenMode) -> Self {
        self.mode = mode;
        self
    }

    /// Where tokens are kept (default a [`MemoryTokenStore`]).
    pub fn token_store(mut self, store: impl TokenStore + 'static) -> Self {
        self.store = Some(Store::new(store));
        self
    }

    /// Takes tokens from an external provider; the client then never fetches one, and
    /// needs no app id or secret.
    pub fn token_provider(mut self, provider: impl TokenProvider + 'static) -> Self {
        self.provider = Some(Box::new(provider));
        self
    }

    /// Asks `guard` before each call of an endpoint, after its rules and before anything
    /// is sent (see [`CallGuard`]); none by default.
    pub fn call_guard(mut self, guard: impl CallGuard + 'static) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// Builds the client.
    ///
    /// Fails with [`Error::Config`] when the app id or secret is missing (and no token
    /// provider is set), when both a store and a provider are set, or when the base URL
    /// is not an `http(s)` URL.
    pub fn build(self) -> Result<Client> {
        let hosts = Hosts::new(self.hosts, self.host_cooldown).map_err(|_| {
            Error::config("the base URL (each host) must be an http(s) URL without query")
        })?;
        let store = match (self.store, self.provider) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "set a token store or a token provider, not both",
                ));
            }
            (None, Some(provider)) => Store::Other(Box::new(token::External(provider))),
            (store, None) => {
                if self.appid.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::config("the app id is missing"));
                }
                if self.secret.as_ref().is_none_or(|s| s.expose().is_empty()) {
                    return Err(Error::config("the app secret is missing"));
                }
                store.unwrap_or_else(|| Store::Memory(MemoryTokenStore::new()))
            }
        };
        let http = match self.http {
            Some(http) => http,
            // No total timeout here: `exchange` times every request, this client's and a
            // caller-supplied one's alike, without reqwest's per-request timer and body
            // wrapper. No User-Agent: WeChat needs none, and one costs about 800 instructions
            // a call (one more header, copied in each of the three header-map clones reqwest
            // makes per request), which put a send at 1.103–1.105 of the floor at 64 tasks,
            // over the 1.10 goal (BENCHMARKS.md, issue 22). A caller who wants one passes
            // its own client (`http_client`).
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::config(format!("could not build the HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                hosts,
                timeout: self.timeout,
                max_answer: self.max_answer,
                download_deadline: self.download_deadline,
                appid: self.appid,
                secret: self.secret,
                mode: self.mode,
                store,
                retry: self.retry,
                guard: self.guard,
                urls: RwLock::new(UrlCache::default()),
            }),
        })
    }
}

/// A failed attempt, with what the retry loop needs to know about it.
struct Failure {
    error: Error,
    /// Whether the business request left the process (false for failures while
    /// preparing the body or fetching the token).
    sent: bool,
    /// The token the request carried.
    token: Option<AccessToken>,
    /// The host the request went to (`None` when it was not sent).
    host: Option<usize>,
}

impl Failure {
    fn unsent(error: Error) -> Failure {
        Failure {
            error,
            sent: false,
            token: None,
            host: None,
        }
    }
}

/// What the call loop needs of a request: an endpoint of the spec (each `Endpoint` is
/// one), or a raw call ([`RawRequest`](crate::raw::RawRequest)). For an endpoint every
/// answer is a constant of its type, so its calls cost what they did before.
pub(crate) trait Callable: Sync {
    /// What a successful answer decodes to.
    type Answer;
    /// A query parameter's name.
    type Key: AsRef<str> + Send;
    /// The name errors and spans carry.
    fn name(&self) -> &'static str;
    fn method(&self) -> reqwest::Method;
    fn path(&self) -> &str;
    /// The path when it is fixed for the program's life: its finished URL is cached.
    fn static_path(&self) -> Option<&'static str>;
    /// Whether repeating it after it may have arrived is safe.
    fn idempotent(&self) -> bool;
    /// Whether it carries the access token.
    fn auth(&self) -> bool;
    /// Whether its answer may be a file.
    fn downloads(&self) -> bool;
    /// The query pairs and the body of one attempt.
    fn parts(&self) -> (Vec<(Self::Key, String)>, Body);
    /// The request's own secrets, redacted from errors.
    fn sensitive(&self) -> Vec<&str>;
    /// The answer, or the error it means.
    fn decode(
        &self,
        status: u16,
        body: &[u8],
        redact: &[&str],
        quote: bool,
    ) -> Result<Self::Answer>;
}

impl<E: Endpoint + Sync> Callable for E {
    type Answer = E::Response;
    type Key = &'static str;

    fn name(&self) -> &'static str {
        E::META.name
    }

    fn method(&self) -> reqwest::Method {
        match E::META.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        }
    }

    fn path(&self) -> &str {
        E::META.path
    }

    fn static_path(&self) -> Option<&'static str> {
        Some(E::META.path)
    }

    fn idempotent(&self) -> bool {
        Endpoint::idempotent(self)
    }

    fn auth(&self) -> bool {
        E::META.auth
    }

    fn downloads(&self) -> bool {
        E::META.downloads
    }

    fn parts(&self) -> (Vec<(&'static str, String)>, Body) {
        let RequestParts { query, body } = Endpoint::parts(self);
        (query, body)
    }

    fn sensitive(&self) -> Vec<&str> {
        Endpoint::sensitive(self)
    }

    fn decode(
        &self,
        status: u16,
        body: &[u8],
        redact: &[&str],
        quote: bool,
    ) -> Result<E::Response> {
        decode(
            E::META.name,
            status,
            body,
            redact,
            quote,
            E::META.answer_needs_errcode,
        )
    }
}

/// The spec's rules on a request, before anything is sent.
pub(crate) fn checked<E: Endpoint>(request: &E) -> Result<()> {
    request.validate().map_err(|source| Error::Invalid {
        endpoint: E::META.name,
        source,
    })
}

/// The error of `call` on an endpoint whose answer is a file.
pub(crate) fn file_answer(endpoint: &'static str) -> Error {
    Error::config(format!(
        "{endpoint}: the answer is a file; call it with `Client::download`"
    ))
}

/// What a successful attempt received: the decoded JSON answer, or a file.
pub(crate) enum Answered<R> {
    Json(R),
    File(MediaFile),
}

/// A body ready for one attempt.
enum Prepared {
    Empty,
    Json(Bytes),
    Form(Form),
}

impl Client {
    /// Settings for a new client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL of the first host (the one calls prefer).
    pub fn base_url(&self) -> &str {
        &self.inner.hosts.get(0).url
    }

    /// The base URLs of the hosts, in order of preference.
    pub fn hosts(&self) -> Vec<&str> {
        self.inner
            .hosts
            .all()
            .map(|host| host.url.as_str())
            .collect()
    }

    /// The base URL of the host calls go to now.
    pub fn current_host(&self) -> &str {
        &self.inner.hosts.get(self.inner.hosts.current()).url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Makes one call: validates the request (an [`Error::Invalid`] before any I/O),
    /// then sends it with an access token, retrying under the [`RetryPolicy`] and
    /// replaying once with a fresh token if WeChat rejects the token.
    pub async fn call<E: Endpoint + Send + Sync>(&self, request: E) -> Result<E::Response> {
        let meta = E::META;
        if meta.downloads {
            return Err(file_answer(meta.name));
        }
        match self.send(request).await? {
            Answered::Json(response) => Ok(response),
            // `send` answers a file only for an endpoint that `downloads`.
            Answered::File(_) => Err(file_answer(meta.name)),
        }
    }

    /// Makes one download: as [`call`](Client::call), but the answer is a file, streamed
    /// as a [`MediaFile`], or the JSON answer WeChat gives instead of a file (a video's
    /// address). An error answer is still an [`Error::Api`], the token is still replayed
    /// once after WeChat rejects it, and a read is retried until the file's headers
    /// arrive; the body itself is not retried.
    pub async fn download<E: FileAnswer + Send + Sync>(
        &self,
        request: E,
    ) -> Result<Download<E::Response>> {
        Ok(match self.send(request).await? {
            Answered::Json(json) => Download::Json(json),
            Answered::File(file) => Download::File(file),
        })
    }

    async fn send<E: Endpoint + Send + Sync>(&self, request: E) -> Result<Answered<E::Response>> {
        checked(&request)?;
        if let Some(guard) = &self.inner.guard {
            guard.check(E::META).await?;
        }
        self.run_in_span(&request).await
    }

    /// [`run`](Client::run) in the call's `wx_kefu.call` span.
    pub(crate) async fn run_in_span<C: Callable>(
        &self,
        request: &C,
    ) -> Result<Answered<C::Answer>> {
        let method = request.method();
        let span = tracing::info_span!(
            "wx_kefu.call",
            endpoint = request.name(),
            method = method.as_str(),
            path = request.path(),
            attempt = Empty,
            errcode = Empty,
            rid = Empty,
            latency_ms = Empty,
        );
        self.run(request).instrument(span).await
    }

    /// A valid access token, from the store (fetched if needed).
    pub async fn access_token(&self) -> Result<AccessToken> {
        // The memory store's fresh token costs no boxed future.
        if let Some(token) = self.inner.store.at_hand() {
            return Ok(token);
        }
        let fetcher = HttpFetcher(&self.inner);
        self.inner.store.as_dyn().get(&fetcher).await
    }

    /// Fetches a new token now, retiring the current one (the stable token call with
    /// `force_refresh: true`; WeChat allows that 20 times a day, 30 s apart).
    /// Calls never do this by themselves.
    pub async fn refresh_token(&self) -> Result<()> {
        let fetcher = HttpFetcher(&self.inner);
        self.inner.store.as_dyn().refresh(&fetcher).await.map(drop)
    }

    /// serde's message about `error`, with this client's secret and current token redacted
    /// (the memory store's, or else the last one this client put in a URL).
    pub(crate) fn decode_reason(&self, error: &serde_json::Error) -> DecodeReason {
        let token = self.inner.store.at_hand().or_else(|| {
            let urls = self
                .inner
                .urls
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            urls.token.clone()
        });
        let secret = self.inner.secret.as_ref().map_or("", AppSecret::expose);
        let token = token.as_ref().map_or("", AccessToken::expose);
        DecodeReason::new(error, &[secret, token])
    }

    /// The call loop: attempts, the token's replay, moves between hosts, retries.
    pub(crate) async fn run<C: Callable>(&self, request: &C) -> Result<Answered<C::Answer>> {
        let span = Span::current();
        let started = Instant::now();
        let mut attempt = 0_u32;
        let mut retries = 0_u32;
        let mut replayed = false;
        let error = loop {
            attempt += 1;
            span.record("attempt", attempt);
            let Failure {
                error,
                sent,
                token,
                host,
            } = match self.attempt(request).await {
                Ok(response) => {
                    // No clock read for a span nobody collects.
                    if !span.is_disabled() {
                        span.record("latency_ms", elapsed_ms(started));
                    }
                    tracing::debug!("call succeeded");
                    return Ok(response);
                }
                Err(failure) => failure,
            };
            let (errcode, rid) = (error.code().map(ErrCode::code), error.rid());
            if let (Error::Api { code, .. }, Some(token)) = (&error, &token)
                && code.is_token_invalid()
                && !replayed
            {
                replayed = true;
                tracing::info!(
                    errcode,
                    rid,
                    "access token rejected; replaying once with a fresh one"
                );
                self.inner.store.as_dyn().invalidate(token).await;
                continue;
            }
            // Another host where the rules allow it (the request never left, or a read's
            // host failed): a retry like any other, without the wait. A send that may have
            // arrived stays where it was.
            let moved = host.is_some_and(|host| {
                hosts::moves(&error, request.idempotent())
                    && self.inner.hosts.failed(host, &error).is_some()
            });
            if moved || retry::may_retry(&error, request.idempotent() || !sent) {
                retries += 1;
                if let Some(wait) = self.inner.retry.backoff(retries, started.elapsed()) {
                    if moved {
                        tracing::info!(errcode, rid, error = %error, "attempt failed; trying the next host");
                    } else {
                        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                        tracing::info!(errcode, rid, wait_ms, error = %error, "attempt failed; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    continue;
                }
            }
            break error;
        };
        // The span's errcode and rid are the outcome's, not those of earlier attempts.
        if let Some(code) = error.code() {
            span.record("errcode", code.code());
        }
        if let Some(rid) = error.rid() {
            span.record("rid", rid);
        }
        span.record("latency_ms", elapsed_ms(started));
        tracing::warn!(error = %error, "call failed");
        Err(error)
    }

    async fn attempt<C: Callable>(&self, request: &C) -> Result<Answered<C::Answer>, Failure> {
        let name = request.name();
        let inner = &self.inner;
        let (query, body) = request.parts();
        // An upload's size and kind are checked before anything is sent.
        let body = match body {
            Body::Empty => Prepared::Empty,
            Body::Json(json) => Prepared::Json(json),
            // Boxed: a call that uploads nothing carries none of this in its future.
            Body::Multipart(file) => Prepared::Form(
                Box::pin(multipart(name, file))
                    .await
                    .map_err(Failure::unsent)?,
            ),
        };
        let token = match request.auth() {
            true => Some(self.access_token().await.map_err(Failure::unsent)?),
            false => None,
        };
        let host = inner.hosts.current();
        let url = match (&token, query.is_empty(), request.static_path()) {
            (Some(token), true, Some(path)) => inner.token_url(host, name, path, token),
            _ => inner.query_url(host, name, request.path(), &query, token.as_ref()),
        }
        .map_err(Failure::unsent)?;
        let builder = inner.http.request(request.method(), url);
        let builder = match body {
            Prepared::Empty => builder,
            Prepared::Json(json) => builder.header(CONTENT_TYPE, "application/json").body(json),
            Prepared::Form(form) => builder.multipart(form),
        };
        let fail = |error| Failure {
            error,
            sent: true,
            token: token.clone(),
            host: Some(host),
        };
        let (status, answer) = if request.downloads() {
            // Boxed: a call that is not a download carries none of this in its future.
            let limits = download::Limits {
                idle: inner.timeout,
                total: inner.download_deadline,
                max_bytes: inner.max_answer,
            };
            match Box::pin(download::fetch(name, builder, limits))
                .await
                .map_err(fail)?
            {
                Fetched::File(file) => return Ok(Answered::File(file)),
                Fetched::Json(status, answer) => (status, answer),
            }
        } else {
            exchange(name, builder, inner.timeout, inner.max_answer)
                .await
                .map_err(fail)?
        };
        let token_text = token.as_ref().map_or("", AccessToken::expose);
        let secret = inner.secret.as_ref().map_or("", AppSecret::expose);
        // The token calls' own answers hold a token: never quote them.
        let quote = request.auth();
        // The request's own secrets (an app secret handed to a token call) are redacted too;
        // most requests hold none, and their call builds no list for it.
        let sensitive = request.sensitive();
        let decoded = if sensitive.is_empty() {
            request.decode(status, &answer, &[token_text, secret], quote)
        } else {
            let mut redact = sensitive;
            redact.extend([token_text, secret]);
            request.decode(status, &answer, &redact, quote)
        };
        decoded.map(Answered::Json).map_err(fail)
    }
}

/// Sends a request and reads its whole answer, within `limit` for both: the client's
/// one timeout. Running out of time is a [`TransportKind::Timeout`](crate::TransportKind),
/// as a timeout inside the HTTP client would be: the request may have arrived.
///
/// Not an `async fn`: `send` only prepares the request (it goes out when first polled),
/// and calling it here keeps the 272-byte request builder out of the future, which every
/// call carries.
pub(crate) fn exchange(
    endpoint: &'static str,
    request: reqwest::RequestBuilder,
    limit: Duration,
    max_bytes: u64,
) -> impl Future<Output = Result<(u16, Bytes)>> {
    // Combinators, not an async block: the response then lives in one place, not in a
    // local and again in the future that reads its body.
    let exchange = request
        .send()
        .map_err(move |e| Error::from_transport(endpoint, e))
        .and_then(move |response| read_answer(endpoint, response, max_bytes));
    tokio::time::timeout(limit, exchange)
        .map(move |outcome| outcome.unwrap_or_else(|_| Err(Error::timed_out(endpoint, limit))))
}

/// The whole answer, at most `max_bytes` of it ([`Error::TooLarge`] past that, however
/// long the body claims to be). An answer in one chunk, as WeChat's are, is handed on
/// without a copy.
async fn read_answer(
    endpoint: &'static str,
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<(u16, Bytes)> {
    let status = response.status().as_u16();
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(Error::too_large(endpoint, max_bytes));
    }
    async fn next(
        endpoint: &'static str,
        response: &mut reqwest::Response,
    ) -> Result<Option<Bytes>> {
        response
            .chunk()
            .await
            .map_err(|e| Error::from_body(endpoint, e))
    }
    let Some(first) = next(endpoint, &mut response).await? else {
        return Ok((status, Bytes::new()));
    };
    if first.len() as u64 > max_bytes {
        return Err(Error::too_large(endpoint, max_bytes));
    }
    let Some(second) = next(endpoint, &mut response).await? else {
        return Ok((status, first));
    };
    let mut body = Vec::with_capacity(first.len() + second.len());
    body.extend_from_slice(&first);
    let mut chunk = second;
    loop {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(Error::too_large(endpoint, max_bytes));
        }
        body.extend_from_slice(&chunk);
        match next(endpoint, &mut response).await? {
            Some(more) => chunk = more,
            None => return Ok((status, Bytes::from(body))),
        }
    }
}

pub(crate) fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    /// The base URL with `path` appended to its own path. Parsing only the path, not the
    /// whole URL, saves most of the cost of building a URL per call.
    pub(crate) fn url(
        &self,
        host: usize,
        endpoint: &'static str,
        path: &str,
    ) -> Result<reqwest::Url> {
        if !path.starts_with('/') {
            return Err(Error::config(format!(
                "{endpoint}: the path `{path}` does not form a URL with the base URL"
            )));
        }
        let base = &self.hosts.get(host).base;
        let mut url = base.clone();
        match base.path().trim_end_matches('/') {
            "" => url.set_path(path),
            prefix => url.set_path(&format!("{prefix}{path}")),
        }
        Ok(url)
    }

    /// The URL of `path` with `query` and then `access_token` (when given) appended.
    fn query_url<K: AsRef<str>>(
        &self,
        host: usize,
        endpoint: &'static str,
        path: &str,
        query: &[(K, String)],
        token: Option<&AccessToken>,
    ) -> Result<reqwest::Url> {
        let mut url = self.url(host, endpoint, path)?;
        if !query.is_empty() || token.is_some() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name.as_ref(), value);
            }
            if let Some(token) = token {
                pairs.append_pair("access_token", token.expose());
            }
        }
        Ok(url)
    }

    /// The URL of `path` with only `access_token`, from the [`UrlCache`] when it holds it.
    fn token_url(
        &self,
        host: usize,
        endpoint: &'static str,
        path: &'static str,
        token: &AccessToken,
    ) -> Result<reqwest::Url> {
        {
            let cache = self.urls.read().unwrap_or_else(PoisonError::into_inner);
            if cache.token.as_ref() == Some(token)
                && cache.host == host
                && let Some((_, url)) = cache.urls.iter().find(|(p, _)| *p == path)
            {
                return Ok(url.clone());
            }
        }
        let no_query: &[(&str, String)] = &[];
        let url = self.query_url(host, endpoint, path, no_query, Some(token))?;
        let mut cache = self.urls.write().unwrap_or_else(PoisonError::into_inner);
        if cache.token.as_ref() != Some(token) || cache.host != host {
            // Another token or host: the URLs of the previous one are of no more use.
            cache.token = Some(token.clone());
            cache.host = host;
            cache.urls.clear();
        }
        if cache.urls.len() < URL_CACHE_CAPACITY && cache.urls.iter().all(|(p, _)| *p != path) {
            cache.urls.push((path, url.clone()));
        }
        Ok(url)
    }
}

/// How a client fetches its tokens: the stable or the classic token call, over its own
/// HTTP client, within its timeout, in a `wx_kefu.token` span. The answer is read by
/// `decode::token_answer`, which never quotes it.
impl Inner {
    /// Fetches a token from WeChat (stable or classic call).
    async fn fetch_token(&self, force_refresh: bool) -> Result<FetchedToken> {
        let (endpoint, path) = match self.mode {
            TokenMode::Stable => ("stable_token", STABLE_TOKEN_PATH),
            TokenMode::Classic => ("token", CLASSIC_TOKEN_PATH),
        };
        let span = tracing::info_span!(
            "wx_kefu.token",
            endpoint,
            path,
            force_refresh,
            errcode = Empty,
            rid = Empty,
            latency_ms = Empty,
        );
        let started = Instant::now();
        // A token fetch is a read, and moves between hosts as one; a forced refresh, which
        // retires the current token, moves only when its request never left.
        let fetch = async {
            let mut host = self.hosts.current();
            let mut tried = 1;
            loop {
                match self
                    .fetch_token_on(host, endpoint, path, force_refresh)
                    .await
                {
                    Err(error)
                        if tried < self.hosts.len()
                            && crate::hosts::moves(&error, !force_refresh) =>
                    {
                        let Some(next) = self.hosts.failed(host, &error) else {
                            break Err(error);
                        };
                        host = next;
                        tried += 1;
                    }
                    result => break result,
                }
            }
        };
        let result = fetch.instrument(span.clone()).await;
        span.record("latency_ms", elapsed_ms(started));
        if let Err(error) = &result {
            if let Some(code) = error.code() {
                span.record("errcode", code.code());
            }
            if let Some(rid) = error.rid() {
                span.record("rid", rid);
            }
            span.in_scope(|| tracing::warn!(error = %error, "token fetch failed"));
        } else {
            span.in_scope(|| tracing::debug!("token fetched"));
        }
        result
    }

    /// One token request to `host`.
    async fn fetch_token_on(
        &self,
        host: usize,
        endpoint: &'static str,
        path: &'static str,
        force_refresh: bool,
    ) -> Result<FetchedToken> {
        let (Some(appid), Some(secret)) = (&self.appid, &self.secret) else {
            return Err(Error::config(format!(
                "{endpoint}: no app id and secret to fetch a token with"
            )));
        };
        {
            let mut url = self.url(host, endpoint, path)?;
            let request = match self.mode {
                TokenMode::Stable => {
                    let body = StableTokenRequest {
                        grant_type: "client_credential",
                        appid,
                        secret: secret.expose(),
                        force_refresh,
                    };
                    let body = serde_json::to_vec(&body)
                        .map_err(|e| Error::config(format!("{endpoint}: {e}")))?;
                    self.http
                        .post(url)
                        .header(CONTENT_TYPE, "application/json")
                        .body(body)
                }
                TokenMode::Classic => {
                    url.query_pairs_mut()
                        .append_pair("grant_type", "client_credential")
                        .append_pair("appid", appid)
                        .append_pair("secret", secret.expose());
                    self.http.get(url)
                }
            };
            let (status, answer) =
                exchange(endpoint, request, self.timeout, self.max_answer).await?;
            token_answer(endpoint, status, &answer, secret.expose())
        }
    }
}

#[derive(serde::Serialize)]
struct StableTokenRequest<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

/// The [`TokenFetcher`] a client hands its store.
pub(crate) struct HttpFetcher<'a>(pub(crate) &'a Inner);

impl TokenFetcher for HttpFetcher<'_> {
    fn fetch(&self, force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        Box::pin(self.0.fetch_token(force_refresh))
    }

    fn mode(&self) -> Option<TokenMode> {
        Some(self.0.mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_and_errors_travel_between_tasks() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Client>();
        shareable::<Error>();
        // That `call`'s future is Send for any endpoint is shown by `export`, whose stream is Send.
    }

    #[tokio::test]
    async fn a_calls_future_stays_small() {
        // Every call carries this future; 64 calls in flight are 64 of them. The request
        // builder and the response were once kept in it twice over (2.3 KB for a send).
        let client = Client::builder()
            .app_id("wx")
            .app_secret("s")
            .base_url("http://127.0.0.1:1")
            .build()
            .unwrap();
        let call = client.call(crate::endpoint::Numbered { number: 1 });
        let size = std::mem::size_of_val(&call);
        assert!(size <= 2048, "a call's future grew to {size} bytes");
    }

    #[test]
    fn debug_masks_the_credentials_of_a_proxy_url() {
        let builder = || {
            Client::builder()
                .app_id("wx")
                .app_secret("s")
                .base_url("http://proxyuser:pr0xy-pass@proxy.test:3128/wx")
        };
        let client = builder().build().unwrap();
        for shown in [format!("{client:?}"), format!("{:?}", builder())] {
            assert!(!shown.contains("pr0xy-pass"), "{shown}");
            assert!(!shown.contains("proxyuser"), "{shown}");
            assert!(
                shown.contains("http://***:***@proxy.test:3128/wx"),
                "{shown}"
            );
        }
        let plain = Client::builder()
            .app_id("wx")
            .app_secret("s")
            .base_url("http://127.0.0.1:8080")
            .build()
            .unwrap();
        assert!(format!("{plain:?}").contains("\"http://127.0.0.1:8080\""));
        assert_eq!(
            shown_url("http://tok3n@proxy.test/"),
            "http://***@proxy.test/"
        );
        assert_eq!(shown_url("not a url :pass@"), "(not a URL)");
    }

    #[test]
    fn urls_keep_the_base_path() {
        let url = |base: &str, path: &str| {
            let client = Client::builder()
                .app_id("wx")
                .app_secret("s")
                .base_url(base)
                .build()
                .unwrap();
            client.inner.url(0, "t", path).map(String::from)
        };
        let path = "/cgi-bin/customservice/getkflist";
        assert_eq!(
            url("https://api.weixin.qq.com", path).unwrap(),
            "https://api.weixin.qq.com/cgi-bin/customservice/getkflist"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/", path).unwrap(),
            "http://127.0.0.1:8080/cgi-bin/customservice/getkflist"
        );
        assert_eq!(
            url("http://proxy.test/wx/api//", path).unwrap(),
            "http://proxy.test/wx/api/cgi-bin/customservice/getkflist"
        );
        let relative = url("http://proxy.test", "cgi-bin").unwrap_err();
        assert!(matches!(relative, Error::Config { .. }), "{relative:?}");
    }
}
