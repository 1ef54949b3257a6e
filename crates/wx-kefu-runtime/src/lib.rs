//! The runtime of wx-kefu: the client the generated calls of `wx-kefu-api` run on.
//!
//! It knows no endpoint. Generated request types implement [`Endpoint`]; this crate turns
//! one into HTTP (access token, retries, errors, tracing) and decodes the answer.
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
pub mod dynamic;
pub mod endpoint;
pub mod error;
pub mod export;
pub mod meta;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod retry;
pub mod secret;
pub mod token;
pub mod upload;
pub mod validate;
pub mod wire;

#[rustfmt::skip]
mod generated;

pub use client::{Client, ClientBuilder};
pub use endpoint::{Ack, Body, Endpoint, FileKind, Method, MultipartFile, RequestParts};
pub use error::{Error, Result, StoreErrorKind, TransportKind};
pub use export::{MsgIdPage, export};
pub use generated::errcode::ErrCode;
#[cfg(feature = "redis")]
pub use redis_store::{RedisTokenStore, RedisTokenStoreBuilder};
pub use retry::RetryPolicy;
pub use secret::{AccessToken, AppSecret};
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
