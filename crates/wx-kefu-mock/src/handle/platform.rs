//! The third-party platform the emulator plays: its configuration, tickets, the
//! authorization flow (authorize, re-authorize, revoke), each authorizer's own account, and
//! the go-live test (全网发布) replayed offline.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::platform::{
    Authorizer, AuthorizerInfo, PlatformConfig, PlatformState, PlatformStats, TICKET_INTERVAL_MS,
    authorization_xml,
};
use crate::push::Outbound;
use crate::server::Shared;
use crate::state::{State, lock_account, random_hex, secs};
use crate::{MockError, MockHandle, PushOutcome, PushRecord};

/// How the go-live test went: what WeChat's automated test checks, one line each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GoLiveReport {
    /// `TESTCOMPONENT_MSG_TYPE_TEXT` was answered, passively, with
    /// `TESTCOMPONENT_MSG_TYPE_TEXT_callback`.
    pub passive_reply: bool,
    /// `QUERY_AUTH_CODE:…` was answered empty within 5 s.
    pub answered_empty: bool,
    /// `<code>_from_api` reached the test user through the customer-service API.
    pub sent_from_api: bool,
    /// What went wrong, if anything.
    pub problems: Vec<String>,
}

impl GoLiveReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.passive_reply && self.answered_empty && self.sent_from_api
    }
}

/// The go-live test's account and user (WeChat uses five fixed test accounts; this is the
/// first's original id).
pub const GO_LIVE_ORIGINAL_ID: &str = "gh_3c884a361561";

/// The go-live test's account appid.
pub const GO_LIVE_APPID: &str = "wx570bc396a51b8ff8";

/// The go-live test's user.
pub const GO_LIVE_OPENID: &str = "ozy4qt1eDxSxzCr0aNT0mXCWfrDE";

