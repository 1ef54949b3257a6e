//! The web view and its JSON control API, under `/_mock/` on the emulator's own port.
//!
//! The page (`web/index.html`, compiled into the binary: no CDN, no build step) shows the
//! emulated account live — users and their conversations as a phone shows them, agents,
//! sessions and the waiting queue, the request log, the clock, faults — and lets a person
//! play a user. Everything it does goes through the control API below, whose mutations are
//! the [`MockHandle`] methods tests call: one implementation, reachable from Rust in the
//! same process or from `curl` and any language against the standalone emulator.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /_mock/` | the page |
//! | `GET /_mock/api/state` | users (conversation, reply window, typing, session), agents, sessions, waiting queue, faults, pushes, clock |
//! | `GET /_mock/api/requests?after=N` | the request log after entry `N` (at most the last 500): method, path, errcode, latency, fault |
//! | `GET /_mock/api/events` | server-sent events: `change` with a counter, whenever anything changes |
//! | `POST /_mock/api/users/{openid}/messages` | `{"text": "…", "bizmsgmenuid": "…"?}`: the user writes (or taps a menu item) |
//! | `POST /_mock/api/users/{openid}/images` | the picture's bytes as the body: the user sends a picture |
//! | `POST /_mock/api/users/{openid}/events` | `{"event": "follow" \| "unfollow" \| "scan" \| "menu_click" \| "payment"}` |
//! | `POST /_mock/api/users/{openid}/wait` | the user joins the waiting queue |
//! | `POST /_mock/api/users/{openid}/subscriptions` | `{"template_id": "…", "count": 1?}`: the user subscribes to a template (one notification per subscription) |
//! | `POST /_mock/api/templates` | `{"template_id": "…", "title": "…", "content": "…"?}`: the account adds a template |
//! | `POST /_mock/api/templates/{template_id}/banned` | `{"banned": true}`: WeChat bans the template (sends answer 43116) |
//! | `POST /_mock/api/agents` | `{"kf_account", "nickname", "online": true}`: an agent, bound to a WeChat user |
//! | `POST /_mock/api/agents/{kf_account}/online` | `{"online": bool}` |
//! | `POST /_mock/api/agents/{kf_account}/accept` | `{"openid"}`: the agent takes a waiting user |
//! | `POST /_mock/api/sessions/{openid}/end` | the agent ends the session |
//! | `POST /_mock/api/clock` | `{"advance_seconds": n}` |
//! | `POST /_mock/api/faults`, `DELETE …` | `{"path"?, "errcode"? \| "status"? \| "delay_ms"? \| "drop": true, "times"?, "after_handling"?}`; clear |
//! | `POST /_mock/api/webhook`, `DELETE …` | `{"url", "also"?: ["url", …], "token", "encoding_aes_key"?}`: where pushes go (each attempt to the next URL in turn); stop pushing |
//! | `POST /_mock/api/agents/{kf_account}/bind` | `{"wx"}`: a WeChat user works the account (no invitation) |
//! | `POST /_mock/api/agents/{kf_account}/invitation` | `{"action": "accept" \| "reject" \| "expire"}`: the invited user answers, or the invitation runs out |
//! | `POST /_mock/api/workers/{wx}/at_limit` | the WeChat user works as many accounts as WeChat allows (65410 on the next invitation) |
//! | `POST /_mock/api/kefu` | `{"enabled": bool}`: the customer-service feature on or off (65400 while off) |
//! | `POST /_mock/api/sessions/{openid}/switch` | `{"kf_account"}`: the serving agent hands the user to another |
//! | `POST /_mock/api/media/{kind}` | the file's bytes as the body: a temporary media the account holds (`image`, `voice`, `video`, `thumb`; a user's voice or video), answering its `media_id` |
//! | `POST /_mock/api/materials/{kind}` | the file's bytes: a permanent material, answering its `media_id` |
//! | `POST /_mock/api/users/{openid}/refuses` | `{"refuses": bool}`: the user refuses the account's messages (48002) or accepts them again |
//! | `POST /_mock/api/account` | `{"wechat_id": "gh_…" \| null}`: new agent accounts must end in `@` and the account's WeChat ID (65404) |
//! | `POST /_mock/api/reset` | back to an empty account (the appid, secret and tokens stay) |
//! | `POST /_mock/api/tokens/invalidate` | every token issued so far answers 40001 |
//! | `POST /_mock/api/stubs` | `{"path", "answer"}`: a path the spec does not have answers `answer` (for raw calls) |
//! | `POST /_mock/api/hosts/{n}/down`, `…/up` | take host `n` (0 is the first port) down: its port refuses connections; bring it back |
//! | `POST /_mock/api/platform` | `{"component_appid", "component_secret", "token", "encoding_aes_key", "auth_url"?, "message_url"?}`: the emulator plays this third-party platform (tickets to `auth_url`, authorizers' pushes to `message_url` with `$APPID$`) |
//! | `POST /_mock/api/platform/ticket` | a verify ticket is pushed now |
//! | `POST /_mock/api/platform/authorizers` | `{"appid", "func_info"?: [1, 6]}`: a merchant authorizes the platform (again: a re-authorization, `updateauthorized`) |
//! | `POST /_mock/api/platform/authorizers/{appid}/revoke` | the merchant revokes the platform (`unauthorized`) |
//! | `POST /_mock/api/platform/go-live` | WeChat's go-live test (全网发布) against the platform: its report |
//! | `GET /_mock/media/{id}` | a media file the account holds (to show pictures) |
//!
//! Every route of an account (users, agents, sessions, templates, media, the webhook, the
//! state) takes `?account=APPID` to drive an authorizer of the platform instead of the
//! emulator's own account: the page's account switcher.
//!
//! ## Who may drive it
//!
//! The emulator runs on a developer's machine, where any web page the developer opens can
//! send requests to `127.0.0.1`. So every route here checks, before anything else
//! ([`Guard`]):
//! - the `Host` header names the emulator itself (`127.0.0.1`, `localhost` or `[::1]`
//!   with its port, or a name given with `--allow-host`): a DNS-rebinding name is 403;
//! - a change (`POST`, `DELETE`) comes from the page's own origin: an `Origin` other than
//!   the emulator's, or a `Sec-Fetch-Site` other than `same-origin`/`none`, is 403;
//! - a change is `application/json` (a picture `image/*` or `application/octet-stream`):
//!   the types a page may send elsewhere without a CORS preflight (`text/plain`, forms)
//!   are 415, so a cross-origin page cannot make the browser send one.
//!
//! JSON bodies are at most 64 KiB and a picture at most 10 MB (413 beyond); the request
//! log keeps the last 10,000 requests with bodies cut at 4,096 characters; the media store keeps at
//! most 256 MiB. A media file is served with the type its bytes show (never the one its
//! uploader declared), `X-Content-Type-Options: nosniff` and a sandboxing CSP.
//!
//! With a webhook set, what a user writes is pushed to it exactly as
//! [`MockHandle::push_message`] pushes (signed, sealed in safe mode, the reply applied);
//! without one it is [`MockHandle::user_message`]. No answer of this API, no event and
//! nothing on the page carries the app secret or an access token.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::secs;
use crate::{Fault, MockError, MockHandle, UserEvent, UserInput, WebhookConfig};

