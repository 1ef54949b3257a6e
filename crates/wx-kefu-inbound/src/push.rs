//! A push decoded: the envelope every push has (`ToUserName`, `FromUserName`, `CreateTime`,
//! `MsgType`, and `MsgId` or `Event`), then a user message or an event by its kind.
//!
//! The kinds come from `api-spec/events.yaml` (see `generated/`); a kind the spec does not
//! name is kept as `Unknown`, with every field still in [`Push::fields`].

use crate::error::{Error, Result};
use crate::generated::{Event, UserMessage};
use crate::xml::{self, Fields};

/// A value decoded from a push's fields (implemented by every generated message and event).
pub trait FromFields: Sized {
    /// Reads the value's fields; a missing required field or a bad number is an error.
    fn from_fields(fields: &Fields) -> Result<Self>;
}

/// A family of pushes told apart by one field: user messages by `MsgType`, events by `Event`
/// (implemented by the generated [`UserMessage`] and [`Event`]).
pub trait Family: Sized {
    /// The field naming the kind.
    const TAG: &'static str;
    /// Every kind the spec describes, as WeChat spells it.
    const KINDS: &'static [&'static str];
    /// Decodes the kind `tag` (compared ignoring ASCII case); an unknown kind is kept.
    fn decode(tag: &str, fields: &Fields) -> Result<Self>;
    /// The kind, as WeChat spells it (or as sent, when unknown).
    fn tag(&self) -> &str;
}

/// What a push carries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Content {
    /// A user wrote something (`MsgType` other than `event`).
    Message {
        /// WeChat's id of the message (`MsgId`), unique per message: what retries share.
        msg_id: Option<i64>,
        /// The message.
        message: UserMessage,
    },
    /// Something happened (`MsgType=event`).
    Event(Event),
}

/// A push from WeChat, decoded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Push {
    /// `ToUserName`: the official account's original id (`gh_…`).
    pub to_user_name: String,
    /// `FromUserName`: the user's openid (for an event, who it is about).
    pub from_user_name: String,
    /// `CreateTime`: when WeChat created the push (unix seconds).
    pub create_time: i64,
    /// `MsgType`, as sent.
    pub msg_type: String,
    /// The message or the event.
    pub content: Content,
    /// Every field as sent, in order: for kinds this version does not know, and for
    /// fields the spec does not name.
    pub fields: Fields,
}

/// What a retry of the same push shares, to answer it without processing it twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DedupKey {
    /// A user message, by its `MsgId`.
    Message(i64),
    /// An event (or a message without `MsgId`), by `FromUserName` + `CreateTime` as WeChat
    /// recommends, and its kind, so that two different events of one second stay apart.
    Event {
        /// `FromUserName`.
        from: String,
        /// `CreateTime`.
        create_time: i64,
        /// `Event` (or `MsgType`).
        kind: String,
    },
}

impl Push {
    /// Decodes a plain push (in safe mode, the decrypted inner XML).
    pub fn parse(xml_text: &str) -> Result<Push> {
        Push::from_fields(xml::parse(xml_text)?)
    }

    /// Decodes the fields of a push.
    pub fn from_fields(fields: Fields) -> Result<Push> {
        // The kinds are read borrowed: only what the push keeps is copied.
        let required = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| Error::MissingField(name.to_owned()))
        };
        let msg_type = required("MsgType")?;
        let content = if msg_type.eq_ignore_ascii_case("event") {
            Content::Event(Event::decode(required("Event")?, &fields)?)
        } else {
            // WeChat's own samples spell it `MsgID` for voice.
            let msg_id = match fields.opt_integer("MsgId")? {
                Some(id) => Some(id),
                None => fields.opt_integer("MsgID")?,
            };
            Content::Message {
                msg_id,
                message: UserMessage::decode(msg_type, &fields)?,
            }
        };
        Ok(Push {
            to_user_name: fields.string("ToUserName")?,
            from_user_name: fields.string("FromUserName")?,
            create_time: fields.integer("CreateTime")?,
            msg_type: msg_type.to_owned(),
            content,
            fields,
        })
    }

    /// The user's openid (`FromUserName`).
    pub fn openid(&self) -> &str {
        &self.from_user_name
    }

    /// The user message, if this is one.
    pub fn message(&self) -> Option<&UserMessage> {
        match &self.content {
            Content::Message { message, .. } => Some(message),
            Content::Event(_) => None,
        }
    }

    /// The event, if this is one.
    pub fn event(&self) -> Option<&Event> {
        match &self.content {
            Content::Event(event) => Some(event),
            Content::Message { .. } => None,
        }
    }

    /// Whether this is an event (`MsgType=event`).
    pub fn is_event(&self) -> bool {
        matches!(self.content, Content::Event(_))
    }

    /// What a retry of this push shares: the `MsgId` of a message, `FromUserName` +
    /// `CreateTime` (+ the kind) of an event.
    pub fn dedup_key(&self) -> DedupKey {
        self.key().to_key()
    }

    /// [`dedup_key`](Push::dedup_key), borrowed from the push: what the cache hashes
    /// and compares without copying the key first.
    pub(crate) fn key(&self) -> KeyRef<'_> {
        let kind = match &self.content {
            Content::Message {
                msg_id: Some(id), ..
            } => return KeyRef::Message(*id),
            Content::Message { message, .. } => message.tag(),
            Content::Event(event) => event.tag(),
        };
        KeyRef::Event {
            from: &self.from_user_name,
            create_time: self.create_time,
            kind,
        }
    }
}

/// A [`DedupKey`] borrowed: from a push, from a key, or from the cache's own copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyRef<'a> {
    Message(i64),
    Event {
        from: &'a str,
        create_time: i64,
        kind: &'a str,
    },
}

impl KeyRef<'_> {
    fn to_key(self) -> DedupKey {
        match self {
            KeyRef::Message(id) => DedupKey::Message(id),
            KeyRef::Event {
                from,
                create_time,
                kind,
            } => DedupKey::Event {
                from: from.to_owned(),
                create_time,
                kind: kind.to_owned(),
            },
        }
    }
}

impl DedupKey {
    /// The key borrowed.
    pub(crate) fn borrowed(&self) -> KeyRef<'_> {
        match self {
            DedupKey::Message(id) => KeyRef::Message(*id),
            DedupKey::Event {
                from,
                create_time,
                kind,
            } => KeyRef::Event {
                from,
                create_time: *create_time,
                kind,
            },
        }
    }
}

impl std::str::FromStr for Push {
    type Err = Error;

    fn from_str(xml_text: &str) -> Result<Push> {
        Push::parse(xml_text)
    }
}
