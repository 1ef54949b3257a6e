//! Every error path, and the leak scan over rendered errors and captured logs.

use std::time::Duration;

use serde_json::json;
use wx_kefu_runtime::validate::Rule;
use wx_kefu_runtime::{Error, TokenMode, TransportKind};

use crate::common::*;

/// `crates/wx-kefu-api/tests/samples/error-out-of-window.json`.
const OUT_OF_WINDOW: &str = r#"{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 6561a4b2-5e1d7a0c-3f2a9b11"}"#;

/// `crates/wx-kefu-api/tests/samples/error-not-json.txt`: a body WeChat has really answered.
const NOT_JSON: &str = "{\"errcode\": invalid kf_account, \"errmsg\": \"invalid kf_account\"}\n";

#[tokio::test]
async fn an_api_error_carries_code_message_and_rid() {
    let (mock, base) = start().await;
    mock.script("send", [Reply::Raw(200, OUT_OF_WINDOW)]);
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Send::new("hi")).await);
    let Error::Api {
        endpoint,
        code,
        message,
        rid,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*endpoint, "test_send");
    assert_eq!(code.code(), 45015);
    assert!(message.starts_with("response out of time limit"));
    assert_eq!(rid.as_deref(), Some("6561a4b2-5e1d7a0c-3f2a9b11"));
    assert_eq!(error.rid(), Some("6561a4b2-5e1d7a0c-3f2a9b11"));
    assert!(error.is_out_of_window() && !error.is_retryable() && !error.is_token_error());
    assert!(error.to_string().contains("45015"));
    assert_eq!(mock.hits("send"), 1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_decode_error_with_status_and_excerpt() {
    let (mock, base) = start().await;
    mock.script("read", [Reply::Raw(200, NOT_JSON)]);
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Read).await);
    let Error::Decode {
        status, excerpt, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*status, 200);
    assert_eq!(
        excerpt,
        "{\"errcode\": invalid kf_account, \"errmsg\": \"invalid kf_account\"} "
    );
    assert!(!error.is_retryable());
    assert_eq!(mock.hits("read"), 1);

    for body in ["<html><body>维护中</body></html>", "", "{\"value\": 5}"] {
        let (mock, base) = start().await;
        mock.script("read", [Reply::Raw(200, body)]);
        let client = builder(&base).build().unwrap();
        let error = err(client.call(Read).await);
        assert!(
            matches!(&error, Error::Decode { status: 200, .. }),
            "{body}: {error:?}"
        );
        assert_eq!(mock.hits("read"), 1);
    }
}

#[tokio::test]
async fn long_bodies_are_excerpted_on_a_character_boundary() {
    let (mock, base) = start().await;
    let long: &'static str = "错".repeat(5000).leak();
    mock.script("read", [Reply::Raw(200, long)]);
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Read).await);
    let Error::Decode { excerpt, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        excerpt.chars().count(),
        wx_kefu_runtime::error::EXCERPT_CHARS + 1
    );
    assert!(excerpt.ends_with('…'));
}

#[tokio::test]
async fn http_5xx_is_a_status_error_with_the_token_redacted() {
    let (mock, base) = start().await;
    mock.script(
        "read",
        [
            Reply::EchoUri(502),
            Reply::EchoUri(502),
            Reply::EchoUri(502),
        ],
    );
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Read).await);
    let Error::Status {
        status, excerpt, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*status, 502);
    assert!(
        excerpt.contains("/test/read?openid=OPENID&access_token=***"),
        "{excerpt}"
    );
    assert!(error.is_retryable());
    assert_eq!(mock.hits("read"), 3);
}

#[tokio::test]
async fn an_invalid_request_fails_before_any_io() {
    let (mock, base) = start().await;
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Send::new("")).await);
    let Error::Invalid { endpoint, source } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (*endpoint, source.field.as_str(), &source.rule),
        ("test_send", "text", &Rule::Required)
    );
    let error = err(client.call(Send::new("eleven char")).await);
    assert!(
        matches!(&error, Error::Invalid { source, .. } if source.rule == Rule::MaxChars { max: 10, actual: 11 })
    );
    assert!(error.is_not_sent() && !error.is_retryable());
    assert_eq!(mock.all_hits(), 0, "not even a token was fetched");
}

#[tokio::test]
async fn the_leak_scan_covers_every_error_path_and_the_logs() {
    let (mock, base) = start().await;
    let client = builder(&base)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut errors = Vec::new();
    mock.script("read", [Reply::Raw(200, OUT_OF_WINDOW)]);
    errors.push(client.call(Read).await.unwrap_err());
    mock.script("read", [Reply::Raw(200, NOT_JSON)]);
    errors.push(client.call(Read).await.unwrap_err());
    mock.script(
        "read",
        [
            Reply::EchoUri(500),
            Reply::EchoUri(500),
            Reply::EchoUri(500),
        ],
    );
    errors.push(client.call(Read).await.unwrap_err());
    mock.script("send", [Reply::Hang]);
    errors.push(client.call(Send::new("hi")).await.unwrap_err());
    errors.push(client.call(Send::new("")).await.unwrap_err());
    mock.reject_all
        .store(true, std::sync::atomic::Ordering::SeqCst);
    errors.push(client.call(Read).await.unwrap_err());

    // The classic token call carries the secret in its URL; a transport error must not.
    let dead = builder(&dead_base())
        .token_mode(TokenMode::Classic)
        .build()
        .unwrap();
    let error = dead.call(Read).await.unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Transport {
                kind: TransportKind::Connect,
                endpoint: "token",
                ..
            }
        ),
        "{error:?}"
    );
    errors.push(error);
    let dead = builder(&dead_base()).build().unwrap();
    errors.push(dead.call(Send::new("hi")).await.unwrap_err());

    let (mock, base) = start().await;
    *mock.token_error.lock().unwrap() =
        Some(json!({"errcode": 40164, "errmsg": "invalid ip, not in whitelist rid: 0006"}));
    errors.push(
        builder(&base)
            .build()
            .unwrap()
            .call(Read)
            .await
            .unwrap_err(),
    );

    assert_eq!(errors.len(), 9);
    for error in errors {
        checked(error);
    }
    let logs = logs();
    for expected in [
        "wx_kefu.call",
        "test_read",
        "/test/read",
        "attempt=",
        "errcode=45015",
        "rid=",
        "latency_ms=",
    ] {
        assert!(logs.contains(expected), "the logs lack {expected}");
    }
    assert_logs_clean();
}
