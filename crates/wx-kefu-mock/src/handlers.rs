//! What each endpoint does to the emulated account, with WeChat's semantics and errcodes.
//!
//! Answers are plain JSON in the shapes of WeChat's documentation, not the SDK's response
//! types, so that a mistake in those types cannot hide behind the emulator.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wx_kefu_api as api;
use wx_kefu_api::{Body, Endpoint, Invalid, Rule, Upload};
use wx_kefu_runtime::meta::EndpointMeta;

use crate::answer::{Answer, Outcome, WxError, ok};
use crate::component;
use crate::notify::TemplateInfo;
use crate::spec::Checked;
use crate::state::{
    Bubble, CLASSIC_DAILY_QUOTA, CLASSIC_GRACE_MS, FORCE_REFRESH_DAILY_QUOTA,
    FORCE_REFRESH_INTERVAL_MS, INVITE_LIFETIME_S, InvitationStatus, Invite, MockError,
    OPERCODE_AGENT_SENT, STABLE_ROTATE_BEFORE_MS, SendRefused, Session, Speaker, State,
    StoredMedia, TYPING_LASTS_MS, TYPING_NEEDS_INTERACTION_MS, random_hex, secs,
};

/// One endpoint's behaviour, erased to run on the fields the structural checks passed:
/// [`run`] rebuilds the typed request, checks it as the SDK would, and hands it to the
/// endpoint's function.
pub(crate) type Handler = fn(&mut State, i64, &Checked) -> Result<Answer, WxError>;

/// An endpoint of the spec with its behaviour.
pub(crate) struct Route {
    pub(crate) meta: &'static EndpointMeta,
    pub(crate) handle: Handler,
}

/// A route: the SDK's request type of the endpoint, and the function that gives it
/// WeChat's behaviour on that typed request (`fn(&mut State, now_ms, &Request) -> Outcome`);
/// optionally how the request is rebuilt from what arrived (default: its JSON fields).
macro_rules! route {
    ($request:ty, $behaviour:expr) => {
        route!($request, $behaviour, from_fields::<$request>)
    };
    ($request:ty, $behaviour:expr, $build:expr) => {
        Route {
            meta: <$request as Endpoint>::META,
            handle: |state, now, checked| {
                run::<$request, _>(state, now, checked, $build, $behaviour)
            },
        }
    };
}

/// An upload request, from its fields and the multipart file: the file field is read as
/// a path by serde, then given the bytes that arrived (every upload's field is `media`).
macro_rules! upload {
    ($request:ty) => {
        |checked: &Checked| -> Result<$request, WxError> {
            let (mut request, media) = upload_parts::<$request>(checked)?;
            request.media = media;
            Ok(request)
        }
    };
}

/// Every emulated endpoint: one line each; an endpoint of the spec not listed here is
/// answered "not emulated".
pub(crate) static ROUTES: &[Route] = &[
    route!(api::GetStableAccessToken, get_stable_access_token),
    route!(api::GetAccessToken, get_access_token),
    route!(api::AddKfAccount, add_kf_account),
    route!(api::UpdateKfAccount, update_kf_account),
    route!(api::DelKfAccount, del_kf_account),
    route!(api::InviteKfWorker, invite_kf_worker),
    route!(
        api::UploadKfHeadImg,
        upload_kf_head_img,
        upload!(api::UploadKfHeadImg)
    ),
    route!(api::GetKfList, get_kf_list),
    route!(api::GetOnlineKfList, get_online_kf_list),
    route!(
        api::UploadTempMedia,
        upload_temp_media,
        upload!(api::UploadTempMedia)
    ),
    route!(api::GetTempMedia, get_temp_media),
    route!(api::AddMaterial, add_material, upload!(api::AddMaterial)),
    route!(api::GetMaterial, get_material),
    route!(api::DelMaterial, del_material),
    route!(api::GetMaterialCount, get_material_count),
    route!(api::CreateKfSession, create_kf_session),
    route!(api::CloseSession, close_session),
    route!(api::GetKfSession, get_kf_session),
    route!(api::GetKfSessionList, get_kf_session_list),
    route!(api::GetWaitCase, get_wait_case),
    route!(api::GetMsgList, get_msg_list),
    route!(api::SendCustomMessage, send_custom_message),
    route!(api::Typing, typing),
    route!(api::SendTemplateMessage, send_template_message),
    route!(api::SendSubscribeMessage, send_subscribe_message),
    route!(api::GetAllPrivateTemplate, get_all_private_template),
    route!(api::DelPrivateTemplate, del_private_template),
    route!(api::GetIndustry, get_industry),
    route!(api::StartPushTicket, component::start_push_ticket),
    route!(
        api::GetComponentAccessToken,
        component::get_component_access_token
    ),
    route!(api::CreatePreAuthCode, component::create_pre_auth_code),
    route!(api::QueryAuth, component::query_auth),
    route!(api::GetAuthorizerToken, component::get_authorizer_token),
    route!(api::GetAuthorizerList, component::get_authorizer_list),
    route!(api::GetAuthorizerInfo, component::get_authorizer_info),
];