/// The page, compiled in.
pub(crate) const PAGE: &str = include_str!("web/index.html");

/// The most log entries one answer carries.
const LOG_PAGE: usize = 500;

/// The largest JSON body of the control API.
const MAX_JSON_BODY: usize = 64 * 1024;

/// The largest picture a user sends through the control API (WeChat's image limit).
const MAX_PICTURE: usize = 10 * 1024 * 1024;

/// Who may use the control API: the names the emulator answers to, and its port.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    /// The ports of the emulator's hosts.
    ports: Vec<u16>,
    /// Lowercase host names (or IP literals) besides the loopback ones.
    allowed: Vec<String>,
}

impl Guard {
    pub(crate) fn new(ports: &[u16], allowed: &[String]) -> Guard {
        Guard {
            ports: ports.to_vec(),
            allowed: allowed
                .iter()
                .map(|name| name.to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a `Host` header names the emulator: a known name with its port.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            // `[::1]:8080`, `localhost:8080`; a bare `[::1]` has its colon inside brackets.
            Some((name, port)) if !port.contains(']') => (name, port.parse::<u16>().ok()),
            _ => (host.as_str(), Some(80)),
        };
        port.is_some_and(|port| self.ports.contains(&port))
            && (matches!(name, "127.0.0.1" | "localhost" | "[::1]")
                || self.allowed.iter().any(|allowed| allowed == name))
    }

    /// Why a request may not use the control API, if it may not.
    fn refuse(&self, method: &Method, path: &str, headers: &HeaderMap) -> Option<Refused> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = header(header::HOST.as_str()).unwrap_or_default();
        if !self.host_allowed(host) {
            return Some(Refused(
                StatusCode::FORBIDDEN,
                "the Host header does not name this emulator (start it with --allow-host NAME to add one)".into(),
            ));
        }
        if matches!(*method, Method::GET | Method::HEAD) {
            return None;
        }
        if let Some(origin) = header(header::ORIGIN.as_str())
            && !origin.eq_ignore_ascii_case(&format!("http://{host}"))
        {
            return Some(Refused(
                StatusCode::FORBIDDEN,
                "a change must come from the emulator's own page (Origin)".into(),
            ));
        }
        if let Some(site) = header("sec-fetch-site")
            && !matches!(site, "same-origin" | "none")
        {
            return Some(Refused(
                StatusCode::FORBIDDEN,
                "a change must come from the emulator's own page (Sec-Fetch-Site)".into(),
            ));
        }
        let content_type =
            crate::spec::essence(header(header::CONTENT_TYPE.as_str()).unwrap_or_default());
        let picture = path.ends_with("/images")
            || path.starts_with("/api/media/")
            || path.starts_with("/api/materials/");
        let accepted = content_type == "application/json"
            || (picture
                && (content_type.starts_with("image/")
                    || content_type == "application/octet-stream"));
        if !accepted {
            let wanted = match picture {
                true => "image/* or application/octet-stream",
                false => "application/json (`{}` for a change without a body)",
            };
            return Some(Refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("a change must be sent as {wanted}"),
            ));
        }
        None
    }
}

