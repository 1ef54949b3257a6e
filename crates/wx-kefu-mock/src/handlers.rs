//! What each endpoint does to the emulated account, with WeChat's semantics and errcodes.
//!
//! Answers are plain JSON in the shapes of WeChat's documentation, not the SDK's response
//! types, so that a mistake in those types cannot hide behind the emulator.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wx_kefu_api as api;
use wx_kefu_api::Endpoint;
use wx_kefu_runtime::meta::EndpointMeta;

use crate::answer::{Outcome, WxError, ok};
use crate::spec::{self, Checked, TypedCheck};
use crate::state::{
    CLASSIC_DAILY_QUOTA, CLASSIC_GRACE_MS, FORCE_REFRESH_DAILY_QUOTA, FORCE_REFRESH_INTERVAL_MS,
    INVITE_LIFETIME_S, InvitationStatus, Invite, MockError, OPERCODE_AGENT_SENT,
    STABLE_ROTATE_BEFORE_MS, SendRefused, Session, State, TYPING_LASTS_MS,
    TYPING_NEEDS_INTERACTION_MS, random_hex, secs,
};

/// The logic of one endpoint: the state, the time (unix ms) and the checked request.
pub(crate) type Handler = fn(&mut State, i64, &Checked) -> Outcome;

/// An endpoint of the spec with its typed check and its logic.
pub(crate) struct Route {
    pub(crate) meta: &'static EndpointMeta,
    pub(crate) check: TypedCheck,
    pub(crate) handle: Handler,
}

/// A route whose request is JSON or query fields, checked by the SDK's request type `T`.
const fn typed<T: Endpoint + DeserializeOwned>(handle: Handler) -> Route {
    Route {
        meta: T::META,
        check: spec::typed::<T>,
        handle,
    }
}

/// Every emulated endpoint.
pub(crate) static ROUTES: &[Route] = &[
    typed::<api::GetStableAccessToken>(get_stable_access_token),
    typed::<api::GetAccessToken>(get_access_token),
    typed::<api::AddKfAccount>(add_kf_account),
    typed::<api::UpdateKfAccount>(update_kf_account),
    typed::<api::DelKfAccount>(del_kf_account),
    typed::<api::InviteKfWorker>(invite_kf_worker),
    Route {
        meta: <api::UploadKfHeadImg as Endpoint>::META,
        check: spec::upload,
        handle: upload_kf_head_img,
    },
    typed::<api::GetKfList>(get_kf_list),
    typed::<api::GetOnlineKfList>(get_online_kf_list),
    typed::<api::CreateKfSession>(create_kf_session),
    typed::<api::CloseSession>(close_session),
    typed::<api::GetKfSession>(get_kf_session),
    typed::<api::GetKfSessionList>(get_kf_session_list),
    typed::<api::GetWaitCase>(get_wait_case),
    typed::<api::GetMsgList>(get_msg_list),
    typed::<api::SendCustomMessage>(send_custom_message),
    typed::<api::Typing>(typing),
];

/// The route of an endpoint.
pub(crate) fn route(meta: &EndpointMeta) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.meta.name == meta.name)
}

fn err(code: i64) -> WxError {
    WxError::new(code)
}

// ---- access tokens ----

fn credentials(state: &State, req: &Checked) -> Result<(), WxError> {
    // `grant_type` is checked by the spec's rule (errcode 40002).
    if req.str("appid") != state.appid {
        return Err(err(40013));
    }
    if req.str("secret") != state.secret {
        return Err(err(40125));
    }
    Ok(())
}

fn token_answer(state: &State, token: String, now: i64) -> Outcome {
    let expires_at = state.tokens.get(&token).map_or(now, |t| t.expires_at_ms);
    Ok(json!({ "access_token": token, "expires_in": (expires_at - now).div_euclid(1000) }))
}

