//! Access tokens: stable and classic, credentials, expiry on the emulator's clock.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Harness, LIST, STABLE_TOKEN, TOKEN, assert_error, code};

async fn stable(h: &Harness, body: Value) -> Value {
    let response = h
        .http
        .post(h.url(STABLE_TOKEN))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

fn credentials(h: &Harness, force_refresh: bool) -> Value {
    json!({
        "grant_type": "client_credential",
        "appid": h.mock.appid(),
        "secret": h.mock.secret(),
        "force_refresh": force_refresh,
    })
}

async fn classic(h: &Harness, appid: &str, secret: &str) -> Value {
    let query = [
        ("grant_type", "client_credential"),
        ("appid", appid),
        ("secret", secret),
    ];
    h.http
        .get(h.url(TOKEN))
        .query(&query)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `getkflist` with a given token: its errcode.
async fn use_token(h: &Harness, token: &str) -> i64 {
    let response = h
        .http
        .get(h.url(LIST))
        .query(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    code(&response.json().await.unwrap())
}

fn token_of(value: &Value) -> String {
    value["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {value}"))
        .to_owned()
}

#[tokio::test]
async fn the_stable_token_stays_the_same_while_valid() {
    let h = Harness::new().await;
    let first = stable(&h, credentials(&h, false)).await;
    let token = token_of(&first);
    assert!(token.len() >= 100, "tokens are long: {token}");
    assert_eq!(first["expires_in"], 7200);
    h.mock.advance(Duration::from_secs(3600));
    let second = stable(&h, credentials(&h, false)).await;
    assert_eq!(token_of(&second), token);
    let left = second["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&left), "{left}");
    // force_refresh is optional.
    let mut without = credentials(&h, false);
    without.as_object_mut().unwrap().remove("force_refresh");
    assert_eq!(token_of(&stable(&h, without).await), token);
    assert_eq!(h.mock.stable_token_fetches(), 3);
    assert_eq!(h.mock.classic_token_fetches(), 0);
    assert_eq!(use_token(&h, &token).await, 0);
}

#[tokio::test]
async fn the_stable_token_is_replaced_in_its_last_five_minutes_and_both_work_meanwhile() {
    let h = Harness::new().await;
    let old = token_of(&stable(&h, credentials(&h, false)).await);
    h.mock.advance(Duration::from_secs(7200 - 200));
    let new = token_of(&stable(&h, credentials(&h, false)).await);
    assert_ne!(new, old);
    assert_eq!(use_token(&h, &old).await, 0);
    assert_eq!(use_token(&h, &new).await, 0);
    h.mock.advance(Duration::from_secs(201));
    assert_eq!(use_token(&h, &old).await, 42001);
    assert_eq!(use_token(&h, &new).await, 0);
}

#[tokio::test]
async fn force_refresh_replaces_the_token_at_once_and_at_most_every_30_seconds() {
    let h = Harness::new().await;
    let old = token_of(&stable(&h, credentials(&h, false)).await);
    let new = token_of(&stable(&h, credentials(&h, true)).await);
    assert_ne!(new, old);
    assert_eq!(use_token(&h, &old).await, 40001);
    assert_eq!(use_token(&h, &new).await, 0);
    assert_error(&stable(&h, credentials(&h, true)).await, 45011);
    h.mock.advance(Duration::from_secs(31));
    let newest = token_of(&stable(&h, credentials(&h, true)).await);
    assert_ne!(newest, new);
    assert_eq!(token_of(&stable(&h, credentials(&h, false)).await), newest);
}

#[tokio::test]
async fn force_refresh_is_limited_to_20_a_day() {
    let h = Harness::new().await;
    for _ in 0..20 {
        assert_eq!(code(&stable(&h, credentials(&h, true)).await), 0);
        h.mock.advance(Duration::from_secs(31));
    }
    assert_error(&stable(&h, credentials(&h, true)).await, 45009);
    h.mock.advance(Duration::from_secs(86_400));
    assert_eq!(code(&stable(&h, credentials(&h, true)).await), 0);
}

#[tokio::test]
async fn wrong_credentials_get_their_own_codes() {
    let h = Harness::new().await;
    let mut body = credentials(&h, false);
    body["appid"] = json!("wx_wrong");
    assert_error(&stable(&h, body).await, 40013);
    let mut body = credentials(&h, false);
    body["secret"] = json!("wrong");
    assert_error(&stable(&h, body).await, 40125);
    let mut body = credentials(&h, false);
    body["grant_type"] = json!("password");
    assert_error(&stable(&h, body).await, 40002);
    let mut body = credentials(&h, false);
    // Missing or empty: WeChat's recorded 41002 `appid missing` and 41004 `appsecret missing`.
    body["appid"] = json!("");
    assert_error(&stable(&h, body).await, 41002);
    let mut body = credentials(&h, false);
    body.as_object_mut().unwrap().remove("secret");
    assert_error(&stable(&h, body).await, 41004);
    let mut body = credentials(&h, false);
    body["force_refresh"] = json!("yes");
    assert_error(&stable(&h, body).await, 47001);
    assert_error(&classic(&h, "wx_wrong", h.mock.secret()).await, 40013);
    assert_error(&classic(&h, h.mock.appid(), "wrong").await, 40125);
    assert_eq!(h.mock.stable_token_fetches(), 0);
    assert_eq!(h.mock.classic_token_fetches(), 0);
}

#[tokio::test]
async fn each_classic_token_replaces_the_previous_after_five_minutes() {
    let h = Harness::new().await;
    let first = classic(&h, h.mock.appid(), h.mock.secret()).await;
    assert_eq!(first["expires_in"], 7200);
    let first = token_of(&first);
    let second = token_of(&classic(&h, h.mock.appid(), h.mock.secret()).await);
    assert_ne!(first, second);
    assert_eq!(
        use_token(&h, &first).await,
        0,
        "the old token has a grace period"
    );
    h.mock.advance(Duration::from_secs(301));
    assert_eq!(use_token(&h, &first).await, 40001);
    assert_eq!(use_token(&h, &second).await, 0);
    h.mock.advance(Duration::from_secs(7200));
    assert_eq!(use_token(&h, &second).await, 42001);
    assert_eq!(h.mock.classic_token_fetches(), 2);
    assert_eq!(h.mock.stable_token_fetches(), 0);
}

#[tokio::test]
async fn stable_and_classic_tokens_do_not_affect_each_other() {
    let h = Harness::new().await;
    let stable_token = token_of(&stable(&h, credentials(&h, false)).await);
    for _ in 0..3 {
        classic(&h, h.mock.appid(), h.mock.secret()).await;
    }
    h.mock.advance(Duration::from_secs(600));
    assert_eq!(use_token(&h, &stable_token).await, 0);
    assert_eq!(h.mock.classic_token_fetches(), 3);
    assert_eq!(h.mock.stable_token_fetches(), 1);
}

#[tokio::test]
async fn the_token_calls_insist_on_their_methods() {
    let h = Harness::new().await;
    let query = [
        ("grant_type", "client_credential"),
        ("appid", h.mock.appid()),
        ("secret", h.mock.secret()),
    ];
    let response = h
        .http
        .post(h.url(TOKEN))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_error(&response.json().await.unwrap(), 43001);
    let raw = h.raw(Method::GET, STABLE_TOKEN, None, Vec::new()).await;
    assert_error(&raw.json(), 43002);
}

#[tokio::test]
async fn missing_unknown_expired_and_invalidated_tokens() {
    let h = Harness::new().await;
    let response = h.http.get(h.url(LIST)).send().await.unwrap();
    assert_error(&response.json().await.unwrap(), 41001);
    let response = h
        .http
        .get(h.url(LIST))
        .query(&[("access_token", "")])
        .send()
        .await
        .unwrap();
    assert_error(&response.json().await.unwrap(), 41001);
    assert_eq!(use_token(&h, "ACCESS_TOKEN").await, 40001);
    assert_eq!(use_token(&h, &h.token).await, 0);
    let token = token_of(&stable(&h, credentials(&h, false)).await);
    h.mock.invalidate_tokens();
    assert_eq!(use_token(&h, &h.token).await, 40001);
    assert_eq!(use_token(&h, &token).await, 40001);
    let fresh = token_of(&stable(&h, credentials(&h, false)).await);
    assert_ne!(fresh, token);
    assert_eq!(use_token(&h, &fresh).await, 0);
    h.mock.advance(Duration::from_secs(7200));
    assert_eq!(use_token(&h, &fresh).await, 42001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stable_token_fetches_share_one_token() {
    let h = Harness::new().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = h
            .http
            .post(h.url(STABLE_TOKEN))
            .json(&credentials(&h, false));
        tasks.spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    }
    let answers = tasks.join_all().await;
    let first = token_of(&answers[0]);
    assert!(answers.iter().all(|a| token_of(a) == first));
    assert_eq!(h.mock.stable_token_fetches(), 20);
}
