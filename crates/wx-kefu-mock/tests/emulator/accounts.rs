//! Agent accounts: format rules, the 100 limit, duplicates, invitations, avatars, online status.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use wx_kefu_mock::{InvitationStatus, MockError};

use crate::{
    ADD, DEL, Harness, INVITE, LIST, ONLINE, UPDATE, UPLOAD, WAIT_CASE, assert_error, code,
};

async fn add(h: &Harness, kf_account: &str, nickname: &str) -> Value {
    h.post(
        ADD,
        json!({ "kf_account": kf_account, "nickname": nickname }),
    )
    .await
}

async fn invite(h: &Harness, kf_account: &str, wx: &str) -> Value {
    h.post(INVITE, json!({ "kf_account": kf_account, "invite_wx": wx }))
        .await
}

async fn list(h: &Harness) -> Vec<Value> {
    h.get(LIST, &[]).await["kf_list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn upload(h: &Harness, kf_account: &str, form: Form) -> Value {
    let query = [
        ("access_token", h.token.as_str()),
        ("kf_account", kf_account),
    ];
    let response = h
        .http
        .post(h.url(UPLOAD))
        .query(&query)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(size, 0x42);
    bytes
}

fn media(bytes: Vec<u8>, name: &str) -> Form {
    Form::new().part("media", Part::bytes(bytes).file_name(name.to_owned()))
}

#[tokio::test]
async fn add_list_update_and_delete() {
    let h = Harness::new().await;
    assert_eq!(code(&add(&h, "test1@gh_test", "客服1").await), 0);
    assert_eq!(code(&add(&h, "test2@gh_test", "ntest2").await), 0);
    let accounts = list(&h).await;
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["kf_account"], "test1@gh_test");
    assert_eq!(accounts[0]["kf_nick"], "客服1");
    assert_eq!(
        accounts[0]["kf_id"], "1001",
        "kf_id is a string in getkflist, as in the sample"
    );
    assert_eq!(accounts[1]["kf_id"], "1002");

    let answer = h
        .post(
            UPDATE,
            json!({ "kf_account": "test1@gh_test", "nickname": "新名字" }),
        )
        .await;
    assert_eq!(answer, json!({ "errcode": 0, "errmsg": "ok" }));
    assert_eq!(h.mock.account("test1@gh_test").unwrap().nickname, "新名字");
    let answer = h
        .post(
            UPDATE,
            json!({ "kf_account": "nobody@gh_test", "nickname": "x" }),
        )
        .await;
    assert_error(&answer, 65401);

    // Delete: the account travels in the body, in the query, or in both.
    assert_eq!(
        code(&h.post(DEL, json!({ "kf_account": "test1@gh_test" })).await),
        0
    );
    let query = [
        ("access_token", h.token.as_str()),
        ("kf_account", "test2@gh_test"),
    ];
    let response = h
        .http
        .post(h.url(DEL))
        .query(&query)
        .json(&json!({ "kf_account": "test2@gh_test" }));
    assert_eq!(
        code(&response.send().await.unwrap().json().await.unwrap()),
        0
    );
    assert!(list(&h).await.is_empty());
    assert_error(
        &h.post(DEL, json!({ "kf_account": "test1@gh_test" })).await,
        65401,
    );
    add(&h, "test3@gh_test", "n").await;
    let query = [
        ("access_token", h.token.as_str()),
        ("kf_account", "test3@gh_test"),
    ];
    let response = h.http.post(h.url(DEL)).query(&query).json(&json!({}));
    assert_eq!(
        code(&response.send().await.unwrap().json().await.unwrap()),
        0
    );
    assert!(h.mock.accounts().is_empty());
    // The older form: the query alone, with no body.
    add(&h, "test4@gh_test", "n").await;
    let query = [
        ("access_token", h.token.as_str()),
        ("kf_account", "test4@gh_test"),
    ];
    let response = h.http.post(h.url(DEL)).query(&query).send().await.unwrap();
    assert_eq!(code(&response.json().await.unwrap()), 0);
    assert!(h.mock.accounts().is_empty());
    // Neither form: the body is required.
    let response = h
        .http
        .post(h.url(DEL))
        .query(&[("access_token", &h.token)])
        .send();
    assert_error(&response.await.unwrap().json().await.unwrap(), 44002);
}

