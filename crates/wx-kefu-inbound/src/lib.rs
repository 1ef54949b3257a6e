//! wx-kefu-inbound: the inbound side of the WeChat Official Account customer-service API
//! (客服消息的接收与转接) — what WeChat pushes to the account's server, and the passive
//! replies that hand users to the agents.
//!
//! - [`Webhook`] checks a push (size cap, replay window, `signature` or safe mode's
//!   `msg_signature` compared in constant time), opens safe mode's AES-256-CBC (current and
//!   previous EncodingAESKey, appid checked), decodes the XML without resolving any entity,
//!   answers WeChat's retries from a bounded dedup cache, and seals the reply.
//! - [`Push`] is the decoded push: a [`UserMessage`] (text, image, voice, video, location,
//!   link — a menu tap is a text with `bizmsgmenuid`) or an [`Event`] (`kf_create_session`,
//!   `kf_close_session`, `kf_switch_session`), unknown kinds kept rather than refused.
//! - [`Reply`] builds the answer: `transfer_customer_service` (optionally to one agent),
//!   a text, or `success`.
//! - With the `axum` feature, `axum::route` serves it all.
//!
//! ```
//! use wx_kefu_inbound::{Event, Push, Query, Reply, UserMessage, Webhook};
//!
//! # fn run(raw_query: &str, body: &[u8]) -> Result<(), wx_kefu_inbound::Error> {
//! let webhook = Webhook::builder().token("TOKEN").app_id("wx_APPID").plain_mode().build()?;
//! let answer = webhook.handle(&Query::parse(raw_query), body, |push: &Push| {
//!     match (push.message(), push.event()) {
//!         (Some(UserMessage::Text(text)), _) if text.content.contains("人工") => {
//!             Reply::transfer_customer_service()
//!         }
//!         (_, Some(Event::KfCreateSession(session))) => {
//!             println!("{} now serves {}", session.kf_account, push.openid());
//!             Reply::success()
//!         }
//!         _ => Reply::success(),
//!     }
//! })?;
//! # let _ = answer;
//! # Ok(())
//! # }
//! ```
//!
//! The kinds of pushes are generated from `api-spec/events.yaml`: a new event is YAML only.

#[cfg(feature = "axum")]
pub mod axum;
pub mod crypto;
pub mod dedup;
mod error;
#[rustfmt::skip]
mod generated;
pub mod platform;
mod push;
#[cfg(feature = "redis")]
pub mod redis;
mod reply;
#[cfg(feature = "shared")]
pub mod shared;
pub mod signature;
mod webhook;
pub mod window;
pub mod xml;

pub use dedup::{Dedup, Seen};
pub use error::{ECHO_CHARS, Error, Result};
pub use generated::*;
pub use push::{Content, DedupKey, Family, FromFields, Push};
pub use reply::{Answer, NewsArticle, Reply};
pub use webhook::{
    DEFAULT_DEDUP_CAPACITY, DEFAULT_MAX_BODY, DEFAULT_REPLAY_WINDOW, Delivery, Incoming, Pending,
    Query, Webhook, WebhookBuilder,
};
pub use window::{Action, Window, Windows};
pub use xml::Fields;
