//! The fault matrix: every endpoint of the spec under every way the network and a server
//! in front of WeChat can fail, through the emulator. Each case asserts the call's outcome
//! (a success after the client's retries, or the typed error the failure calls for) and,
//! for a write, how many times the emulator carried it out: never more than once.
//!
//! The endpoints come from the generated `ENDPOINTS`; [`request`] gives each a valid request
//! for the seeded state (the spec's example request for an endpoint it does not name). An
//! endpoint the emulator has no behaviour for yet is left out, and says so.

use wx_kefu_tests as common;

use std::time::Duration;

use common::{Env, jpeg};
use serde_json::{Value, json};
use std::sync::Arc;
use wx_kefu_api::dynamic::DynamicError;
use wx_kefu_api::meta::EndpointMeta;
use wx_kefu_api::*;

use wx_kefu_api::platform::{Platform, PlatformBuilder};
use wx_kefu_mock::{Fault, PlatformConfig};

const ALICE: &str = "alice@gh_matrix";
const BOB: &str = "bob@gh_matrix";
const INVITEE: &str = "inv@gh_matrix";
const GONE: &str = "gone@gh_matrix";
const USER: &str = "o_matrix_user";
const SERVED: &str = "o_matrix_served";
const TEMPLATE: &str = "TPL_matrix";
const GONE_TEMPLATE: &str = "TPL_matrix_gone";

/// The client's timeout in the matrix, and the delay that outlasts it.
const TIMEOUT: Duration = Duration::from_millis(300);
const SLOW: Duration = Duration::from_millis(900);

/// How a case fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    /// No fault: the baseline, which shows every request of the matrix is valid.
    Clean,
    /// Nothing listens at the base URL.
    ConnectRefused,
    /// The connection is reset before the emulator handles the request.
    ResetBefore,
    /// The emulator handles the request, then the connection is reset.
    ResetAfter,
    /// HTTP 503 from a proxy, before the request reaches the emulator's handler.
    Status5xx,
    /// WeChat's "system busy" (`errcode` -1).
    Busy,
    /// The answer comes after the client's timeout (the emulator handles it late).
    Timeout,
    /// A truncated JSON body, before handling.
    Truncated,
    /// A truncated JSON body after the emulator handled the request.
    TruncatedAfter,
    /// An HTML page from a proxy.
    NotJson,
    /// Two hosts; the first refuses connections (taken down after the token was fetched).
    FirstHostDown,
    /// Two hosts; the first handles the request, then resets the connection.
    FirstHostResetAfter,
    /// Two hosts; the first answers after the client's timeout.
    FirstHostTimeout,
    /// Two hosts; the first answers HTTP 503.
    FirstHost5xx,
}

impl Case {
    /// The fault to inject on the endpoint's path (none for a refused connection).
    /// Whether the case runs on an emulator of two hosts, the client knowing both.
    fn two_hosts(self) -> bool {
        matches!(
            self,
            Case::FirstHostDown
                | Case::FirstHostResetAfter
                | Case::FirstHostTimeout
                | Case::FirstHost5xx
        )
    }

    fn fault(self) -> Option<Fault> {
        let truncated = r#"{"errcode":0,"errmsg":"o"#;
        let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
        Some(match self {
            Case::Clean | Case::ConnectRefused | Case::FirstHostDown => return None,
            Case::FirstHostResetAfter => Fault::drop_connection().after_handling().on_host(0),
            Case::FirstHostTimeout => Fault::delay(SLOW).on_host(0),
            Case::FirstHost5xx => Fault::status(503).on_host(0),
            Case::ResetBefore => Fault::drop_connection(),
            Case::ResetAfter => Fault::drop_connection().after_handling(),
            Case::Status5xx => Fault::status(503),
            Case::Busy => Fault::errcode(-1),
            Case::Timeout => Fault::delay(SLOW),
            Case::Truncated => Fault::status_with_body(200, truncated),
            Case::TruncatedAfter => Fault::status_with_body(200, truncated).after_handling(),
            Case::NotJson => Fault::status_with_body(200, html),
        })
    }
}

/// What a case must end in.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    Transport(TransportKind),
    Status(u16),
    Api(i64),
    Decode,
}

/// Whether this request of the endpoint may be repeated: a read, or a write whose request
/// carries the field that makes it safe (a template's `client_msg_id`).
fn repeatable(meta: &EndpointMeta, args: &Value) -> bool {
    meta.idempotent
        || meta
            .idempotent_when
            .is_some_and(|field| args.get(field).is_some())
}