#[tokio::test]
async fn account_and_nickname_formats() {
    let h = Harness::new().await;
    let long_suffix = format!("a@{}", "x".repeat(31));
    for bad in [
        "noat",
        "toolongprefix1@gh",
        "bad-char@gh",
        "@gh",
        "a@",
        "a@b@c",
        &long_suffix,
    ] {
        assert_error(&add(&h, bad, "n").await, 65404);
    }
    assert_eq!(
        code(&add(&h, &format!("a_1@{}", "x".repeat(30)), "n").await),
        0
    );
    // Nicknames count characters, not bytes.
    assert_eq!(code(&add(&h, "cn@gh", &"客".repeat(16)).await), 0);
    assert_error(&add(&h, "cn2@gh", &"客".repeat(17)).await, 65403);
    assert_error(&add(&h, "cn3@gh", "").await, 65403);
    assert_error(&h.post(ADD, json!({ "kf_account": "cn4@gh" })).await, 65403);
    assert_error(&h.post(ADD, json!({ "nickname": "x" })).await, 65404);
    assert_error(
        &h.post(
            UPDATE,
            json!({ "kf_account": "cn@gh", "nickname": "客".repeat(17) }),
        )
        .await,
        65403,
    );
    assert_eq!(h.mock.accounts().len(), 2);
}

#[tokio::test]
async fn duplicates_and_the_limit_of_100() {
    let h = Harness::new().await;
    assert_eq!(code(&add(&h, "dup@gh", "n").await), 0);
    assert_error(&add(&h, "dup@gh", "other").await, 65406);
    for i in 1..100 {
        h.mock.add_account(&format!("a{i}@gh"), "n").unwrap();
    }
    assert_error(&add(&h, "extra@gh", "n").await, 65405);
    assert_eq!(
        h.mock.add_account("extra@gh", "n"),
        Err(MockError::TooManyAccounts)
    );
    assert_eq!(list(&h).await.len(), 100);
    assert_eq!(
        code(&h.post(DEL, json!({ "kf_account": "a1@gh" })).await),
        0
    );
    assert_eq!(code(&add(&h, "extra@gh", "n").await), 0);
}

#[tokio::test]
async fn an_invitation_waits_then_is_accepted() {
    let h = Harness::new().await;
    add(&h, "test1@gh", "n").await;
    assert_eq!(code(&invite(&h, "test1@gh", "kfwx1").await), 0);
    let item = &list(&h).await[0];
    assert_eq!(item["invite_wx"], "kfwx1");
    assert_eq!(item["invite_status"], "waiting");
    let expires = item["invite_expire_time"].as_i64().unwrap();
    assert!(
        (expires - h.mock.now() - 7 * 86_400).abs() <= 2,
        "{expires}"
    );
    assert!(item.get("kf_wx").is_none());

    assert_error(&invite(&h, "test1@gh", "kfwx9").await, 65411);
    add(&h, "test2@gh", "n").await;
    assert_error(&invite(&h, "test2@gh", "kfwx1").await, 65408);

    h.mock.accept_invitation("test1@gh").unwrap();
    let item = &list(&h).await[0];
    assert_eq!(item["kf_wx"], "kfwx1");
    assert!(item["kf_openid"].is_string());
    assert!(item.get("invite_status").is_none());
    assert_error(&invite(&h, "test1@gh", "kfwx2").await, 65412);
    assert_error(&invite(&h, "test2@gh", "kfwx1").await, 65407);
    assert_eq!(
        h.mock.accept_invitation("test1@gh"),
        Err(MockError::NoPendingInvitation("test1@gh".into()))
    );
}

#[tokio::test]
async fn an_invitation_can_be_rejected_or_expire() {
    let mut h = Harness::new().await;
    add(&h, "test1@gh", "n").await;
    invite(&h, "test1@gh", "kfwx1").await;
    h.mock.reject_invitation("test1@gh").unwrap();
    assert_eq!(list(&h).await[0]["invite_status"], "rejected");
    assert_eq!(
        h.mock.accept_invitation("test1@gh"),
        Err(MockError::NoPendingInvitation("test1@gh".into()))
    );
    // A rejected invitation may be sent again.
    assert_eq!(code(&invite(&h, "test1@gh", "kfwx1").await), 0);
    h.mock.expire_invitation("test1@gh").unwrap();
    assert_eq!(list(&h).await[0]["invite_status"], "expired");
    assert_eq!(code(&invite(&h, "test1@gh", "kfwx2").await), 0);
    // Seven days later it expires by itself.
    h.advance(Duration::from_secs(7 * 86_400));
    assert_eq!(list(&h).await[0]["invite_status"], "expired");
    let invitation = h.mock.account("test1@gh").unwrap().invitation.unwrap();
    assert_eq!(invitation.status, InvitationStatus::Expired);
    assert_eq!(invitation.invite_wx, "kfwx2");
}

