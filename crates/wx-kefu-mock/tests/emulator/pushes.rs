//! The other direction: the emulator pushes to a webhook on 127.0.0.1 served by the SDK's
//! inbound side (`wx-kefu-inbound`, axum route), signed and sealed like WeChat; the replies
//! hand users to the agents, and session changes come back as kefu events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wx_kefu_inbound::{Event, Push, Reply, UserMessage, Webhook};
use wx_kefu_mock::{MockError, PushOutcome, UserInput, WebhookConfig};

use crate::{CLOSE, CREATE, Harness, code};

const WEBHOOK_TOKEN: &str = "webhook-token";
const EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// What the webhook saw.
type Seen = Arc<Mutex<Vec<Push>>>;

/// The account's server: the SDK's webhook on 127.0.0.1, answering with `reply`.
async fn account_server(
    webhook: Webhook,
    reply: impl Fn(&Push) -> Reply + Clone + Send + Sync + 'static,
) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let route = wx_kefu_inbound::axum::route(webhook, move |push: Push| {
        let answer = reply(&push);
        log.lock().unwrap().push(push);
        async move { answer }
    });
    let app = axum::Router::new().route("/wechat", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn safe_webhook(h: &Harness) -> Webhook {
    Webhook::builder()
        .token(WEBHOOK_TOKEN)
        .app_id(h.mock.appid())
        .encoding_aes_key(EAK)
        .unwrap()
        .clock(h.mock.time_source())
        .build()
        .unwrap()
}

fn plain_webhook(h: &Harness) -> Webhook {
    Webhook::builder()
        .token(WEBHOOK_TOKEN)
        .plain_mode()
        .app_id(h.mock.appid())
        .clock(h.mock.time_source())
        .build()
        .unwrap()
}

/// Messages asking for a person go to the agents; everything else is `success`.
fn hand_off(push: &Push) -> Reply {
    match push.message() {
        Some(UserMessage::Text(text)) if text.content.contains("人工") => {
            Reply::transfer_customer_service()
        }
        _ => Reply::success(),
    }
}

fn events(seen: &Seen) -> Vec<Event> {
    seen.lock()
        .unwrap()
        .iter()
        .filter_map(|p| p.event().cloned())
        .collect()
}

/// The round trip of issue 9: a user writes, the account's server hands the message to the
/// agents, the user waits, an agent takes the session, and the server hears of it.
#[tokio::test]
async fn a_message_handed_to_the_agents_then_a_session_in_safe_mode() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh_test", "客服1").unwrap();
    h.mock.add_online_agent("test2@gh_test", "客服2").unwrap();
    let (url, seen) = account_server(safe_webhook(&h), hand_off).await;
    h.mock
        .set_webhook(WebhookConfig::safe(&url, WEBHOOK_TOKEN, EAK).unwrap());

    let pushed = h.mock.push_text("oUSER", "转人工").await.unwrap();
    assert_eq!(pushed.kind, "text");
    assert_eq!(pushed.attempts, 1);
    assert_eq!(
        pushed.outcome,
        PushOutcome::Transferred {
            kf_account: None,
            serving: None
        }
    );
    let waiting: Vec<String> = h.mock.waiting().into_iter().map(|w| w.openid).collect();
    assert_eq!(waiting, ["oUSER"]);
    {
        let seen = seen.lock().unwrap();
        let Some(UserMessage::Text(text)) = seen[0].message() else {
            panic!("{:?}", seen[0]);
        };
        assert_eq!(text.content, "转人工");
        assert_eq!(seen[0].openid(), "oUSER");
        assert_eq!(seen[0].to_user_name, "gh_e6d1a0c7f2b3");
    }
    // The message is a chat record and opened the reply window, as a user message does.
    assert_eq!(h.mock.records().last().unwrap().text, "转人工");

    // An agent takes the user through the API: kf_create_session comes to the server.
    let created = h
        .post(
            CREATE,
            json!({ "kf_account": "test1@gh_test", "openid": "oUSER" }),
        )
        .await;
    assert_eq!(code(&created), 0);
    h.mock.settle_pushes().await;
    assert!(h.mock.waiting().is_empty());
    assert_eq!(events(&seen).len(), 1);
    let Some(Event::KfCreateSession(created)) = events(&seen).pop() else {
        panic!("no kf_create_session");
    };
    assert_eq!(created.kf_account, "test1@gh_test");

    // While served, another message stays with the agent (no new queueing).
    let again = h.mock.push_text("oUSER", "还是人工").await.unwrap();
    assert_eq!(
        again.outcome,
        PushOutcome::Transferred {
            kf_account: None,
            serving: Some("test1@gh_test".into())
        }
    );
    assert!(h.mock.waiting().is_empty());

    // The agent hands over, then the session is closed through the API.
    h.mock.switch_session("oUSER", "test2@gh_test").unwrap();
    let closed = h
        .post(
            CLOSE,
            json!({ "kf_account": "test2@gh_test", "openid": "oUSER" }),
        )
        .await;
    assert_eq!(code(&closed), 0);
    h.mock.settle_pushes().await;
    let kinds: Vec<String> = h.mock.pushes().into_iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            "text",
            "kf_create_session",
            "text",
            "kf_switch_session",
            "kf_close_session"
        ]
    );
    let Some(Event::KfSwitchSession(switched)) = events(&seen).get(1).cloned() else {
        panic!("{:?}", events(&seen));
    };
    assert_eq!(
        (
            switched.from_kf_account.as_str(),
            switched.to_kf_account.as_str()
        ),
        ("test1@gh_test", "test2@gh_test")
    );
    let Some(Event::KfCloseSession(ended)) = events(&seen).get(2).cloned() else {
        panic!("{:?}", events(&seen));
    };
    assert_eq!(ended.kf_account, "test2@gh_test");
    assert!(
        h.mock
            .pushes()
            .iter()
            .all(|p| p.outcome != PushOutcome::NoAnswer)
    );
}

