//! The emulator on a developer's machine, attacked as issue 21 did (items 1–4): another
//! origin, a rebinding Host, simple cross-site requests, oversized bodies, served uploads,
//! and a webhook that redirects or answers without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use serde_json::json;
use wx_kefu_mock::{MockServer, PushOutcome, UserInput, WebhookConfig};

async fn emulator() -> MockServer {
    MockServer::builder().web_view(true).start().await.unwrap()
}

fn host_of(mock: &MockServer) -> String {
    mock.base_url().trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn only_the_emulators_own_host_names_are_served() {
    let mock = emulator().await;
    let http = reqwest::Client::new();
    let state = format!("{}/_mock/api/state", mock.base_url());
    let port = mock.addr().port();
    for (host, status) in [
        (host_of(&mock), 200),
        (format!("localhost:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        (format!("attacker.example:{port}"), 403),
        (format!("127.0.0.1.nip.io:{port}"), 403),
        (format!("localhost:{}", port.wrapping_add(1)), 403),
        ("localhost".to_owned(), 403),
    ] {
        let answer = http.get(&state).header("host", &host).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{host}");
    }
    // A name given at start is served too.
    let named = MockServer::builder()
        .web_view(true)
        .allow_host("mock")
        .start()
        .await
        .unwrap();
    let answer = http
        .get(format!("{}/_mock/api/state", named.base_url()))
        .header("host", format!("mock:{}", named.addr().port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_change_needs_json_from_the_emulators_own_origin() {
    let mock = emulator().await;
    let http = reqwest::Client::new();
    let own = format!("http://{}", host_of(&mock));
    let json = Some("application/json");
    /// A request to the control API and the status it must get.
    struct Try<'a> {
        method: &'a str,
        path: &'a str,
        content_type: Option<&'a str>,
        origin: Option<&'a str>,
        site: Option<&'a str>,
        body: &'a [u8],
        status: StatusCode,
    }
    let case = |method, path, content_type, origin, site, body, status| Try {
        method,
        path,
        content_type,
        origin,
        site,
        body,
        status,
    };
    let cases = [
        // What a page elsewhere can send without a preflight: refused, nothing changes.
        case(
            "POST",
            "/users/o_x/images",
            Some("text/plain"),
            None,
            None,
            b"GIF89a-not-really",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        case(
            "POST",
            "/users/o_x/wait",
            None,
            None,
            None,
            b"",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        case(
            "POST",
            "/clock",
            Some("application/x-www-form-urlencoded"),
            None,
            None,
            b"advance_seconds=99999",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        // JSON, but from another origin (another localhost port) or another site.
        case(
            "POST",
            "/users/o_x/wait",
            json,
            Some("http://localhost:3000"),
            None,
            b"{}",
            StatusCode::FORBIDDEN,
        ),
        case(
            "DELETE",
            "/webhook",
            json,
            None,
            Some("same-site"),
            b"{}",
            StatusCode::FORBIDDEN,
        ),
        // The page's own requests pass (the user writes first, below).
        case(
            "POST",
            "/users/o_x/wait",
            json,
            Some(own.as_str()),
            Some("same-origin"),
            b"{}",
            StatusCode::OK,
        ),
        case(
            "POST",
            "/users/o_x/images",
            Some("image/gif"),
            None,
            None,
            b"GIF89a\x01\x00\x01\x00",
            StatusCode::OK,
        ),
    ];
    for (
        n,
        Try {
            method,
            path,
            content_type,
            origin,
            site,
            body,
            status,
        },
    ) in cases.into_iter().enumerate()
    {
        if n == 5 {
            let state = mock.snapshot();
            assert_eq!(
                state["waiting"].as_array().map(Vec::len),
                Some(0),
                "{state}"
            );
            mock.user_message("o_x", "在吗");
        }
        let mut request = http
            .request(
                method.parse().unwrap(),
                format!("{}/_mock/api{path}", mock.base_url()),
            )
            .body(body.to_vec());
        for (name, value) in [
            ("content-type", content_type),
            ("origin", origin),
            ("sec-fetch-site", site),
        ] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        let answer = request.send().await.unwrap();
        assert_eq!(
            answer.status(),
            status,
            "{method} {path} {content_type:?} {origin:?} {site:?}"
        );
    }
}

#[tokio::test]
async fn bodies_have_limits() {
    let mock = emulator().await;
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/_mock/api{path}", mock.base_url());
    let text = "长".repeat(100_000);
    let big = http
        .post(api("/users/o_x/messages"))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut huge = b"GIF89a".to_vec();
    huge.resize(11 * 1024 * 1024, 0);
    let picture = http
        .post(api("/users/o_x/images"))
        .header("content-type", "image/gif")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        mock.snapshot()["users"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );

    // A body the API logs is cut, whatever its size.
    let long = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    http.post(format!("{}/cgi-bin/message/custom/send", mock.base_url()))
        .body(long)
        .send()
        .await
        .unwrap();
    let logged = mock.requests().pop().unwrap();
    assert!(logged.body.chars().count() < wx_kefu_mock::LOG_BODY_CHARS + 32);
    assert!(
        logged
            .body
            .ends_with(&format!("({} bytes)", (1 << 20) + 10)),
        "{}",
        &logged.body[logged.body.len() - 40..]
    );
}

#[tokio::test]
async fn an_upload_is_served_as_what_its_bytes_are_and_sandboxed() {
    let mock = emulator().await;
    // A GIF-headed file whose uploader declared it an HTML page.
    let mut forged = b"GIF89a".to_vec();
    forged.extend_from_slice(b"<script>alert(document.domain)</script>");
    let id = mock.user_media("image", forged);
    let answer = reqwest::get(format!("{}/_mock/media/{id}", mock.base_url()))
        .await
        .unwrap();
    let header = |name: &str| answer.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "image/gif");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").starts_with("sandbox"));

    // Declared text/html through the API's own upload: still not HTML.
    let http = reqwest::Client::new();
    let token = mock.access_token();
    let form = reqwest::multipart::Form::new().part(
        "media",
        reqwest::multipart::Part::bytes(b"GIF89a<html><script>x()</script>".to_vec())
            .file_name("a.gif")
            .mime_str("text/html")
            .unwrap(),
    );
    let uploaded: serde_json::Value = http
        .post(format!(
            "{}/cgi-bin/media/upload?access_token={token}&type=image",
            mock.base_url()
        ))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = uploaded["media_id"].as_str().expect("uploaded");
    let served = reqwest::get(format!("{}/_mock/media/{id}", mock.base_url()))
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/gif");
}

/// A webhook at `reply`'s mercy: it answers every push with `reply`.
async fn webhook(reply: axum::response::Response, hits: Arc<AtomicUsize>) -> String {
    let reply = Arc::new(std::sync::Mutex::new(Some(reply)));
    let app =
        axum::Router::new().fallback(move || {
            let reply = Arc::clone(&reply);
            let hits = Arc::clone(&hits);
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                reply.lock().unwrap().take().unwrap_or_else(|| {
                    axum::response::IntoResponse::into_response(StatusCode::GONE)
                })
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn pushes_follow_no_redirect_and_read_a_bounded_reply() {
    use axum::response::IntoResponse;

    let mock = emulator().await;
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let elsewhere = webhook("success".into_response(), Arc::clone(&elsewhere_hits)).await;
    let redirect = (
        StatusCode::TEMPORARY_REDIRECT,
        [("location", elsewhere.as_str())],
    )
        .into_response();
    let url = webhook(redirect, Arc::new(AtomicUsize::new(0))).await;
    mock.set_webhook(WebhookConfig::plain(&url, "TOKEN"));
    let pushed = mock
        .push_message("o_r", UserInput::text("hi"))
        .await
        .unwrap();
    assert_eq!(pushed.outcome, PushOutcome::Status(307));
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );

    let endless = "x".repeat(1 << 20).into_response();
    let url = webhook(endless, Arc::new(AtomicUsize::new(0))).await;
    mock.set_webhook(WebhookConfig::plain(&url, "TOKEN"));
    let pushed = mock
        .push_message("o_r", UserInput::text("hi"))
        .await
        .unwrap();
    match pushed.outcome {
        PushOutcome::Invalid(why) => assert!(why.contains("longer than"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// Issue 23: every state the Rust handle reaches, the control API reaches too, so a test
/// in any language (or curl) can set it.
#[tokio::test]
async fn the_control_api_reaches_the_states_the_handle_does() {
    let mock = emulator().await;
    let http = reqwest::Client::new();
    let base = mock.base_url();
    let post = |path: &str, body: serde_json::Value| {
        let request = http.post(format!("{base}/_mock/api{path}")).json(&body);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (
                status,
                answer.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let api = |path: &str, body: serde_json::Value| {
        let request = http
            .post(format!("{base}{path}?access_token={}", mock.access_token()))
            .json(&body);
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };

    // An account bound without an invitation, and one whose invitation is answered.
    assert_eq!(
        post("/agents", json!({"kf_account": "a@gh_c", "nickname": "A"}))
            .await
            .0,
        200
    );
    mock.add_account("b@gh_c", "B").unwrap();
    assert_eq!(
        post("/agents/b@gh_c/bind", json!({"wx": "wx_b"})).await.0,
        200
    );
    assert_eq!(
        mock.account("b@gh_c").unwrap().kf_wx.as_deref(),
        Some("wx_b")
    );
    mock.add_account("c@gh_c", "C").unwrap();
    let invited = api(
        "/customservice/kfaccount/inviteworker",
        json!({"kf_account": "c@gh_c", "invite_wx": "wx_c"}),
    )
    .await;
    assert_eq!(invited["errcode"], 0, "{invited}");
    assert_eq!(
        post("/agents/c@gh_c/invitation", json!({"action": "accept"}))
            .await
            .0,
        200
    );
    assert_eq!(
        mock.account("c@gh_c").unwrap().kf_wx.as_deref(),
        Some("wx_c")
    );
    assert_eq!(
        post("/agents/c@gh_c/invitation", json!({"action": "maybe"}))
            .await
            .0,
        400
    );

    // A worker at WeChat's limit: the next invitation of that user is 65410.
    mock.add_account("d@gh_c", "D").unwrap();
    assert_eq!(post("/workers/wx_busy/at_limit", json!({})).await.0, 200);
    let busy = api(
        "/customservice/kfaccount/inviteworker",
        json!({"kf_account": "d@gh_c", "invite_wx": "wx_busy"}),
    )
    .await;
    assert_eq!(busy["errcode"], 65410, "{busy}");

    // A session switched from the agents' side.
    mock.add_online_agent("e@gh_c", "E").unwrap();
    mock.user_message("o_s", "你好");
    mock.enqueue_waiting("o_s").unwrap();
    mock.accept_waiting("a@gh_c", "o_s").unwrap();
    assert_eq!(
        post("/sessions/o_s/switch", json!({"kf_account": "e@gh_c"}))
            .await
            .0,
        200
    );
    assert_eq!(mock.sessions()[0].kf_account, "e@gh_c");

    // A user's voice kept as a temporary media; a permanent material.
    let voice = http
        .post(format!("{base}/_mock/api/media/voice"))
        .header("content-type", "application/octet-stream")
        .body(b"#!AMR\n0000".to_vec())
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(voice["media_id"].as_str().map(str::len), Some(64));
    let material = http
        .post(format!("{base}/_mock/api/materials/image"))
        .header("content-type", "image/jpeg")
        .body(vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(material.status(), StatusCode::OK);

    // Tokens replaced; a path the spec does not have; customer service off.
    let before = mock.access_token();
    assert_eq!(post("/tokens/invalidate", json!({})).await.0, 200);
    let stale = http
        .get(format!(
            "{base}/cgi-bin/customservice/getkflist?access_token={before}"
        ))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(stale["errcode"], 40001);
    assert_eq!(
        post(
            "/stubs",
            json!({"path": "/cgi-bin/get_api_domain_ip", "answer": {"ip_list": []}})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        post(
            "/stubs",
            json!({"path": "/cgi-bin/customservice/getkflist", "answer": {}})
        )
        .await
        .0,
        400,
        "a path of the spec cannot be stubbed"
    );
    // A user who refused the account's messages: 48002.
    mock.user_message("o_no", "别发了");
    assert_eq!(
        post("/users/o_no/refuses", json!({"refuses": true}))
            .await
            .0,
        200
    );
    let refused = api(
        "/cgi-bin/message/custom/send",
        json!({"touser": "o_no", "msgtype": "text", "text": {"content": "hi"}}),
    )
    .await;
    assert_eq!(refused["errcode"], 48002, "{refused}");

    // The account's WeChat ID as the only suffix a new agent account may have.
    assert_eq!(
        post("/account", json!({"wechat_id": "gh_mine"})).await.0,
        200
    );
    let other = api(
        "/customservice/kfaccount/add",
        json!({"kf_account": "z@gh_other", "nickname": "Z"}),
    )
    .await;
    assert_eq!(other["errcode"], 65404, "{other}");
    let mine = api(
        "/customservice/kfaccount/add",
        json!({"kf_account": "z@gh_mine", "nickname": "Z"}),
    )
    .await;
    assert_eq!(mine["errcode"], 0, "{mine}");

    // A reset empties the account; the token in hand still works.
    let token = mock.access_token();
    assert_eq!(post("/reset", json!({})).await.0, 200);
    assert!(mock.accounts().is_empty() && mock.sessions().is_empty());
    let empty = http
        .get(format!(
            "{base}/cgi-bin/customservice/getkflist?access_token={token}"
        ))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(empty["kf_list"], json!([]), "{empty}");

    assert_eq!(post("/kefu", json!({"enabled": false})).await.0, 200);
    let off = http
        .get(format!(
            "{base}/cgi-bin/customservice/getkflist?access_token={}",
            mock.access_token()
        ))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(off["errcode"], 65400);
}

/// Issue 25: the emulator pushes as WeChat does to a server of several instances: each
/// attempt to the next URL in turn (round-robin across pushes), a retry after the timeout.
#[tokio::test]
async fn pushes_go_round_robin_and_a_retry_may_reach_another_instance() {
    async fn instance(delay: std::time::Duration) -> String {
        let app = axum::Router::new().fallback(move || async move {
            tokio::time::sleep(delay).await;
            "success"
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/wechat", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }
    let slow = instance(std::time::Duration::from_secs(4)).await;
    let fast = instance(std::time::Duration::ZERO).await;
    let third = instance(std::time::Duration::ZERO).await;
    let mock = emulator().await;
    let http = reqwest::Client::new();
    let set = http
        .post(format!("{}/_mock/api/webhook", mock.base_url()))
        .json(&json!({ "url": slow, "also": [fast, third], "token": "TOKEN" }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    // The control API's webhook has WeChat's 5 s; a shorter one for the test.
    mock.set_webhook(
        WebhookConfig::plain(&slow, "TOKEN")
            .also_to(&fast)
            .also_to(&third)
            .timeout(std::time::Duration::from_secs(1)),
    );
    let first = mock
        .push_message("o_rr", UserInput::text("1"))
        .await
        .unwrap();
    assert_eq!(first.outcome, PushOutcome::Success);
    assert_eq!(
        first.urls,
        [slow.clone(), fast.clone()],
        "the retry went to the next instance"
    );
    let second = mock
        .push_message("o_rr", UserInput::text("2"))
        .await
        .unwrap();
    assert_eq!(
        second.urls,
        std::slice::from_ref(&third),
        "round-robin across pushes"
    );
    let third_push = mock
        .push_message("o_rr", UserInput::text("3"))
        .await
        .unwrap();
    assert_eq!(third_push.urls, [slow, fast]);
    assert_eq!(
        mock.snapshot()["pushes"][0]["urls"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