/// The outcome the runtime's rules call for: reads (and the token calls) are retried
/// past a passing failure; a write is retried only when it provably never left.
fn expected(case: Case, read: bool) -> Outcome {
    match case {
        Case::Clean | Case::FirstHostDown => Outcome::Ok,
        Case::ConnectRefused => Outcome::Transport(TransportKind::Connect),
        Case::Truncated | Case::TruncatedAfter | Case::NotJson => Outcome::Decode,
        _ if read => Outcome::Ok,
        Case::ResetBefore | Case::ResetAfter | Case::FirstHostResetAfter => {
            Outcome::Transport(TransportKind::Interrupted)
        }
        Case::Status5xx | Case::FirstHost5xx => Outcome::Status(503),
        Case::Busy => Outcome::Api(-1),
        Case::Timeout | Case::FirstHostTimeout => Outcome::Transport(TransportKind::Timeout),
    }
}

fn outcome(result: &Result<Value, DynamicError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(DynamicError::Call(error)) => match error {
            Error::Transport { kind, .. } => Outcome::Transport(*kind),
            Error::Status { status, .. } => Outcome::Status(*status),
            Error::Api { code, .. } => Outcome::Api(code.code()),
            Error::Decode { .. } => Outcome::Decode,
            other => panic!("an untyped outcome: {other:?}"),
        },
        Err(other) => panic!("the matrix's request is malformed: {other}"),
    }
}

/// The media a seeded account holds: a temporary media and a permanent material.
struct Seeded {
    temp: String,
    material: String,
    /// The platform's: its latest ticket, an authorization code not used yet, and the
    /// authorizer's refresh token.
    ticket: String,
    code: String,
    refresh_token: String,
    authorizations: Arc<MemoryAuthorizations>,
}

const COMPONENT: &str = "wxmatrixcomponent";
const COMPONENT_SECRET: &str = "matrix-component-secret";
const AUTHORIZER: &str = "wxmatrixauthorizer";

/// The platform's client of the component calls, on the seeded stores.
fn component(
    seeded: &Seeded,
    configure: impl FnOnce(PlatformBuilder) -> PlatformBuilder,
) -> Client {
    let builder = Platform::builder()
        .component_app_id(COMPONENT)
        .component_secret(COMPONENT_SECRET)
        .authorization_store(Arc::clone(&seeded.authorizations))
        .retry_policy(common::fast_retries());
    configure(builder).build().unwrap().component().clone()
}

/// A state in which every endpoint's request of [`request`] succeeds.
async fn seed(env: &Env) -> Seeded {
    let mock = &env.mock;
    mock.add_online_agent(ALICE, "Alice").unwrap();
    mock.add_online_agent(BOB, "Bob").unwrap();
    mock.add_account(INVITEE, "Invitee").unwrap();
    mock.add_account(GONE, "Gone").unwrap();
    mock.user_message(USER, "hi");
    mock.user_message(SERVED, "hello");
    mock.enqueue_waiting(SERVED).unwrap();
    mock.accept_waiting(BOB, SERVED).unwrap();
    mock.add_template(TEMPLATE, "Matrix", "{{keyword1.DATA}}");
    mock.add_template(GONE_TEMPLATE, "Gone", "");
    mock.grant_subscription(USER, TEMPLATE, 3);
    // The platform: a ticket, an account authorized (its refresh token kept), and a
    // second code of that authorization for `query_auth`.
    mock.set_platform(PlatformConfig::new(
        COMPONENT,
        COMPONENT_SECRET,
        "matrix-token",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    ));
    mock.push_ticket().await.unwrap();
    let ticket = mock.latest_ticket().unwrap();
    let authorizations = Arc::new(MemoryAuthorizations::new());
    authorizations
        .put_ticket(&Ticket {
            value: Credential::new(ticket.as_str()),
            issued_at: mock.now(),
        })
        .await
        .unwrap();
    let first = mock.authorize(AUTHORIZER, &[1, 6]).await.unwrap();
    let code = mock.authorization_code(AUTHORIZER).unwrap();
    let mut seeded = Seeded {
        temp: mock.user_media("image", jpeg(2048)),
        material: mock.add_material("image", jpeg(2048)),
        ticket,
        code,
        refresh_token: String::new(),
        authorizations,
    };
    let platform = Platform::builder()
        .component_app_id(COMPONENT)
        .component_secret(COMPONENT_SECRET)
        .base_url(mock.base_url())
        .authorization_store(Arc::clone(&seeded.authorizations))
        .build()
        .unwrap();
    platform.authorized(&first, mock.now()).await.unwrap();
    seeded.refresh_token = seeded
        .authorizations
        .authorization(AUTHORIZER)
        .await
        .unwrap()
        .unwrap()
        .refresh_token
        .expose()
        .to_owned();
    for secret in [COMPONENT_SECRET, &seeded.ticket, &seeded.refresh_token] {
        env.forbid(secret);
    }
    // What the seeding asked of the platform is not the endpoints' own.
    mock.clear_requests();
    seeded
}

