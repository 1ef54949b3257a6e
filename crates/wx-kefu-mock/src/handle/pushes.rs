//! Pushes to the account's server (the webhook), and what came of them.

use super::media::pic_url;
use super::users::hear;
use crate::push::{Answered, Job, UserInput, WebhookConfig};
use crate::state::secs;
use crate::{MockError, MockHandle, PushOutcome, PushRecord};

impl MockHandle {
    /// Pushes from now on go to this webhook (user messages on request, kefu events as
    /// sessions change); replaces any previous one.
    pub fn set_webhook(&self, config: WebhookConfig) {
        self.outbound().configure(Some(config));
    }

    /// Where pushes go now, if anywhere (an authorizer's: the platform's message URL with
    /// its appid).
    pub fn webhook(&self) -> Option<WebhookConfig> {
        self.outbound().config()
    }

    /// Stops pushing.
    pub fn clear_webhook(&self) {
        self.outbound().configure(None);
    }

    /// The user sends a picture: it is kept as a temporary media ([`MockServer::user_media`](MockHandle::user_media))
    /// and pushed as an image message whose `MediaId` `media/get` serves; see
    /// [`MockServer::push_message`](MockHandle::push_message).
    pub async fn push_image(
        &self,
        openid: &str,
        image: impl Into<bytes::Bytes>,
    ) -> Result<PushRecord, MockError> {
        let media_id = self.user_media("image", image);
        let pic_url = pic_url(&media_id);
        self.push_message(openid, UserInput::Image { pic_url, media_id })
            .await
    }

    /// The user sends a voice recording (AMR, as WeChat's app records): see
    /// [`MockServer::push_image`](MockHandle::push_image).
    pub async fn push_voice(
        &self,
        openid: &str,
        recording: impl Into<bytes::Bytes>,
    ) -> Result<PushRecord, MockError> {
        let media_id = self.user_media("voice", recording);
        let format = "amr".to_owned();
        self.push_message(openid, UserInput::Voice { media_id, format })
            .await
    }

    /// The user writes a text: see [`MockServer::push_message`](MockHandle::push_message).
    pub async fn push_text(&self, openid: &str, text: &str) -> Result<PushRecord, MockError> {
        self.push_message(openid, UserInput::text(text)).await
    }

    /// The user sends something, and WeChat pushes it to the webhook: it counts as
    /// [`MockServer::user_message`](MockHandle::user_message) (the reply window opens, a chat record is written), the
    /// push is signed (and sealed in safe mode) and sent up to the configured attempts, and
    /// the reply is read as WeChat would. `transfer_customer_service` hands the user to the
    /// agents: to the named agent at once when that agent is online (`kf_create_session`
    /// follows), otherwise into the waiting queue; a user already in a session stays there.
    pub async fn push_message(
        &self,
        openid: &str,
        input: UserInput,
    ) -> Result<PushRecord, MockError> {
        let outbound = self.outbound();
        let config = outbound.config().ok_or(MockError::NoWebhook)?;
        let now = self.now_ms();
        let msg_id = {
            let mut state = self.state();
            hear(&mut state, openid, &input, now);
            state.next_msg_id()
        };
        let (mut record, answered) = outbound
            .push_message(&config, openid, &input, msg_id, secs(now))
            .await;
        if let Answered::Transfer(kf_account) = answered {
            let serving = self.transfer(openid, kf_account.as_deref());
            record.outcome = PushOutcome::Transferred {
                kf_account,
                serving,
            };
        }
        outbound.record(record.clone());
        self.shared.dispatch_events();
        Ok(record)
    }

    /// Waits until every kefu event queued so far was pushed (and answered or given up on).
    pub async fn settle_pushes(&self) {
        let (done, finished) = tokio::sync::oneshot::channel();
        if self.shared.jobs.send(Job::Flush(done)).is_ok() {
            let _ = finished.await;
        }
    }

    /// Every push made so far, in order, with what the webhook answered.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.outbound().log()
    }
}
