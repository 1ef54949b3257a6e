//! When the window has closed: one send that says what to do if the user can no longer be
//! reached by a customer-service message.
//!
//! A customer-service message reaches a user only inside the window the user opened (48 h
//! and 5 replies after a message; 1 minute and 3 after a menu click, follow or scan).
//! After it WeChat answers 45015, over the count 45047. [`Fallback`] then sends a template
//! message and, if WeChat refuses that, a subscribe notification, and says which channel
//! delivered ([`Delivered`]). Nothing falls back implicitly: only the two window errcodes
//! move to the template, only WeChat's refusal of the template (an errcode) moves to the
//! notification, and every other error is returned as it is.
//!
//! The template is sent with a `client_msg_id` (the caller's
//! [`idempotency_key`](Fallback::idempotency_key), or one made for this send), so WeChat
//! sends it at most once per user and id within 10 minutes and the client retries it like
//! a read: an answer lost on the way back never makes a second template.
//!
//! ```
//! use std::collections::BTreeMap;
//! use wx_kefu_api::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let wechat = wx_kefu_mock::MockServer::start().await;
//! # let client = Client::builder().app_id(wechat.appid()).app_secret(wechat.secret()).base_url(wechat.base_url()).build()?;
//! # wechat.user_message("OPENID", "在吗");
//! # wechat.add_template("TEMPLATE_ID", "回复提醒", "{{keyword1.DATA}}");
//! let answer = SendCustomMessage::new("OPENID", Text::new("您的订单已发货"));
//! let notice = SendTemplateMessage::new(
//!     "OPENID",
//!     "TEMPLATE_ID",
//!     BTreeMap::from([("keyword1".to_owned(), TemplateValue::new("客服回复了您的问题"))]),
//! )
//! .url("https://example.com/chat");
//! let delivered = Fallback::new(answer)
//!     .or_template(notice)
//!     .idempotency_key("ticket-42-reply-1")
//!     .send(&client)
//!     .await?;
//! assert_eq!(delivered, Delivered::CustomerService); // the window was open
//! # Ok(())
//! # }
//! ```

use std::hash::{BuildHasher, Hasher};

use crate::{
    Client, Error, KefuApi, Result, SendCustomMessage, SendSubscribeMessage, SendTemplateMessage,
};

/// Which channel delivered a [`Fallback`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivered {
    /// The customer-service message: the window was open.
    CustomerService,
    /// The template message, with its `msgid`.
    Template {
        /// WeChat's id of the message.
        msgid: i64,
    },
    /// The subscribe notification (one of the user's subscriptions was used).
    Subscribe,
}

/// A customer-service message, and what to send instead if the user's window has closed.
#[derive(Debug, Clone)]
#[must_use = "a Fallback does nothing until it is sent"]
pub struct Fallback {
    message: SendCustomMessage,
    template: Option<SendTemplateMessage>,
    subscribe: Option<SendSubscribeMessage>,
    key: Option<String>,
    known_closed: bool,
}

impl Fallback {
    /// Sends `message`; on its own, a closed window is returned as the 45015/45047 error.
    pub fn new(message: SendCustomMessage) -> Fallback {
        Fallback {
            message,
            template: None,
            subscribe: None,
            key: None,
            known_closed: false,
        }
    }

    /// If the window has closed (45015, 45047), send this template message instead.
    pub fn or_template(mut self, template: SendTemplateMessage) -> Fallback {
        self.template = Some(template);
        self
    }

    /// If the window has closed and there is no template, or WeChat refuses it, send this
    /// subscribe notification (it uses up one of the user's subscriptions; 43101 when none
    /// is left).
    pub fn or_subscribe(mut self, notification: SendSubscribeMessage) -> Fallback {
        self.subscribe = Some(notification);
        self
    }

    /// The template's `client_msg_id` when it has none: give the same key when the
    /// application repeats the whole send (after a crash, a queue's redelivery) and WeChat
    /// sends the template once. At most 64 characters (checked before sending). Without
    /// it, each [`send`](Fallback::send) makes an id of its own, which covers the client's
    /// own retries.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Fallback {
        self.key = Some(key.into());
        self
    }

    /// The application knows the window is closed (the webhook's window tracker, say):
    /// skip the customer-service message and go to the fallback at once, saving a call
    /// that would answer 45015. Advisory knowledge: without a fallback the message is
    /// still sent.
    pub fn window_closed(mut self, closed: bool) -> Fallback {
        self.known_closed = closed;
        self
    }

    /// Sends, falling back as declared: which channel delivered, or the error that ended
    /// it (the customer-service message's when it is not the window's, the template's when
    /// it is not WeChat's refusal, the notification's otherwise: 43101 when no
    /// subscription is left).
    pub async fn send(self, client: &Client) -> Result<Delivered> {
        let then = match (self.template, self.subscribe) {
            (None, None) => {
                return client
                    .send_custom_message(self.message)
                    .await
                    .map(|_| Delivered::CustomerService);
            }
            (Some(template), None) => Then::Template(template),
            (Some(template), Some(notification)) => Then::Both(template, notification),
            (None, Some(notification)) => Then::Subscribe(notification),
        };
        if !self.known_closed {
            match client.send_custom_message(self.message).await {
                Ok(_) => return Ok(Delivered::CustomerService),
                Err(error) if error.is_out_of_window() => {}
                Err(error) => return Err(error),
            }
        }
        let key = self.key;
        match then {
            Then::Template(template) => send_template(client, template, key).await,
            Then::Both(template, notification) => {
                match send_template(client, template, key).await {
                    // WeChat refused it (an errcode): nothing was sent, the notification may go.
                    Err(Error::Api { .. }) => send_subscribe(client, notification).await,
                    other => other,
                }
            }
            Then::Subscribe(notification) => send_subscribe(client, notification).await,
        }
    }
}

/// What a [`Fallback`] sends after a closed window.
enum Then {
    Template(SendTemplateMessage),
    Both(SendTemplateMessage, SendSubscribeMessage),
    Subscribe(SendSubscribeMessage),
}

/// The template, with a `client_msg_id` (the key, or a new one) when it has none.
async fn send_template(
    client: &Client,
    mut template: SendTemplateMessage,
    key: Option<String>,
) -> Result<Delivered> {
    if template.client_msg_id.is_none() {
        template.client_msg_id = Some(key.unwrap_or_else(fresh_id));
    }
    let sent = client.send_template_message(template).await?;
    Ok(Delivered::Template { msgid: sent.msgid })
}

async fn send_subscribe(client: &Client, notification: SendSubscribeMessage) -> Result<Delivered> {
    client.send_subscribe_message(notification).await?;
    Ok(Delivered::Subscribe)
}

/// A `client_msg_id` for one send: 20 random hex digits (from std's randomly keyed
/// hasher) after `wxk-`.
fn fresh_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let high = hasher.finish();
    hasher.write_u8(1);
    let low = hasher.finish();
    format!("wxk-{high:016x}{:04x}", low & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_fit_the_limit_and_differ() {
        let (a, b) = (fresh_id(), fresh_id());
        assert_eq!(a.len(), 24);
        assert!(a.len() <= 64 && a.starts_with("wxk-"));
        assert_ne!(a, b);
    }
}