/// `POST /cgi-bin/stable_token`: the same token while it has more than 5 minutes left;
/// `force_refresh` replaces it at once (at most 20 a day, 30 s apart).
fn get_stable_access_token(state: &mut State, now: i64, req: &Checked) -> Outcome {
    credentials(state, req)?;
    let current = state.current_stable.clone();
    let token = if req.bool("force_refresh") {
        if state
            .last_force_ms
            .is_some_and(|last| now - last < FORCE_REFRESH_INTERVAL_MS)
        {
            return Err(err(45011).hint("force_refresh at most once per 30 seconds"));
        }
        if !state.force_quota.take(FORCE_REFRESH_DAILY_QUOTA, now) {
            return Err(err(45009).hint("force_refresh at most 20 times a day"));
        }
        state.last_force_ms = Some(now);
        if let Some(old) = current
            .as_ref()
            .and_then(|value| state.tokens.get_mut(value))
        {
            old.invalid_after_ms = Some(now);
        }
        state.issue_token(now)
    } else {
        let reusable = current.filter(|value| {
            state.tokens.get(value).is_some_and(|t| {
                t.invalid_after_ms.is_none() && t.expires_at_ms - now > STABLE_ROTATE_BEFORE_MS
            })
        });
        match reusable {
            Some(value) => value,
            // The old token stays valid until it expires: both work meanwhile.
            None => state.issue_token(now),
        }
    };
    state.current_stable = Some(token.clone());
    state.stable_fetches += 1;
    token_answer(state, token, now)
}

/// `GET /cgi-bin/token`: a new token each time; the previous one works 5 more minutes.
fn get_access_token(state: &mut State, now: i64, req: &Checked) -> Outcome {
    credentials(state, req)?;
    if !state.classic_quota.take(CLASSIC_DAILY_QUOTA, now) {
        return Err(err(45009));
    }
    if let Some(old) = state
        .latest_classic
        .clone()
        .and_then(|value| state.tokens.get_mut(&value))
    {
        let grace_end = now + CLASSIC_GRACE_MS;
        old.invalid_after_ms = Some(
            old.invalid_after_ms
                .map_or(grace_end, |at| at.min(grace_end)),
        );
    }
    let token = state.issue_token(now);
    state.latest_classic = Some(token.clone());
    state.classic_fetches += 1;
    token_answer(state, token, now)
}

// ---- agent accounts ----

fn add_kf_account(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    match state.add_account(req.str("kf_account"), req.str("nickname")) {
        Ok(()) => ok(),
        Err(MockError::AccountExists(_)) => Err(err(65406)),
        Err(MockError::TooManyAccounts) => Err(err(65405)),
        Err(other) => Err(err(-1).hint(other.to_string())),
    }
}

fn update_kf_account(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let account = state
        .account_mut(req.str("kf_account"))
        .ok_or_else(|| err(65401))?;
    account.nickname = req.str("nickname").to_owned();
    ok()
}

fn del_kf_account(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let kf_account = req.str("kf_account");
    let index = state
        .accounts
        .iter()
        .position(|a| a.kf_account == kf_account)
        .ok_or_else(|| err(65401))?;
    state.accounts.remove(index);
    let served: Vec<String> = state
        .sessions
        .iter()
        .filter(|(_, session)| session.kf_account == kf_account)
        .map(|(openid, _)| openid.clone())
        .collect();
    for openid in served {
        state.end_session(&openid);
    }
    ok()
}

fn invite_kf_worker(state: &mut State, now: i64, req: &Checked) -> Outcome {
    let kf_account = req.str("kf_account");
    let wx = req.str("invite_wx");
    let account = state.account(kf_account).ok_or_else(|| err(65401))?;
    if account.kf_wx.is_some() {
        return Err(err(65412));
    }
    let waiting = |invite: &Invite| invite.status_at(now) == InvitationStatus::Waiting;
    if account.invite.as_ref().is_some_and(waiting) {
        return Err(err(65411));
    }
    if state
        .accounts
        .iter()
        .any(|a| a.kf_wx.as_deref() == Some(wx))
    {
        return Err(err(65407));
    }
    if state
        .accounts
        .iter()
        .any(|a| a.invite.as_ref().is_some_and(|i| waiting(i) && i.wx == wx))
    {
        return Err(err(65408));
    }
    if state.workers_at_limit.contains(wx) {
        return Err(err(65410));
    }
    let account = state.account_mut(kf_account).ok_or_else(|| err(65401))?;
    account.invite = Some(Invite {
        wx: wx.to_owned(),
        expire_time: secs(now) + INVITE_LIFETIME_S,
        status: InvitationStatus::Waiting,
    });
    ok()
}