/// WeChat's answer to a request that breaks a rule of the spec: the errcode the spec gives
/// the rule. A rule with an errcode of its own (an empty text, an end before the start) has
/// it under a suffix of the field's path; the field's errcode is the other rules'.
pub(crate) fn broken_rule(meta: &EndpointMeta, invalid: &Invalid) -> WxError {
    let own = match &invalid.rule {
        Rule::Required | Rule::MinChars { actual: 0, .. } => {
            meta.errcode_for(&format!("{}/empty", invalid.field))
        }
        Rule::Span { actual, .. } if *actual < 0 => {
            meta.errcode_for(&format!("{}/order", invalid.field))
        }
        _ => None,
    }
    // A rule with an errcode of its own (`rule_errcodes`).
    .or_else(|| {
        let key = invalid.rule.key()?;
        meta.errcode_for(&format!("{}/{key}", invalid.field))
    });
    // The field's own errcode, else its nearest parent's: a map entry's value
    // (`data.thing1.value`) answers the map's (`data`: 47003).
    let mut path = invalid.field.as_str();
    let inherited = loop {
        if let Some(code) = meta.errcode_for(path) {
            break Some(code);
        }
        match path.rsplit_once('.') {
            Some((parent, _)) => path = parent,
            None => break None,
        }
    };
    let code = own.or(inherited).unwrap_or(47001);
    WxError::new(code).hint(invalid.to_string())
}

/// Rebuilds the typed request (its rules already checked by the SDK's own `validate()`,
/// `server::check_rules`), checks an upload's file against the size and kind the request's
/// multipart part declares, then runs the behaviour.
fn run<T: Endpoint, A: Into<Answer>>(
    state: &mut State,
    now: i64,
    checked: &Checked,
    build: fn(&Checked) -> Result<T, WxError>,
    behaviour: fn(&mut State, i64, &T) -> Result<A, WxError>,
) -> Result<Answer, WxError> {
    let meta = T::META;
    // Its rules were checked before the route was chosen (`server::check_rules`).
    let request = build(checked)?;
    if let (Body::Multipart(part), Some(file)) = (request.parts().body, &checked.file) {
        let kind_code = meta.errcode_for(part.field).unwrap_or(47001);
        let size_code = meta
            .errcode_for(&format!("{}/size", part.field))
            .unwrap_or(kind_code);
        let size = file.data.len() as u64;
        if size > part.limits.max_bytes {
            return Err(WxError::new(size_code).hint(format!(
                "`{}` is {size} bytes, more than the {} allowed",
                part.field, part.limits.max_bytes
            )));
        }
        if !part.limits.accepts(&file.data) {
            return Err(WxError::new(kind_code).hint(format!(
                "`{}` is not a {} file",
                part.field, part.limits.expected
            )));
        }
    }
    behaviour(state, now, &request).map(Into::into)
}

