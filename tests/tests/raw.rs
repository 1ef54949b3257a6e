//! The raw call (issue 24): an endpoint the spec does not have, through the token, its
//! replay, retries, redaction and typed errors; and a typed call's whole answer.

use wx_kefu_tests as common;

use common::Env;
use serde_json::json;
use wx_kefu_api::*;
use wx_kefu_mock::Fault;

/// 获取微信服务器IP地址, not in the spec: https://developers.weixin.qq.com/doc/service/api/base/api_getapidomainip.html
const DOMAIN_IP: &str = "/cgi-bin/get_api_domain_ip";

#[tokio::test]
async fn a_raw_call_reaches_an_endpoint_the_spec_does_not_have() {
    let env = Env::start().await;
    env.mock.stub(
        DOMAIN_IP,
        json!({ "ip_list": ["101.89.47.18", "101.91.34.103"] }),
    );
    let answer = env
        .client
        .raw(RawRequest::get(DOMAIN_IP).idempotent(true))
        .await
        .unwrap();
    assert_eq!(answer["ip_list"][1], "101.91.34.103");
    let sent = env.mock.requests_to(DOMAIN_IP);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "GET");
    assert!(
        sent[0].access_token().is_some(),
        "the client's token is added"
    );

    // A typed value of the caller's.
    #[derive(serde::Deserialize)]
    struct Ips {
        ip_list: Vec<String>,
    }
    let typed: Ips = env
        .client
        .raw_as(RawRequest::get(DOMAIN_IP).idempotent(true))
        .await
        .unwrap();
    assert_eq!(typed.ip_list.len(), 2);

    // A rejected token is replaced and the call replayed once.
    env.mock.invalidate_tokens();
    let answer = env
        .client
        .raw(RawRequest::get(DOMAIN_IP).idempotent(true))
        .await
        .unwrap();
    assert_eq!(answer["ip_list"][0], "101.89.47.18");
    let outcomes = env.outcomes(DOMAIN_IP);
    assert_eq!(outcomes[outcomes.len() - 2..], [Some(40001), Some(0)]);
    env.finish().await;
}

#[tokio::test]
async fn a_raw_calls_errors_are_typed_and_a_write_is_not_retried_once_sent() {
    let env = Env::start().await;
    // WeChat's errcode, with the endpoint named `raw` and the rid parsed.
    let error = env
        .client
        .raw(RawRequest::post("/cgi-bin/not/yet/in/the/spec").json(&json!({ "a": 1 })))
        .await
        .unwrap_err();
    match &error {
        Error::Status {
            endpoint, status, ..
        } => assert_eq!((*endpoint, *status), ("raw", 404)),
        Error::Api {
            endpoint,
            code,
            rid,
            ..
        } => {
            assert_eq!((*endpoint, code.code()), ("raw", 40066));
            assert!(rid.is_some());
        }
        other => panic!("{other:?}"),
    }
    env.keep(error);

    // A POST is not retried once it may have arrived: one request, HTTP 503 typed.
    env.mock
        .stub("/cgi-bin/new/send", json!({ "errcode": 0, "errmsg": "ok" }));
    env.mock
        .inject(Fault::status(503).on_path("/cgi-bin/new/send"));
    let error = env
        .client
        .raw(RawRequest::post("/cgi-bin/new/send").json(&json!({ "touser": "o" })))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Status { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(env.mock.requests_to("/cgi-bin/new/send").len(), 1);
    env.keep(error);
    // Declared idempotent, it is retried past the 503.
    env.mock
        .inject(Fault::status(503).on_path("/cgi-bin/new/send"));
    env.client
        .raw(
            RawRequest::post("/cgi-bin/new/send")
                .json(&json!({ "touser": "o" }))
                .idempotent(true),
        )
        .await
        .unwrap();
    assert_eq!(env.mock.requests_to("/cgi-bin/new/send").len(), 3);

    // A non-zero errcode is WeChat's error; a page from a proxy is a decode error.
    env.mock.stub(
        "/cgi-bin/new/busy",
        json!({ "errcode": 45009, "errmsg": "reach max api daily quota limit rid: 1-2-3" }),
    );
    let error = env
        .client
        .raw(RawRequest::get("/cgi-bin/new/busy"))
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some(45009));
    assert_eq!(error.rid(), Some("1-2-3"));
    env.keep(error);
    env.mock
        .inject(Fault::status_with_body(200, "<html>proxy</html>").on_path(DOMAIN_IP));
    env.mock.stub(DOMAIN_IP, json!({}));
    let error = env
        .client
        .raw(RawRequest::get(DOMAIN_IP))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Decode {
                endpoint: "raw",
                ..
            }
        ),
        "{error:?}"
    );
    env.keep(error);
    assert!(matches!(
        env.client.raw(RawRequest::get("cgi-bin/relative")).await,
        Err(Error::Config { .. })
    ));
    env.finish().await;
}

#[tokio::test]
async fn a_raw_upload_and_a_typed_calls_whole_answer() {
    let env = Env::start().await;
    // Multipart through the raw call, to an endpoint the emulator knows.
    let answer = env
        .client
        .raw(
            RawRequest::post("/cgi-bin/media/upload")
                .query("type", "image")
                .multipart("media", Upload::bytes(common::jpeg(2048), "a.jpg")),
        )
        .await
        .unwrap();
    assert_eq!(answer["type"], "image");
    assert_eq!(answer["media_id"].as_str().map(str::len), Some(64));

    // The whole answer beside the typed one: a field the spec does not have survives.
    env.mock.inject(
        Fault::status_with_body(200, r#"{"kf_list":[],"new_field_from_wechat":{"x":1}}"#)
            .on_path("/cgi-bin/customservice/getkflist"),
    );
    let whole = env.client.call_with_body(GetKfList::new()).await.unwrap();
    assert!(whole.answer.kf_list.is_empty());
    assert_eq!(whole.body["new_field_from_wechat"]["x"], 1);
    env.finish().await;
}
