//! What each component endpoint (`/cgi-bin/component/…`) does to the emulated platform,
//! with WeChat's semantics and errcodes (see `platform.rs` for the rules and their sources).

use serde_json::{Value, json};
use wx_kefu_api as api;

use crate::answer::{Outcome, WxError, ok};
use crate::platform::{Authorizer, PRE_AUTH_CODE_LIFETIME_MS, PlatformState};
use crate::state::{State, random_hex};

fn err(code: i64) -> WxError {
    WxError::new(code)
}

/// The platform, when the request names it: 61011 for another component appid, or when
/// the emulator plays none.
fn platform<'a>(
    state: &'a mut State,
    component_appid: &str,
) -> Result<&'a mut PlatformState, WxError> {
    match state.platform.as_mut() {
        Some(platform) if platform.config.component_appid == component_appid => Ok(platform),
        Some(_) => Err(err(61011).hint("not the emulated platform's component appid")),
        None => Err(err(61011).hint("the emulator plays no platform (set_platform)")),
    }
}

/// An account that authorizes the platform now: 61003 for one that never did or revoked.
fn authorizing<'a>(platform: &'a PlatformState, appid: &str) -> Result<&'a Authorizer, WxError> {
    platform
        .authorizers
        .get(appid)
        .filter(|authorizer| authorizer.authorized)
        .ok_or_else(|| err(61003))
}

fn expires_in(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// `api_start_push_ticket`: a ticket is pushed when the call is answered.
pub(crate) fn start_push_ticket(
    state: &mut State,
    _now: i64,
    req: &api::StartPushTicket,
) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    if req.component_secret != platform.config.component_secret {
        return Err(err(40125));
    }
    platform.stats.push_restarts += 1;
    platform.ticket_wanted = true;
    ok()
}

/// `api_component_token`: a new token from a ticket issued within 12 hours.
pub(crate) fn get_component_access_token(
    state: &mut State,
    now: i64,
    req: &api::GetComponentAccessToken,
) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    if req.component_appsecret != platform.config.component_secret {
        return Err(err(40125));
    }
    platform
        .check_ticket(&req.component_verify_ticket, now)
        .map_err(err)?;
    let token = platform.issue_component_token(now);
    Ok(json!({
        "component_access_token": token,
        "expires_in": expires_in(crate::state::TOKEN_LIFETIME_MS),
    }))
}

/// `api_create_preauthcode`.
pub(crate) fn create_pre_auth_code(
    state: &mut State,
    now: i64,
    req: &api::CreatePreAuthCode,
) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    let code = format!("preauthcode@@@{}", random_hex(4));
    platform
        .pre_auth_codes
        .insert(code.clone(), now + PRE_AUTH_CODE_LIFETIME_MS);
    Ok(json!({ "pre_auth_code": code, "expires_in": expires_in(PRE_AUTH_CODE_LIFETIME_MS) }))
}

fn func_info(sets: &[u32]) -> Value {
    Value::Array(
        sets.iter()
            .map(|id| json!({ "funcscope_category": { "id": id } }))
            .collect(),
    )
}

/// `api_query_auth`: a code once, within its hour; a new authorizer token comes with it.
pub(crate) fn query_auth(state: &mut State, now: i64, req: &api::QueryAuth) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    let code = platform
        .auth_codes
        .get_mut(&req.authorization_code)
        .ok_or_else(|| err(61009))?;
    if code.used {
        return Err(err(61009).hint("a code works once"));
    }
    if now >= code.expires_ms {
        return Err(err(61010));
    }
    code.used = true;
    let appid = code.appid.clone();
    let Some(token) = state.issue_authorizer_token(&appid, now) else {
        return Err(err(61003));
    };
    let Some(authorizer) = state
        .platform
        .as_ref()
        .and_then(|platform| platform.authorizers.get(&appid))
    else {
        return Err(err(61003));
    };
    Ok(json!({
        "authorization_info": {
            "authorizer_appid": appid,
            "authorizer_access_token": token,
            "expires_in": expires_in(crate::state::TOKEN_LIFETIME_MS),
            "authorizer_refresh_token": authorizer.refresh_token,
            "func_info": func_info(&authorizer.func_info),
        }
    }))
}

/// `api_authorizer_token`: a new token from the authorizer's current refresh token.
pub(crate) fn get_authorizer_token(
    state: &mut State,
    now: i64,
    req: &api::GetAuthorizerToken,
) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    let authorizer = authorizing(platform, &req.authorizer_appid)?;
    if authorizer.refresh_token != req.authorizer_refresh_token {
        return Err(err(61023));
    }
    let refresh_token = authorizer.refresh_token.clone();
    let token = state
        .issue_authorizer_token(&req.authorizer_appid, now)
        .ok_or_else(|| err(61003))?;
    Ok(json!({
        "authorizer_access_token": token,
        "expires_in": expires_in(crate::state::TOKEN_LIFETIME_MS),
        "authorizer_refresh_token": refresh_token,
    }))
}

/// `api_get_authorizer_list`: the accounts that authorize the platform now, by appid.
pub(crate) fn get_authorizer_list(
    state: &mut State,
    _now: i64,
    req: &api::GetAuthorizerList,
) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    platform.stats.list_fetches += 1;
    let authorized: Vec<_> = platform
        .authorizers
        .values()
        .filter(|authorizer| authorizer.authorized)
        .collect();
    let offset = usize::try_from(req.offset).unwrap_or(0);
    let count = usize::try_from(req.count).unwrap_or(0);
    let list: Vec<Value> = authorized
        .iter()
        .skip(offset)
        .take(count)
        .map(|authorizer| {
            json!({
                "authorizer_appid": authorizer.appid,
                "refresh_token": authorizer.refresh_token,
                "auth_time": authorizer.auth_time,
            })
        })
        .collect();
    Ok(json!({ "total_count": authorized.len(), "list": list }))
}

/// `api_get_authorizer_info`.
pub(crate) fn get_authorizer_info(
    state: &mut State,
    _now: i64,
    req: &api::GetAuthorizerInfo,
) -> Outcome {
    let platform = platform(state, &req.component_appid)?;
    let authorizer = authorizing(platform, &req.authorizer_appid)?;
    Ok(json!({
        "authorizer_info": {
            "nick_name": authorizer.nickname,
            "user_name": authorizer.original_id,
            "principal_name": format!("{} 有限公司", authorizer.nickname),
            "service_type_info": { "id": 2 },
            "verify_type_info": { "id": 0 },
        },
        "authorization_info": {
            "authorizer_appid": authorizer.appid,
            "func_info": func_info(&authorizer.func_info),
        }
    }))
}
