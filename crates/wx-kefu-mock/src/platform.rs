//! The third-party platform (第三方平台) the emulator plays: its verify tickets, its
//! component token, the authorization flow, and each authorizer's own account.
//!
//! Every authorizer is an account of its own (agents, users, windows, media: a `State` the
//! emulator's state keeps beside this record), reached by its authorizer token: a request whose `access_token` one of them issued is served by
//! that account, as WeChat serves an authorizer's calls. The platform's own calls
//! (`/cgi-bin/component/…`) carry the component token (as `access_token`, or as
//! `component_access_token` on the older pages).
//!
//! The semantics, each from the official pages under
//! developers.weixin.qq.com/doc/oplatform/ (cited in `api-spec/platform.yaml`):
//! - a ticket every 10 minutes of the emulator's clock to the 授权事件接收URL, valid 12 hours
//!   (61005 after, 61006 for one never issued); `api_start_push_ticket` pushes one at once;
//! - a new component token or authorizer token retires the previous one after 5 minutes
//!   (the classic token's grace: the docs say only that the old one stops working);
//! - a refresh token changes only with a re-authorization (61023 for the old one);
//! - a code works once (61009) and for an hour (61010); a revoked account answers 61003,
//!   and its tokens 40001.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::push::{Outbound, text};
use crate::token::{Token, random_hex, secs};

/// How often WeChat pushes a ticket: every 10 minutes.
pub(crate) const TICKET_INTERVAL_MS: i64 = 600_000;

/// How long a ticket is accepted: 12 hours.
pub(crate) const TICKET_LIFETIME_MS: i64 = 12 * 3_600_000;

/// How long an authorization code lives: an hour (recorded redirects say `expires_in=3600`).
pub(crate) const AUTH_CODE_LIFETIME_MS: i64 = 3_600_000;

/// How long a pre-authorization code lives (the page's example: 600 s).
pub(crate) const PRE_AUTH_CODE_LIFETIME_MS: i64 = 600_000;

/// The most tickets remembered (12 hours of pushes every 10 minutes, and some).
const TICKETS_KEPT: usize = 100;

/// The platform an emulator plays: its credentials and where it receives pushes.
#[derive(Clone)]
pub struct PlatformConfig {
    pub(crate) component_appid: String,
    pub(crate) component_secret: String,
    pub(crate) token: String,
    pub(crate) encoding_aes_key: String,
    pub(crate) auth_url: Option<String>,
    pub(crate) message_url: Option<String>,
}

impl std::fmt::Debug for PlatformConfig {
    // The secret, the token and the key stay out of Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("component_appid", &self.component_appid)
            .field("auth_url", &self.auth_url)
            .field("message_url", &self.message_url)
            .finish_non_exhaustive()
    }
}

impl PlatformConfig {
    /// A platform with these credentials: the Token and EncodingAESKey (43 characters)
    /// seal every push to it, as on the platform's 开发配置 page.
    pub fn new(
        component_appid: impl Into<String>,
        component_secret: impl Into<String>,
        token: impl Into<String>,
        encoding_aes_key: impl Into<String>,
    ) -> Self {
        PlatformConfig {
            component_appid: component_appid.into(),
            component_secret: component_secret.into(),
            token: token.into(),
            encoding_aes_key: encoding_aes_key.into(),
            auth_url: None,
            message_url: None,
        }
    }

    /// The 授权事件接收URL: tickets and authorization events go there.
    pub fn auth_events_to(mut self, url: impl Into<String>) -> Self {
        self.auth_url = Some(url.into());
        self
    }

    /// The 消息与事件接收URL, where `$APPID$` becomes each authorizer's appid: the
    /// authorizers' user messages and events go there.
    pub fn messages_to(mut self, url: impl Into<String>) -> Self {
        self.message_url = Some(url.into());
        self
    }

    /// The platform's appid.
    pub fn component_appid(&self) -> &str {
        &self.component_appid
    }
}

/// An account that authorized (or once authorized) the emulated platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AuthorizerInfo {
    /// Its appid.
    pub appid: String,
    /// Its original id (`gh_…`), the `ToUserName` of its pushes.
    pub original_id: String,
    /// Its name.
    pub nickname: String,
    /// The permission sets it granted.
    pub func_info: Vec<u32>,
    /// Whether it authorizes the platform now (false once revoked).
    pub authorized: bool,
    /// How many authorizer tokens were issued for it (`api_authorizer_token` and
    /// `api_query_auth`).
    pub token_fetches: u64,
}

