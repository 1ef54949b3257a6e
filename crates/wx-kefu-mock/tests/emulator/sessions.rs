//! Sessions and the waiting queue.

use std::time::Duration;

use serde_json::{Value, json};
use wx_kefu_mock::MockError;

use crate::{CLOSE, CREATE, GET_SESSION, Harness, SESSION_LIST, WAIT_CASE, assert_error, code};

async fn create(h: &Harness, kf_account: &str, openid: &str) -> Value {
    h.post(
        CREATE,
        json!({ "kf_account": kf_account, "openid": openid }),
    )
    .await
}

async fn close(h: &Harness, kf_account: &str, openid: &str) -> Value {
    h.post(CLOSE, json!({ "kf_account": kf_account, "openid": openid }))
        .await
}

#[tokio::test]
async fn creating_needs_a_bound_online_agent_and_a_known_user() {
    let h = Harness::new().await;
    h.user("u1");
    assert_error(&create(&h, "nobody@gh", "u1").await, 65401);
    h.mock.add_account("test1@gh", "n").unwrap();
    assert_error(&create(&h, "test1@gh", "u1").await, 65402);
    h.mock.bind_account("test1@gh", "kfwx1").unwrap();
    assert_error(&create(&h, "test1@gh", "u1").await, 65415);
    h.mock.set_online("test1@gh", true).unwrap();
    assert_error(&create(&h, "test1@gh", "stranger").await, 40003);
    assert_error(&create(&h, "test1@gh", "").await, 40003);
    assert_error(&create(&h, "bad", "u1").await, 65401);
    assert_eq!(
        create(&h, "test1@gh", "u1").await,
        json!({ "errcode": 0, "errmsg": "ok" })
    );
    // Creating it again succeeds and changes nothing.
    let createtime = h.mock.sessions()[0].createtime;
    h.mock.advance(Duration::from_secs(60));
    assert_eq!(code(&create(&h, "test1@gh", "u1").await), 0);
    let sessions = h.mock.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].kf_account, "test1@gh");
    assert_eq!(sessions[0].createtime, createtime);
    // Another agent cannot take the user over.
    h.mock.add_online_agent("test2@gh", "n").unwrap();
    assert_error(&create(&h, "test2@gh", "u1").await, 65414);
}

#[tokio::test]
async fn get_session_and_the_session_list() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh", "n").unwrap();
    h.user("u1");
    h.user("u2");
    let none = h.get(GET_SESSION, &[("openid", "u1")]).await;
    assert_eq!(none["kf_account"], "");
    assert_eq!(code(&none), 0);
    assert_error(&h.get(GET_SESSION, &[("openid", "stranger")]).await, 40003);
    create(&h, "test1@gh", "u1").await;
    h.mock.advance(Duration::from_secs(10));
    create(&h, "test1@gh", "u2").await;
    let session = h.get(GET_SESSION, &[("openid", "u1")]).await;
    assert_eq!(session["kf_account"], "test1@gh");
    assert_eq!(session["errmsg"], "ok");
    let createtime = session["createtime"].as_i64().unwrap();
    assert!(
        (createtime - (h.mock.now() - 10)).abs() <= 2,
        "{createtime}"
    );

    let list = h.get(SESSION_LIST, &[("kf_account", "test1@gh")]).await;
    let list = list["sessionlist"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["openid"], "u1");
    assert_eq!(list[1]["openid"], "u2");
    assert!(list[0]["createtime"].as_i64() < list[1]["createtime"].as_i64());
    assert_error(
        &h.get(SESSION_LIST, &[("kf_account", "nobody@gh")]).await,
        65401,
    );
    h.mock.add_account("unbound@gh", "n").unwrap();
    assert_error(
        &h.get(SESSION_LIST, &[("kf_account", "unbound@gh")]).await,
        65402,
    );
    assert_error(&h.get(SESSION_LIST, &[]).await, 65401);
}

#[tokio::test]
async fn closing_needs_the_serving_agent() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh", "n").unwrap();
    h.mock.add_online_agent("test2@gh", "n").unwrap();
    h.user("u1");
    assert_error(&close(&h, "test1@gh", "u1").await, 65413);
    create(&h, "test1@gh", "u1").await;
    assert_error(&close(&h, "test2@gh", "u1").await, 65414);
    assert_error(&close(&h, "nobody@gh", "u1").await, 65401);
    assert_error(&close(&h, "test1@gh", "stranger").await, 40003);
    assert_eq!(code(&close(&h, "test1@gh", "u1").await), 0);
    assert!(h.mock.sessions().is_empty());
    assert_error(&close(&h, "test1@gh", "u1").await, 65413);
}

#[tokio::test]
async fn the_waiting_queue_returns_the_first_100_with_the_true_count() {
    let h = Harness::new().await;
    assert_eq!(
        h.get(WAIT_CASE, &[]).await,
        json!({ "count": 0, "waitcaselist": [] })
    );
    for i in 0..150 {
        h.mock.enqueue_waiting(&format!("user{i:03}")).unwrap();
    }
    let answer = h.get(WAIT_CASE, &[]).await;
    assert_eq!(answer["count"], 150);
    let list = answer["waitcaselist"].as_array().unwrap();
    assert_eq!(list.len(), 100);
    assert_eq!(list[0]["openid"], "user000", "earliest first");
    assert_eq!(list[99]["openid"], "user099");
    assert!(list[0]["latest_time"].is_i64());

    // A user taken into a session leaves the queue; a later message refreshes the time.
    h.mock.add_online_agent("test1@gh", "n").unwrap();
    assert_eq!(code(&create(&h, "test1@gh", "user000").await), 0);
    h.mock.advance(Duration::from_secs(100));
    h.mock.user_message("user001", "还在吗");
    let answer = h.get(WAIT_CASE, &[]).await;
    assert_eq!(answer["count"], 149);
    assert_eq!(answer["waitcaselist"][0]["openid"], "user001");
    assert_eq!(answer["waitcaselist"][0]["latest_time"], h.mock.now());
    assert_eq!(answer["waitcaselist"][99]["openid"], "user100");
    assert_eq!(h.mock.waiting().len(), 149);
    assert_eq!(
        h.mock.enqueue_waiting("user000"),
        Err(MockError::InSession("user000".into()))
    );
}

#[tokio::test]
async fn deleting_an_agent_ends_its_sessions() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh", "n").unwrap();
    h.user("u1");
    create(&h, "test1@gh", "u1").await;
    assert_eq!(
        code(
            &h.post(crate::DEL, json!({ "kf_account": "test1@gh" }))
                .await
        ),
        0
    );
    assert!(h.mock.sessions().is_empty());
}
