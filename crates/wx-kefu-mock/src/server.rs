//! The HTTP side: the one handler every request goes through (faults, request log,
//! checks, endpoint logic), on the listeners of `hosts`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{ConnectInfo, FromRequest, Multipart, Query, Request, State as AxumState};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;
use wx_kefu_runtime::Method;

use crate::answer::{Answer, Outcome, WxError};
use crate::changes::Changes;
use crate::clock::Clock;
use crate::faults::FaultKind;
use crate::handlers;
use crate::hosts::Conn;
use crate::log::LoggedRequest;
use crate::push::{Job, Outbound};
use crate::spec::{self, ApiRequest, FilePart};
use crate::state::State;

/// Bodies larger than this are refused (the largest upload, a 10 MB video, fits).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the server and the handle share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) clock: Clock,
    /// The push side: the webhook, its log, the HTTP client.
    pub(crate) outbound: Arc<Outbound>,
    /// The delivery task's queue (kefu events, in order).
    pub(crate) jobs: mpsc::UnboundedSender<Job>,
    /// What the web view's event stream watches.
    pub(crate) changes: Arc<Changes>,
    /// The ports the account is served on.
    pub(crate) hosts: crate::hosts::Hosts,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("state", &self.state)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The state; a panic elsewhere while holding the lock does not make it unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the session changes queued in the state to the delivery task (dropped when no
    /// webhook is configured: there is nowhere to push them).
    pub(crate) fn dispatch_events(&self) {
        let mut queued = Vec::new();
        {
            let mut state = self.lock();
            let events = std::mem::take(&mut state.kefu_events);
            if !events.is_empty() {
                queued.push((Arc::clone(&self.outbound), events));
            }
            if let Some(platform) = state.platform.as_ref() {
                for (appid, account) in &state.authorizer_states {
                    let events =
                        std::mem::take(&mut crate::state::lock_account(account).kefu_events);
                    if let Some(authorizer) = platform.authorizers.get(appid)
                        && !events.is_empty()
                    {
                        queued.push((Arc::clone(&authorizer.outbound), events));
                    }
                }
            }
        }
        let now_s = self.clock.now_ms().div_euclid(1000);
        for (outbound, events) in queued {
            if outbound.config().is_none() {
                continue;
            }
            for event in events {
                // The task ends only when the emulator is dropped; nothing to push to then.
                let _ = self
                    .jobs
                    .send(Job::Event(Arc::clone(&outbound), event, now_s));
            }
        }
    }

    /// Pushes a ticket when `api_start_push_ticket` asked for one (in a task: the call's
    /// answer does not wait for the push).
    pub(crate) fn push_wanted_ticket(self: &Arc<Self>) {
        let now_ms = self.clock.now_ms();
        let push = {
            let mut state = self.lock();
            match state.platform.as_mut() {
                Some(platform) if platform.ticket_wanted => {
                    platform.ticket_wanted = false;
                    Some((Arc::clone(&platform.events), platform.issue_ticket(now_ms)))
                }
                _ => None,
            }
        };
        if let Some((events, xml)) = push {
            tokio::spawn(async move {
                events
                    .push_raw("component_verify_ticket", xml, now_ms.div_euclid(1000))
                    .await;
            });
        }
    }
}

/// What goes back on the wire: the answer, an injected fault, or nothing.
enum Wire {
    /// WeChat JSON with an HTTP status.
    Json(StatusCode, Value),
    /// A raw body (injected).
    Raw(StatusCode, Option<String>),
    /// A file (a media download), as WeChat sends one: its type and an attachment name.
    File {
        content_type: String,
        filename: String,
        data: bytes::Bytes,
    },
    /// No answer: the connection is closed.
    Drop,
}

fn json_reply(outcome: Outcome, now_ms: i64) -> Wire {
    answer_reply(outcome.map(Answer::Json), now_ms)
}