/// A valid request for the endpoint, as the JSON its dynamic call takes.
fn request(env: &Env, seeded: &Seeded, name: &str, avatar: &str) -> Value {
    let now = env.mock.now();
    let credentials = json!({
        "grant_type": "client_credential",
        "appid": env.mock.appid(),
        "secret": env.mock.secret(),
    });
    match name {
        "add_kf_account" => json!({"kf_account": "new@gh_matrix", "nickname": "New"}),
        "update_kf_account" => json!({"kf_account": ALICE, "nickname": "Alice 2"}),
        "del_kf_account" => json!({"kf_account": GONE}),
        "invite_kf_worker" => json!({"kf_account": INVITEE, "invite_wx": "wx_invitee"}),
        "upload_kf_head_img" => json!({"kf_account": ALICE, "media": avatar}),
        "get_kf_list" | "get_online_kf_list" | "get_wait_case" => json!({}),
        "send_custom_message" => {
            json!({"touser": USER, "msgtype": "text", "text": {"content": "hello"}})
        }
        "typing" => json!({"touser": USER, "command": "Typing"}),
        "get_msg_list" => {
            json!({"starttime": now - 3600, "endtime": now, "msgid": 1, "number": 100})
        }
        "create_kf_session" => json!({"kf_account": ALICE, "openid": USER}),
        "close_session" => json!({"kf_account": BOB, "openid": SERVED}),
        "get_kf_session" => json!({"openid": SERVED}),
        "get_kf_session_list" => json!({"kf_account": BOB}),
        "get_stable_access_token" | "get_access_token" => credentials,
        "upload_temp_media" | "add_material" => json!({"type": "image", "media": avatar}),
        "get_temp_media" => json!({"media_id": seeded.temp}),
        "get_material" | "del_material" => json!({"media_id": seeded.material}),
        // With its client_msg_id: retried like a read, and sent once.
        "send_template_message" => json!({
            "touser": USER,
            "template_id": TEMPLATE,
            "client_msg_id": "matrix-1",
            "data": {"keyword1": {"value": "hello"}},
        }),
        "send_subscribe_message" => json!({
            "touser": USER,
            "template_id": TEMPLATE,
            "data": {"thing1": {"value": "hello"}},
        }),
        "del_private_template" => json!({"template_id": GONE_TEMPLATE}),
        "start_push_ticket" => {
            json!({"component_appid": COMPONENT, "component_secret": COMPONENT_SECRET})
        }
        "get_component_access_token" => json!({
            "component_appid": COMPONENT,
            "component_appsecret": COMPONENT_SECRET,
            "component_verify_ticket": seeded.ticket,
        }),
        "create_pre_auth_code" => json!({"component_appid": COMPONENT}),
        "get_authorizer_list" => {
            json!({"component_appid": COMPONENT, "offset": 0, "count": 500})
        }
        "query_auth" => json!({"component_appid": COMPONENT, "authorization_code": seeded.code}),
        "get_authorizer_token" => json!({
            "component_appid": COMPONENT,
            "authorizer_appid": AUTHORIZER,
            "authorizer_refresh_token": seeded.refresh_token,
        }),
        "get_authorizer_info" => {
            json!({"component_appid": COMPONENT, "authorizer_appid": AUTHORIZER})
        }
        // Any other endpoint: the request the spec's examples make.
        other => {
            let example = wx_kefu_api::example_request(other).expect("an endpoint of the spec");
            serde_json::from_str(example).expect("the example is JSON")
        }
    }
}

