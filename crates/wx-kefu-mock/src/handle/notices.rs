//! Templates and one-time subscriptions: the channels for a closed window.

use crate::{MockError, MockHandle, TemplateInfo};

impl MockHandle {
    /// Adds (or replaces) a template of the account, as choosing one in WeChat's console
    /// does; sends to any other template id answer 40037.
    pub fn add_template(&self, template_id: &str, title: &str, content: &str) {
        self.state().notify.add_template(TemplateInfo {
            template_id: template_id.to_owned(),
            title: title.to_owned(),
            content: content.to_owned(),
            banned: false,
        });
        self.shared.changes.bump();
    }

    /// WeChat bans (or lifts the ban on) a template: sends to it answer 43116.
    pub fn set_template_banned(&self, template_id: &str, banned: bool) -> Result<(), MockError> {
        let mut state = self.state();
        let template = state
            .notify
            .templates
            .iter_mut()
            .find(|t| t.template_id == template_id)
            .ok_or_else(|| MockError::UnknownTemplate(template_id.to_owned()))?;
        template.banned = banned;
        drop(state);
        self.shared.changes.bump();
        Ok(())
    }

    /// The account's templates.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.state().notify.templates.clone()
    }

    /// The user subscribes `count` more times to a template (a one-time subscription
    /// each: one notification apiece).
    pub fn grant_subscription(&self, openid: &str, template_id: &str, count: u32) {
        let mut state = self.state();
        state.user_mut(openid);
        *state
            .notify
            .subscriptions
            .entry((openid.to_owned(), template_id.to_owned()))
            .or_default() += count;
        drop(state);
        self.shared.changes.bump();
    }

    /// How many one-time subscriptions the user has left for a template.
    pub fn subscriptions_left(&self, openid: &str, template_id: &str) -> u32 {
        self.state()
            .notify
            .subscriptions
            .get(&(openid.to_owned(), template_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How many template messages reached users (a repeat by `client_msg_id` is not one),
    /// and how many subscribe notifications.
    pub fn notices_sent(&self) -> (u64, u64) {
        let state = self.state();
        (state.notify.templates_sent, state.notify.notifications_sent)
    }
}