fn answer_reply(outcome: Result<Answer, WxError>, now_ms: i64) -> Wire {
    match outcome {
        Ok(Answer::Json(value)) => Wire::Json(StatusCode::OK, value),
        Ok(Answer::File {
            content_type,
            filename,
            data,
        }) => Wire::File {
            content_type,
            filename,
            data,
        },
        Err(error) => Wire::Json(StatusCode::OK, error.body(now_ms)),
    }
}

fn fault_reply(kind: &FaultKind, now_ms: i64) -> Wire {
    match kind {
        FaultKind::Errcode(code) => json_reply(Err(WxError::new(*code)), now_ms),
        FaultKind::Status { status, body } => Wire::Raw(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.clone(),
        ),
        FaultKind::Drop => Wire::Drop,
        // A delay is waited out by the caller, which then answers normally.
        FaultKind::Delay(_) => Wire::Raw(StatusCode::OK, None),
    }
}

/// Checks and handles one request: an authorizer's (its token says whose) against that
/// account's own state, any other against the emulator's account. Says too whether the
/// request was answered without effect (`State::no_effect`).
fn route(shared: &Shared, now_ms: i64, incoming: &ApiRequest) -> (Wire, bool) {
    let token = incoming.query_param("access_token");
    let mut state = shared.lock();
    let owner = state
        .platform
        .as_ref()
        .and_then(|platform| Some((platform, platform.owner(token)?)));
    // A call the account did not grant the platform (none of the endpoint's permission sets,
    // as the spec gives them): 61007, "api is unauthorized to component".
    if let Some((platform, owner)) = owner
        && let Some(meta) = spec::endpoint(&incoming.path)
        && !meta.permission_sets.is_empty()
        && platform.authorizers.get(owner).is_some_and(|authorizer| {
            !meta
                .permission_sets
                .iter()
                .any(|set| authorizer.func_info.contains(set))
        })
    {
        return (json_reply(Err(WxError::new(61007)), now_ms), false);
    }
    let account = owner
        .and_then(|(_, owner)| state.authorizer_states.get(owner))
        .map(Arc::clone);
    if let Some(account) = account {
        // The emulator's own state is let go first: the lock order is it, then an account.
        drop(state);
        let mut state = crate::state::lock_account(&account);
        let handled = process(&mut state, now_ms, incoming);
        return (handled, std::mem::take(&mut state.no_effect));
    }
    let handled = process(&mut state, now_ms, incoming);
    (handled, std::mem::take(&mut state.no_effect))
}

/// Checks and handles one request against the state.
fn process(state: &mut State, now_ms: i64, incoming: &ApiRequest) -> Wire {
    match spec::endpoint(&incoming.path) {
        None => match state.stubs.get(&incoming.path) {
            // A path the spec does not have, answered as a test asked: behind the token.
            Some(answer) => {
                let answer = answer.clone();
                let checked = state
                    .check_token(incoming.query_param("access_token"), now_ms)
                    .map_err(WxError::new);
                json_reply(checked.map(|()| answer), now_ms)
            }
            // WeChat answers an unknown URL as it answers every error: HTTP 200, an errcode.
            None => Wire::Json(StatusCode::OK, WxError::new(40066).body(now_ms)),
        },
        Some(meta) => answer_reply(answer(state, now_ms, meta, incoming), now_ms),
    }
}