/// Runs [`Guard::refuse`] before every route of the control API.
async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match guard.refuse(request.method(), request.uri().path(), request.headers()) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    }
}

/// The routes under `/_mock`, for a router of any state.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(
    handle: MockHandle,
    guard_with: Guard,
) -> axum::Router<S> {
    axum::Router::new()
        .route("/", get(page))
        .route("/api/state", get(state))
        .route("/api/requests", get(requests))
        .route("/api/events", get(events))
        .route("/api/users/{openid}/messages", post(user_writes))
        .route(
            "/api/users/{openid}/images",
            post(user_sends_picture).layer(DefaultBodyLimit::max(MAX_PICTURE)),
        )
        .route("/api/users/{openid}/events", post(user_event))
        .route("/api/users/{openid}/wait", post(user_waits))
        .route("/api/agents", post(add_agent))
        .route("/api/agents/{kf_account}/online", post(set_online))
        .route("/api/agents/{kf_account}/accept", post(accept))
        .route("/api/sessions/{openid}/end", post(end_session))
        .route("/api/clock", post(advance))
        .route("/api/faults", post(inject).delete(clear_faults))
        .route("/api/webhook", post(set_webhook).delete(clear_webhook))
        .route("/api/agents/{kf_account}/bind", post(bind))
        .route("/api/agents/{kf_account}/invitation", post(invitation))
        .route("/api/workers/{wx}/at_limit", post(worker_at_limit))
        .route("/api/kefu", post(kefu))
        .route("/api/sessions/{openid}/switch", post(switch))
        .route(
            "/api/media/{kind}",
            post(keep_media).layer(DefaultBodyLimit::max(MAX_PICTURE)),
        )
        .route(
            "/api/materials/{kind}",
            post(keep_material).layer(DefaultBodyLimit::max(MAX_PICTURE)),
        )
        .route("/api/users/{openid}/refuses", post(refuses))
        .route("/api/users/{openid}/subscriptions", post(subscribe))
        .route("/api/templates", post(add_template))
        .route("/api/templates/{template_id}/banned", post(ban_template))
        .route("/api/account", post(account))
        .route("/api/reset", post(reset))
        .route("/api/tokens/invalidate", post(invalidate))
        .route("/api/stubs", post(stub))
        .route("/api/hosts/{index}/down", post(host_down))
        .route("/api/hosts/{index}/up", post(host_up))
        .route("/api/platform", post(set_platform))
        .route("/api/platform/ticket", post(push_ticket))
        .route("/api/platform/authorizers", post(authorize))
        .route("/api/platform/authorizers/{appid}/revoke", post(revoke))
        .route("/api/platform/go-live", post(go_live))
        .route("/media/{id}", get(media))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(handle)
        .layer(axum::middleware::from_fn_with_state(guard_with, guard))
}

/// A refusal of the control API: HTTP 400 (a malformed request) or 409 (the emulator's
/// state does not allow it), with `{"error": "…"}`.
struct Refused(StatusCode, String);