/// Whether the emulator has a behaviour for the endpoint (it answers 48001 "not emulated"
/// where it has none: such an endpoint is left out of the matrix until it has one).
async fn emulated(meta: &EndpointMeta, avatar: &str) -> bool {
    let env = Env::start().await;
    let seeded = seed(&env).await;
    let client = match meta.group {
        "platform" => component(&seeded, |b| b.base_url(env.mock.base_url())),
        _ => env.client.clone(),
    };
    let answer = call(&client, meta, request(&env, &seeded, meta.name, avatar)).await;
    !matches!(&answer, Err(DynamicError::Call(Error::Api { code, message, .. }))
        if code.code() == 48001 && message.contains("not emulated"))
}

/// The endpoint's dynamic call: a download's file (read whole) or JSON, as JSON.
async fn call(client: &Client, meta: &EndpointMeta, args: Value) -> Result<Value, DynamicError> {
    if !meta.downloads {
        return call_json(client, meta.name, args).await;
    }
    match download_json(client, meta.name, args).await? {
        Download::File(file) => {
            let bytes = file.bytes(1 << 20).await?;
            Ok(json!({ "file_bytes": bytes.len() }))
        }
        Download::Json(json) => Ok(json),
        other => panic!("an unknown kind of download: {other:?}"),
    }
}

/// A port on 127.0.0.1 where nothing listens.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn run(case: Case) {
    let avatar = std::env::temp_dir().join(format!(
        "wx-kefu-matrix-{}-{case:?}.jpg",
        std::process::id()
    ));
    std::fs::write(&avatar, jpeg(4096)).unwrap();
    let avatar_path = avatar.to_str().unwrap();
    let mut failures = Vec::new();
    for meta in ENDPOINTS.iter().copied() {
        if !emulated(meta, avatar_path).await {
            eprintln!("{}: not emulated, left out of the fault matrix", meta.name);
            continue;
        }
        let env = match case.two_hosts() {
            true => {
                let mock = wx_kefu_mock::MockServer::builder()
                    .hosts(2)
                    .start()
                    .await
                    .unwrap();
                let hosts = mock.host_urls();
                // A host taken down refuses new connections; a connection kept from
                // before would meet the cut mid-request (a write then fails as it may
                // have arrived, rightly). Fresh connections make the case the refusal.
                let fresh = wx_kefu_api::reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .redirect(wx_kefu_api::reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                Env::start_on(mock, |b| {
                    let b = b.hosts(hosts).timeout(TIMEOUT);
                    match case {
                        Case::FirstHostDown => b.http_client(fresh),
                        _ => b,
                    }
                })
            }
            false => Env::start_with(|b| b.timeout(TIMEOUT)).await,
        };
        let seeded = seed(&env).await;
        let args = request(&env, &seeded, meta.name, avatar_path);
        // The platform's calls go through its component client (its token the component's).
        let platform = meta.group == "platform";
        let client = match case {
            Case::ConnectRefused => {
                let base = format!("http://127.0.0.1:{}", dead_port());
                match platform {
                    true => component(&seeded, |b| b.base_url(base).timeout(TIMEOUT)),
                    false => env.client_with(|b| b.base_url(base).timeout(TIMEOUT)),
                }
            }
            _ => {
                let client = match (platform, case.two_hosts()) {
                    (false, _) => env.client.clone(),
                    (true, false) => component(&seeded, |b| {
                        b.base_url(env.mock.base_url()).timeout(TIMEOUT)
                    }),
                    (true, true) => {
                        let fresh = wx_kefu_api::reqwest::Client::builder()
                            .pool_max_idle_per_host(0)
                            .redirect(wx_kefu_api::reqwest::redirect::Policy::none())
                            .build()
                            .unwrap();
                        component(&seeded, |b| {
                            let b = b.hosts(env.mock.host_urls()).timeout(TIMEOUT);
                            match case {
                                Case::FirstHostDown => b.http_client(fresh),
                                _ => b,
                            }
                        })
                    }
                };
                // The token first, so that the fault meets the endpoint's own request.
                client.access_token().await.unwrap();
                client
            }
        };
        if let Some(fault) = case.fault() {
            env.mock.inject(fault.times(1).on_path(meta.path));
        }
        if case == Case::FirstHostDown {
            env.mock.stop_host(0).await;
        }
        if case.two_hosts() {
            // Only the endpoint's own requests count where they went (not the token's).
            env.mock.clear_requests();
        }
        let args_copy = args.clone();
        let result = call(&client, meta, args).await;
        if let Err(DynamicError::Call(error)) = &result {
            env.keep(error.clone());
        }
        let got = outcome(&result);
        let repeatable = repeatable(meta, &args_copy);
        let want = expected(case, repeatable);
        if got != want {
            failures.push(format!("{}: {want:?} expected, got {result:?}", meta.name));
        }
        if matches!(case, Case::Timeout | Case::FirstHostTimeout) {
            // The late request is handled after the client gave up; let it land.
            tokio::time::sleep(SLOW + Duration::from_millis(200)).await;
        }
        let applied = env
            .mock
            .requests_to(meta.path)
            .iter()
            .filter(|r| r.applied)
            .count();
        if case.two_hosts() {
            failures.extend(host_failures(case, &env, meta, repeatable));
        }
        if !meta.idempotent {
            // A write is carried out at most once: exactly as often as the case says, or,
            // made repeatable by its request (retried, and deduplicated by WeChat), never
            // more than once.
            let most = match case {
                _ if repeatable => 1,
                Case::ConnectRefused
                | Case::ResetBefore
                | Case::Status5xx
                | Case::Busy
                | Case::Truncated
                | Case::NotJson
                | Case::FirstHost5xx => 0,
                Case::Clean
                | Case::ResetAfter
                | Case::Timeout
                | Case::TruncatedAfter
                | Case::FirstHostDown
                | Case::FirstHostResetAfter
                | Case::FirstHostTimeout => 1,
            };
            // A late request may or may not be carried out (the emulator, like a server,
            // may drop the work of a client that hung up); never twice.
            let fits = match case {
                _ if repeatable => applied <= most,
                Case::Timeout | Case::FirstHostTimeout => applied <= most,
                _ => applied == most,
            };
            if !fits {
                failures.push(format!(
                    "{}: carried out {applied} times, expected {}{most}",
                    meta.name,
                    if matches!(case, Case::Timeout | Case::FirstHostTimeout) {
                        "at most "
                    } else {
                        ""
                    }
                ));
            }
        }
        env.finish().await;
    }
    let _ = std::fs::remove_file(&avatar);
    assert!(failures.is_empty(), "{case:?}:\n{}", failures.join("\n"));
}