/// A JSON or query request, from its fields.
fn from_fields<T: DeserializeOwned>(checked: &Checked) -> Result<T, WxError> {
    serde_json::from_value(Value::Object(checked.fields.clone()))
        .map_err(|error| WxError::new(47001).hint(error.to_string()))
}

/// The request of an upload with its file's name for a path, and the file that arrived.
fn upload_parts<T: DeserializeOwned>(checked: &Checked) -> Result<(T, Upload), WxError> {
    let file = checked.file.as_ref().ok_or_else(|| err(41005))?;
    let filename = file.filename.clone().unwrap_or_else(|| "media".to_owned());
    let mut fields = checked.fields.clone();
    fields.insert(file.name.clone(), Value::String(filename.clone()));
    let request: T = serde_json::from_value(Value::Object(fields))
        .map_err(|error| WxError::new(47001).hint(error.to_string()))?;
    let mut upload = Upload::bytes(file.data.clone(), filename);
    if let Some(content_type) = &file.content_type {
        upload = upload.content_type(content_type.clone());
    }
    Ok((request, upload))
}

/// The route of an endpoint.
pub(crate) fn route(meta: &EndpointMeta) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.meta.name == meta.name)
}

fn err(code: i64) -> WxError {
    WxError::new(code)
}

// ---- access tokens ----

