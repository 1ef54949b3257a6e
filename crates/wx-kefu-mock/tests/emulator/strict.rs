//! Strict request checking: methods, paths, content types, bodies, field names and types.
//! Whatever arrives, the answer is WeChat JSON, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::{ADD, DEL, GET_SESSION, Harness, LIST, SEND, assert_error, code};

#[tokio::test]
async fn wrong_methods() {
    let h = Harness::new().await;
    assert_error(
        &h.raw(Method::GET, ADD, None, Vec::new()).await.json(),
        43002,
    );
    assert_error(
        &h.raw(Method::PUT, SEND, Some("application/json"), b"{}".to_vec())
            .await
            .json(),
        43002,
    );
    assert_error(
        &h.raw(Method::POST, LIST, None, Vec::new()).await.json(),
        43001,
    );
    assert_error(
        &h.raw(Method::DELETE, LIST, None, Vec::new()).await.json(),
        43001,
    );
}

#[tokio::test]
async fn unknown_paths_answer_40066_with_http_200() {
    let h = Harness::new().await;
    for path in [
        "/",
        "/cgi-bin/kfaccount/add",
        "/customservice/getkflist",
        "/customservice/kfaccount/add/",
    ] {
        let raw = h.raw(Method::POST, path, None, Vec::new()).await;
        // WeChat answers every error with HTTP 200 and an errcode.
        assert_eq!(raw.status, 200, "{path}");
        assert_error(&raw.json(), 40066);
    }
}

#[tokio::test]
async fn empty_and_malformed_bodies() {
    let h = Harness::new().await;
    let json = Some("application/json");
    assert_error(
        &h.raw(Method::POST, ADD, json, Vec::new()).await.json(),
        44002,
    );
    assert_error(
        &h.raw(Method::POST, ADD, json, b"  \n".to_vec())
            .await
            .json(),
        44002,
    );
    for body in [
        "{",
        "{\"kf_account\":",
        "[]",
        "null",
        "42",
        "\"text\"",
        "{'a':1}",
        "\u{feff}{}",
    ] {
        let raw = h
            .raw(Method::POST, ADD, json, body.as_bytes().to_vec())
            .await;
        assert_eq!(raw.status, 200);
        assert_error(&raw.json(), 47001);
    }
    let raw = h
        .raw(Method::POST, ADD, json, vec![0xff, 0xfe, 0x00, 0x7b])
        .await;
    assert_error(&raw.json(), 47001);
}

#[tokio::test]
async fn content_types() {
    let h = Harness::new().await;
    let body = br#"{"kf_account":"a@gh","nickname":"n"}"#.to_vec();
    let form = h
        .raw(
            Method::POST,
            ADD,
            Some("application/x-www-form-urlencoded"),
            body.clone(),
        )
        .await;
    assert_error(&form.json(), 47001);
    let multipart = h
        .raw(
            Method::POST,
            ADD,
            Some("multipart/form-data; boundary=x"),
            body.clone(),
        )
        .await;
    assert_error(&multipart.json(), 47001);
    // WeChat reads the body whatever it is labelled, as long as it could be JSON.
    assert_eq!(
        code(
            &h.raw(Method::POST, ADD, Some("text/plain"), body.clone())
                .await
                .json()
        ),
        0
    );
    let body = br#"{"kf_account":"b@gh","nickname":"n"}"#.to_vec();
    assert_eq!(
        code(&h.raw(Method::POST, ADD, None, body.clone()).await.json()),
        0
    );
    let body = br#"{"kf_account":"c@gh","nickname":"n"}"#.to_vec();
    let charset = h
        .raw(
            Method::POST,
            ADD,
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    assert_eq!(code(&charset.json()), 0);
}

#[tokio::test]
async fn field_names_and_types() {
    let h = Harness::new().await;
    assert_error(
        &h.post(
            ADD,
            json!({ "kf_account": "a@gh", "nickname": "n", "password": "x" }),
        )
        .await,
        47001,
    );
    assert_error(
        &h.post(ADD, json!({ "kf_account": 123, "nickname": "n" }))
            .await,
        47001,
    );
    assert_error(
        &h.post(ADD, json!({ "kf_account": "a@gh", "nickname": ["n"] }))
            .await,
        47001,
    );
    assert_error(
        &h.post(ADD, json!({ "kf_account": null, "nickname": "n" }))
            .await,
        65404,
    );
    let nested = json!({ "touser": "u", "msgtype": "text", "text": { "content": 5 } });
    assert_error(&h.post(SEND, nested).await, 47001);
    let nested = json!({ "touser": "u", "msgtype": "text", "text": "hello" });
    assert_error(&h.post(SEND, nested).await, 47001);
    // Query parameters are checked too.
    let raw = h
        .get(GET_SESSION, &[("openid", "u"), ("unknown", "1")])
        .await;
    assert_error(&raw, 47001);
    assert_error(&h.get(GET_SESSION, &[]).await, 40003);
    // The delete account may come twice, but not with two values.
    h.mock.add_account("a@gh", "n").unwrap();
    let query = [("access_token", h.token.as_str()), ("kf_account", "b@gh")];
    let response = h
        .http
        .post(h.url(DEL))
        .query(&query)
        .json(&json!({ "kf_account": "a@gh" }));
    assert_error(&response.send().await.unwrap().json().await.unwrap(), 47001);
    assert_eq!(h.mock.accounts().len(), 1);
}

#[tokio::test]
async fn garbage_never_gets_a_500() {
    let h = Harness::new().await;
    let bodies: [&[u8]; 8] = [
        b"",
        b"{",
        b"[]",
        b"{\"a\":1}",
        b"{\"touser\":{\"x\":[1,2,{}]},\"msgtype\":1}",
        b"\x00\x01\x02\xff",
        b"{\"starttime\":1e400,\"number\":-1}",
        b"--x\r\nContent-Disposition: form-data; name=\"media\"\r\n\r\nabc\r\n--x--\r\n",
    ];
    let content_types = [
        None,
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        Some("text/html"),
    ];
    for meta in wx_kefu_api::ENDPOINTS {
        for method in [Method::GET, Method::POST] {
            for body in bodies {
                for content_type in content_types {
                    let raw = h
                        .raw(method.clone(), meta.path, content_type, body.to_vec())
                        .await;
                    assert_eq!(
                        raw.status, 200,
                        "{} {method} {content_type:?} {body:?}",
                        meta.path
                    );
                    let value = raw.json();
                    assert!(
                        value.get("errcode").is_some() || value.is_object(),
                        "{value}"
                    );
                }
            }
        }
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let raw = h
        .raw(
            Method::POST,
            ADD,
            Some("application/json"),
            deep.into_bytes(),
        )
        .await;
    assert_error(&raw.json(), 47001);
}