fn upload_kf_head_img(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let account = state
        .account_mut(req.str("kf_account"))
        .ok_or_else(|| err(65401))?;
    let size = req.file.as_ref().map_or(0, |file| file.data.len());
    account.headimgurl = Some(format!("http://mmbiz.qpic.cn/mmbiz/{}/0", random_hex(3)));
    account.avatar_bytes = Some(size);
    ok()
}

/// `kf_list`, with `kf_id` as a string, as in WeChat's sample.
fn get_kf_list(state: &mut State, now: i64, _req: &Checked) -> Outcome {
    let list: Vec<Value> = state
        .accounts
        .iter()
        .map(|account| {
            let mut item = json!({
                "kf_account": account.kf_account,
                "kf_id": account.kf_id.to_string(),
                "kf_nick": account.nickname,
            });
            if let Some(url) = &account.headimgurl {
                item["kf_headimgurl"] = json!(url);
            }
            if let Some(wx) = &account.kf_wx {
                item["kf_wx"] = json!(wx);
            }
            if let Some(openid) = &account.kf_openid {
                item["kf_openid"] = json!(openid);
            }
            if let Some(invite) = &account.invite {
                item["invite_wx"] = json!(invite.wx);
                item["invite_expire_time"] = json!(invite.expire_time);
                item["invite_status"] = json!(invite.status_at(now).as_str());
            }
            item
        })
        .collect();
    Ok(json!({ "kf_list": list }))
}

/// `kf_online_list`, with `kf_id` as a number, as the newer documentation types it.
fn get_online_kf_list(state: &mut State, _now: i64, _req: &Checked) -> Outcome {
    let list: Vec<Value> = state
        .accounts
        .iter()
        .filter(|account| account.online)
        .map(|account| {
            let mut item = json!({
                "kf_account": account.kf_account,
                "status": 1,
                "kf_id": account.kf_id,
                "accepted_case": state.accepted_case(&account.kf_account),
            });
            if let Some(openid) = &account.kf_openid {
                item["kf_openid"] = json!(openid);
            }
            item
        })
        .collect();
    Ok(json!({ "kf_online_list": list }))
}

// ---- sessions ----

/// The agent exists (65401) and is bound to a WeChat user (65402).
fn bound_agent(state: &State, kf_account: &str) -> Result<(), WxError> {
    let account = state.account(kf_account).ok_or_else(|| err(65401))?;
    if account.kf_wx.is_none() {
        return Err(err(65402));
    }
    Ok(())
}

fn known_user(state: &State, openid: &str) -> Result<(), WxError> {
    if state.users.contains_key(openid) {
        Ok(())
    } else {
        Err(err(40003))
    }
}

fn create_kf_session(state: &mut State, now: i64, req: &Checked) -> Outcome {
    let kf_account = req.str("kf_account");
    let openid = req.str("openid");
    bound_agent(state, kf_account)?;
    if !state.account(kf_account).is_some_and(|a| a.online) {
        return Err(err(65415));
    }
    known_user(state, openid)?;
    match state.sessions.get(openid) {
        Some(session) if session.kf_account == kf_account => return ok(),
        Some(_) => return Err(err(65414)),
        None => {}
    }
    state.open_session(openid, kf_account, now);
    ok()
}

fn close_session(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let kf_account = req.str("kf_account");
    let openid = req.str("openid");
    state.account(kf_account).ok_or_else(|| err(65401))?;
    known_user(state, openid)?;
    match state.sessions.get(openid) {
        None => Err(err(65413)),
        Some(session) if session.kf_account != kf_account => Err(err(65414)),
        Some(_) => {
            state.end_session(openid);
            ok()
        }
    }
}

fn get_kf_session(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let openid = req.str("openid");
    known_user(state, openid)?;
    let (kf_account, createtime) = state
        .sessions
        .get(openid)
        .map_or((String::new(), 0), |s| (s.kf_account.clone(), s.createtime));
    Ok(json!({ "createtime": createtime, "errcode": 0, "errmsg": "ok", "kf_account": kf_account }))
}

fn get_kf_session_list(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let kf_account = req.str("kf_account");
    bound_agent(state, kf_account)?;
    let mut sessions: Vec<(&String, &Session)> = state
        .sessions
        .iter()
        .filter(|(_, s)| s.kf_account == kf_account)
        .collect();
    sessions.sort_by_key(|(openid, s)| (s.createtime, openid.as_str()));
    let list: Vec<Value> = sessions
        .into_iter()
        .map(|(openid, s)| json!({ "createtime": s.createtime, "openid": openid }))
        .collect();
    Ok(json!({ "sessionlist": list }))
}