#[tokio::test]
async fn invitation_errors() {
    let h = Harness::new().await;
    assert_error(&invite(&h, "nobody@gh", "kfwx1").await, 65401);
    add(&h, "test1@gh", "n").await;
    assert_error(&invite(&h, "test1@gh", "").await, 65409);
    assert_error(&invite(&h, "test1@gh", &"w".repeat(65)).await, 65409);
    // The invitation's documented error for a malformed account is 65401.
    assert_error(&invite(&h, "bad", "kfwx1").await, 65401);
    h.mock.set_worker_at_limit("busy_wx");
    assert_error(&invite(&h, "test1@gh", "busy_wx").await, 65410);
}

#[tokio::test]
async fn avatar_upload_takes_a_jpeg_of_at_most_5_mb_in_the_media_field() {
    let h = Harness::new().await;
    add(&h, "test1@gh", "n").await;
    assert_eq!(
        code(&upload(&h, "test1@gh", media(jpeg(2048), "a.jpg")).await),
        0
    );
    let account = h.mock.account("test1@gh").unwrap();
    assert_eq!(account.avatar_bytes, Some(2048));
    let url = account.headimgurl.unwrap();
    assert_eq!(list(&h).await[0]["kf_headimgurl"], url.as_str());
    assert_eq!(
        code(&upload(&h, "test1@gh", media(jpeg(5 * 1024 * 1024), "big.jpg")).await),
        0
    );

    assert_error(
        &upload(&h, "test1@gh", media(jpeg(5 * 1024 * 1024 + 1), "big.jpg")).await,
        40005,
    );
    let png = b"\x89PNG\r\n\x1a\n0000".to_vec();
    assert_error(&upload(&h, "test1@gh", media(png, "a.jpg")).await, 40005);
    assert_error(
        &upload(&h, "nobody@gh", media(jpeg(100), "a.jpg")).await,
        65401,
    );
    assert_error(&upload(&h, "bad", media(jpeg(100), "a.jpg")).await, 65401);
    // A misnamed or missing file part: 41005, media data missing.
    let wrong_field = Form::new().part("file", Part::bytes(jpeg(100)).file_name("a.jpg"));
    assert_error(&upload(&h, "test1@gh", wrong_field).await, 41005);
    assert_error(
        &upload(&h, "test1@gh", Form::new().text("other", "x")).await,
        41005,
    );
    // Not multipart at all.
    let query = [
        ("access_token", h.token.as_str()),
        ("kf_account", "test1@gh"),
    ];
    let json = h.http.post(h.url(UPLOAD)).query(&query).json(&json!({}));
    assert_error(&json.send().await.unwrap().json().await.unwrap(), 41005);
    assert_eq!(
        h.mock.account("test1@gh").unwrap().avatar_bytes,
        Some(5 * 1024 * 1024)
    );
}

#[tokio::test]
async fn online_status_is_set_from_the_handle() {
    let h = Harness::new().await;
    add(&h, "test1@gh", "n").await;
    assert_eq!(h.get(ONLINE, &[]).await, json!({ "kf_online_list": [] }));
    assert_eq!(
        h.mock.set_online("test1@gh", true),
        Err(MockError::NotBound("test1@gh".into()))
    );
    assert_eq!(
        h.mock.set_online("nobody@gh", true),
        Err(MockError::UnknownAccount("nobody@gh".into()))
    );
    h.mock.bind_account("test1@gh", "kfwx1").unwrap();
    h.mock.set_online("test1@gh", true).unwrap();
    h.mock.add_online_agent("test2@gh", "n2").unwrap();
    h.user("u1");
    let created = h
        .post(
            crate::CREATE,
            json!({ "kf_account": "test2@gh", "openid": "u1" }),
        )
        .await;
    assert_eq!(code(&created), 0);
    let online = h.get(ONLINE, &[]).await["kf_online_list"].clone();
    assert_eq!(online[0]["kf_account"], "test1@gh");
    assert_eq!(online[0]["status"], 1);
    assert_eq!(
        online[0]["kf_id"], 1001,
        "kf_id is a number in getonlinekflist, as in the newer docs"
    );
    assert_eq!(online[0]["accepted_case"], 0);
    assert_eq!(online[1]["accepted_case"], 1);
    h.mock.set_online("test1@gh", false).unwrap();
    assert_eq!(
        h.get(ONLINE, &[]).await["kf_online_list"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn kefu_not_enabled_answers_65400() {
    let h = Harness::new().await;
    h.mock.set_kefu_enabled(false);
    assert_error(&add(&h, "test1@gh", "n").await, 65400);
    assert_error(&h.get(LIST, &[]).await, 65400);
    assert_error(&h.get(WAIT_CASE, &[]).await, 65400);
    h.mock.set_kefu_enabled(true);
    assert_eq!(code(&add(&h, "test1@gh", "n").await), 0);
}