/// The platform's counters: what was asked of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PlatformStats {
    /// Tickets issued.
    pub tickets: u64,
    /// Component tokens issued (`api_component_token`).
    pub component_fetches: u64,
    /// Pages of `api_get_authorizer_list` served.
    pub list_fetches: u64,
    /// `api_start_push_ticket` calls.
    pub push_restarts: u64,
}

/// A code of the authorization flow.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) appid: String,
    pub(crate) expires_ms: i64,
    pub(crate) used: bool,
}

/// One authorizer: what it granted, and where its pushes go (its account's state is kept
/// by the emulator's state, under the same appid).
pub(crate) struct Authorizer {
    pub(crate) appid: String,
    pub(crate) refresh_token: String,
    pub(crate) func_info: Vec<u32>,
    pub(crate) authorized: bool,
    pub(crate) auth_time: i64,
    pub(crate) token_fetches: u64,
    pub(crate) latest_token: Option<String>,
    pub(crate) original_id: String,
    pub(crate) nickname: String,
    /// Its pushes: to the message URL with its appid, sealed with the platform's key.
    pub(crate) outbound: Arc<Outbound>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("appid", &self.appid)
            .field("authorized", &self.authorized)
            .finish_non_exhaustive()
    }
}

/// Everything the platform knows.
pub(crate) struct PlatformState {
    pub(crate) config: PlatformConfig,
    /// Tickets issued, newest last, with when.
    tickets: Vec<(String, i64)>,
    pub(crate) last_ticket_ms: Option<i64>,
    component_tokens: HashMap<String, Token>,
    latest_component: Option<String>,
    pub(crate) pre_auth_codes: HashMap<String, i64>,
    pub(crate) auth_codes: HashMap<String, AuthCode>,
    pub(crate) authorizers: BTreeMap<String, Authorizer>,
    /// Which authorizer issued each authorizer token.
    token_owners: HashMap<String, String>,
    pub(crate) stats: PlatformStats,
    /// Pushes to the 授权事件接收URL.
    pub(crate) events: Arc<Outbound>,
    /// Set by `api_start_push_ticket`: the server pushes a ticket when the call is answered.
    pub(crate) ticket_wanted: bool,
    /// Whether the task that pushes a ticket every 10 minutes runs.
    pub(crate) ticking: bool,
}

