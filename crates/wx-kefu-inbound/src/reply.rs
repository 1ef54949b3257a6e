//! Passive replies: what the server answers a push with, and the HTTP answer it becomes.

use crate::push::Push;
use crate::xml::{push_cdata, push_integer};

/// What to answer a push with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `success`: received, nothing to say. WeChat stops retrying and shows the user nothing.
    Success,
    /// A text message back to the user.
    Text(String),
    /// Hand the user's message to the customer-service agents
    /// (`MsgType=transfer_customer_service`): to whoever picks it from the waiting queue, or
    /// to one agent (`TransInfo/KfAccount`).
    ///
    /// Only user messages can be handed over; answered to an event, it is sent as
    /// [`Reply::Success`].
    TransferCustomerService {
        /// The one agent to hand the user to (`prefix@account`), if any.
        kf_account: Option<String>,
    },
}

impl Reply {
    /// `success`: received, nothing to say.
    pub fn success() -> Reply {
        Reply::Success
    }

    /// A text message back to the user.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply::Text(content.into())
    }

    /// Hand the user's message to the customer-service agents.
    pub fn transfer_customer_service() -> Reply {
        Reply::TransferCustomerService { kf_account: None }
    }

    /// Hand the user's message to one agent (`TransInfo/KfAccount`). If that agent cannot
    /// take it, WeChat keeps the user waiting for that agent rather than another.
    pub fn transfer_to(kf_account: impl Into<String>) -> Reply {
        Reply::TransferCustomerService {
            kf_account: Some(kf_account.into()),
        }
    }

    /// The plain XML answering `push` (addresses swapped), or `None` for `success` —
    /// including a transfer answered to an event, which WeChat does not forward.
    pub fn to_xml(&self, push: &Push, create_time: i64) -> Option<String> {
        let (msg_type, content, kf_account) = match self {
            Reply::Success => return None,
            Reply::Text(content) => ("text", Some(content.as_str()), None),
            Reply::TransferCustomerService { .. } if push.is_event() => return None,
            Reply::TransferCustomerService { kf_account } => {
                ("transfer_customer_service", None, kf_account.as_deref())
            }
        };
        // One buffer, written in order: no formatting machinery on the hot path.
        let mut xml = String::with_capacity(
            160 + push.from_user_name.len()
                + push.to_user_name.len()
                + content.map_or(0, str::len)
                + kf_account.map_or(0, str::len),
        );
        xml.push_str("<xml><ToUserName>");
        push_cdata(&mut xml, &push.from_user_name);
        xml.push_str("</ToUserName><FromUserName>");
        push_cdata(&mut xml, &push.to_user_name);
        xml.push_str("</FromUserName><CreateTime>");
        push_integer(&mut xml, create_time);
        xml.push_str("</CreateTime><MsgType>");
        push_cdata(&mut xml, msg_type);
        xml.push_str("</MsgType>");
        if let Some(content) = content {
            xml.push_str("<Content>");
            push_cdata(&mut xml, content);
            xml.push_str("</Content>");
        }
        if let Some(kf) = kf_account {
            xml.push_str("<TransInfo><KfAccount>");
            push_cdata(&mut xml, kf);
            xml.push_str("</KfAccount></TransInfo>");
        }
        xml.push_str("</xml>");
        Some(xml)
    }
}

/// The HTTP answer to give WeChat: a body and its content type, always with status 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The body: `success`, the echoed `echostr`, or the (possibly encrypted) reply XML.
    pub body: String,
    /// `text/plain; charset=utf-8` or `application/xml; charset=utf-8`.
    pub content_type: &'static str,
}

impl Answer {
    /// `success`, as text.
    pub fn success() -> Answer {
        Answer::text("success")
    }

    /// A plain-text answer.
    pub(crate) fn text(body: impl Into<String>) -> Answer {
        Answer {
            body: body.into(),
            content_type: "text/plain; charset=utf-8",
        }
    }

    /// An XML answer.
    pub(crate) fn xml(body: String) -> Answer {
        Answer {
            body,
            content_type: "application/xml; charset=utf-8",
        }
    }

    /// Whether this is the plain `success`.
    pub fn is_success(&self) -> bool {
        self.body == "success"
    }
}
