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

mod fallback;
pub mod platform;
#[rustfmt::skip]
mod generated;

use futures_util::Stream;

pub use fallback::{Delivered, Fallback};
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
pub use wx_kefu_runtime::{
    Authorization, AuthorizationStore, Credential, MemoryAuthorizations, MemoryPlatformTokens,
    PlatformTokenCache, Ticket,
};
#[cfg(feature = "redis")]
pub use wx_kefu_runtime::{
    RedisAuthorizations, RedisPlatformTokens, RedisTokenStore, RedisTokenStoreBuilder,
};
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

/// Sends the webhook's deferred replies ([`inbound::shared`]) with a [`Client`], as
/// customer-service messages (`message/custom/send`): a text, an image, a voice message, a
/// video (with its thumbnail), music or a news card, exactly as the passive reply would
/// have been. A hand-off and `success` are never sent this way. The send is never retried
/// once it may have reached WeChat (the client's rule), and a failure says whether it may
/// have.
///
/// ```no_run
/// # async fn demo(client: wx_kefu_api::Client) -> Result<(), wx_kefu_api::inbound::Error> {
/// use std::sync::Arc;
/// use wx_kefu_api::DeferredSender;
/// use wx_kefu_api::inbound::{Webhook, shared::MemoryOutbox};
///
/// let webhook = Webhook::builder()
///     .token("TOKEN")
///     .app_id("wx_APPID")
///     .encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?
///     .defer_replies(Arc::new(DeferredSender::new(client)), Arc::new(MemoryOutbox::new()))
///     .build()?;
/// # let _ = webhook; Ok(()) }
/// ```
#[cfg(feature = "inbound")]
#[derive(Debug, Clone)]
pub struct DeferredSender {
    client: Client,
}

#[cfg(feature = "inbound")]
impl DeferredSender {
    /// Sends with `client` (of the account the webhook serves).
    pub fn new(client: Client) -> DeferredSender {
        DeferredSender { client }
    }
}

#[cfg(feature = "inbound")]
impl inbound::shared::ReplySender for DeferredSender {
    fn send<'a>(
        &'a self,
        _app_id: &'a str,
        openid: &'a str,
        reply: &'a inbound::Reply,
    ) -> inbound::shared::BoxFuture<'a, std::result::Result<(), inbound::shared::SendFailure>> {
        use inbound::Reply as R;
        use inbound::shared::SendFailure;
        let message: Message = match reply {
            R::Text(text) => Text::new(text.as_str()).into(),
            R::Image { media_id } => Image::new(media_id.as_str()).into(),
            R::Voice { media_id } => Voice::new(media_id.as_str()).into(),
            R::Video {
                media_id,
                title,
                description,
                thumb_media_id: Some(thumb),
            } => {
                let mut video = Video::new(media_id.as_str(), thumb.as_str());
                video.title = title.clone();
                video.description = description.clone();
                video.into()
            }
            R::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => {
                let mut music = Music::new(
                    music_url.as_str(),
                    hq_music_url.as_str(),
                    thumb_media_id.as_str(),
                );
                music.title = title.clone();
                music.description = description.clone();
                music.into()
            }
            R::News(article) => News::new(vec![
                Article::new()
                    .title(article.title.as_str())
                    .description(article.description.as_str())
                    .url(article.url.as_str())
                    .picurl(article.pic_url.as_str()),
            ])
            .into(),
            other => {
                let why = format!(
                    "a `{}` reply is not a customer-service message",
                    other.msg_type()
                );
                return Box::pin(std::future::ready(Err(SendFailure::not_sent(why))));
            }
        };
        Box::pin(async move {
            self.client
                .send_custom_message(SendCustomMessage::new(openid, message))
                .await
                .map(drop)
                .map_err(|error| {
                    let reason = error.to_string();
                    if error.is_not_sent() || matches!(error, Error::Api { .. }) {
                        SendFailure::not_sent(reason)
                    } else {
                        SendFailure::maybe_sent(reason)
                    }
                })
        })
    }
}
