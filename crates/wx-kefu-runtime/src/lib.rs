//! The runtime of wx-kefu: the client the generated calls of `wx-kefu-api` run on.
//!
//! It knows no endpoint. Generated request types implement [`Endpoint`]; this crate turns
//! one into HTTP (access token, retries, errors, tracing) and decodes the answer.
//! Applications use it through `wx-kefu-api`, which re-exports it with every call typed.
//!
//! ```
//! use wx_kefu_runtime::meta::EndpointMeta;
//! use wx_kefu_runtime::{Ack, Client, Endpoint, Error, Invalid, Method, RequestParts, validate};
//!
//! /// An endpoint as the generator writes one: static metadata, checks, and the parts to send.
//! struct Rename { nickname: String }
//!
//! impl Endpoint for Rename {
//!     const META: &'static EndpointMeta = &EndpointMeta::new("rename", Method::Post, "/demo/rename")
//!         .summary("改名", "Rename")
//!         .doc_url("https://developers.weixin.qq.com/doc/")
//!         .group("demo");
//!     type Response = Ack;
//!     fn validate(&self) -> Result<(), Invalid> {
//!         validate::chars("nickname", &self.nickname, Some(1), Some(16))
//!     }
//!     fn parts(&self) -> RequestParts {
//!         RequestParts { query: Vec::new(), body: wx_kefu_runtime::endpoint::json_body(&[&self.nickname]) }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let client = Client::builder().app_id("wxAPPID").app_secret("APPSECRET").build()?;
//! // A request that breaks a rule is refused before any I/O: no token fetch, no request.
//! let err = client.call(Rename { nickname: "a".repeat(17) }).await.unwrap_err();
//! assert!(matches!(err, Error::Invalid { .. }));
//! assert_eq!(err.to_string(), "rename: invalid request: `nickname` must have at most 16 characters, has 17");
//! # Ok(())
//! # }
//! ```
//!
//! - [`Client`] holds one connection pool and the account's token source; [`Client::call`]
//!   validates a request before any I/O, adds the access token, retries under a
//!   [`RetryPolicy`] that never sends a message twice, replays once after a rejected token,
//!   and decodes the answer or classifies the failure as an [`Error`].
//! - [`token`]: access tokens from the stable (default) or classic token call, cached in a
//!   [`TokenStore`] with a safety margin and fetched once for all concurrent callers;
//!   or supplied by an external [`TokenProvider`]. With the `redis` feature,
//!   `RedisTokenStore` shares one token among every instance of a service.
//! - [`export()`]: every chat record between two instants, in ≤ 24 h windows paged by `msgid`.
//! - Secrets ([`AppSecret`], [`AccessToken`]) print as `***` and never reach errors or logs.
//!
//! Each call runs in a `tracing` span `wx_kefu.call` with the fields `endpoint`, `method`,
//! `path` (never the URL, whose query holds the token), `attempt`, `errcode`, `rid` and
//! `latency_ms`; token fetches run in `wx_kefu.token`.

pub mod client;
mod decode;
pub mod download;
pub mod dynamic;
pub mod endpoint;
pub mod error;
pub mod export;
pub mod guard;
pub mod hosts;
pub mod meta;
pub mod platform;
#[cfg(feature = "redis")]
pub mod platform_redis;
pub mod raw;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod retry;
pub mod secret;
mod strict;
pub mod token;
pub mod upload;
pub mod validate;
pub mod wire;

#[rustfmt::skip]
mod generated;

/// What generated code calls, in one place: the checks of `validate()`, the body and wire
/// helpers, the dynamic calls. Not for applications, and free to change in any release:
/// the api crate pins this crate's exact version. (A hand-written [`Endpoint`] may use the
/// same functions from their modules, where they are documented.)
#[doc(hidden)]
pub mod support {
    pub use crate::dynamic::{call_value, check_value, decode_value, download_value};
    pub use crate::endpoint::{json_body, json_text};
    pub use crate::validate::{
        Validate, bytes, chars, items, key_kind, nested, pattern, present, range, span,
    };
    pub use crate::wire::{Tagged, serialize_tagged};
}

pub use client::{Client, ClientBuilder, DEFAULT_DOWNLOAD_DEADLINE, DEFAULT_MAX_ANSWER_BYTES};
pub use download::{Download, MediaFile};
pub use endpoint::{
    Ack, Body, Endpoint, FileAnswer, FileKind, FileLimits, Method, MultipartFile, RequestParts,
};
pub use error::{Error, Result, StoreErrorKind, TimedOut, TransportKind};
pub use export::{MsgIdPage, export};
pub use generated::errcode::ErrCode;
pub use guard::CallGuard;
pub use platform::{
    Authorization, AuthorizationStore, MemoryAuthorizations, MemoryPlatformTokens,
    PlatformTokenCache, Ticket,
};
#[cfg(feature = "redis")]
pub use platform_redis::{RedisAuthorizations, RedisPlatformTokens};
#[cfg(feature = "redis")]
pub use redis_store::{RedisTokenStore, RedisTokenStoreBuilder};
pub use retry::RetryPolicy;
pub use secret::{AccessToken, AppSecret, Credential};
pub use token::{
    FetchedToken, MemoryTokenStore, TokenFetcher, TokenMode, TokenProvider, TokenStore,
};
pub use upload::Upload;
pub use validate::Invalid;

/// The HTTP client this crate uses, for callers that supply their own [`reqwest::Client`].
pub use reqwest;

/// The Redis client [`RedisTokenStore`] uses, for callers that hand it their own
/// connection manager (feature `redis`).
#[cfg(feature = "redis")]
pub use redis;
