//! The raw call: an endpoint the spec does not have yet, through the same machinery as
//! every typed call — the access token (replaced and the call replayed once when WeChat
//! rejects it), host fail-over, retries, redaction and typed errors.
//!
//! WeChat adds endpoints and fields faster than any spec follows. The spec is their home
//! (`api-spec/`: the typed call, its checks, its CLI command and the emulator's checks
//! follow from one entry); until an endpoint is there, [`Client::raw`] calls it:
//!
//! ```no_run
//! # async fn demo(client: wx_kefu_runtime::Client) -> wx_kefu_runtime::Result<()> {
//! use wx_kefu_runtime::raw::RawRequest;
//!
//! // 获取微信服务器IP地址: not in the spec (yet).
//! let answer = client.raw(RawRequest::get("/cgi-bin/get_api_domain_ip").idempotent(true)).await?;
//! let ips = &answer["ip_list"];
//! # Ok(()) }
//! ```
//!
//! A raw call is not retried once its request may have reached WeChat unless it is
//! declared [`idempotent`](RawRequest::idempotent) (a read); it moves to another host
//! under the same rule. Nothing is checked before sending: the spec's rules are the typed
//! calls'. The answer is WeChat's JSON: HTTP 2xx, one JSON object, and an `errcode` of 0
//! when it has one (any other is [`Error::Api`], with its `rid`).

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::client::{Answered, Callable, Client, checked, file_answer};
use crate::decode::{decode, decode_untyped};
use crate::endpoint::{Body, FileKind, FileLimits, MultipartFile};
use crate::error::{Error, Result};
use crate::upload::Upload;

/// The name raw calls carry in errors and spans (their path is in the span).
pub const RAW: &str = "raw";

/// A call the spec does not have: method, path, query, and a JSON or multipart body.
#[derive(Clone)]
pub struct RawRequest {
    method: reqwest::Method,
    path: String,
    query: Vec<(String, String)>,
    body: RawBody,
    idempotent: bool,
    auth: bool,
}

#[derive(Clone)]
enum RawBody {
    Empty,
    Json(Bytes),
    Multipart {
        field: &'static str,
        file: Upload,
        text: Vec<(&'static str, String)>,
    },
}

/// Never the query's values or the body (they may hold anything).
impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("idempotent", &self.idempotent)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl RawRequest {
    /// A request with `method` to `path` (`/cgi-bin/…`, joined to the client's host).
    pub fn new(method: reqwest::Method, path: impl Into<String>) -> Self {
        RawRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            body: RawBody::Empty,
            idempotent: false,
            auth: true,
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        RawRequest::new(reqwest::Method::GET, path)
    }

    /// A `POST` to `path`.
    pub fn post(path: impl Into<String>) -> Self {
        RawRequest::new(reqwest::Method::POST, path)
    }

    /// Adds a query pair (the client adds `access_token` itself).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The body: `value` as JSON.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = RawBody::Json(Bytes::from(value.to_string()));
        self
    }

    /// The body: a `multipart/form-data` upload of `file` as the form field `field`
    /// (WeChat's uploads use `media`).
    pub fn multipart(mut self, field: &'static str, file: Upload) -> Self {
        self.body = RawBody::Multipart {
            field,
            file,
            text: Vec::new(),
        };
        self
    }

    /// A text field beside the multipart upload (a video's `description`, say).
    pub fn form_text(mut self, name: &'static str, value: impl Into<String>) -> Self {
        if let RawBody::Multipart { text, .. } = &mut self.body {
            text.push((name, value.into()));
        }
        self
    }

    /// Whether repeating the call is harmless (default `false`): a read may be retried and
    /// moved to another host after it may have arrived; anything else only when its
    /// request provably never left.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Sends no access token (default: the client's token is added).
    pub fn without_token(mut self) -> Self {
        self.auth = false;
        self
    }
}

/// A raw call whose answer is decoded as `T`, or as untyped JSON.
struct Raw<'a, T> {
    request: &'a RawRequest,
    decode: fn(u16, &[u8], &[&str], bool) -> Result<T>,
}