/// Where the requests of a two-host case went: a write never to the second host unless
/// the first refused the connection; a read there after the first failed, with the switch
/// in the log naming both hosts.
fn host_failures(case: Case, env: &Env, meta: &EndpointMeta, repeatable: bool) -> Vec<String> {
    let requests = env.mock.requests_to(meta.path);
    let on = |host| requests.iter().filter(|r| r.host == host).count();
    let (first, second) = (on(0), on(1));
    let hosts = env.mock.host_urls();
    let mut failures = Vec::new();
    let moved = repeatable || case == Case::FirstHostDown;
    let want_second = usize::from(moved);
    if second != want_second {
        failures.push(format!(
            "{}: {second} requests reached the second host, expected {want_second}",
            meta.name
        ));
    }
    // A request the client gave up on may be dropped by the server unlogged.
    let first_ok = match case {
        Case::FirstHostDown => first == 0,
        Case::FirstHostTimeout => first <= 1,
        _ => first == 1,
    };
    if !first_ok {
        failures.push(format!(
            "{}: {first} requests reached the first host",
            meta.name
        ));
    }
    let switched = common::logs().lines().any(|line| {
        line.contains("WeChat host failed: switching")
            && line.contains(&format!("from={}", hosts[0]))
            && line.contains(&format!("to={}", hosts[1]))
    });
    if moved && !switched {
        failures.push(format!("{}: the switch is not in the log", meta.name));
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_host_down() {
    run(Case::FirstHostDown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_host_resets_after_handling() {
    run(Case::FirstHostResetAfter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_host_times_out() {
    run(Case::FirstHostTimeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_host_answers_5xx() {
    run(Case::FirstHost5xx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fault_every_request_succeeds_once() {
    run(Case::Clean).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refused() {
    run(Case::ConnectRefused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_before_handling() {
    run(Case::ResetBefore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_after_handling() {
    run(Case::ResetAfter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_5xx() {
    run(Case::Status5xx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_busy() {
    run(Case::Busy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout() {
    run(Case::Timeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body() {
    run(Case::Truncated).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_after_handling() {
    run(Case::TruncatedAfter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_body() {
    run(Case::NotJson).await;
}