/// At most 100 waiting users, earliest first, with the true count.
fn get_wait_case(state: &mut State, _now: i64, _req: &Checked) -> Outcome {
    let list: Vec<Value> = state
        .waiting
        .iter()
        .take(100)
        .map(|w| json!({ "latest_time": w.latest_time, "openid": w.openid }))
        .collect();
    Ok(json!({ "count": state.waiting.len(), "waitcaselist": list }))
}

// ---- chat records ----

/// Records with `msgid` at or after the one asked, in the window, up to `number`; the
/// returned `msgid` is where the next page starts, and an empty page ends the window.
fn get_msg_list(state: &mut State, _now: i64, req: &Checked) -> Outcome {
    let (start, end) = (req.int("starttime"), req.int("endtime"));
    let from = req.int("msgid");
    let number = usize::try_from(req.int("number")).unwrap_or(0);
    let page: Vec<_> = state
        .records
        .iter()
        .filter(|r| r.msgid >= from && (start..=end).contains(&r.time))
        .take(number)
        .collect();
    let next = page.last().map_or(from, |r| r.msgid + 1);
    let list: Vec<Value> = page
        .iter()
        .map(|r| {
            json!({
                "openid": r.openid,
                "opercode": r.opercode,
                "text": r.text,
                "time": r.time,
                "worker": r.worker,
            })
        })
        .collect();
    Ok(json!({ "recordlist": list, "number": list.len(), "msgid": next }))
}

// ---- messages ----

/// How a sent message reads in the chat records.
fn record_text(req: &Checked) -> String {
    match req.str("msgtype") {
        "text" => req
            .get(&["text", "content"])
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        other => format!("[{other}]"),
    }
}

fn send_custom_message(state: &mut State, now: i64, req: &Checked) -> Outcome {
    let openid = req.str("touser");
    known_user(state, openid)?;
    let worker = match req
        .get(&["customservice", "kf_account"])
        .and_then(Value::as_str)
    {
        Some(kf_account) => {
            state.account(kf_account).ok_or_else(|| err(65401))?;
            kf_account.to_owned()
        }
        None => state
            .sessions
            .get(openid)
            .map(|s| s.kf_account.clone())
            .unwrap_or_default(),
    };
    let user = state.user_mut(openid);
    if user.unfollowed {
        return Err(err(43004));
    }
    user.consume(now).map_err(|refused| match refused {
        SendRefused::OutOfWindow => err(45015),
        SendRefused::OverCount => err(45047),
    })?;
    user.typing_until_ms = None;
    state.record(openid, OPERCODE_AGENT_SENT, &record_text(req), worker, now);
    ok()
}

fn typing(state: &mut State, now: i64, req: &Checked) -> Outcome {
    let openid = req.str("touser");
    known_user(state, openid)?;
    let user = state.user_mut(openid);
    let recent = |at: i64| now - at <= TYPING_NEEDS_INTERACTION_MS;
    if !user.last_interaction_ms.is_some_and(recent) {
        return Err(err(45080));
    }
    match req.str("command") {
        "Typing" => {
            if user.is_typing(now) {
                return Err(err(45081));
            }
            user.typing_until_ms = Some(now + TYPING_LASTS_MS);
        }
        "CancelTyping" => user.typing_until_ms = None,
        _ => return Err(err(45072)),
    }
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_an_endpoint_of_the_spec_and_routed_once() {
        // An endpoint of the spec without a route is answered "not emulated" (48001); see
        // `server::tests`. A route must name an endpoint of the spec, once.
        for route in ROUTES {
            let in_spec = wx_kefu_api::ENDPOINTS
                .iter()
                .any(|meta| meta.name == route.meta.name && meta.path == route.meta.path);
            assert!(
                in_spec,
                "{} is not an endpoint of the spec",
                route.meta.name
            );
            let routes = ROUTES
                .iter()
                .filter(|r| r.meta.name == route.meta.name)
                .count();
            assert_eq!(routes, 1, "{} has {routes} routes", route.meta.name);
        }
    }
}