impl<T> Callable for Raw<'_, T> {
    type Answer = T;
    type Key = String;

    fn name(&self) -> &'static str {
        RAW
    }

    fn method(&self) -> reqwest::Method {
        self.request.method.clone()
    }

    fn path(&self) -> &str {
        &self.request.path
    }

    fn static_path(&self) -> Option<&'static str> {
        None
    }

    fn idempotent(&self) -> bool {
        self.request.idempotent
    }

    fn auth(&self) -> bool {
        self.request.auth
    }

    fn downloads(&self) -> bool {
        false
    }

    fn parts(&self) -> (Vec<(String, String)>, Body) {
        let body = match &self.request.body {
            RawBody::Empty => Body::Empty,
            RawBody::Json(json) => Body::Json(json.clone()),
            RawBody::Multipart { field, file, text } => Body::Multipart(MultipartFile {
                field,
                file: file.clone(),
                // Nothing is known of the file: WeChat decides.
                limits: FileLimits::new(u64::MAX, &[FileKind::Any], "any"),
                text: text.clone(),
            }),
        };
        (self.request.query.clone(), body)
    }

    fn sensitive(&self) -> Vec<&str> {
        Vec::new()
    }

    fn decode(&self, status: u16, body: &[u8], redact: &[&str], quote: bool) -> Result<T> {
        (self.decode)(status, body, redact, quote)
    }
}

impl Client {
    /// Calls an endpoint the spec does not have (yet), answering its JSON: see
    /// [`raw`](crate::raw) for what it goes through.
    pub async fn raw(&self, request: RawRequest) -> Result<serde_json::Value> {
        let call = Raw {
            request: &request,
            decode: |status, body, redact, quote| decode_untyped(RAW, status, body, redact, quote),
        };
        self.raw_call(call, &request).await
    }

    /// As [`raw`](Client::raw), the answer decoded as `T` (a type of the caller's): a type
    /// that requires no field of its own succeeds only with `errcode` 0, as for the
    /// typed calls.
    pub async fn raw_as<T: DeserializeOwned + 'static>(&self, request: RawRequest) -> Result<T> {
        let call = Raw {
            request: &request,
            decode: |status, body, redact, quote| decode(RAW, status, body, redact, quote, None),
        };
        self.raw_call(call, &request).await
    }

    async fn raw_call<T>(&self, call: Raw<'_, T>, request: &RawRequest) -> Result<T> {
        if !request.path.starts_with('/') {
            return Err(Error::config(format!(
                "{RAW}: the path `{}` must start with `/`",
                request.path
            )));
        }
        match self.run_in_span(&call).await? {
            Answered::Json(answer) => Ok(answer),
            Answered::File(_) => Err(Error::config(format!(
                "{RAW}: the answer is a file; raw calls answer JSON"
            ))),
        }
    }
}

/// A typed call's answer with the whole body, for fields the spec does not have yet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WithBody<R> {
    /// The typed answer.
    pub answer: R,
    /// The whole answer as WeChat sent it, every field included.
    pub body: serde_json::Value,
}

/// An endpoint's request whose answer is kept whole besides its typed decoding.
struct Whole<'a, E>(&'a E);

impl<E: crate::endpoint::Endpoint + Sync> Callable for Whole<'_, E> {
    type Answer = WithBody<E::Response>;
    type Key = &'static str;

    fn name(&self) -> &'static str {
        Callable::name(self.0)
    }

    fn method(&self) -> reqwest::Method {
        Callable::method(self.0)
    }

    fn path(&self) -> &str {
        Callable::path(self.0)
    }

    fn static_path(&self) -> Option<&'static str> {
        Callable::static_path(self.0)
    }

    fn idempotent(&self) -> bool {
        Callable::idempotent(self.0)
    }

    fn auth(&self) -> bool {
        Callable::auth(self.0)
    }

    fn downloads(&self) -> bool {
        false
    }

    fn parts(&self) -> (Vec<(&'static str, String)>, Body) {
        Callable::parts(self.0)
    }

    fn sensitive(&self) -> Vec<&str> {
        Callable::sensitive(self.0)
    }

    fn decode(
        &self,
        status: u16,
        body: &[u8],
        redact: &[&str],
        quote: bool,
    ) -> Result<WithBody<E::Response>> {
        let answer = Callable::decode(self.0, status, body, redact, quote)?;
        let body = decode_untyped(Callable::name(self.0), status, body, redact, quote)?;
        Ok(WithBody { answer, body })
    }
}

impl Client {
    /// As [`call`](Client::call), keeping the whole answer beside the typed one: the
    /// fields WeChat sends that the spec does not have yet are in [`WithBody::body`].
    pub async fn call_with_body<E: crate::endpoint::Endpoint + Send + Sync>(
        &self,
        request: E,
    ) -> Result<WithBody<E::Response>> {
        let name = E::META.name;
        if E::META.downloads {
            return Err(file_answer(name));
        }
        checked(&request)?;
        match self.run_in_span(&Whole(&request)).await? {
            Answered::Json(answer) => Ok(answer),
            Answered::File(_) => Err(file_answer(name)),
        }
    }
}