fn answer(
    state: &mut State,
    now_ms: i64,
    meta: &'static wx_kefu_runtime::meta::EndpointMeta,
    incoming: &ApiRequest,
) -> Result<Answer, WxError> {
    if meta.auth && meta.group == "platform" {
        // The platform's calls carry its component token: `access_token` on the openApi
        // pages, `component_access_token` on the older ones.
        let token = incoming
            .query_param("access_token")
            .or_else(|| incoming.query_param("component_access_token"));
        match &state.platform {
            Some(platform) => platform
                .check_component_token(token, now_ms)
                .map_err(WxError::new)?,
            None => return Err(WxError::new(61011).hint("the emulator plays no platform")),
        }
    } else if meta.auth {
        state
            .check_token(incoming.query_param("access_token"), now_ms)
            .map_err(WxError::new)?;
    }
    let method_ok = match meta.method {
        Method::Post => incoming.method == "POST",
        Method::Get => matches!(incoming.method.as_str(), "GET" | "HEAD"),
    };
    if !method_ok {
        return Err(WxError::new(match meta.method {
            Method::Post => 43002,
            Method::Get => 43001,
        }));
    }
    if !state.kefu_enabled && matches!(meta.group, "accounts" | "sessions" | "records") {
        return Err(WxError::new(65400));
    }
    // The spec's checks come first, for every endpoint: its structure here, its rules
    // through the typed request (by the route, or by name for an endpoint without one).
    let checked = spec::check(meta, incoming)?;
    // Unknown keys at any depth and every rule, as the typed request sees them.
    check_rules(meta, &checked)?;
    let Some(route) = handlers::route(meta) else {
        // An endpoint of the spec without behaviour here: a clear answer that no client
        // retries (48001, "api unauthorized", is never retried), never -1, which reads as
        // passing.
        return Err(WxError::new(48001).hint(format!(
            "not emulated: wx-kefu-mock has no behaviour for `{}` yet (add its route! line in crates/wx-kefu-mock/src/handlers.rs)",
            meta.name
        )));
    };
    (route.handle)(state, now_ms, &checked)
}

/// The spec's rules on a request, and no key its type does not take at any depth, through
/// its typed request by name (`check_json`): for every endpoint, with a behaviour or not.
/// An uploaded file stands as its name (its size and kind are the route's to check).
fn check_rules(
    meta: &'static wx_kefu_runtime::meta::EndpointMeta,
    checked: &spec::Checked,
) -> Result<(), WxError> {
    use wx_kefu_runtime::dynamic::RequestProblem;
    let mut fields = checked.fields.clone();
    if let Some(file) = meta
        .fields
        .iter()
        .find(|f| f.ty == wx_kefu_runtime::meta::FieldType::File)
    {
        fields.insert(file.wire.to_owned(), Value::from("upload"));
    }
    match wx_kefu_api::check_json(meta.name, Value::Object(fields)) {
        None | Some(Ok(())) => Ok(()),
        Some(Err(RequestProblem::Invalid(invalid))) => Err(handlers::broken_rule(meta, &invalid)),
        // Named by the key, never by a value (serde would quote what it refused).
        Some(Err(RequestProblem::UnknownKey(key))) => {
            Err(WxError::new(47001).hint(format!("unknown field `{key}`")))
        }
        Some(Err(_)) => Err(WxError::new(47001).hint("the request does not decode as the call's")),
    }
}

fn decode_query(uri: &Uri) -> (Vec<(String, String)>, Option<String>) {
    match Query::<Vec<(String, String)>>::try_from_uri(uri) {
        Ok(Query(pairs)) => (pairs, None),
        Err(rejection) => (Vec::new(), Some(rejection.body_text())),
    }
}

async fn read_multipart(request: Request) -> Result<Vec<FilePart>, String> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|r| r.body_text())?;
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| e.body_text())?;
        parts.push(FilePart {
            name,
            filename,
            content_type,
            data,
        });
    }
    Ok(parts)
}

/// Stands for a secret in the request log.
const REDACTED: &str = "<redacted>";