impl std::fmt::Debug for PlatformState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformState")
            .field("config", &self.config)
            .field("authorizers", &self.authorizers.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PlatformState {
    pub(crate) fn new(config: PlatformConfig, events: Arc<Outbound>) -> Self {
        PlatformState {
            config,
            tickets: Vec::new(),
            last_ticket_ms: None,
            component_tokens: HashMap::new(),
            latest_component: None,
            pre_auth_codes: HashMap::new(),
            auth_codes: HashMap::new(),
            authorizers: BTreeMap::new(),
            token_owners: HashMap::new(),
            stats: PlatformStats::default(),
            events,
            ticket_wanted: false,
            ticking: false,
        }
    }

    /// A new ticket, issued now; the push's XML.
    pub(crate) fn issue_ticket(&mut self, now_ms: i64) -> String {
        let ticket = format!("ticket@@@{}", random_hex(4));
        self.tickets.push((ticket.clone(), now_ms));
        if self.tickets.len() > TICKETS_KEPT {
            self.tickets.remove(0);
        }
        self.last_ticket_ms = Some(now_ms);
        self.stats.tickets += 1;
        format!(
            "<xml>{}<CreateTime>{}</CreateTime>{}{}</xml>",
            text("AppId", &self.config.component_appid),
            secs(now_ms),
            text("InfoType", "component_verify_ticket"),
            text("ComponentVerifyTicket", &ticket),
        )
    }

    /// The latest ticket issued.
    pub(crate) fn latest_ticket(&self) -> Option<&str> {
        self.tickets.last().map(|(ticket, _)| ticket.as_str())
    }

    /// Whether `ticket` is accepted now: 61006 for one never issued, 61005 past 12 hours.
    pub(crate) fn check_ticket(&self, ticket: &str, now_ms: i64) -> Result<(), i64> {
        let (_, issued) = self
            .tickets
            .iter()
            .find(|(value, _)| value == ticket)
            .ok_or(61006)?;
        if now_ms - issued >= TICKET_LIFETIME_MS {
            return Err(61005);
        }
        Ok(())
    }

    /// A new component token; the previous one works 5 more minutes.
    pub(crate) fn issue_component_token(&mut self, now_ms: i64) -> String {
        retire(
            &mut self.component_tokens,
            self.latest_component.as_deref(),
            now_ms,
        );
        let value = format!("component@@@{}", random_hex(6));
        self.component_tokens
            .insert(value.clone(), Token::issued(now_ms));
        self.latest_component = Some(value.clone());
        self.stats.component_fetches += 1;
        value
    }

    /// Whether a component token is accepted: 41001 missing, 40001 unknown or replaced,
    /// 42001 expired.
    pub(crate) fn check_component_token(
        &self,
        token: Option<&str>,
        now_ms: i64,
    ) -> Result<(), i64> {
        let token = token.filter(|t| !t.is_empty()).ok_or(41001)?;
        self.component_tokens.get(token).ok_or(40001)?.check(now_ms)
    }

    /// A new token for `appid`, and the one it replaces (which the account's state retires):
    /// `None` for an appid that never authorized the platform.
    pub(crate) fn issue_authorizer_token(
        &mut self,
        appid: &str,
    ) -> Option<(String, Option<String>)> {
        let authorizer = self.authorizers.get_mut(appid)?;
        let token = format!("authorizer@@@{}", random_hex(6));
        let previous = authorizer.latest_token.replace(token.clone());
        authorizer.token_fetches += 1;
        self.token_owners.insert(token.clone(), appid.to_owned());
        Some((token, previous))
    }

    /// The authorizer whose token `token` is, if any.
    pub(crate) fn owner(&self, token: Option<&str>) -> Option<&str> {
        self.token_owners.get(token?).map(String::as_str)
    }

    /// A new authorization code for `appid`.
    pub(crate) fn issue_auth_code(&mut self, appid: &str, now_ms: i64) -> String {
        let code = format!("queryauthcode@@@{}", random_hex(4));
        self.auth_codes.insert(
            code.clone(),
            AuthCode {
                appid: appid.to_owned(),
                expires_ms: now_ms + AUTH_CODE_LIFETIME_MS,
                used: false,
            },
        );
        code
    }

    pub(crate) fn info(&self, authorizer: &Authorizer) -> AuthorizerInfo {
        AuthorizerInfo {
            appid: authorizer.appid.clone(),
            original_id: authorizer.original_id.clone(),
            nickname: authorizer.nickname.clone(),
            func_info: authorizer.func_info.clone(),
            authorized: authorizer.authorized,
            token_fetches: authorizer.token_fetches,
        }
    }
}

/// Lets `previous` work 5 more minutes at most.
fn retire(tokens: &mut HashMap<String, Token>, previous: Option<&str>, now_ms: i64) {
    if let Some(token) = previous.and_then(|value| tokens.get_mut(value)) {
        token.retire(now_ms);
    }
}

/// An authorization event's XML (`authorized`, `updateauthorized` with a code;
/// `unauthorized` without).
pub(crate) fn authorization_xml(
    component_appid: &str,
    info_type: &str,
    authorizer: &str,
    code: Option<(&str, i64)>,
    now_ms: i64,
) -> String {
    let code = code
        .map(|(code, expires_ms)| {
            format!(
                "{}<AuthorizationCodeExpiredTime>{}</AuthorizationCodeExpiredTime>{}",
                text("AuthorizationCode", code),
                secs(expires_ms),
                text("PreAuthCode", &format!("preauthcode@@@{}", random_hex(2))),
            )
        })
        .unwrap_or_default();
    format!(
        "<xml>{}<CreateTime>{}</CreateTime>{}{}{code}</xml>",
        text("AppId", component_appid),
        secs(now_ms),
        text("InfoType", info_type),
        text("AuthorizerAppid", authorizer),
    )
}