#[tokio::test]
async fn a_transfer_to_a_named_agent_starts_a_session_at_once_when_online() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh_test", "客服1").unwrap();
    h.mock.add_account("off@gh_test", "休息").unwrap();
    h.mock.bind_account("off@gh_test", "kfwx").unwrap();
    let (url, seen) = account_server(plain_webhook(&h), |push: &Push| match push.message() {
        Some(UserMessage::Text(text)) => Reply::transfer_to(text.content.clone()),
        _ => Reply::success(),
    })
    .await;
    h.mock
        .set_webhook(WebhookConfig::plain(&url, WEBHOOK_TOKEN));

    let pushed = h.mock.push_text("oA", "test1@gh_test").await.unwrap();
    assert_eq!(
        pushed.outcome,
        PushOutcome::Transferred {
            kf_account: Some("test1@gh_test".into()),
            serving: Some("test1@gh_test".into())
        }
    );
    assert_eq!(h.mock.sessions()[0].kf_account, "test1@gh_test");
    assert!(h.mock.waiting().is_empty());
    h.mock.settle_pushes().await;
    assert!(
        matches!(events(&seen).as_slice(), [Event::KfCreateSession(e)] if e.kf_account == "test1@gh_test")
    );

    // The named agent is offline: the user waits.
    let pushed = h.mock.push_text("oB", "off@gh_test").await.unwrap();
    assert_eq!(
        pushed.outcome,
        PushOutcome::Transferred {
            kf_account: Some("off@gh_test".into()),
            serving: None
        }
    );
    assert_eq!(h.mock.waiting()[0].openid, "oB");
    // The agent takes the user from the queue in the agent's client.
    h.mock.accept_waiting("off@gh_test", "oB").unwrap();
    assert_eq!(
        h.mock.accept_waiting("off@gh_test", "oB"),
        Err(MockError::InSession("oB".into()))
    );
    h.mock.end_session("oB").unwrap();
    assert_eq!(
        h.mock.end_session("oB"),
        Err(MockError::NoSession("oB".into()))
    );
    assert_eq!(
        h.mock.switch_session("oB", "test1@gh_test"),
        Err(MockError::NoSession("oB".into()))
    );
    h.mock.settle_pushes().await;
    let kinds: Vec<String> = h.mock.pushes().into_iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            "text",
            "kf_create_session",
            "text",
            "kf_create_session",
            "kf_close_session"
        ]
    );
}

