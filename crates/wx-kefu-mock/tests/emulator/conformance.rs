//! The conformance suite: the scenario files of `conformance/` (see its README) run
//! against the emulator over HTTP alone — setup through the control API, the token
//! through `/cgi-bin/stable_token` — so that a rule that moves is noticed, and so that
//! the same files can judge another implementation.

use serde_json::{Value, json};
use wx_kefu_mock::MockServer;

const FILES: [(&str, &str); 6] = [
    ("errors.json", include_str!("../../conformance/errors.json")),
    (
        "answers.json",
        include_str!("../../conformance/answers.json"),
    ),
    ("rules.json", include_str!("../../conformance/rules.json")),
    (
        "accounts.json",
        include_str!("../../conformance/accounts.json"),
    ),
    ("notify.json", include_str!("../../conformance/notify.json")),
    (
        "platform.json",
        include_str!("../../conformance/platform.json"),
    ),
];

/// A minimal JPEG or PNG of `len` bytes, or other content, from a scenario's `bytes`.
fn bytes_of(spec: &str) -> Vec<u8> {
    let sized = |head: &[u8], tail: &[u8], len: &str| {
        let len: usize = len.parse().expect("a length");
        let mut bytes = head.to_vec();
        bytes.resize(len.saturating_sub(tail.len()).max(head.len()), 0);
        bytes.extend_from_slice(tail);
        bytes
    };
    match spec.split_once(':') {
        Some(("jpeg", len)) => sized(&[0xFF, 0xD8, 0xFF, 0xE0], &[0xFF, 0xD9], len),
        Some(("png", len)) => sized(b"\x89PNG\r\n\x1a\n", b"", len),
        Some(("mp4", len)) => sized(b"\0\0\0\x18ftypisom", b"", len),
        _ if spec == "empty" => Vec::new(),
        _ => spec.as_bytes().to_vec(),
    }
}

/// The value at `path` (`a.b[0].c`), if present.
fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = value;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        current = current.get(key)?;
        if let Some(index) = index {
            current = current.get(index)?;
        }
    }
    Some(current)
}

/// An access token from the emulator's token call, as any client gets one.
async fn stable_token(http: &reqwest::Client, mock: &MockServer) -> Value {
    http.post(format!("{}/cgi-bin/stable_token", mock.base_url()))
        .json(&json!({ "grant_type": "client_credential", "appid": mock.appid(), "secret": mock.secret() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs one scenario on a fresh emulator; what went wrong, if anything.
async fn run(scenario: &Value) -> Result<(), String> {
    let mock = MockServer::builder().web_view(true).start().await.unwrap();
    let base = mock.base_url();
    let http = reqwest::Client::new();
    let first = stable_token(&http, &mock).await;
    for step in scenario["setup"].as_array().into_iter().flatten() {
        let method: reqwest::Method = step["method"].as_str().unwrap_or("POST").parse().unwrap();
        // A setup step is a control API call, or (`"api": true`) a call of the API itself,
        // which must succeed.
        let api = step["api"].as_bool().unwrap_or(false);
        let url = match api {
            true => format!(
                "{base}{}?access_token={}",
                step["path"].as_str().unwrap(),
                first["access_token"].as_str().unwrap()
            ),
            false => format!("{base}/_mock/api{}", step["path"].as_str().unwrap()),
        };
        let answer = http
            .request(method, url)
            .json(step.get("json").unwrap_or(&json!({})))
            .send()
            .await
            .map_err(|e| format!("setup: {e}"))?;
        if api {
            let body: Value = answer.json().await.map_err(|e| format!("setup: {e}"))?;
            if body["errcode"].as_i64().unwrap_or(0) != 0 {
                return Err(format!("setup {step}: {body}"));
            }
            continue;
        }
        if !answer.status().is_success() {
            return Err(format!(
                "setup {step}: {}",
                answer.text().await.unwrap_or_default()
            ));
        }
    }
    // A token fetched after the setup (which may have moved the clock past the first).
    let token = stable_token(&http, &mock).await;
    let request = &scenario["request"];
    let method: reqwest::Method = request["method"].as_str().unwrap().parse().unwrap();
    let mut query: Vec<(String, String)> = request["query"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    // `"token": "before_setup"`: the token fetched before the setup (which may have
    // outlived it); `false`: none.
    let chosen = match &request["token"] {
        Value::Bool(false) => None,
        Value::String(when) if when == "before_setup" => Some(&first),
        _ => Some(&token),
    };
    if let Some(chosen) = chosen {
        query.push((
            "access_token".into(),
            chosen["access_token"].as_str().unwrap().into(),
        ));
    }
    // `repeat`: the same request again and again; the last answer is judged.
    let mut last = None;
    for _ in 0..request["repeat"].as_u64().unwrap_or(1) {
        let mut builder = http
            .request(
                method.clone(),
                format!("{base}{}", request["path"].as_str().unwrap()),
            )
            .query(&query);
        if let Some(body) = request.get("json") {
            builder = builder.json(body);
        } else if let Some(raw) = request.get("raw").and_then(Value::as_str) {
            builder = builder.body(raw.to_owned());
        } else if let Some(parts) = request.get("multipart").and_then(Value::as_array) {
            let mut form = reqwest::multipart::Form::new();
            for part in parts {
                let mut piece =
                    reqwest::multipart::Part::bytes(bytes_of(part["bytes"].as_str().unwrap_or("")));
                if let Some(name) = part["filename"].as_str() {
                    piece = piece.file_name(name.to_owned());
                }
                if let Some(ty) = part["content_type"].as_str() {
                    piece = piece.mime_str(ty).unwrap();
                }
                form = form.part(part["name"].as_str().unwrap().to_owned(), piece);
            }
            builder = builder.multipart(form);
        }
        last = Some(builder.send().await.map_err(|e| e.to_string())?);
    }
    let answer = last.ok_or("`repeat` is 0")?;
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("not JSON: {text}"))?;
    let expect = &scenario["expect"];
    let mut wrong = Vec::new();
    let want_status = expect["status"].as_u64().unwrap_or(200);
    if u64::from(status) != want_status {
        wrong.push(format!("HTTP {status}, expected {want_status}"));
    }
    if let Some(want) = expect["errcode"].as_i64() {
        let got = body["errcode"].as_i64().unwrap_or(0);
        if got != want {
            wrong.push(format!("errcode {got}, expected {want}"));
        }
    }
    for field in expect["fields"].as_array().into_iter().flatten() {
        let path = field.as_str().unwrap();
        if at(&body, path).is_none() {
            wrong.push(format!("no `{path}`"));
        }
    }
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(format!("{} (answer: {text})", wrong.join("; "))),
    }
}

#[tokio::test]
async fn every_scenario_is_answered_as_its_source_says() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, text) in FILES {
        let scenarios: Vec<Value> = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{file} is not a JSON array of scenarios: {e}"));
        for scenario in &scenarios {
            let name = scenario["name"]
                .as_str()
                .expect("every scenario has a name");
            assert!(
                scenario["source"].as_str().is_some_and(|s| !s.is_empty()),
                "{file}: `{name}` names no source"
            );
            count += 1;
            if let Err(why) = run(scenario).await {
                failures.push(format!("{file}: {name}: {why}"));
            }
        }
    }
    assert!(count >= 55, "{count} scenarios");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
