//! Tests of the inbound side against vectors computed independently (Python's hashlib and
//! `cryptography` for the fixed ones, the sha1/aes/cbc crates directly in `common`), and
//! every way a push is refused.

mod attacks;
mod common;
#[cfg(feature = "shared")]
mod deferred;
mod rejections;
mod vectors;
mod webhook;
mod windows;

#[cfg(feature = "axum")]
mod axum_route;
#[cfg(feature = "redis")]
mod shared_redis;

use std::time::Duration;

use wx_kefu_inbound::Webhook;

/// The time the tests' webhooks see.
pub const NOW: i64 = 1_700_000_000;

/// A plain-mode webhook at [`NOW`].
pub fn plain_webhook() -> Webhook {
    Webhook::builder()
        .token(common::TOKEN)
        .plain_mode()
        .app_id(common::APPID)
        .clock(|| NOW)
        .build()
        .unwrap()
}

/// A safe-mode webhook at [`NOW`] with the current key.
pub fn safe_webhook() -> Webhook {
    Webhook::builder()
        .token(common::TOKEN)
        .app_id(common::APPID)
        .encoding_aes_key(common::EAK)
        .unwrap()
        .clock(|| NOW)
        .replay_window(Some(Duration::from_secs(300)))
        .build()
        .unwrap()
}
