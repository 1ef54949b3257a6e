//! A third-party platform's own pushes, on its 授权事件接收URL: the verify ticket every
//! 10 minutes and the authorization events, typed.
//!
//! They arrive sealed with the platform's Token and EncodingAESKey and the component appid
//! (build the [`Webhook`] with them), answered with the string `success`, and carry
//! `InfoType` where an account's pushes carry `MsgType`. Official pages:
//! <https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/component_verify_ticket.html>
//! and <https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/authorize_event.html>.
//!
//! The pushes of the authorizers themselves (messages, events) go to the other URL, the
//! 消息与事件接收URL, through a webhook built with
//! [`many_accounts`](crate::WebhookBuilder::many_accounts).

use std::fmt;

use crate::error::{Error, Result};
use crate::webhook::{Query, Webhook};
use crate::xml::Fields;

/// What a platform's 授权事件接收URL receives.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationEvent {
    /// `component_verify_ticket`: the latest ticket (valid 12 hours; keep the latest).
    VerifyTicket {
        /// The ticket (never printed by `Debug`).
        ticket: String,
        /// `CreateTime`.
        create_time: i64,
    },
    /// `authorized`: an account authorized the platform.
    Authorized(Granted),
    /// `updateauthorized`: an account changed what it granted; a new code, a new refresh
    /// token, and the old token retired.
    UpdateAuthorized(Granted),
    /// `unauthorized`: an account revoked the platform.
    Unauthorized {
        /// `AuthorizerAppid`.
        authorizer_appid: String,
        /// `CreateTime`.
        create_time: i64,
    },
    /// An `InfoType` this version does not know (a mini program's registration, …),
    /// with every field as sent.
    Other {
        /// `InfoType`.
        info_type: String,
        /// `CreateTime`.
        create_time: i64,
        /// Every field.
        fields: Fields,
    },
}

/// An authorization's code, from an `authorized` or `updateauthorized` push.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Granted {
    /// `AuthorizerAppid`.
    pub authorizer_appid: String,
    /// `AuthorizationCode`: exchange it with `api_query_auth` (never printed by `Debug`).
    pub authorization_code: String,
    /// `AuthorizationCodeExpiredTime` (unix seconds).
    pub code_expires_at: i64,
    /// `CreateTime`.
    pub create_time: i64,
}

impl fmt::Debug for Granted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Granted")
            .field("authorizer_appid", &self.authorizer_appid)
            .field("authorization_code", &"***")
            .field("code_expires_at", &self.code_expires_at)
            .field("create_time", &self.create_time)
            .finish()
    }
}

impl fmt::Debug for AuthorizationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorizationEvent::VerifyTicket { create_time, .. } => f
                .debug_struct("VerifyTicket")
                .field("ticket", &"***")
                .field("create_time", create_time)
                .finish(),
            AuthorizationEvent::Authorized(granted) => {
                f.debug_tuple("Authorized").field(granted).finish()
            }
            AuthorizationEvent::UpdateAuthorized(granted) => {
                f.debug_tuple("UpdateAuthorized").field(granted).finish()
            }
            AuthorizationEvent::Unauthorized {
                authorizer_appid,
                create_time,
            } => f
                .debug_struct("Unauthorized")
                .field("authorizer_appid", authorizer_appid)
                .field("create_time", create_time)
                .finish(),
            AuthorizationEvent::Other {
                info_type,
                create_time,
                ..
            } => f
                .debug_struct("Other")
                .field("info_type", info_type)
                .field("create_time", create_time)
                .finish_non_exhaustive(),
        }
    }
}