#[tokio::test]
async fn every_kind_of_user_input_reaches_the_sdk_typed() {
    let h = Harness::new().await;
    let (url, seen) = account_server(plain_webhook(&h), |_: &Push| Reply::success()).await;
    h.mock
        .set_webhook(WebhookConfig::plain(&url, WEBHOOK_TOKEN));
    let inputs = [
        UserInput::text("a ]]> b & <c>"),
        UserInput::menu_tap("满意", "101"),
        UserInput::Image {
            pic_url: "http://mmbiz.qpic.cn/x/0".into(),
            media_id: "M1".into(),
        },
        UserInput::Voice {
            media_id: "M2".into(),
            format: "amr".into(),
        },
        UserInput::Video {
            media_id: "M3".into(),
            thumb_media_id: "T3".into(),
        },
        UserInput::Location {
            x: 23.134521,
            y: 113.358803,
            scale: 20,
            label: "广州".into(),
        },
        UserInput::Link {
            title: "T".into(),
            description: "D".into(),
            url: "https://mp.weixin.qq.com".into(),
        },
    ];
    for input in inputs {
        let pushed = h.mock.push_message("oUSER", input).await.unwrap();
        assert_eq!(pushed.outcome, PushOutcome::Success);
    }
    let seen = seen.lock().unwrap();
    let messages: Vec<&UserMessage> = seen.iter().filter_map(Push::message).collect();
    assert!(matches!(messages[0], UserMessage::Text(t) if t.content == "a ]]> b & <c>"));
    assert!(
        matches!(messages[1], UserMessage::Text(t) if t.bizmsgmenuid.as_deref() == Some("101"))
    );
    assert!(matches!(messages[2], UserMessage::Image(i) if i.media_id == "M1"));
    assert!(matches!(messages[3], UserMessage::Voice(v) if v.format == "amr"));
    assert!(matches!(messages[4], UserMessage::Video(v) if v.thumb_media_id == "T3"));
    assert!(matches!(messages[5], UserMessage::Location(l) if l.scale == 20 && l.label == "广州"));
    assert!(matches!(messages[6], UserMessage::Link(l) if l.url == "https://mp.weixin.qq.com"));
    // Every message has its own MsgId; the records show media as [kind].
    let ids: std::collections::HashSet<_> = seen.iter().map(Push::dedup_key).collect();
    assert_eq!(ids.len(), 7);
    let texts: Vec<String> = h.mock.records().into_iter().map(|r| r.text).collect();
    assert_eq!(
        texts[2..],
        ["[image]", "[voice]", "[video]", "[location]", "[link]"]
    );
}