impl From<MockError> for Refused {
    fn from(error: MockError) -> Self {
        Refused(StatusCode::CONFLICT, error.to_string())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type ControlAnswer = Result<Json<Value>, Refused>;

fn done() -> ControlAnswer {
    Ok(Json(json!({ "ok": true })))
}

/// The page, at `/_mock/` (and `/_mock`).
pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Everything is inline or from this origin: nothing is fetched elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data:",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

async fn state(Scoped(handle): Scoped) -> Json<Value> {
    Json(handle.snapshot())
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: usize,
}

async fn requests(State(handle): State<MockHandle>, Query(after): Query<After>) -> Json<Value> {
    // One page built under the lock: the log itself is never copied.
    let state = handle.shared.lock();
    let log = &state.log;
    let start = after.after.max(log.total().saturating_sub(LOG_PAGE));
    let entries: Vec<Value> = log
        .since(start)
        .map(|(seq, request)| {
            json!({
                "seq": seq,
                "at": secs(request.at_ms),
                "method": request.method,
                "path": request.path,
                // Never the access token or the secret: only which other parameters came.
                "query": request.query.iter()
                    .filter(|(key, _)| key != "access_token" && key != "secret")
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>(),
                "status": request.status,
                "errcode": request.errcode,
                "latency_ms": request.latency_ms,
                "fault": request.fault.as_ref().map(|kind| format!("{kind:?}")),
                "applied": request.applied,
            })
        })
        .collect();
    Json(json!({ "total": log.total(), "requests": entries }))
}

async fn events(Scoped(handle): Scoped) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = handle.shared.changes.watch();
    let stream = futures_util::stream::unfold(changes, |mut changes| async move {
        // Ends when the emulator stops.
        changes.changed().await.ok()?;
        let count = *changes.borrow_and_update();
        Some((
            Ok(Event::default().event("change").data(count.to_string())),
            changes,
        ))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize)]
struct Written {
    text: String,
    bizmsgmenuid: Option<String>,
}

async fn user_writes(
    Scoped(handle): Scoped,
    Path(openid): Path<String>,
    Json(written): Json<Written>,
) -> ControlAnswer {
    if written.text.is_empty() {
        return Err(Refused(StatusCode::BAD_REQUEST, "`text` is empty".into()));
    }
    let input = match written.bizmsgmenuid {
        Some(id) => UserInput::menu_tap(written.text.clone(), id),
        None => UserInput::text(written.text.clone()),
    };
    match handle.outbound().config() {
        Some(_) => {
            let pushed = handle.push_message(&openid, input).await?;
            Ok(Json(
                json!({ "ok": true, "pushed": format!("{:?}", pushed.outcome) }),
            ))
        }
        None => {
            handle.user_message(&openid, &written.text);
            done()
        }
    }
}

async fn user_sends_picture(
    Scoped(handle): Scoped,
    Path(openid): Path<String>,
    picture: Bytes,
) -> ControlAnswer {
    if picture.is_empty() {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "the body is the picture".into(),
        ));
    }
    match handle.outbound().config() {
        Some(_) => {
            let pushed = handle.push_image(&openid, picture).await?;
            Ok(Json(
                json!({ "ok": true, "pushed": format!("{:?}", pushed.outcome) }),
            ))
        }
        None => {
            let media_id = handle.user_picture(&openid, picture);
            Ok(Json(json!({ "ok": true, "media_id": media_id })))
        }
    }
}

#[derive(Deserialize)]
struct UserEventBody {
    event: String,
}

async fn user_event(
    Scoped(handle): Scoped,
    Path(openid): Path<String>,
    Json(body): Json<UserEventBody>,
) -> ControlAnswer {
    let event = match body.event.as_str() {
        "follow" => UserEvent::Follow,
        "unfollow" => UserEvent::Unfollow,
        "scan" => UserEvent::Scan,
        "menu_click" => UserEvent::MenuClick,
        "payment" => UserEvent::Payment,
        other => {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                format!("unknown event `{other}`: follow, unfollow, scan, menu_click or payment"),
            ));
        }
    };
    handle.user_event(&openid, event);
    done()
}

async fn user_waits(Scoped(handle): Scoped, Path(openid): Path<String>) -> ControlAnswer {
    handle.enqueue_waiting(&openid)?;
    done()
}

#[derive(Deserialize)]
struct NewAgent {
    kf_account: String,
    nickname: String,
    #[serde(default = "yes")]
    online: bool,
}

fn yes() -> bool {
    true
}

async fn add_agent(Scoped(handle): Scoped, Json(agent): Json<NewAgent>) -> ControlAnswer {
    handle.add_online_agent(&agent.kf_account, &agent.nickname)?;
    if !agent.online {
        handle.set_online(&agent.kf_account, false)?;
    }
    done()
}

#[derive(Deserialize)]
struct Online {
    online: bool,
}

