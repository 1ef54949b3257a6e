//! wx-kefu: a typed Rust SDK for the WeChat Official Account customer-service API (客服接口).
//!
//! 微信公众号/服务号客服接口的 Rust SDK：客服账号、会话、聊天记录、客服消息与输入状态，
//! 每个接口都有类型、校验和官方文档链接。
//!
//! Every call of the API is a method of [`KefuApi`], implemented for [`Client`]; each
//! request is checked against the spec's rules before anything is sent, and the client
//! manages the access token, retries what is safe to retry, and never sends a message twice.
//!
//! ```
//! use wx_kefu_api::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The emulator stands in for WeChat; against the real API, leave out `base_url`.
//! let wechat = wx_kefu_mock::MockServer::start().await;
//! let client = Client::builder()
//!     .app_id(wechat.appid())
//!     .app_secret(wechat.secret())
//!     .base_url(wechat.base_url())
//!     .build()?;
//!
//! client.add_kf_account("alice@gh_demo", "Alice").await?;
//! wechat.user_message("OPENID", "你好"); // a user writes in: the reply window opens
//! let reply = SendCustomMessage::new("OPENID", Text::new("您好，有什么可以帮您？"))
//!     .customservice(CustomService::new("alice@gh_demo"));
//! client.send_custom_message(reply).await?;
//!
//! // Bad input never leaves the process.
//! let err = client.add_kf_account("not an account", "Bob").await.unwrap_err();
//! assert!(matches!(err, Error::Invalid { .. }));
//! # Ok(())
//! # }
//! ```
//!
//! The types and calls are generated from `api-spec/` (see the `generated` sources);
//! this file only re-exports what an application uses of the runtime and adds the record
//! export. The runtime's own modules stay reachable for tools (`wx_kefu_api::meta`, …) but
//! are left off this page.

#[rustfmt::skip]
mod generated;

use futures_util::Stream;

pub use generated::*;
#[cfg(feature = "inbound")]
pub use wx_kefu_inbound as inbound;
// What an application uses: the client, its settings, its errors, tokens and uploads.
pub use wx_kefu_runtime::error::DecodeReason;
pub use wx_kefu_runtime::hosts;
pub use wx_kefu_runtime::raw::{RawRequest, WithBody};
pub use wx_kefu_runtime::token::BoxFuture;
pub use wx_kefu_runtime::validate::Rule;
pub use wx_kefu_runtime::{
    AccessToken, Ack, AppSecret, Client, ClientBuilder, DEFAULT_DOWNLOAD_DEADLINE,
    DEFAULT_MAX_ANSWER_BYTES, Download, Endpoint, ErrCode, Error, FetchedToken, Invalid, MediaFile,
    MemoryTokenStore, MsgIdPage, Result, RetryPolicy, StoreErrorKind, TimedOut, TokenFetcher,
    TokenMode, TokenProvider, TokenStore, TransportKind, Upload,
};
#[cfg(feature = "redis")]
pub use wx_kefu_runtime::{RedisTokenStore, RedisTokenStoreBuilder};
// The runtime's modules and the pieces generated code and tools build on (the CLI, the
// emulator, a custom `Endpoint`): reachable, but not what a user of the calls needs to see.
// `reqwest` is the version `ClientBuilder::http_client` takes.
#[doc(hidden)]
pub use wx_kefu_runtime::{
    Body, FileAnswer, FileKind, FileLimits, Method, MultipartFile, RequestParts, client, download,
    dynamic, endpoint, error, export, meta, raw, reqwest, retry, secret, token, upload, validate,
    wire,
};
#[doc(hidden)]
#[cfg(feature = "redis")]
pub use wx_kefu_runtime::{redis, redis_store};

impl MsgIdPage for MsgList {
    type Item = Record;

    fn into_page(self) -> (Vec<Record>, i64) {
        (self.recordlist, self.msgid.unwrap_or(0))
    }
}

/// Records per page when exporting: the most WeChat allows.
pub const EXPORT_PAGE_SIZE: u32 = 10_000;

/// Every chat record between two instants (unix seconds, both inclusive), of any length.
///
/// The range is split into windows of at most 24 hours, each window is paged by the
/// returned `msgid` until an empty page, at most one page is held in memory, and a
/// `msgid` that stops advancing ends the stream with an error instead of looping.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use wx_kefu_api::*;
///
/// # async fn run(client: Client) -> Result<(), Error> {
/// let mut records = std::pin::pin!(export_records(&client, 1_700_000_000, 1_700_259_200));
/// while let Some(record) = records.next().await {
///     let record = record?;
///     println!("{} {:?} {:?}", record.time, record.worker, record.text);
/// }
/// # Ok(())
/// # }
/// ```
pub fn export_records(
    client: &Client,
    start: i64,
    end: i64,
) -> impl Stream<Item = Result<Record>> + Send + 'static {
    export(
        client,
        start..=end,
        EXPORT_PAGE_SIZE,
        |start, end, msgid, number| GetMsgList::new(start, end, msgid, i64::from(number)),
    )
}