impl AuthorizationEvent {
    /// Decodes the fields of an opened push.
    pub fn from_fields(fields: Fields) -> Result<AuthorizationEvent> {
        let info_type = fields.string("InfoType")?;
        let create_time = fields.integer("CreateTime")?;
        let granted = |fields: &Fields| -> Result<Granted> {
            Ok(Granted {
                authorizer_appid: fields.string("AuthorizerAppid")?,
                authorization_code: fields.string("AuthorizationCode")?,
                code_expires_at: fields
                    .opt_integer("AuthorizationCodeExpiredTime")?
                    .unwrap_or(create_time + 3600),
                create_time,
            })
        };
        Ok(match info_type.as_str() {
            "component_verify_ticket" => AuthorizationEvent::VerifyTicket {
                ticket: fields.string("ComponentVerifyTicket")?,
                create_time,
            },
            "authorized" => AuthorizationEvent::Authorized(granted(&fields)?),
            "updateauthorized" => AuthorizationEvent::UpdateAuthorized(granted(&fields)?),
            "unauthorized" => AuthorizationEvent::Unauthorized {
                authorizer_appid: fields.string("AuthorizerAppid")?,
                create_time,
            },
            _ => AuthorizationEvent::Other {
                info_type,
                create_time,
                fields,
            },
        })
    }

    /// The authorizer the event is about (none for the ticket).
    pub fn authorizer_appid(&self) -> Option<&str> {
        match self {
            AuthorizationEvent::Authorized(granted)
            | AuthorizationEvent::UpdateAuthorized(granted) => Some(&granted.authorizer_appid),
            AuthorizationEvent::Unauthorized {
                authorizer_appid, ..
            } => Some(authorizer_appid),
            AuthorizationEvent::VerifyTicket { .. } | AuthorizationEvent::Other { .. } => None,
        }
    }
}

impl Webhook {
    /// Checks, opens and decodes a push to a platform's 授权事件接收URL: the same checks as
    /// [`receive`](Webhook::receive) (size, replay window, `msg_signature`, decryption,
    /// the component appid inside), then the event. Answer WeChat `success`
    /// ([`Answer::success`](crate::Answer::success)) once it is applied.
    ///
    /// These pushes are not deduplicated: each one applied twice has the effect of one
    /// (the latest ticket kept, a code exchanged, an account dropped).
    pub fn receive_authorization_event(
        &self,
        query: &Query<'_>,
        body: &[u8],
    ) -> Result<AuthorizationEvent> {
        let (fields, _, _) = self.open_fields(query, body)?;
        if fields.get("InfoType").is_none() {
            return Err(Error::MissingField("InfoType".to_owned()));
        }
        AuthorizationEvent::from_fields(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_decode_and_hide_their_secrets() {
        let fields = |pairs: &[(&str, &str)]| Fields::from_pairs(pairs.iter().copied());
        let ticket = AuthorizationEvent::from_fields(fields(&[
            ("AppId", "wxcomponent"),
            ("CreateTime", "1413192605"),
            ("InfoType", "component_verify_ticket"),
            ("ComponentVerifyTicket", "ticket@@@secret"),
        ]))
        .unwrap();
        assert_eq!(
            ticket,
            AuthorizationEvent::VerifyTicket {
                ticket: "ticket@@@secret".into(),
                create_time: 1413192605
            }
        );
        let granted = AuthorizationEvent::from_fields(fields(&[
            ("AppId", "wxcomponent"),
            ("CreateTime", "1413192760"),
            ("InfoType", "updateauthorized"),
            ("AuthorizerAppid", "wxauthorizer"),
            ("AuthorizationCode", "queryauthcode@@@secret"),
            ("AuthorizationCodeExpiredTime", "1413196360"),
            ("PreAuthCode", "preauthcode@@@x"),
        ]))
        .unwrap();
        assert_eq!(granted.authorizer_appid(), Some("wxauthorizer"));
        let AuthorizationEvent::UpdateAuthorized(code) = &granted else {
            panic!("{granted:?}");
        };
        assert_eq!(code.code_expires_at, 1413196360);
        let shown = format!("{ticket:?} {granted:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let missing = AuthorizationEvent::from_fields(fields(&[
            ("CreateTime", "1"),
            ("InfoType", "unauthorized"),
        ]))
        .unwrap_err();
        assert!(
            matches!(&missing, Error::MissingField(name) if name == "AuthorizerAppid"),
            "{missing:?}"
        );
    }
}