async fn set_online(
    Scoped(handle): Scoped,
    Path(kf_account): Path<String>,
    Json(online): Json<Online>,
) -> ControlAnswer {
    handle.set_online(&kf_account, online.online)?;
    done()
}

#[derive(Deserialize)]
struct Accept {
    openid: String,
}

async fn accept(
    Scoped(handle): Scoped,
    Path(kf_account): Path<String>,
    Json(accept): Json<Accept>,
) -> ControlAnswer {
    handle.accept_waiting(&kf_account, &accept.openid)?;
    done()
}

async fn end_session(Scoped(handle): Scoped, Path(openid): Path<String>) -> ControlAnswer {
    handle.end_session(&openid)?;
    done()
}

#[derive(Deserialize)]
struct Advance {
    advance_seconds: u64,
}

async fn advance(Scoped(handle): Scoped, Json(advance): Json<Advance>) -> ControlAnswer {
    handle.advance(Duration::from_secs(advance.advance_seconds));
    Ok(Json(json!({ "ok": true, "now": handle.now() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    path: Option<String>,
    errcode: Option<i64>,
    status: Option<u16>,
    body: Option<String>,
    delay_ms: Option<u64>,
    #[serde(default)]
    drop: bool,
    times: Option<u32>,
    #[serde(default)]
    after_handling: bool,
}

async fn inject(Scoped(handle): Scoped, Json(body): Json<FaultBody>) -> ControlAnswer {
    let mut fault = match (body.errcode, body.status, body.delay_ms, body.drop) {
        (Some(code), None, None, false) => Fault::errcode(code),
        (None, Some(status), None, false) => match body.body {
            Some(text) => Fault::status_with_body(status, text),
            None => Fault::status(status),
        },
        (None, None, Some(ms), false) => Fault::delay(Duration::from_millis(ms)),
        (None, None, None, true) => Fault::drop_connection(),
        _ => {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                "give one of `errcode`, `status`, `delay_ms` or `drop: true`".into(),
            ));
        }
    };
    if let Some(path) = body.path.filter(|path| !path.is_empty()) {
        fault = fault.on_path(path);
    }
    if let Some(times) = body.times {
        fault = fault.times(times);
    }
    if body.after_handling {
        fault = fault.after_handling();
    }
    handle.inject(fault);
    done()
}

async fn clear_faults(Scoped(handle): Scoped) -> ControlAnswer {
    handle.clear_faults();
    done()
}

#[derive(Deserialize)]
struct WebhookBody {
    url: String,
    /// Further URLs of the same server: attempts go to each in turn.
    #[serde(default)]
    also: Vec<String>,
    token: String,
    encoding_aes_key: Option<String>,
}

async fn set_webhook(Scoped(handle): Scoped, Json(body): Json<WebhookBody>) -> ControlAnswer {
    let config = match &body.encoding_aes_key {
        Some(key) => WebhookConfig::safe(&body.url, &body.token, key)
            .map_err(|error| Refused(StatusCode::BAD_REQUEST, error.to_string()))?,
        None => WebhookConfig::plain(&body.url, &body.token),
    };
    let config = body
        .also
        .iter()
        .fold(config, |config, url| config.also_to(url));
    handle.set_webhook(config);
    done()
}

#[derive(Deserialize)]
struct Bind {
    wx: String,
}

async fn bind(
    Scoped(handle): Scoped,
    Path(kf_account): Path<String>,
    Json(body): Json<Bind>,
) -> ControlAnswer {
    handle.bind_account(&kf_account, &body.wx)?;
    done()
}

#[derive(Deserialize)]
struct Invitation {
    action: String,
}

async fn invitation(
    Scoped(handle): Scoped,
    Path(kf_account): Path<String>,
    Json(body): Json<Invitation>,
) -> ControlAnswer {
    match body.action.as_str() {
        "accept" => handle.accept_invitation(&kf_account)?,
        "reject" => handle.reject_invitation(&kf_account)?,
        "expire" => handle.expire_invitation(&kf_account)?,
        other => {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                format!("unknown action `{other}`: accept, reject or expire"),
            ));
        }
    }
    done()
}

async fn worker_at_limit(Scoped(handle): Scoped, Path(wx): Path<String>) -> ControlAnswer {
    handle.set_worker_at_limit(&wx);
    done()
}

#[derive(Deserialize)]
struct Kefu {
    enabled: bool,
}

async fn kefu(Scoped(handle): Scoped, Json(body): Json<Kefu>) -> ControlAnswer {
    handle.set_kefu_enabled(body.enabled);
    done()
}

#[derive(Deserialize)]
struct Switch {
    kf_account: String,
}

