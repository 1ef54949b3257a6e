//! Fault injection: errcodes, HTTP statuses with raw bodies, delays, dropped connections,
//! before and after the request is handled, for a number of requests and by path.

use std::time::{Duration, Instant};

use serde_json::json;
use wx_kefu_mock::{Fault, FaultKind, UserEvent};

use crate::{ADD, Harness, LIST, SEND, assert_error, code};

#[tokio::test]
async fn an_errcode_for_the_next_requests_on_a_path() {
    let h = Harness::new().await;
    h.mock.inject(Fault::errcode(-1).times(2).on_path(LIST));
    assert_eq!(h.mock.pending_faults().len(), 1);
    assert_eq!(h.mock.pending_faults()[0].remaining(), 2);
    // Another path is not affected.
    assert_eq!(
        code(
            &h.post(ADD, json!({ "kf_account": "a@gh", "nickname": "n" }))
                .await
        ),
        0
    );
    let first = h.get(LIST, &[]).await;
    assert_error(&first, -1);
    assert!(
        first["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("system error rid: ")
    );
    assert_error(&h.get(LIST, &[]).await, -1);
    assert_eq!(code(&h.get(LIST, &[]).await), 0);
    assert!(h.mock.pending_faults().is_empty());
}

#[tokio::test]
async fn an_errcode_fault_comes_before_the_token_check_and_changes_nothing() {
    let h = Harness::new().await;
    h.mock.inject(Fault::errcode(40001));
    let response = h
        .http
        .post(h.url(ADD))
        .json(&json!({ "kf_account": "a@gh", "nickname": "n" }))
        .send();
    assert_error(&response.await.unwrap().json().await.unwrap(), 40001);
    assert!(h.mock.accounts().is_empty());
}

#[tokio::test]
async fn an_http_status_with_a_raw_body() {
    let h = Harness::new().await;
    h.mock.inject(Fault::status_with_body(
        502,
        "<html><body>502 Bad Gateway</body></html>",
    ));
    let response = h
        .http
        .get(h.url(LIST))
        .query(&[("access_token", &h.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("Bad Gateway"));

    h.mock.inject(Fault::status_with_body(
        200,
        r#"{"errcode": invalid kf_account, "errmsg": "invalid kf_account"}"#,
    ));
    let response = h
        .http
        .get(h.url(LIST))
        .query(&[("access_token", &h.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let broken =
        serde_json::from_str::<serde_json::Value>(&response.text().await.unwrap()).unwrap_err();
    assert!(
        broken.is_syntax(),
        "the injected body is not JSON: {broken}"
    );

    h.mock
        .inject(Fault::status_with_body(200, r#"{"kf_list":[{"kf_acc"#));
    let text = h
        .http
        .get(h.url(LIST))
        .query(&[("access_token", &h.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(text.text().await.unwrap(), r#"{"kf_list":[{"kf_acc"#);

    h.mock.inject(Fault::status(503));
    let response = h
        .http
        .get(h.url(LIST))
        .query(&[("access_token", &h.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.text().await.unwrap(), "");
}

#[tokio::test]
async fn a_delay_then_a_normal_answer() {
    let h = Harness::new().await;
    h.mock.inject(Fault::delay(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(code(&h.get(LIST, &[]).await), 0);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // A client with a shorter timeout gives up.
    h.mock
        .inject(Fault::delay(Duration::from_secs(2)).on_path(LIST));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client
        .get(h.url(LIST))
        .query(&[("access_token", &h.token)])
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

#[tokio::test]
async fn a_dropped_connection_gets_no_answer() {
    let h = Harness::new().await;
    h.mock.inject(Fault::drop_connection().on_path(ADD));
    let body = json!({ "kf_account": "a@gh", "nickname": "n" });
    let error = h
        .http
        .post(h.url(ADD))
        .query(&[("access_token", &h.token)])
        .json(&body)
        .send()
        .await;
    let error = error.unwrap_err();
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
    assert!(
        h.mock.accounts().is_empty(),
        "dropped before handling: nothing happened"
    );
    // The next request is served normally (on a new connection).
    assert_eq!(code(&h.post(ADD, body).await), 0);
    let log = h.mock.requests_to(ADD);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].status, None);
    assert_eq!(log[0].fault, Some(FaultKind::Drop));
    assert_eq!(log[1].status, Some(200));
}

#[tokio::test]
async fn after_handling_the_request_happens_but_its_answer_is_lost() {
    let h = Harness::new().await;
    h.user("u1");
    h.mock
        .inject(Fault::drop_connection().on_path(SEND).after_handling());
    let body = json!({ "touser": "u1", "msgtype": "text", "text": { "content": "once" } });
    let result = h
        .http
        .post(h.url(SEND))
        .query(&[("access_token", &h.token)])
        .json(&body)
        .send()
        .await;
    let dropped = result.unwrap_err();
    assert!(dropped.is_request() && !dropped.is_timeout(), "{dropped:?}");
    let sent = h
        .mock
        .records()
        .into_iter()
        .filter(|r| r.opercode == 2002)
        .count();
    assert_eq!(sent, 1, "the message was sent although the answer was lost");

    h.mock.user_event("u2", UserEvent::Payment);
    h.mock.inject(Fault::errcode(-1).after_handling());
    let answer = h
        .post(
            SEND,
            json!({ "touser": "u2", "msgtype": "text", "text": { "content": "x" } }),
        )
        .await;
    assert_error(&answer, -1);
    assert_eq!(
        h.mock.records().iter().filter(|r| r.openid == "u2").count(),
        1
    );

    h.mock
        .inject(Fault::delay(Duration::from_millis(200)).after_handling());
    let started = Instant::now();
    assert_eq!(code(&h.get(LIST, &[]).await), 0);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn faults_can_be_cleared() {
    let h = Harness::new().await;
    h.mock.inject(Fault::errcode(-1).times(5));
    h.mock.inject(Fault::status(500).on_path(LIST));
    assert_eq!(h.mock.pending_faults().len(), 2);
    assert_eq!(h.mock.pending_faults()[1].path(), Some(LIST));
    h.mock.clear_faults();
    assert_eq!(code(&h.get(LIST, &[]).await), 0);
}