impl MockHandle {
    /// Plays a third-party platform from now on: its component token calls answer for
    /// `config`'s appid and secret, and (with [`auth_events_to`](PlatformConfig::auth_events_to))
    /// a ticket is pushed at once and every 10 minutes of the emulator's clock after.
    /// Replaces the platform's configuration; the authorizers stay.
    pub fn set_platform(&self, config: PlatformConfig) {
        let start_ticking = {
            let mut state = self.primary();
            let platform = match state.platform.take() {
                Some(mut platform) => {
                    platform.config = config.clone();
                    platform
                }
                None => PlatformState::new(
                    config.clone(),
                    Arc::new(Outbound::new(
                        config.component_appid.clone(),
                        Arc::clone(&self.shared.changes),
                    )),
                ),
            };
            let platform = state.platform.insert(platform);
            Self::configure_events(&platform.events, &config);
            for authorizer in platform.authorizers.values() {
                authorizer
                    .outbound
                    .configure(message_config(&config, authorizer));
            }
            let start = config.auth_url.is_some() && !platform.ticking;
            platform.ticking |= start;
            start
        };
        if start_ticking && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(tick(Arc::downgrade(&self.shared)));
        }
    }

    /// Stops pushing to the 授权事件接收URL (as if it were unreachable) until the next
    /// [`set_platform`](MockHandle::set_platform).
    pub fn clear_platform_events(&self) {
        if let Some(platform) = self.primary().platform.as_ref() {
            platform.events.configure(None);
        }
    }

    /// The account's WeChat ID (`gh_…`), when known: an authorizer's original id.
    pub fn wechat_id(&self) -> Option<String> {
        self.peek().wechat_id.clone()
    }

    fn configure_events(events: &Outbound, config: &PlatformConfig) {
        let webhook = config.auth_url.as_ref().and_then(|url| {
            crate::WebhookConfig::safe(url, &config.token, &config.encoding_aes_key)
                .ok()
                .map(|webhook| webhook.original_id(&config.component_appid))
        });
        events.configure(webhook);
    }

    fn with_platform<T>(
        &self,
        f: impl FnOnce(&mut PlatformState) -> Result<T, MockError>,
    ) -> Result<T, MockError> {
        let mut state = self.primary();
        let platform = state.platform.as_mut().ok_or(MockError::NoPlatform)?;
        f(platform)
    }

    /// Reads the platform without telling the web view (a read changes nothing).
    fn read_platform<T>(&self, f: impl FnOnce(&PlatformState) -> T) -> Result<T, MockError> {
        let state = self.shared.lock();
        let platform = state.platform.as_ref().ok_or(MockError::NoPlatform)?;
        Ok(f(platform))
    }

    /// Pushes a new ticket to the 授权事件接收URL now.
    pub async fn push_ticket(&self) -> Result<PushRecord, MockError> {
        let now = self.now_ms();
        let (events, xml) = self.with_platform(|platform| {
            Ok((Arc::clone(&platform.events), platform.issue_ticket(now)))
        })?;
        Ok(events
            .push_raw("component_verify_ticket", xml, secs(now))
            .await)
    }

    /// The latest ticket issued (pushed or not), as the platform's server would have stored
    /// it from its push: for a test that seeds a platform's store without serving its URL.
    /// The web view never shows it.
    pub fn latest_ticket(&self) -> Option<String> {
        self.read_platform(|platform| platform.latest_ticket().map(str::to_owned))
            .ok()
            .flatten()
    }

    /// The merchant `appid` scans the authorization page and grants the permission sets
    /// `func_info` (1 消息管理, 6 微信多客服, …): a new account (with its own agents, users and
    /// media) the first time, a re-authorization after (a new refresh token; the old one
    /// answers 61023 and its tokens stop working within 5 minutes). The `authorized` (or
    /// `updateauthorized`) push goes to the 授权事件接收URL; returns its authorization code.
    pub async fn authorize(&self, appid: &str, func_info: &[u32]) -> Result<String, MockError> {
        let now = self.now_ms();
        let (events, (kind, xml), code) = {
            let mut state = self.primary();
            let state = &mut *state;
            let platform = state.platform.as_mut().ok_or(MockError::NoPlatform)?;
            let component = platform.config.component_appid.clone();
            let update = platform
                .authorizers
                .get(appid)
                .is_some_and(|authorizer| authorizer.authorized);
            let account = state
                .authorizer_states
                .entry(appid.to_owned())
                .or_insert_with(|| {
                    let mut account = State::new(appid.to_owned(), random_hex(2));
                    account.wechat_id = Some(format!("gh_{}", &random_hex(1)[..12]));
                    Arc::new(std::sync::Mutex::new(account))
                });
            let mut account = lock_account(account);
            let authorizer = platform
                .authorizers
                .entry(appid.to_owned())
                .or_insert_with(|| Authorizer {
                    appid: appid.to_owned(),
                    refresh_token: String::new(),
                    func_info: Vec::new(),
                    authorized: false,
                    auth_time: 0,
                    token_fetches: 0,
                    latest_token: None,
                    nickname: format!("商户 {}", &appid[appid.len().saturating_sub(4)..]),
                    original_id: account.wechat_id.clone().unwrap_or_default(),
                    outbound: Arc::new(Outbound::new(
                        component.clone(),
                        Arc::clone(&self.shared.changes),
                    )),
                });
            // A (re-)authorization: a new refresh token; the old tokens work 5 more minutes.
            authorizer.refresh_token = format!("refreshtoken@@@{}", random_hex(4));
            authorizer.func_info = func_info.to_vec();
            authorizer.authorized = true;
            authorizer.auth_time = secs(now);
            for token in account.tokens.values_mut() {
                token.retire(now);
            }
            drop(account);
            authorizer
                .outbound
                .configure(message_config(&platform.config, authorizer));
            let code = platform.issue_auth_code(appid, now);
            let info_type = if update {
                "updateauthorized"
            } else {
                "authorized"
            };
            let expires = now + crate::platform::AUTH_CODE_LIFETIME_MS;
            let xml = authorization_xml(&component, info_type, appid, Some((&code, expires)), now);
            (Arc::clone(&platform.events), (info_type, xml), code)
        };
        events.push_raw(kind, xml, secs(now)).await;
        Ok(code)
    }

    /// A fresh authorization code of `appid`'s current authorization, as WeChat hands the
    /// platform one on the redirect after the scan page (and as the go-live test sends one):
    /// it works once, within an hour.
    pub fn authorization_code(&self, appid: &str) -> Result<String, MockError> {
        let now = self.now_ms();
        self.with_platform(|platform| {
            match platform.authorizers.get(appid) {
                Some(authorizer) if authorizer.authorized => {}
                _ => return Err(MockError::UnknownAuthorizer(appid.to_owned())),
            }
            Ok(platform.issue_auth_code(appid, now))
        })
    }

    /// The merchant `appid` revokes the platform: its tokens answer 40001, its refresh
    /// token 61003, it leaves `api_get_authorizer_list`; the `unauthorized` push goes to the
    /// 授权事件接收URL.
    pub async fn revoke(&self, appid: &str) -> Result<PushRecord, MockError> {
        let now = self.now_ms();
        let (events, xml) = {
            let mut state = self.primary();
            let state = &mut *state;
            let platform = state.platform.as_mut().ok_or(MockError::NoPlatform)?;
            let authorizer = platform
                .authorizers
                .get_mut(appid)
                .ok_or_else(|| MockError::UnknownAuthorizer(appid.to_owned()))?;
            authorizer.authorized = false;
            if let Some(account) = state.authorizer_states.get(appid) {
                lock_account(account).invalidate_tokens(now);
            }
            let xml = authorization_xml(
                &platform.config.component_appid,
                "unauthorized",
                appid,
                None,
                now,
            );
            (Arc::clone(&platform.events), xml)
        };
        Ok(events.push_raw("unauthorized", xml, secs(now)).await)
    }

    /// A handle that drives the authorizer `appid`'s own account: its agents, users,
    /// sessions, media and pushes (to the platform's message URL, `$APPID$` filled in,
    /// sealed with the platform's key), with every method of a handle.
    pub fn authorizer(&self, appid: &str) -> Result<MockHandle, MockError> {
        // A read: the web view asks for a handle on every load of an authorizer's page.
        let state = self
            .shared
            .lock()
            .authorizer_states
            .get(appid)
            .map(Arc::clone)
            .ok_or_else(|| MockError::UnknownAuthorizer(appid.to_owned()))?;
        Ok(MockHandle {
            shared: Arc::clone(&self.shared),
            account: Some((appid.into(), state)),
        })
    }

    /// The appid of the account this handle drives (the emulator's own, or an authorizer's).
    pub fn account_appid(&self) -> String {
        self.peek().appid.clone()
    }

    /// Every account that ever authorized the platform, by appid.
    pub fn authorizers(&self) -> Vec<AuthorizerInfo> {
        self.read_platform(|platform| {
            platform
                .authorizers
                .values()
                .map(|authorizer| platform.info(authorizer))
                .collect()
        })
        .unwrap_or_default()
    }

    /// What was asked of the platform so far.
    pub fn platform_stats(&self) -> Result<PlatformStats, MockError> {
        self.read_platform(|platform| platform.stats)
    }

    /// Every push to the 授权事件接收URL, in order.
    pub fn platform_pushes(&self) -> Vec<PushRecord> {
        self.read_platform(|platform| platform.events.log())
            .unwrap_or_default()
    }

    /// Replays WeChat's go-live test (全网发布) against the platform's servers, as WeChat
    /// runs it: the test account authorizes the platform (its `authorized` push), sends
    /// `TESTCOMPONENT_MSG_TYPE_TEXT` (a passive reply `TESTCOMPONENT_MSG_TYPE_TEXT_callback`
    /// is expected), then `QUERY_AUTH_CODE:<code>` (an empty answer within 5 s is expected,
    /// then, within `wait`, the platform exchanges the code and sends `<code>_from_api` by
    /// the customer-service API). See the official page:
    /// <https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/operation/thirdparty/releases_instructions.html>.
    pub async fn go_live_test(&self, wait: Duration) -> Result<GoLiveReport, MockError> {
        self.authorize(GO_LIVE_APPID, &[1, 6]).await?;
        // The code the test account sends is one of its own, not the push's.
        let code = self.authorization_code(GO_LIVE_APPID)?;
        let account = self.authorizer(GO_LIVE_APPID)?;
        let mut problems = Vec::new();
        let passive = account
            .push_text(GO_LIVE_OPENID, "TESTCOMPONENT_MSG_TYPE_TEXT")
            .await?;
        let passive_reply = matches!(
            &passive.outcome,
            PushOutcome::Replied { content: Some(content), .. }
                if content == "TESTCOMPONENT_MSG_TYPE_TEXT_callback"
        );
        if !passive_reply {
            problems.push(format!(
                "TESTCOMPONENT_MSG_TYPE_TEXT: expected the passive reply TESTCOMPONENT_MSG_TYPE_TEXT_callback, got {:?}",
                passive.outcome
            ));
        }
        let asked = account
            .push_text(GO_LIVE_OPENID, &format!("QUERY_AUTH_CODE:{code}"))
            .await?;
        let answered_empty = asked.outcome == PushOutcome::Success && asked.attempts == 1;
        if !answered_empty {
            problems.push(format!(
                "QUERY_AUTH_CODE: expected an empty answer within 5 s, got {:?} after {} attempt(s)",
                asked.outcome, asked.attempts
            ));
        }
        let expected = format!("{code}_from_api");
        let deadline = tokio::time::Instant::now() + wait;
        let sent_from_api = loop {
            let sent = account.conversation(GO_LIVE_OPENID).iter().any(|bubble| {
                bubble.from == crate::Speaker::Agent
                    && bubble
                        .content
                        .get("content")
                        .and_then(serde_json::Value::as_str)
                        == Some(expected.as_str())
            });
            if sent || tokio::time::Instant::now() >= deadline {
                break sent;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !sent_from_api {
            problems.push(format!(
                "QUERY_AUTH_CODE: `<code>_from_api` did not reach the user by the customer-service API within {wait:?}"
            ));
        }
        Ok(GoLiveReport {
            passive_reply,
            answered_empty,
            sent_from_api,
            problems,
        })
    }
}

/// Where an authorizer's pushes go: the message URL with its appid.
fn message_config(
    config: &PlatformConfig,
    authorizer: &Authorizer,
) -> Option<crate::WebhookConfig> {
    let url = config
        .message_url
        .as_ref()?
        .replace("$APPID$", &authorizer.appid);
    crate::WebhookConfig::safe(url, &config.token, &config.encoding_aes_key)
        .ok()
        .map(|webhook| webhook.original_id(&authorizer.original_id))
}

/// Pushes a ticket whenever 10 minutes of the emulator's clock passed since the last; ends
/// with the emulator.
async fn tick(shared: Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = shared.clock.now_ms();
        let due = {
            let mut state = shared.lock();
            match state.platform.as_mut() {
                Some(platform)
                    if platform.config.auth_url.is_some()
                        && platform
                            .last_ticket_ms
                            .is_none_or(|last| now - last >= TICKET_INTERVAL_MS) =>
                {
                    Some((Arc::clone(&platform.events), platform.issue_ticket(now)))
                }
                _ => None,
            }
        };
        if let Some((events, xml)) = due {
            events
                .push_raw("component_verify_ticket", xml, secs(now))
                .await;
        }
        drop(shared);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The web view reloads on every change: a read (the state of an authorizer's page, its
    /// handle, the platform's lists) must not count as one, or the page never settles.
    #[tokio::test]
    async fn reading_the_platform_is_no_change() {
        let mock = crate::MockServer::start().await;
        mock.set_platform(PlatformConfig::new(
            "wxreadcomponent01",
            "secret",
            "token",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ));
        mock.authorize("wxreadmerchant001", &[1]).await.unwrap();
        let changes = mock.shared.changes.watch();
        let before = *changes.borrow();
        let merchant = mock.authorizer("wxreadmerchant001").unwrap();
        let _ = (
            merchant.snapshot(),
            mock.snapshot(),
            merchant.account_appid(),
        );
        let _ = (
            mock.authorizers(),
            mock.platform_stats(),
            mock.platform_pushes(),
        );
        let _ = (
            merchant.wechat_id(),
            merchant.conversation("o_x"),
            mock.latest_ticket(),
        );
        assert_eq!(*changes.borrow(), before, "a read counted as a change");
        merchant.user_message("o_x", "hi");
        assert_ne!(*changes.borrow(), before, "a change is still one");
    }
}