async fn switch(
    Scoped(handle): Scoped,
    Path(openid): Path<String>,
    Json(body): Json<Switch>,
) -> ControlAnswer {
    handle.switch_session(&openid, &body.kf_account)?;
    done()
}

/// A file the control API is asked to keep: a kind WeChat keeps, and some bytes.
fn keepable(kind: &str, data: &Bytes) -> Result<(), Refused> {
    if !matches!(kind, "image" | "voice" | "video" | "thumb") {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            format!("unknown media kind `{kind}`: image, voice, video or thumb"),
        ));
    }
    if data.is_empty() {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "the body is the file".into(),
        ));
    }
    Ok(())
}

async fn keep_media(
    Scoped(handle): Scoped,
    Path(kind): Path<String>,
    data: Bytes,
) -> ControlAnswer {
    keepable(&kind, &data)?;
    Ok(Json(
        json!({ "ok": true, "media_id": handle.user_media(&kind, data) }),
    ))
}

async fn keep_material(
    Scoped(handle): Scoped,
    Path(kind): Path<String>,
    data: Bytes,
) -> ControlAnswer {
    keepable(&kind, &data)?;
    Ok(Json(
        json!({ "ok": true, "media_id": handle.add_material(&kind, data) }),
    ))
}

#[derive(Deserialize)]
struct Refuses {
    refuses: bool,
}

async fn refuses(
    Scoped(handle): Scoped,
    Path(openid): Path<String>,
    Json(body): Json<Refuses>,
) -> ControlAnswer {
    handle.set_user_refuses(&openid, body.refuses);
    done()
}

#[derive(Deserialize)]
struct NewTemplate {
    template_id: String,
    title: String,
    #[serde(default)]
    content: String,
}

async fn add_template(Scoped(handle): Scoped, Json(body): Json<NewTemplate>) -> ControlAnswer {
    if body.template_id.is_empty() || body.title.is_empty() {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "a template needs a `template_id` and a `title`".into(),
        ));
    }
    handle.add_template(&body.template_id, &body.title, &body.content);
    done()
}

#[derive(Deserialize)]
struct Banned {
    banned: bool,
}

async fn ban_template(
    Scoped(handle): Scoped,
    Path(template_id): Path<String>,
    Json(body): Json<Banned>,
) -> ControlAnswer {
    handle.set_template_banned(&template_id, body.banned)?;
    done()
}

#[derive(Deserialize)]
struct Subscription {
    template_id: String,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

async fn subscribe(
    Scoped(handle): Scoped,
    Path(openid): Path<String>,
    Json(body): Json<Subscription>,
) -> ControlAnswer {
    handle.grant_subscription(&openid, &body.template_id, body.count);
    done()
}

#[derive(Deserialize)]
struct Account {
    wechat_id: Option<String>,
}

async fn account(Scoped(handle): Scoped, Json(body): Json<Account>) -> ControlAnswer {
    handle.set_wechat_id(body.wechat_id.as_deref());
    done()
}

async fn reset(Scoped(handle): Scoped) -> ControlAnswer {
    handle.reset();
    done()
}

async fn invalidate(Scoped(handle): Scoped) -> ControlAnswer {
    handle.invalidate_tokens();
    done()
}

#[derive(Deserialize)]
struct Stub {
    path: String,
    answer: Value,
}

async fn stub(Scoped(handle): Scoped, Json(body): Json<Stub>) -> ControlAnswer {
    if !body.path.starts_with('/') || wx_kefu_api::ENDPOINTS.iter().any(|m| m.path == body.path) {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "a stub's path starts with `/` and is not one the spec has".into(),
        ));
    }
    handle.stub(body.path, body.answer);
    done()
}

async fn host_down(Scoped(handle): Scoped, Path(index): Path<usize>) -> ControlAnswer {
    match handle.stop_host(index).await {
        true => done(),
        false => Err(no_host(index)),
    }
}

async fn host_up(Scoped(handle): Scoped, Path(index): Path<usize>) -> ControlAnswer {
    match handle.start_host(index).await {
        Ok(true) => done(),
        Ok(false) => Err(no_host(index)),
        Err(error) => Err(Refused(
            StatusCode::CONFLICT,
            format!("host {index} cannot listen on its port again: {error}"),
        )),
    }
}

fn no_host(index: usize) -> Refused {
    Refused(
        StatusCode::NOT_FOUND,
        format!("no host {index}: the emulator has fewer (start it with --hosts N)"),
    )
}

async fn clear_webhook(Scoped(handle): Scoped) -> ControlAnswer {
    handle.clear_webhook();
    done()
}

