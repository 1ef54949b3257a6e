//! The axum route on 127.0.0.1: the URL check, a push answered by the application, a
//! retry answered from the cache, and refusals as HTTP statuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wx_kefu_inbound::{Reply, Webhook};

use crate::NOW;
use crate::common::*;
use crate::vectors::open_answer;

/// Serves `app` on a free loopback port; the route's URL.
async fn listen(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn serve(webhook: Webhook, calls: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/wechat",
        wx_kefu_inbound::axum::route(webhook, move |push| {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if push.is_event() {
                    Reply::success()
                } else {
                    Reply::transfer_customer_service()
                }
            }
        }),
    );
    listen(app).await
}

#[tokio::test]
async fn the_route_checks_answers_and_refuses() {
    let webhook = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .encoding_aes_key(EAK)
        .unwrap()
        .clock(|| NOW)
        .max_body_bytes(4096)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let url = serve(webhook, Arc::clone(&calls)).await;
    let http = reqwest::Client::new();

    let ts = NOW.to_string();
    let check = format!(
        "{url}?signature={}&echostr=echo123&timestamp={ts}&nonce=9",
        sha1_sorted(&[TOKEN, &ts, "9"])
    );
    let answer = http.get(&check).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "echo123");
    let forged = http
        .get(check.replace("nonce=9", "nonce=8"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let (query, body) = safe_push(
        &key_of(EAK),
        APPID,
        &text_push("oUSER", "人工", 5, NOW),
        NOW,
        "3",
    );
    for _ in 0..2 {
        let answer = http
            .post(format!("{url}?{query}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/xml")
        );
        let answer = wx_kefu_inbound::Answer {
            body: answer.text().await.unwrap(),
            content_type: "application/xml; charset=utf-8",
        };
        let (_, xml) = open_answer(&answer);
        assert_eq!(
            element(&xml, "MsgType").as_deref(),
            Some("transfer_customer_service")
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the retry is not processed again"
    );

    let big = http
        .post(format!("{url}?{query}"))
        .body("x".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let plain = http
        .post(format!("{url}?{}", plain_query(NOW, "1")))
        .body(text_push("oUSER", "hi", 6, NOW))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401, "safe mode refuses plain pushes");
    let doctype = http
        .post(format!("{url}?{query}"))
        .body(format!("<!DOCTYPE x>{body}"))
        .send()
        .await
        .unwrap();
    assert_eq!(doctype.status(), 400);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// WeChat gives up on a slow first delivery and retries: the retry waits for the first
/// one's reply, so the hand-off still reaches WeChat, and the application runs once.
#[tokio::test]
async fn a_retry_waits_for_a_slow_first_delivery() {
    let webhook = crate::safe_webhook();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/wechat",
        wx_kefu_inbound::axum::route(webhook, move |_push| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                Reply::transfer_to("test1@gh_test")
            }
        }),
    );
    let url = listen(app).await;
    let http = reqwest::Client::new();
    let (query, body) = safe_push(
        &key_of(EAK),
        APPID,
        &text_push("oUSER", "人工", 8, NOW),
        NOW,
        "4",
    );
    // WeChat hangs up on the slow first delivery...
    let first = http
        .post(format!("{url}?{query}"))
        .body(body.clone())
        .timeout(std::time::Duration::from_millis(200))
        .send()
        .await;
    let hung_up = first.unwrap_err();
    assert!(hung_up.is_timeout(), "{hung_up:?}");
    // ...and retries: the retry gets the first one's reply.
    let retry = http
        .post(format!("{url}?{query}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    let answer = wx_kefu_inbound::Answer {
        body: retry.text().await.unwrap(),
        content_type: "application/xml; charset=utf-8",
    };
    let (_, xml) = open_answer(&answer);
    assert_eq!(
        element(&xml, "MsgType").as_deref(),
        Some("transfer_customer_service")
    );
    assert_eq!(element(&xml, "KfAccount").as_deref(), Some("test1@gh_test"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A refusal answers the status's fixed phrase: never the server's clock, the request's
/// text or a handler's panic message.
#[tokio::test]
async fn refusals_answer_a_fixed_body() {
    let webhook = crate::safe_webhook();
    let app = axum::Router::new().route(
        "/wechat",
        wx_kefu_inbound::axum::route(webhook, |_push| async move {
            panic!("the CRM at 10.1.2.3 said no");
        }),
    );
    let url = listen(app).await;
    let http = reqwest::Client::new();

    // Too old: the error knows the server's clock; the answer does not say it.
    let (query, body) = safe_push(
        &key_of(EAK),
        APPID,
        &text_push("oUSER", "hi", 1, NOW),
        NOW - 900,
        "1",
    );
    let old = http
        .post(format!("{url}?{query}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    assert_eq!(old.text().await.unwrap(), "unauthorized");

    let echo = http
        .post(format!("{url}?signature=x&timestamp=%3Cscript%3E&nonce=1"))
        .body("<xml/>")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 401);
    assert_eq!(echo.text().await.unwrap(), "unauthorized");

    let (query, body) = safe_push(
        &key_of(EAK),
        APPID,
        &text_push("oUSER", "hi", 2, NOW),
        NOW,
        "2",
    );
    let panicked = http
        .post(format!("{url}?{query}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(panicked.status(), 500);
    assert_eq!(panicked.text().await.unwrap(), "internal error");
}