fn credentials(state: &State, appid: &str, secret: &str) -> Result<(), WxError> {
    // `grant_type` is checked by the spec's rule (errcode 40002).
    if appid != state.appid {
        return Err(err(40013));
    }
    if secret != state.secret {
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
fn get_stable_access_token(
    state: &mut State,
    now: i64,
    req: &api::GetStableAccessToken,
) -> Outcome {
    credentials(state, &req.appid, &req.secret)?;
    let current = state.current_stable.clone();
    let token = if req.force_refresh == Some(true) {
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
fn get_access_token(state: &mut State, now: i64, req: &api::GetAccessToken) -> Outcome {
    credentials(state, &req.appid, &req.secret)?;
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

fn add_kf_account(state: &mut State, _now: i64, req: &api::AddKfAccount) -> Outcome {
    // The account's own WeChat ID after the `@`, once the emulator knows it.
    if let Some(id) = &state.wechat_id
        && req.kf_account.rsplit_once('@').map(|(_, suffix)| suffix) != Some(id.as_str())
    {
        return Err(err(65404).hint(format!("the suffix must be the account's WeChat ID `{id}`")));
    }
    match state.add_account(&req.kf_account, &req.nickname) {
        Ok(()) => ok(),
        Err(MockError::AccountExists(_)) => Err(err(65406)),
        Err(MockError::TooManyAccounts) => Err(err(65405)),
        Err(other) => Err(err(-1).hint(other.to_string())),
    }
}

fn update_kf_account(state: &mut State, _now: i64, req: &api::UpdateKfAccount) -> Outcome {
    let account = state
        .account_mut(&req.kf_account)
        .ok_or_else(|| err(65401))?;
    account.nickname = req.nickname.clone();
    ok()
}

fn del_kf_account(state: &mut State, _now: i64, req: &api::DelKfAccount) -> Outcome {
    let kf_account = req.kf_account.as_str();
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

fn invite_kf_worker(state: &mut State, now: i64, req: &api::InviteKfWorker) -> Outcome {
    let kf_account = req.kf_account.as_str();
    let wx = req.invite_wx.as_str();
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

fn upload_kf_head_img(state: &mut State, _now: i64, req: &api::UploadKfHeadImg) -> Outcome {
    let account = state
        .account_mut(&req.kf_account)
        .ok_or_else(|| err(65401))?;
    let size = req
        .media
        .size()
        .and_then(|size| usize::try_from(size).ok())
        .unwrap_or(0);
    account.headimgurl = Some(format!("http://mmbiz.qpic.cn/mmbiz/{}/0", random_hex(3)));
    account.avatar_bytes = Some(size);
    ok()
}

/// `kf_list`, with `kf_id` as a string, as in WeChat's sample.
fn get_kf_list(state: &mut State, now: i64, _req: &api::GetKfList) -> Outcome {
    let list: Vec<Value> = state
        .accounts
        .iter()
        .map(|account| {
            // The documented item always has `kf_headimgurl`: empty until an avatar is set.
            let mut item = json!({
                "kf_account": account.kf_account,
                "kf_headimgurl": account.headimgurl.as_deref().unwrap_or_default(),
                "kf_id": account.kf_id.to_string(),
                "kf_nick": account.nickname,
            });
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
fn get_online_kf_list(state: &mut State, _now: i64, _req: &api::GetOnlineKfList) -> Outcome {
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

// ---- media ----

/// An upload that arrived (uploads in the emulator are bytes), kept as a media of `kind`.
fn stored(
    upload: &Upload,
    kind: &str,
    now: i64,
    permanent: bool,
    description: Option<(String, String)>,
) -> StoredMedia {
    StoredMedia {
        kind: kind.to_owned(),
        filename: upload.filename().to_owned(),
        content_type: upload.mime_type().to_owned(),
        data: upload.as_bytes().cloned().unwrap_or_default(),
        created_ms: now,
        permanent,
        description,
    }
}

/// The emulator's media store is full of permanent materials: 45001 (media size out of
/// limit), saying why.
fn media_full() -> WxError {
    err(45001).hint(format!(
        "the emulator holds at most {} MiB of media; delete permanent materials first",
        crate::state::MEDIA_CAPACITY >> 20
    ))
}

/// `POST /cgi-bin/media/upload`: kept 3 days on the emulator's clock. A thumbnail's id is
/// answered as `thumb_media_id`, as WeChat's recorded answers have it.
fn upload_temp_media(state: &mut State, now: i64, req: &api::UploadTempMedia) -> Outcome {
    let kind = req.r#type.as_str();
    let id = state
        .store_media(stored(&req.media, kind, now, false, None))
        .ok_or_else(media_full)?;
    let key = if kind == "thumb" {
        "thumb_media_id"
    } else {
        "media_id"
    };
    Ok(json!({ "type": kind, key: id, "created_at": secs(now) }))
}

/// A media answered as a file, or a video's JSON.
fn media_answer(media: &StoredMedia, id: &str, video: Value) -> Answer {
    if media.kind == "video" {
        return Answer::Json(video);
    }
    let extension = media.filename.rsplit_once('.').map_or("", |(_, e)| e);
    Answer::File {
        content_type: media.content_type.clone(),
        filename: if extension.is_empty() {
            id.to_owned()
        } else {
            format!("{id}.{extension}")
        },
        data: media.data.clone(),
    }
}

/// `GET /cgi-bin/media/get`: the file; a video's address instead; 40007 for an id that is
/// unknown, expired, or a permanent material's.
fn get_temp_media(state: &mut State, now: i64, req: &api::GetTempMedia) -> Result<Answer, WxError> {
    let id = req.media_id.as_str();
    let media = state.media(id, false, now).ok_or_else(|| err(40007))?;
    let video = json!({ "video_url": format!("http://vweixinf.tc.qq.com/{}.mp4", &id[..16]) });
    Ok(media_answer(media, id, video))
}

/// `POST /cgi-bin/material/add_material`: kept until deleted (a video without its
/// description is refused by the spec's rule, 41005); an image's answer has its URL.
fn add_material(state: &mut State, now: i64, req: &api::AddMaterial) -> Outcome {
    let kind = req.r#type.as_str();
    let description = req
        .description
        .as_ref()
        // Both optional on the official page: an absent one is answered empty.
        .map(|d| {
            (
                d.title.clone().unwrap_or_default(),
                d.introduction.clone().unwrap_or_default(),
            )
        });
    let id = state
        .store_media(stored(&req.media, kind, now, true, description))
        .ok_or_else(media_full)?;
    Ok(match kind {
        // Recorded real answers carry the URL for images and thumbnails (`../API.md`).
        "image" | "thumb" => json!({
            "media_id": id,
            "url": format!("http://mmbiz.qpic.cn/mmbiz_jpg/{}/0?wx_fmt=jpeg", &id[..24]),
        }),
        _ => json!({ "media_id": id }),
    })
}

/// `POST /cgi-bin/material/get_material`: the file; a video's description and address.
fn get_material(state: &mut State, now: i64, req: &api::GetMaterial) -> Result<Answer, WxError> {
    let id = req.media_id.as_str();
    let media = state.media(id, true, now).ok_or_else(|| err(40007))?;
    let (title, description) = media.description.clone().unwrap_or_default();
    let video = json!({
        "title": title,
        "description": description,
        "down_url": format!("http://www.qq.com/{}.mp4", &id[..16]),
    });
    Ok(media_answer(media, id, video))
}

fn del_material(state: &mut State, now: i64, req: &api::DelMaterial) -> Outcome {
    let id = req.media_id.as_str();
    state.media(id, true, now).ok_or_else(|| err(40007))?;
    state.media.remove(id);
    ok()
}

fn get_material_count(state: &mut State, _now: i64, _req: &api::GetMaterialCount) -> Outcome {
    let count = |kind: &str| {
        state
            .media
            .values()
            .filter(|m| m.permanent && m.kind == kind)
            .count()
    };
    Ok(json!({
        "voice_count": count("voice"),
        "video_count": count("video"),
        "image_count": count("image"),
        "news_count": 0,
    }))
}

/// The media ids a message names.
fn media_ids(message: &api::Message) -> Vec<&str> {
    match message {
        api::Message::Image(image) => vec![image.media_id.as_str()],
        api::Message::Voice(voice) => vec![voice.media_id.as_str()],
        api::Message::Video(video) => vec![video.media_id.as_str(), video.thumb_media_id.as_str()],
        api::Message::Music(music) => vec![music.thumb_media_id.as_str()],
        api::Message::MiniProgramPage(page) => vec![page.thumb_media_id.as_str()],
        _ => Vec::new(),
    }
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

fn create_kf_session(state: &mut State, now: i64, req: &api::CreateKfSession) -> Outcome {
    let (kf_account, openid) = (req.kf_account.as_str(), req.openid.as_str());
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

fn close_session(state: &mut State, _now: i64, req: &api::CloseSession) -> Outcome {
    let (kf_account, openid) = (req.kf_account.as_str(), req.openid.as_str());
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

fn get_kf_session(state: &mut State, _now: i64, req: &api::GetKfSession) -> Outcome {
    let openid = req.openid.as_str();
    known_user(state, openid)?;
    let (kf_account, createtime) = state
        .sessions
        .get(openid)
        .map_or((String::new(), 0), |s| (s.kf_account.clone(), s.createtime));
    Ok(json!({ "createtime": createtime, "errcode": 0, "errmsg": "ok", "kf_account": kf_account }))
}

fn get_kf_session_list(state: &mut State, _now: i64, req: &api::GetKfSessionList) -> Outcome {
    let kf_account = req.kf_account.as_str();
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
fn get_wait_case(state: &mut State, _now: i64, _req: &api::GetWaitCase) -> Outcome {
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
/// returned `msgid` is where the next page starts; a page shorter than `number` is the last.
fn get_msg_list(state: &mut State, _now: i64, req: &api::GetMsgList) -> Outcome {
    let (start, end) = (req.starttime, req.endtime);
    let from = req.msgid;
    let number = usize::try_from(req.number).unwrap_or(0);
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
fn record_text(message: &api::Message) -> String {
    match message {
        api::Message::Text(text) => text.content.clone(),
        other => format!("[{}]", other.tag()),
    }
}

fn send_custom_message(state: &mut State, now: i64, req: &api::SendCustomMessage) -> Outcome {
    let openid = req.touser.as_str();
    known_user(state, openid)?;
    let worker = match req.customservice.as_ref().map(|c| c.kf_account.as_str()) {
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
    if let Some(unknown) = media_ids(&req.message)
        .into_iter()
        .find(|id| !state.media_usable(id, now))
    {
        return Err(err(40007).hint(format!("no media `{unknown}` (unknown or expired)")));
    }
    let user = state.user_mut(openid);
    if user.unfollowed {
        return Err(err(43004));
    }
    if user.refuses {
        return Err(err(48002));
    }
    user.consume(now).map_err(|refused| match refused {
        SendRefused::OutOfWindow => err(45015),
        SendRefused::OverCount => err(45047),
    })?;
    user.typing_until_ms = None;
    state.record(
        openid,
        OPERCODE_AGENT_SENT,
        &record_text(&req.message),
        worker.clone(),
        now,
    );
    let kind = req.message.tag();
    let content = serde_json::to_value(&req.message)
        .ok()
        .and_then(|mut message| message.get_mut(kind).map(Value::take))
        .unwrap_or(Value::Null);
    state.converse(
        openid,
        Bubble {
            at: secs(now),
            from: Speaker::Agent,
            kf_account: (!worker.is_empty()).then_some(worker),
            kind: kind.to_owned(),
            content,
        },
    );
    ok()
}

// ---- template messages and subscribe notifications ----

/// The template (not banned), or its errcode.
fn usable_template<'s>(state: &'s State, template_id: &str) -> Result<&'s TemplateInfo, WxError> {
    let template = state
        .notify
        .template(template_id)
        .ok_or_else(|| err(40037).hint(format!("no template `{template_id}`")))?;
    if template.banned {
        return Err(err(43116));
    }
    Ok(template)
}

/// Where a tap on a notice leads: the mini program when there is one (it wins over a
/// page, as WeChat says), else the page.
fn notice_link(mini: Option<&api::TemplateMiniProgram>, page: Option<&str>) -> Value {
    match (mini, page) {
        (Some(mini), _) => json!({ "miniprogram": mini.appid, "pagepath": mini.pagepath }),
        (None, Some(page)) => json!({ "url": page }),
        (None, None) => Value::Null,
    }
}

/// The bubble a template or a notification makes: its template's title and the fields.
fn notice_bubble<T: serde::Serialize>(
    kind: &str,
    template: &TemplateInfo,
    data: &T,
    link: Value,
    now: i64,
) -> Bubble {
    Bubble {
        at: secs(now),
        from: Speaker::Agent,
        kf_account: None,
        kind: kind.to_owned(),
        content: json!({
            "template_id": template.template_id,
            "title": template.title,
            "data": data,
            "link": link,
        }),
    }
}

fn send_template_message(state: &mut State, now: i64, req: &api::SendTemplateMessage) -> Outcome {
    let openid = req.touser.as_str();
    known_user(state, openid)?;
    let template = usable_template(state, &req.template_id)?.clone();
    state.notify.expire(now);
    // 防重入: one message per openid and client_msg_id within 10 minutes.
    if let Some(id) = &req.client_msg_id
        && let Some((msgid, _)) = state
            .notify
            .by_client_id
            .get(&(openid.to_owned(), id.clone()))
    {
        let answer = json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid });
        state.no_effect = true;
        return Ok(answer);
    }
    if state.user_mut(openid).unfollowed {
        return Err(err(43004));
    }
    let data = serde_json::to_string(&req.data).unwrap_or_default();
    let key = (openid.to_owned(), template.template_id.clone());
    if req.client_msg_id.is_none()
        && state
            .notify
            .last_send
            .get(&key)
            .is_some_and(|(last, _)| *last == data)
    {
        return Err(err(40241));
    }
    let msgid = state.notify.next_msgid();
    state.notify.last_send.insert(key, (data, now));
    if let Some(id) = &req.client_msg_id {
        state
            .notify
            .by_client_id
            .insert((openid.to_owned(), id.clone()), (msgid, now));
    }
    state.notify.templates_sent += 1;
    let link = notice_link(req.miniprogram.as_ref(), req.url.as_deref());
    let bubble = notice_bubble("template", &template, &req.data, link, now);
    state.converse(openid, bubble);
    Ok(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid }))
}

fn send_subscribe_message(state: &mut State, now: i64, req: &api::SendSubscribeMessage) -> Outcome {
    let openid = req.touser.as_str();
    known_user(state, openid)?;
    let template = usable_template(state, &req.template_id)?.clone();
    let key = (openid.to_owned(), template.template_id.clone());
    match state.notify.subscriptions.get_mut(&key) {
        Some(left) if *left > 0 => *left -= 1,
        _ => return Err(err(43101)),
    }
    state.notify.notifications_sent += 1;
    let link = notice_link(req.miniprogram.as_ref(), req.page.as_deref());
    let bubble = notice_bubble("subscribe", &template, &req.data, link, now);
    state.converse(openid, bubble);
    ok()
}

fn get_all_private_template(
    state: &mut State,
    _now: i64,
    _req: &api::GetAllPrivateTemplate,
) -> Outcome {
    let list: Vec<Value> = state
        .notify
        .templates
        .iter()
        .map(|t| {
            json!({
                "template_id": t.template_id,
                "title": t.title,
                "primary_industry": "IT科技",
                "deputy_industry": "互联网|电子商务",
                "content": t.content,
                "example": "",
            })
        })
        .collect();
    Ok(json!({ "template_list": list }))
}

fn del_private_template(state: &mut State, _now: i64, req: &api::DelPrivateTemplate) -> Outcome {
    state
        .notify
        .template(&req.template_id)
        .ok_or_else(|| err(40037))?;
    state
        .notify
        .templates
        .retain(|t| t.template_id != req.template_id);
    ok()
}

fn get_industry(_state: &mut State, _now: i64, _req: &api::GetIndustry) -> Outcome {
    Ok(json!({
        "primary_industry": { "first_class": "IT科技", "second_class": "互联网|电子商务" },
        "secondary_industry": { "first_class": "IT科技", "second_class": "IT软件与服务" },
    }))
}

fn typing(state: &mut State, now: i64, req: &api::Typing) -> Outcome {
    let openid = req.touser.as_str();
    known_user(state, openid)?;
    let user = state.user_mut(openid);
    let recent = |at: i64| now - at <= TYPING_NEEDS_INTERACTION_MS;
    if !user.last_interaction_ms.is_some_and(recent) {
        return Err(err(45080));
    }
    match req.command {
        api::TypingCommand::Typing => {
            if user.is_typing(now) {
                return Err(err(45081));
            }
            user.typing_until_ms = Some(now + TYPING_LASTS_MS);
        }
        api::TypingCommand::CancelTyping => user.typing_until_ms = None,
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

    #[test]
    fn a_rule_with_an_errcode_of_its_own_is_answered_with_it() {
        const META: &EndpointMeta = &EndpointMeta::new("demo", wx_kefu_api::Method::Post, "/demo")
            .errcodes(&[
                ("text", 40003),
                ("text/max_chars", 45002),
                ("text/empty", 44004),
                ("count/max", 45009),
            ]);
        let broken = |field: &str, rule: Rule| {
            broken_rule(
                META,
                &Invalid {
                    field: field.into(),
                    rule,
                },
            )
            .code
        };
        assert_eq!(broken("text", Rule::MaxChars { max: 5, actual: 6 }), 45002);
        assert_eq!(broken("text", Rule::MinChars { min: 1, actual: 0 }), 44004);
        let pattern = Rule::Pattern {
            pattern: "^a$",
            hint: "an a",
        };
        assert_eq!(broken("text", pattern), 40003);
        let over = Rule::Range {
            min: Some(1),
            max: Some(9),
            actual: 10,
        };
        assert_eq!(broken("count", over), 45009);
    }
}
