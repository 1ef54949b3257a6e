//! Starting with a chosen appid, secret and port; shutting down by `shutdown()` or by drop.

use std::time::Duration;

use serde_json::json;
use wx_kefu_mock::MockServer;

use crate::STABLE_TOKEN;

async fn connects(base_url: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    client
        .get(format!("{base_url}/cgi-bin/customservice/getkflist"))
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn the_builder_chooses_appid_secret_and_port() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mock = MockServer::builder()
        .appid("wxchosen")
        .secret("chosen-secret")
        .port(port)
        .start()
        .await
        .unwrap();
    assert_eq!(mock.base_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(mock.addr().port(), port);
    assert_eq!(mock.appid(), "wxchosen");
    assert_eq!(mock.secret(), "chosen-secret");
    let body = json!({ "grant_type": "client_credential", "appid": "wxchosen", "secret": "chosen-secret" });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}{STABLE_TOKEN}", mock.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["access_token"].is_string(), "{answer}");
    // The port is taken while the emulator runs.
    let taken = MockServer::builder().port(port).start().await.unwrap_err();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse, "{taken}");
}

#[tokio::test]
async fn random_credentials_differ_between_emulators() {
    let (a, b) = (MockServer::start().await, MockServer::start().await);
    assert!(
        a.appid().starts_with("wx") && a.appid().len() == 18,
        "{}",
        a.appid()
    );
    assert_eq!(a.secret().len(), 32);
    assert_ne!(a.appid(), b.appid());
    assert_ne!(a.secret(), b.secret());
    assert_ne!(a.base_url(), b.base_url());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let mock = MockServer::start().await;
    let base_url = mock.base_url();
    assert!(connects(&base_url).await);
    mock.shutdown().await;
    assert!(!connects(&base_url).await);
}

#[tokio::test]
async fn dropping_the_handle_stops_serving() {
    let mock = MockServer::start().await;
    let base_url = mock.base_url();
    assert!(connects(&base_url).await);
    drop(mock);
    let mut stopped = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !connects(&base_url).await {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "still serving after the handle was dropped");
}

#[test]
fn the_handle_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<MockServer>();
}
