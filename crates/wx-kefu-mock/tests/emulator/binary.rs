//! The `wx-kefu-mock` binary prints where it listens and serves there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The binary started with `args`, and a reader of what it printed first (`base_url …`,
/// `appid …`, `secret …`, `web_view …`).
pub(crate) fn start(args: &[&str]) -> (Child, impl Fn(&str) -> String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wx-kefu-mock"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(5)
        .map(Result::unwrap)
        .collect();
    let value = move |key: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(key).map(|rest| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
    };
    (child, value)
}

#[tokio::test]
async fn the_binary_prints_its_base_url_appid_and_secret() {
    let (mut child, value) = start(&[
        "--port",
        "0",
        "--appid",
        "wxbinarytest",
        "--secret",
        "s3cret",
    ]);
    let base_url = value("base_url");
    assert_eq!(value("appid"), "wxbinarytest");
    assert_eq!(value("secret"), "s3cret");
    let body = serde_json::json!({ "grant_type": "client_credential", "appid": "wxbinarytest", "secret": "s3cret" });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base_url}/cgi-bin/stable_token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answer["expires_in"], 7200, "{answer}");
}

/// The standalone emulator driven purely over its JSON control API, as a test in another
/// language or a docker-compose setup would: a user writes, the SDK answers, a fault is
/// injected, the state is read back; no answer carries the secret or the token.
#[tokio::test]
async fn the_standalone_emulator_is_driven_over_its_control_api() {
    use wx_kefu_api::{Client, ErrCode, Error, KefuApi, SendCustomMessage, Text};

    let (mut child, value) = start(&["--port", "0"]);
    let (base_url, appid, secret) = (value("base_url"), value("appid"), value("secret"));
    assert_eq!(value("web_view"), format!("{base_url}/_mock/"));
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{base_url}/_mock/api{path}");
    let post = |path: &str, body: serde_json::Value| {
        let request = http.post(api(path)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let answer: serde_json::Value = response.json().await.unwrap();
            assert_eq!(status, 200, "{answer}");
            answer
        }
    };

    // The user writes; an agent comes online.
    post(
        "/users/o_ctl/messages",
        serde_json::json!({ "text": "在吗？" }),
    )
    .await;
    post(
        "/agents",
        serde_json::json!({ "kf_account": "ctl@gh_ctl", "nickname": "控制台" }),
    )
    .await;
    // The SDK answers within the window the message opened.
    let client = Client::builder()
        .app_id(&appid)
        .app_secret(secret.as_str())
        .base_url(&base_url)
        .build()
        .unwrap();
    client
        .send_custom_message(SendCustomMessage::new("o_ctl", Text::new("在的，请讲")))
        .await
        .unwrap();
    // A fault injected over the API fails the SDK's next send with its errcode.
    post(
        "/faults",
        serde_json::json!({ "path": "/cgi-bin/message/custom/send", "errcode": 45047 }),
    )
    .await;
    let refused = client
        .send_custom_message(SendCustomMessage::new("o_ctl", Text::new("再发一条")))
        .await;
    match refused {
        Err(Error::Api { code, .. }) => assert_eq!(code, ErrCode::from_code(45047)),
        other => panic!("expected 45047, got {other:?}"),
    }
    // A malformed request is refused with a reason, and changes nothing.
    let bad = http
        .post(api("/faults"))
        .json(&serde_json::json!({ "errcode": 1, "drop": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let get = |path: &str| {
        let request = http.get(api(path));
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    // The state read back.
    let state = get("/state").await;
    let user = &state["users"][0];
    assert_eq!(user["openid"], "o_ctl");
    let bubbles: Vec<(String, String)> = user["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["from"].as_str().unwrap().to_owned(),
                b["content"]["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        bubbles,
        [
            ("user".to_owned(), "在吗？".to_owned()),
            ("agent".to_owned(), "在的，请讲".to_owned())
        ]
    );
    assert_eq!(user["window"]["remaining"], 4, "{user}");
    assert_eq!(state["agents"][0]["online"], true);
    assert_eq!(state["faults"].as_array().map(Vec::len), Some(0), "used up");
    let log = get("/requests").await;
    let sends: Vec<&serde_json::Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/cgi-bin/message/custom/send")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0]["errcode"], 0);
    assert_eq!(sends[1]["errcode"], 45047);
    assert!(
        sends[1]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("45047"))
    );

    // Nothing the API, the page or the event stream answers carries the secret or the token.
    let token = client.access_token().await.unwrap();
    let mut stream = http.get(api("/events")).send().await.unwrap();
    post(
        "/users/o_ctl/messages",
        serde_json::json!({ "text": "还在吗" }),
    )
    .await;
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
        .await
        .expect("an event after a change")
        .unwrap()
        .expect("the stream is open");
    let event = String::from_utf8_lossy(&event).into_owned();
    assert!(event.starts_with("event: change"), "{event}");
    let page = http.get(format!("{base_url}/_mock/")).send().await.unwrap();
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    let page = page.text().await.unwrap();
    assert!(page.contains("wx-kefu-mock"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page fetches nothing elsewhere"
    );
    for text in [page, state.to_string(), log.to_string(), event] {
        assert!(!text.contains(&secret), "the secret leaked");
        assert!(!text.contains(token.expose()), "the token leaked");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The resident memory of a process, from /proc (Linux), in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib * 1024
}

/// The bound the standalone emulator's memory stays under after 1,000 oversized requests
/// (1 GiB sent in all): the log keeps bodies cut to 4 KiB, the control API refuses bodies
/// over 64 KiB before reading them whole.
const MEMORY_BOUND: u64 = 96 * 1024 * 1024;

#[tokio::test]
async fn a_thousand_oversized_requests_leave_its_memory_bounded() {
    let (mut child, value) = start(&["--port", "0"]);
    let base_url = value("base_url");
    let pid = child.id();
    // A fresh connection each time: a refused body closes its connection early.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let megabyte = format!("{{\"text\":\"{}\"}}", "x".repeat(1 << 20));
    let before = resident_bytes(pid);
    for n in 0..1000 {
        let request = match n % 3 {
            // An API call the emulator logs (and refuses: no token).
            0 => http.post(format!("{base_url}/cgi-bin/message/custom/send")),
            // A path it does not know, logged as well.
            1 => http.post(format!("{base_url}/no/such/path/{n}")),
            // The control API: refused past 64 KiB.
            _ => http.post(format!("{base_url}/_mock/api/users/o_{n}/messages")),
        };
        let answer = request
            .header("content-type", "application/json")
            .body(megabyte.clone())
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success() || answer.status() == 404 || answer.status() == 413,
            "{n}: {}",
            answer.status()
        );
    }
    let after = resident_bytes(pid);
    println!(
        "wx-kefu-mock resident memory: {} KiB before, {} KiB after 1,000 requests of 1 MiB",
        before / 1024,
        after / 1024
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(after < MEMORY_BOUND, "{after} bytes after, {before} before");
}
