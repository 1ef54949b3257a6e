//! What users do: write, tap, follow, wait, refuse messages; and what their phones show.

use crate::push::UserInput;
use crate::state::{State, secs};
use crate::{Bubble, MockError, MockHandle, Speaker, UserEvent};

impl MockHandle {
    /// The user writes a message: it opens the 48-hour window of 5 replies (and counts as
    /// an interaction for typing), and is recorded as a chat record with opercode 2003.
    pub fn user_message(&self, openid: &str, text: &str) {
        let now = self.now_ms();
        hear(&mut self.state(), openid, &UserInput::text(text), now);
    }

    /// The user follows, scans, taps a menu (1 minute, 3 replies), pays (48 hours, any number)
    /// or unfollows (nothing can be sent: 43004).
    pub fn user_event(&self, openid: &str, event: UserEvent) {
        let now = self.now_ms();
        let mut state = self.state();
        state.user_event(openid, event, now);
        state.converse(
            openid,
            Bubble {
                at: secs(now),
                from: Speaker::Event,
                kf_account: None,
                kind: event.as_str().to_owned(),
                content: serde_json::Value::Null,
            },
        );
    }

    /// The user waits for an agent: appended to the waiting queue (or its time refreshed).
    /// It opens no reply window; call [`MockServer::user_message`](MockHandle::user_message) for that.
    pub fn enqueue_waiting(&self, openid: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        self.state().enqueue_waiting(openid, now)
    }

    /// Whether the user is shown "typing…".
    pub fn is_typing(&self, openid: &str) -> bool {
        let now = self.now_ms();
        self.state()
            .users
            .get(openid)
            .is_some_and(|user| user.is_typing(now))
    }

    /// A user's conversation, as their phone shows it (and the web view).
    pub fn conversation(&self, openid: &str) -> Vec<Bubble> {
        self.peek()
            .conversations
            .get(openid)
            .cloned()
            .unwrap_or_default()
    }

    /// The user refuses (or accepts again) the account's messages: every send to them
    /// answers 48002 (`user refuse to accept the msg`) while they do.
    pub fn set_user_refuses(&self, openid: &str, refuses: bool) {
        self.state().user_mut(openid).refuses = refuses;
        self.shared.changes.bump();
    }
}

/// What the user sent reaches WeChat: the reply window opens, a chat record is written,
/// and it is a bubble of the conversation.
pub(crate) fn hear(state: &mut State, openid: &str, input: &UserInput, now_ms: i64) {
    state.user_message(openid, &input.record_text(), now_ms);
    state.converse(
        openid,
        Bubble {
            at: secs(now_ms),
            from: Speaker::User,
            kf_account: None,
            kind: input.msg_type().to_owned(),
            content: input.content(),
        },
    );
}