/// A media file, for the page's `<img>`: served with the type its bytes show (an upload
/// declared `text/html` is still `application/octet-stream` here), never sniffed by the
/// browser, and sandboxed, so no upload runs as a page of the emulator's origin.
async fn media(Scoped(handle): Scoped, Path(id): Path<String>) -> Response {
    let found = handle.peek().media.get(&id).map(|m| m.data.clone());
    match found {
        Some(data) => (
            [
                (header::CONTENT_TYPE, crate::handle::sniff(&data).0),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such media").into_response(),
    }
}

impl MockHandle {
    /// The emulated account as JSON, what the web view shows and `GET /_mock/api/state`
    /// answers: the clock, users (their conversation, reply window, typing, session,
    /// place in the queue), agents, sessions, the waiting queue, pending faults, pushes,
    /// token fetches. Never the secret or a token.
    pub fn snapshot(&self) -> serde_json::Value {
        use serde_json::json;
        let now = self.now_ms();
        let webhook = self.outbound().config();
        let pushes = self.outbound().log();
        let platform = self.platform_snapshot();
        let state = self.peek();
        let mut openids: Vec<&String> = state.users.keys().collect();
        openids.extend(state.conversations.keys());
        openids.sort();
        openids.dedup();
        let users: Vec<serde_json::Value> = openids
            .into_iter()
            .map(|openid| {
                let user = state.users.get(openid);
                let (open, closes, remaining) = state.window(openid, now);
                json!({
                    "openid": openid,
                    "followed": !user.is_some_and(|u| u.unfollowed),
                    "window": {
                        "open": open,
                        "closes_at": closes.map(secs),
                        "remaining": remaining,
                    },
                    "typing": user.is_some_and(|u| u.is_typing(now)),
                    "session": state.sessions.get(openid.as_str()).map(|s| &s.kf_account),
                    "waiting": state.waiting.iter().any(|w| &w.openid == openid),
                    "subscriptions": state.notify.subscriptions.iter()
                        .filter(|((user, _), _)| user == openid)
                        .map(|((_, template), left)| json!({ "template_id": template, "left": left }))
                        .collect::<Vec<_>>(),
                    "conversation": state.conversations.get(openid.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let agents: Vec<serde_json::Value> = state
            .accounts
            .iter()
            .map(|account| {
                json!({
                    "kf_account": account.kf_account,
                    "nickname": account.nickname,
                    "kf_id": account.kf_id,
                    "kf_wx": account.kf_wx,
                    "online": account.online,
                    "serving": state.accepted_case(&account.kf_account),
                    "invite": account.invite.as_ref().map(|invite| json!({
                        "wx": invite.wx,
                        "status": invite.status_at(now).as_str(),
                    })),
                })
            })
            .collect();
        let sessions: Vec<serde_json::Value> = state
            .sessions
            .iter()
            .map(|(openid, session)| {
                json!({ "openid": openid, "kf_account": session.kf_account, "createtime": session.createtime })
            })
            .collect();
        let waiting: Vec<serde_json::Value> = state
            .waiting
            .iter()
            .map(|w| json!({ "openid": w.openid, "latest_time": w.latest_time }))
            .collect();
        let faults: Vec<serde_json::Value> = state
            .faults
            .pending()
            .iter()
            .map(|fault| {
                json!({
                    "path": fault.path,
                    "kind": format!("{:?}", fault.kind),
                    "remaining": fault.times,
                    "after_handling": fault.after_handling,
                })
            })
            .collect();
        let pushes: Vec<serde_json::Value> = pushes
            .iter()
            .rev()
            .take(50)
            .map(|p| {
                json!({
                    "kind": p.kind,
                    "openid": p.openid,
                    "attempts": p.attempts,
                    "urls": p.urls,
                    "outcome": format!("{:?}", p.outcome),
                })
            })
            .collect();
        json!({
            "now": secs(now),
            "appid": state.appid,
            "kefu_enabled": state.kefu_enabled,
            "webhook": webhook.map(|w| json!({ "url": w.url, "safe_mode": w.key.is_some() })),
            "hosts": self.host_urls().into_iter().zip(self.hosts_up())
                .map(|(url, up)| json!({ "url": url, "up": up }))
                .collect::<Vec<_>>(),
            "users": users,
            "agents": agents,
            "sessions": sessions,
            "waiting": waiting,
            "faults": faults,
            "pushes": pushes,
            "requests": state.log.total(),
            "token_fetches": { "stable": state.stable_fetches, "classic": state.classic_fetches },
            "media": state.media.len(),
            "templates": state.notify.templates,
            "platform": platform,
        })
    }

    /// The platform the emulator plays, for the page's account switcher: its appid, the
    /// authorizers (appid, original id, permission sets, authorized), its counters. Never
    /// its secret, a ticket, a code or a token. `null` without a platform.
    fn platform_snapshot(&self) -> serde_json::Value {
        let Ok(stats) = self.platform_stats() else {
            return serde_json::Value::Null;
        };
        let component = self
            .shared
            .lock()
            .platform
            .as_ref()
            .map(|platform| platform.config.component_appid().to_owned());
        serde_json::json!({
            "component_appid": component,
            "authorizers": self.authorizers(),
            "stats": stats,
            "pushes": self.platform_pushes().iter().rev().take(20).map(|p| serde_json::json!({
                "kind": p.kind,
                "attempts": p.attempts,
                "outcome": format!("{:?}", p.outcome),
            })).collect::<Vec<_>>(),
        })
    }
}

#[derive(Deserialize)]
struct NewPlatform {
    component_appid: String,
    component_secret: String,
    token: String,
    encoding_aes_key: String,
    auth_url: Option<String>,
    message_url: Option<String>,
}

async fn set_platform(
    State(handle): State<MockHandle>,
    Json(body): Json<NewPlatform>,
) -> ControlAnswer {
    if body.component_appid.is_empty() || body.component_secret.is_empty() || body.token.is_empty()
    {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "a platform needs a `component_appid`, a `component_secret` and a `token`".into(),
        ));
    }
    if wx_kefu_inbound::crypto::AesKey::from_encoding_aes_key(&body.encoding_aes_key).is_err() {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "`encoding_aes_key` is not an EncodingAESKey (43 characters)".into(),
        ));
    }
    let mut config = crate::PlatformConfig::new(
        body.component_appid,
        body.component_secret,
        body.token,
        body.encoding_aes_key,
    );
    if let Some(url) = body.auth_url.filter(|url| !url.is_empty()) {
        config = config.auth_events_to(url);
    }
    if let Some(url) = body.message_url.filter(|url| !url.is_empty()) {
        config = config.messages_to(url);
    }
    handle.set_platform(config);
    done()
}

async fn push_ticket(State(handle): State<MockHandle>) -> ControlAnswer {
    let pushed = handle.push_ticket().await?;
    Ok(Json(
        json!({ "ok": true, "pushed": format!("{:?}", pushed.outcome) }),
    ))
}

#[derive(Deserialize)]
struct Grant {
    appid: String,
    #[serde(default = "default_sets")]
    func_info: Vec<u32>,
}

fn default_sets() -> Vec<u32> {
    vec![1, 6]
}

async fn authorize(State(handle): State<MockHandle>, Json(body): Json<Grant>) -> ControlAnswer {
    if body.appid.is_empty() || body.appid.contains(char::is_whitespace) {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "an authorizer needs an `appid` without spaces".into(),
        ));
    }
    // The code goes to the platform in the push, never to the page.
    handle.authorize(&body.appid, &body.func_info).await?;
    done()
}

async fn revoke(State(handle): State<MockHandle>, Path(appid): Path<String>) -> ControlAnswer {
    let pushed = handle.revoke(&appid).await?;
    Ok(Json(
        json!({ "ok": true, "pushed": format!("{:?}", pushed.outcome) }),
    ))
}

async fn go_live(State(handle): State<MockHandle>) -> ControlAnswer {
    let report = handle.go_live_test(Duration::from_secs(5)).await?;
    Ok(Json(json!({ "ok": report.passed(), "report": report })))
}

/// The handle a control request drives: the emulator's own account, or with
/// `?account=APPID` an authorizer's of the platform it plays (404 for an unknown one).
struct Scoped(MockHandle);

impl axum::extract::FromRequestParts<MockHandle> for Scoped {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        handle: &MockHandle,
    ) -> Result<Self, Self::Rejection> {
        #[derive(Deserialize)]
        struct Account {
            account: Option<String>,
        }
        let account = Query::<Account>::try_from_uri(&parts.uri)
            .map_err(|_| Refused(StatusCode::BAD_REQUEST, "a malformed query".into()))?
            .0
            .account
            .filter(|appid| !appid.is_empty());
        match account {
            None => Ok(Scoped(handle.clone())),
            Some(appid) if handle.account_appid() == appid => Ok(Scoped(handle.clone())),
            Some(appid) => handle
                .authorizer(&appid)
                .map(Scoped)
                .map_err(|error| Refused(StatusCode::NOT_FOUND, error.to_string())),
        }
    }
}