#[tokio::test]
async fn no_answer_in_time_is_retried_with_the_same_msg_id() {
    let h = Harness::new().await;
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&bodies);
    // A server slow on the first attempt only.
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::post(move |body: String| {
            let log = Arc::clone(&log);
            async move {
                let first = {
                    let mut log = log.lock().unwrap();
                    log.push(body);
                    log.len() == 1
                };
                if first {
                    tokio::time::sleep(Duration::from_secs(4)).await;
                }
                "success"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    h.mock
        .set_webhook(WebhookConfig::plain(&url, WEBHOOK_TOKEN).timeout(Duration::from_secs(1)));
    let pushed = h.mock.push_text("oUSER", "hi").await.unwrap();
    assert_eq!(pushed.outcome, PushOutcome::Success);
    // Two attempts, or three on a machine too busy to answer the second within 1 s.
    let bodies = bodies.lock().unwrap();
    assert!(pushed.attempts >= 2, "{pushed:?}");
    assert_eq!(bodies.len(), pushed.attempts as usize);
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "a retry is the same push"
    );
    assert!(bodies[0].contains(&format!("<MsgId>{}</MsgId>", pushed.msg_id.unwrap())));
}

#[tokio::test]
async fn answers_wechat_would_refuse() {
    let h = Harness::new().await;
    assert_eq!(
        h.mock.push_text("oUSER", "hi").await.unwrap_err(),
        MockError::NoWebhook
    );
    // Nobody listens: every attempt fails.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    h.mock
        .set_webhook(WebhookConfig::plain(&dead, WEBHOOK_TOKEN).attempts(2));
    let pushed = h.mock.push_text("oUSER", "hi").await.unwrap();
    assert_eq!(
        (pushed.attempts, pushed.outcome),
        (2, PushOutcome::NoAnswer)
    );

    // A server with the wrong key, one answering plain XML in safe mode, one failing.
    let other_key = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";
    let wrong = Webhook::builder()
        .token(WEBHOOK_TOKEN)
        .app_id(h.mock.appid())
        .encoding_aes_key(other_key)
        .unwrap()
        .build()
        .unwrap();
    let (url, _) = account_server(wrong, hand_off).await;
    h.mock
        .set_webhook(WebhookConfig::safe(&url, WEBHOOK_TOKEN, EAK).unwrap());
    let pushed = h.mock.push_text("oUSER", "转人工").await.unwrap();
    assert_eq!(
        pushed.outcome,
        PushOutcome::Status(400),
        "it cannot open the push"
    );

    let (url, _) = account_server(plain_webhook(&h), hand_off).await;
    h.mock
        .set_webhook(WebhookConfig::plain(&url, "another-token"));
    let pushed = h.mock.push_text("oUSER", "转人工").await.unwrap();
    assert_eq!(
        pushed.outcome,
        PushOutcome::Status(401),
        "a wrong token is refused"
    );

    let app = axum::Router::new().route(
        "/x",
        axum::routing::post(|| async {
            "<xml><ToUserName>oUSER</ToUserName><FromUserName>gh_e6d1a0c7f2b3</FromUserName><MsgType>transfer_customer_service</MsgType></xml>"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    h.mock
        .set_webhook(WebhookConfig::safe(&url, WEBHOOK_TOKEN, EAK).unwrap());
    let pushed = h.mock.push_text("oUSER", "转人工").await.unwrap();
    assert!(
        matches!(pushed.outcome, PushOutcome::Invalid(_)),
        "{:?}",
        pushed.outcome
    );
    assert!(
        h.mock.waiting().is_empty(),
        "an invalid reply hands nobody over"
    );
    h.mock
        .set_webhook(WebhookConfig::plain(&url, WEBHOOK_TOKEN));
    let pushed = h.mock.push_text("oUSER", "转人工").await.unwrap();
    assert!(
        matches!(pushed.outcome, PushOutcome::Transferred { .. }),
        "plain mode reads it"
    );
}

#[tokio::test]
async fn without_a_webhook_session_changes_push_nothing_and_time_agrees() {
    let mut h = Harness::new().await;
    h.mock.add_online_agent("test1@gh_test", "客服1").unwrap();
    h.user("oUSER");
    let created = h
        .post(
            CREATE,
            json!({ "kf_account": "test1@gh_test", "openid": "oUSER" }),
        )
        .await;
    assert_eq!(code(&created), 0);
    h.mock.settle_pushes().await;
    assert!(h.mock.pushes().is_empty());

    // After the emulator's clock moved, a webhook on the emulator's time still accepts.
    h.advance(Duration::from_secs(3 * 3600));
    let (url, seen) = account_server(safe_webhook(&h), hand_off).await;
    h.mock
        .set_webhook(WebhookConfig::safe(&url, WEBHOOK_TOKEN, EAK).unwrap());
    let closed = h
        .post(
            CLOSE,
            json!({ "kf_account": "test1@gh_test", "openid": "oUSER" }),
        )
        .await;
    assert_eq!(code(&closed), 0);
    h.mock.settle_pushes().await;
    assert!(
        matches!(events(&seen).as_slice(), [Event::KfCloseSession(e)] if e.kf_account == "test1@gh_test")
    );
    assert_eq!(seen.lock().unwrap()[0].create_time, h.mock.now());
    // Deleting an agent ends the sessions it served.
    h.mock.accept_waiting("test1@gh_test", "oUSER").unwrap();
    let deleted = h
        .post(crate::DEL, json!({ "kf_account": "test1@gh_test" }))
        .await;
    assert_eq!(code(&deleted), 0);
    h.mock.settle_pushes().await;
    let kinds: Vec<String> = h.mock.pushes().into_iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        ["kf_close_session", "kf_create_session", "kf_close_session"]
    );
    assert!(h.mock.sessions().is_empty());
}