/// The query with the app secret (of the classic token call) redacted; the emulator's
/// own access tokens are kept, as tests check which token a client used.
fn logged_query(incoming: &ApiRequest) -> Vec<(String, String)> {
    incoming
        .query
        .iter()
        .map(|(key, value)| {
            let value = if key == "secret" {
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        .collect()
}

/// The body as text, a multipart body summarised, every secret redacted: the app secret
/// of the token calls, and each field the spec marks sensitive (the component secret, a
/// ticket, a refresh token, an authorization code).
fn summarise_body(incoming: &ApiRequest) -> String {
    if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&incoming.body) {
        let sensitive = spec::endpoint(&incoming.path).map_or(&[][..], |meta| meta.fields);
        let mut redacted = false;
        for (key, value) in object.iter_mut() {
            if key == "secret"
                || sensitive
                    .iter()
                    .any(|field| field.sensitive && field.wire == key)
            {
                *value = Value::from(REDACTED);
                redacted = true;
            }
        }
        if redacted {
            return crate::log::cut_body(Value::Object(object).to_string(), incoming.body.len());
        }
    }
    match &incoming.multipart {
        Some(Ok(parts)) => parts
            .iter()
            .map(|part| {
                format!(
                    "multipart: {} ({}, {}, {} bytes)",
                    part.name,
                    part.filename.as_deref().unwrap_or("-"),
                    part.content_type.as_deref().unwrap_or("-"),
                    part.data.len()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => crate::log::cut_body(
            String::from_utf8_lossy(
                &incoming.body[..incoming.body.len().min(4 * crate::log::LOG_BODY_CHARS + 4)],
            )
            .into_owned(),
            incoming.body.len(),
        ),
    }
}

/// Every request lands here.
pub(crate) async fn serve(
    AxumState(shared): AxumState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    request: Request,
) -> Response {
    let arrived_ms = shared.clock.now_ms();
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let (query, query_error) = decode_query(request.uri());
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = request.into_parts();
    let (body, read_error) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => (bytes, None),
        Err(error) => (bytes::Bytes::new(), Some(error.to_string())),
    };
    let is_multipart = content_type
        .as_deref()
        .is_some_and(|ct| spec::essence(ct) == "multipart/form-data");
    let multipart = if is_multipart && read_error.is_none() {
        Some(
            read_multipart(Request::from_parts(
                parts,
                axum::body::Body::from(body.clone()),
            ))
            .await,
        )
    } else {
        None
    };
    let incoming = ApiRequest {
        method,
        path,
        query,
        query_error,
        content_type,
        body,
        multipart,
    };

    let fault = shared.lock().faults.take(&incoming.path, conn.host);
    let before = fault
        .as_ref()
        .filter(|f| !f.after_handling)
        .map(|f| &f.kind);
    let after = fault.as_ref().filter(|f| f.after_handling).map(|f| &f.kind);

    let reply = match before {
        Some(FaultKind::Delay(delay)) => {
            tokio::time::sleep(*delay).await;
            None
        }
        Some(kind) => Some(fault_reply(kind, shared.clock.now_ms())),
        None => None,
    };
    let mut applied = false;
    let reply = match reply {
        Some(reply) => reply,
        None => {
            let now_ms = shared.clock.now_ms();
            // A behaviour that answered without doing anything (`State::no_effect`) is
            // answered, not applied.
            let (handled, repeat) = match read_error {
                Some(error) => (
                    json_reply(Err(WxError::new(47001).hint(error)), now_ms),
                    false,
                ),
                None => route(&shared, now_ms, &incoming),
            };
            applied = !repeat
                && match &handled {
                    Wire::Json(status, value) => {
                        status.is_success()
                            && value.get("errcode").and_then(Value::as_i64).unwrap_or(0) == 0
                    }
                    Wire::File { .. } => true,
                    Wire::Raw(..) | Wire::Drop => false,
                };
            shared.dispatch_events();
            shared.push_wanted_ticket();
            match after {
                Some(FaultKind::Delay(delay)) => {
                    tokio::time::sleep(*delay).await;
                    handled
                }
                Some(kind) => fault_reply(kind, shared.clock.now_ms()),
                None => handled,
            }
        }
    };

    let mut entry = LoggedRequest {
        host: conn.host,
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        query: logged_query(&incoming),
        body: summarise_body(&incoming),
        at_ms: arrived_ms,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        status: None,
        errcode: None,
        fault: fault.map(|f| f.kind),
        applied,
    };
    let dropped = matches!(reply, Wire::Drop);
    let response = match reply {
        Wire::Json(status, value) => {
            entry.status = Some(status.as_u16());
            entry.errcode = Some(value.get("errcode").and_then(Value::as_i64).unwrap_or(0));
            (
                status,
                [(header::CONTENT_TYPE, "application/json; encoding=utf-8")],
                value.to_string(),
            )
                .into_response()
        }
        Wire::Raw(status, body) => {
            entry.status = Some(status.as_u16());
            let body = body.unwrap_or_default();
            let content_type = if body.trim_start().starts_with('<') {
                "text/html; charset=utf-8"
            } else {
                "application/json; encoding=utf-8"
            };
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Wire::File {
            content_type,
            filename,
            data,
        } => {
            entry.status = Some(200);
            entry.errcode = Some(0);
            let disposition = format!("attachment; filename=\"{filename}\"");
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                data,
            )
                .into_response()
        }
        // Never delivered: the connection is shut down below.
        Wire::Drop => StatusCode::OK.into_response(),
    };
    tracing::debug!(method = %entry.method, path = %entry.path, errcode = ?entry.errcode, "wx-kefu-mock");
    shared.lock().log.push(entry);
    shared.changes.bump();
    if dropped {
        conn.drop_connection();
    }
    response
}

#[cfg(test)]
mod tests {
    use wx_kefu_runtime::meta::EndpointMeta;

    use super::*;
    use crate::state::State;

    /// An endpoint the emulator has no behaviour for, as a new spec entry would be.
    static UNEMULATED: EndpointMeta = EndpointMeta::new(
        "batchget_user_info",
        Method::Post,
        "/cgi-bin/user/info/batchget",
    )
    .summary("批量获取用户基本信息", "Get several users' profiles")
    .group("users")
    .idempotent(true);

    #[test]
    fn an_endpoint_without_behaviour_is_refused_by_name_and_never_as_passing() {
        let mut state = State::new("wx".into(), "secret".into());
        let token = state.issue_token(0);
        let incoming = ApiRequest {
            method: "POST".into(),
            path: UNEMULATED.path.into(),
            query: vec![("access_token".into(), token)],
            query_error: None,
            content_type: Some("application/json".into()),
            body: b"{}".as_slice().into(),
            multipart: None,
        };
        let Err(error) = answer(&mut state, 0, &UNEMULATED, &incoming) else {
            panic!("answered as emulated");
        };
        assert_eq!(error.code, 48001, "never -1, which clients retry");
        let hint = error.hint.unwrap_or_default();
        assert!(
            hint.contains("not emulated") && hint.contains("batchget_user_info"),
            "{hint}"
        );
    }

    #[test]
    fn the_rules_of_an_endpoint_without_behaviour_are_checked_first() {
        use wx_kefu_runtime::Endpoint;
        let checked = |fields: serde_json::Value| spec::Checked {
            fields: fields.as_object().cloned().unwrap_or_default(),
            file: None,
        };
        let add = <wx_kefu_api::AddKfAccount as Endpoint>::META;
        let long =
            checked(serde_json::json!({ "kf_account": "a@gh_x", "nickname": "昵".repeat(17) }));
        let Err(error) = check_rules(add, &long) else {
            panic!("a 17-character nickname passed");
        };
        assert_eq!(error.code, 65403);
        let fine = checked(serde_json::json!({ "kf_account": "a@gh_x", "nickname": "A" }));
        assert!(check_rules(add, &fine).is_ok());
        let send = <wx_kefu_api::SendCustomMessage as Endpoint>::META;
        let stray = checked(serde_json::json!({
            "touser": "o", "msgtype": "text", "text": { "content": "hi", "colour": "red" }
        }));
        let Err(error) = check_rules(send, &stray) else {
            panic!("an unknown nested key passed");
        };
        assert_eq!(error.code, 47001);
        let empty = checked(
            serde_json::json!({ "touser": "o", "msgtype": "text", "text": { "content": "" } }),
        );
        assert_eq!(check_rules(send, &empty).map_err(|e| e.code), Err(44004));
    }
}
