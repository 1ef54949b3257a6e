//! Sessions, the waiting queue and chat records.

use crate::push::{self};
use crate::{ChatRecord, MockError, MockHandle, SessionInfo, WaitingUser};

impl MockHandle {
    /// Every open session, by openid.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.state()
            .sessions
            .iter()
            .map(|(openid, session)| SessionInfo {
                openid: openid.clone(),
                kf_account: session.kf_account.clone(),
                createtime: session.createtime,
            })
            .collect()
    }

    /// The waiting queue, earliest first (all of it, not only the first 100).
    pub fn waiting(&self) -> Vec<WaitingUser> {
        self.state().waiting.clone()
    }

    /// Every chat record, in order.
    pub fn records(&self) -> Vec<ChatRecord> {
        self.state().records.clone()
    }

    /// Applies `transfer_customer_service`: the agent now serving the user, if any.
    pub(super) fn transfer(&self, openid: &str, kf_account: Option<&str>) -> Option<String> {
        let now = self.now_ms();
        let mut state = self.state();
        if let Some(session) = state.sessions.get(openid) {
            return Some(session.kf_account.clone());
        }
        let available = kf_account.filter(|kf| {
            state
                .account(kf)
                .is_some_and(|a| a.online && a.kf_wx.is_some())
        });
        match available {
            Some(kf) => {
                state.open_session(openid, kf, now);
                Some(kf.to_owned())
            }
            None => {
                // Not in a session (checked above), so queuing cannot fail.
                let _ = state.enqueue_waiting(openid, now);
                None
            }
        }
    }

    /// An agent takes a user (from the waiting queue, in the agent's client): a session
    /// starts and `kf_create_session` is pushed.
    pub fn accept_waiting(&self, kf_account: &str, openid: &str) -> Result<(), MockError> {
        let now = self.now_ms();
        {
            let mut state = self.state();
            let account = state
                .account(kf_account)
                .ok_or_else(|| MockError::UnknownAccount(kf_account.to_owned()))?;
            if account.kf_wx.is_none() {
                return Err(MockError::NotBound(kf_account.to_owned()));
            }
            if state.sessions.contains_key(openid) {
                return Err(MockError::InSession(openid.to_owned()));
            }
            state.user_mut(openid);
            state.open_session(openid, kf_account, now);
        }
        self.shared.dispatch_events();
        Ok(())
    }

    /// The serving agent hands the user to another agent: `kf_switch_session` is pushed.
    pub fn switch_session(&self, openid: &str, to_kf_account: &str) -> Result<(), MockError> {
        {
            let mut state = self.state();
            let target = state
                .account(to_kf_account)
                .ok_or_else(|| MockError::UnknownAccount(to_kf_account.to_owned()))?;
            if target.kf_wx.is_none() {
                return Err(MockError::NotBound(to_kf_account.to_owned()));
            }
            let session = state
                .sessions
                .get_mut(openid)
                .ok_or_else(|| MockError::NoSession(openid.to_owned()))?;
            let from = std::mem::replace(&mut session.kf_account, to_kf_account.to_owned());
            state.kefu_events.push(push::KefuEvent::Switch {
                openid: openid.to_owned(),
                from,
                to: to_kf_account.to_owned(),
            });
        }
        self.shared.dispatch_events();
        Ok(())
    }

    /// The serving agent ends the session (in the agent's client): `kf_close_session` is pushed.
    pub fn end_session(&self, openid: &str) -> Result<(), MockError> {
        let ended = self.state().end_session(openid);
        self.shared.dispatch_events();
        ended
            .map(|_| ())
            .ok_or_else(|| MockError::NoSession(openid.to_owned()))
    }
}
