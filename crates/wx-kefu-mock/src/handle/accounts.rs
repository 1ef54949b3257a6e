//! Agent accounts and invitations, and the account's own settings.

use crate::state::{InvitationStatus, secs};
use crate::{AccountInfo, MockError, MockHandle};

impl MockHandle {
    /// Every agent account, in creation order.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        let now = self.now_ms();
        let state = self.state();
        state
            .accounts
            .iter()
            .map(|account| state.account_info(account, now))
            .collect()
    }

    /// One agent account.
    pub fn account(&self, kf_account: &str) -> Option<AccountInfo> {
        let now = self.now_ms();
        let state = self.state();
        state
            .account(kf_account)
            .map(|account| state.account_info(account, now))
    }

    /// Adds an agent account without a request (no format checks; the 100 limit holds).
    pub fn add_account(&self, kf_account: &str, nickname: &str) -> Result<(), MockError> {
        self.state().add_account(kf_account, nickname)
    }

    /// Binds a WeChat user to an agent account at once, as if an invitation was accepted.
    pub fn bind_account(&self, kf_account: &str, wx: &str) -> Result<(), MockError> {
        self.state().bind(kf_account, wx)
    }

    /// Adds an agent account, binds it and puts it online: ready to serve sessions.
    pub fn add_online_agent(&self, kf_account: &str, nickname: &str) -> Result<(), MockError> {
        let mut state = self.state();
        state.add_account(kf_account, nickname)?;
        let wx = format!("wx_{}", kf_account.split('@').next().unwrap_or(kf_account));
        state.bind(kf_account, &wx)?;
        if let Some(account) = state.account_mut(kf_account) {
            account.online = true;
        }
        Ok(())
    }

    /// The invited user accepts: the account is bound to the invited WeChat ID.
    pub fn accept_invitation(&self, kf_account: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        let mut state = self.state();
        let wx = state.pending_invite(kf_account, now)?.wx.clone();
        state.bind(kf_account, &wx)
    }

    /// The invited user refuses: the invitation shows `rejected`.
    pub fn reject_invitation(&self, kf_account: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        self.state().pending_invite(kf_account, now)?.status = InvitationStatus::Rejected;
        Ok(())
    }

    /// The invitation expires now (it also expires by itself 7 days after it was sent).
    pub fn expire_invitation(&self, kf_account: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        let mut state = self.state();
        let invite = state.pending_invite(kf_account, now)?;
        invite.status = InvitationStatus::Expired;
        invite.expire_time = invite.expire_time.min(secs(now));
        Ok(())
    }

    /// Puts a bound agent online (web) or offline.
    pub fn set_online(&self, kf_account: &str, online: bool) -> Result<(), MockError> {
        let mut state = self.state();
        let account = state
            .account_mut(kf_account)
            .ok_or_else(|| MockError::UnknownAccount(kf_account.to_owned()))?;
        if online && account.kf_wx.is_none() {
            return Err(MockError::NotBound(kf_account.to_owned()));
        }
        account.online = online;
        Ok(())
    }

    /// Marks a WeChat ID as working for too many accounts: inviting it answers 65410.
    pub fn set_worker_at_limit(&self, wx: &str) {
        self.state().workers_at_limit.insert(wx.to_owned());
    }

    /// Turns the new customer-service feature off (every account, session and record call
    /// answers 65400) or back on.
    pub fn set_kefu_enabled(&self, enabled: bool) {
        self.state().kefu_enabled = enabled;
    }

    /// The account's WeChat ID (`gh_…`): from now on a new agent account must end in
    /// `@` and it (65404 otherwise), as WeChat requires; `None` accepts any suffix.
    pub fn set_wechat_id(&self, id: Option<&str>) {
        self.state().wechat_id = id.map(str::to_owned);
    }
}
