//! The request log.

use std::time::Duration;

use serde_json::json;
use wx_kefu_mock::{Fault, FaultKind};

use crate::{ADD, GET_SESSION, Harness, LIST, UPLOAD};

#[tokio::test]
async fn every_request_is_logged_with_its_answer() {
    let h = Harness::new().await;
    let before = h.mock.now() * 1000;
    h.post(ADD, json!({ "kf_account": "a@gh", "nickname": "n" }))
        .await;
    h.mock.advance(Duration::from_secs(3600));
    h.get(GET_SESSION, &[("openid", "stranger")]).await;
    h.mock.inject(Fault::errcode(45009));
    h.get(LIST, &[]).await;

    let log = h.mock.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, ADD);
    assert_eq!(log[0].access_token(), Some(h.token.as_str()));
    assert_eq!(
        log[0].json(),
        Some(json!({ "kf_account": "a@gh", "nickname": "n" }))
    );
    assert_eq!(log[0].errcode, Some(0));
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[0].fault, None);
    assert!(log[0].at_ms >= before);

    assert_eq!(log[1].method, "GET");
    assert_eq!(log[1].query_param("openid"), Some("stranger"));
    assert_eq!(log[1].errcode, Some(40003));
    assert_eq!(log[1].body, "");
    assert!(
        log[1].at_ms >= log[0].at_ms + 3_600_000,
        "the log uses the emulator's clock"
    );

    assert_eq!(log[2].errcode, Some(45009));
    assert_eq!(log[2].fault, Some(FaultKind::Errcode(45009)));

    assert_eq!(h.mock.requests_to(LIST).len(), 1);
    h.mock.clear_requests();
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn multipart_bodies_are_summarised() {
    let h = Harness::new().await;
    h.mock.add_account("a@gh", "n").unwrap();
    let part = reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF, 0, 0]).file_name("me.jpg");
    let part = part.mime_str("image/jpeg").unwrap();
    let form = reqwest::multipart::Form::new().part("media", part);
    let query = [("access_token", h.token.as_str()), ("kf_account", "a@gh")];
    h.http
        .post(h.url(UPLOAD))
        .query(&query)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let log = h.mock.requests();
    assert_eq!(
        log[0].body,
        "multipart: media (me.jpg, image/jpeg, 5 bytes)"
    );
    assert_eq!(log[0].query_param("kf_account"), Some("a@gh"));
    assert_eq!(log[0].errcode, Some(0));
}

#[tokio::test]
async fn the_app_secret_stays_out_of_the_log() {
    let h = Harness::new().await;
    let secret = h.mock.secret().to_owned();
    let body =
        json!({ "grant_type": "client_credential", "appid": h.mock.appid(), "secret": secret });
    h.http
        .post(h.url("/cgi-bin/stable_token"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let query = [
        ("grant_type", "client_credential"),
        ("appid", h.mock.appid()),
        ("secret", &secret),
    ];
    h.http
        .get(h.url("/cgi-bin/token"))
        .query(&query)
        .send()
        .await
        .unwrap();
    let log = h.mock.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].json().unwrap()["secret"], "<redacted>");
    assert_eq!(log[0].errcode, Some(0));
    assert_eq!(log[1].query_param("secret"), Some("<redacted>"));
    assert_eq!(log[1].query_param("appid"), Some(h.mock.appid()));
    assert!(!format!("{log:?}{:?}", h.mock).contains(&secret));
}
