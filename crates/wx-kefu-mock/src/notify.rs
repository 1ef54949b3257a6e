//! The account's other channels to a user, for when the reply window has closed: its
//! template messages and its users' one-time subscriptions (API.md; `api-spec/notify.yaml`).
//!
//! - Templates are added through the handle or the control API (WeChat's are chosen in its
//!   console); one may be banned (43116). A send to an unknown template is 40037.
//! - `client_msg_id`: WeChat sends one message per openid and id within 10 minutes; a
//!   repeat within them answers the first send's `msgid` and sends nothing.
//! - The same template with the same data to the same user within 60 s is refused with
//!   40241 (a repeat without a `client_msg_id`).
//! - A subscribe notification uses up one of the user's one-time subscriptions to its
//!   template; with none left, 43101 and nothing is sent.

use std::collections::{BTreeMap, HashMap};

/// How long WeChat keeps a `client_msg_id`: 10 minutes.
pub(crate) const CLIENT_MSG_ID_MS: i64 = 10 * 60 * 1000;
/// The window of the "duplicate in 60 seconds" refusal (40241).
pub(crate) const DUPLICATE_MS: i64 = 60 * 1000;

/// A template of the account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TemplateInfo {
    /// Its id.
    pub template_id: String,
    /// Its title.
    pub title: String,
    /// Its text, with a `{{key.DATA}}` per field.
    pub content: String,
    /// Banned by WeChat for abuse: sends answer 43116.
    pub banned: bool,
}

/// The account's templates, its users' subscriptions, and what was sent.
#[derive(Debug, Default)]
pub(crate) struct Notify {
    pub(crate) templates: Vec<TemplateInfo>,
    /// One-time subscriptions left, by (openid, template id).
    pub(crate) subscriptions: BTreeMap<(String, String), u32>,
    /// The `msgid` each (openid, client_msg_id) got, and when.
    pub(crate) by_client_id: HashMap<(String, String), (i64, i64)>,
    /// The last send of each (openid, template id): its data and when.
    pub(crate) last_send: HashMap<(String, String), (String, i64)>,
    next_msgid: i64,
    /// How many template messages reached users (repeats by `client_msg_id` not counted).
    pub(crate) templates_sent: u64,
    /// How many subscribe notifications reached users.
    pub(crate) notifications_sent: u64,
}

impl Notify {
    /// A new template id and a msgid come from here.
    pub(crate) fn next_msgid(&mut self) -> i64 {
        self.next_msgid += 1;
        2_000_000_000 + self.next_msgid
    }

    pub(crate) fn template(&self, template_id: &str) -> Option<&TemplateInfo> {
        self.templates.iter().find(|t| t.template_id == template_id)
    }

    /// Adds (or replaces) a template.
    pub(crate) fn add_template(&mut self, template: TemplateInfo) {
        self.templates
            .retain(|t| t.template_id != template.template_id);
        self.templates.push(template);
    }

    /// Forgets the `client_msg_id`s older than 10 minutes.
    pub(crate) fn expire(&mut self, now_ms: i64) {
        self.by_client_id
            .retain(|_, (_, at)| now_ms - *at < CLIENT_MSG_ID_MS);
        self.last_send
            .retain(|_, (_, at)| now_ms - *at < DUPLICATE_MS);
    }
}
