//! Several instances, one account, end to end: three webhook instances (this test binary
//! re-run as child processes, `WX_KEFU_INSTANCE` selects the role) share one real
//! `redis-server`; the emulator pushes to them round-robin, with WeChat's retries (a
//! shortened 400 ms timeout, 3 attempts), and receives the deferred replies on its
//! customer-service API.
//!
//! Without `redis-server` on PATH the test reports itself skipped and passes, unless
//! `WX_KEFU_REQUIRE_REDIS=1` (CI sets it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wx_kefu_api::inbound::redis::RedisInbound;
use wx_kefu_api::inbound::shared::{BoxFuture, Deferred, Outbox, Problem, PushKey, Report, Taken};
use wx_kefu_api::inbound::{Push, Reply, Webhook};
use wx_kefu_api::redis::AsyncCommands;
use wx_kefu_api::{Client, DeferredSender};
use wx_kefu_mock::{MockServer, PushOutcome, PushRecord, Speaker, UserInput, WebhookConfig};
use wx_kefu_test_support::{RedisServer, output, spawn_child};

const ROLE: &str = "WX_KEFU_INSTANCE";
const TOKEN: &str = "e2e-token";
const EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const AGENT: &str = "alice@gh_e2e";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a child"))
}

async fn redis(url: &str) -> wx_kefu_api::redis::aio::MultiplexedConnection {
    wx_kefu_api::redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn store(url: &str, prefix: &str) -> Arc<RedisInbound> {
    Arc::new(
        RedisInbound::builder()
            .url(url)
            .key_prefix(prefix)
            .claim_after(Duration::from_secs(1))
            .build()
            .unwrap(),
    )
}

fn client(base: &str, appid: &str, secret: &str) -> Client {
    Client::builder()
        .app_id(appid)
        .app_secret(secret)
        .base_url(base)
        .build()
        .unwrap()
}

/// The dying instance's outbox: the reply is taken (pending under this instance's name)
/// and the process dies before marking or sending it.
#[derive(Debug)]
struct DiesBeforeSend(Arc<RedisInbound>);

impl Outbox for DiesBeforeSend {
    fn put<'a>(
        &'a self,
        deferred: &'a Deferred,
    ) -> BoxFuture<'a, wx_kefu_api::inbound::Result<()>> {
        self.0.put(deferred)
    }

    fn take<'a>(
        &'a self,
        wait: Duration,
    ) -> BoxFuture<'a, wx_kefu_api::inbound::Result<Vec<Taken>>> {
        self.0.take(wait)
    }

    fn begin_send<'a>(
        &'a self,
        _taken: &'a Taken,
    ) -> BoxFuture<'a, wx_kefu_api::inbound::Result<bool>> {
        println!("dying: the reply is taken; exiting before the send");
        std::process::exit(42)
    }

    fn settle<'a>(
        &'a self,
        taken: &'a Taken,
        problem: Option<&'a Problem>,
    ) -> BoxFuture<'a, wx_kefu_api::inbound::Result<()>> {
        self.0.settle(taken, problem)
    }

    fn report<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, wx_kefu_api::inbound::Result<()>> {
        self.0.report(report)
    }

    fn reports<'a>(&'a self) -> BoxFuture<'a, wx_kefu_api::inbound::Result<Vec<Report>>> {
        self.0.reports()
    }
}

/// The push's key, as the stores write it.
fn key_of(appid: &str, push: &Push) -> String {
    let key = push.dedup_key();
    PushKey {
        app_id: appid,
        key: &key,
    }
    .text()
}

/// A child: one instance of the service (no-op in a normal run). Roles:
/// - `instance`: the webhook on a free port (written to Redis as `test:port:<name>`),
///   sharing dedup, windows and the outbox on Redis; each push's side effect is a count
///   in `test:effects`; `slow…` texts take 700 ms (past the emulator's 400 ms timeout),
///   `late…` texts 2 s (past the 1.5 s budget: deferred), `human…` texts are handed to
///   the agents;
/// - `dying`: the same with a 300 ms budget and an outbox that dies before the send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let url = var("WX_KEFU_REDIS_URL");
    let name = var("WX_KEFU_NAME");
    let appid = var("WX_KEFU_APPID");
    let client = client(&var("WX_KEFU_BASE"), &appid, &var("WX_KEFU_SECRET"));
    let dying = role == "dying";
    let store = store(&url, if dying { "kill:" } else { "e2e:" }).await;
    let outbox: Arc<dyn Outbox> = match dying {
        true => Arc::new(DiesBeforeSend(store.clone())),
        false => store.clone(),
    };
    let webhook = Webhook::builder()
        .token(TOKEN)
        .app_id(&appid)
        .encoding_aes_key(EAK)
        .unwrap()
        .dedup_store(store.clone())
        .window_store(store.clone())
        .defer_replies(Arc::new(DeferredSender::new(client)), outbox)
        .reply_budget(Duration::from_millis(if dying { 300 } else { 1500 }))
        .retry_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    webhook.start_delivery();
    let effects = redis(&url).await;
    let handler = move |push: Push| {
        let mut effects = effects.clone();
        let key = key_of(&appid, &push);
        async move {
            println!("ran {key}");
            let _: i64 = effects.hincr("test:effects", &key, 1).await.unwrap();
            let text = match push.message() {
                Some(wx_kefu_api::inbound::UserMessage::Text(text)) => text.content.clone(),
                _ => return Reply::success(),
            };
            if dying {
                tokio::time::sleep(Duration::from_millis(600)).await;
                return Reply::text("rescued reply");
            }
            if let Some(n) = text.strip_prefix("late ") {
                tokio::time::sleep(Duration::from_secs(2)).await;
                return Reply::text(format!("late reply {n}"));
            }
            if text.starts_with("slow ") {
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            if text.starts_with("human ") {
                return Reply::transfer_customer_service();
            }
            Reply::text(format!("re: {text}"))
        }
    };
    let app = axum::Router::new().route(
        "/wechat",
        wx_kefu_api::inbound::axum::route(webhook, handler),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut line = redis(&url).await;
    let _: () = line.set(format!("test:port:{name}"), port).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

fn instance(role: &str, name: &str, url: &str, wechat: &MockServer) -> std::process::Child {
    let base = wechat.base_url();
    spawn_child(
        "child_process",
        ROLE,
        role,
        &[
            ("WX_KEFU_REDIS_URL", url),
            ("WX_KEFU_NAME", name),
            ("WX_KEFU_BASE", &base),
            ("WX_KEFU_APPID", wechat.appid()),
            ("WX_KEFU_SECRET", wechat.secret()),
        ],
    )
}

/// Waits (bounded) for the instance `name` to say its port.
async fn port_of(url: &str, name: &str) -> u16 {
    let mut redis = redis(url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(port) = redis
            .get::<_, Option<u16>>(format!("test:port:{name}"))
            .await
            .unwrap()
        {
            return port;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the instance {name} did not start");
}

/// The agent bubbles of a user's conversation whose text is `text`.
fn agent_texts(wechat: &MockServer, openid: &str, text: &str) -> usize {
    wechat
        .conversation(openid)
        .iter()
        .filter(|b| b.from == Speaker::Agent && b.kind == "text")
        .filter(|b| b.content.get("content").and_then(|c| c.as_str()) == Some(text))
        .count()
}

/// Waits (bounded) until `openid` got `text` from the account, then a little more:
/// how many times it got it.
async fn received(wechat: &MockServer, openid: &str, text: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && agent_texts(wechat, openid, text) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    agent_texts(wechat, openid, text)
}

/// The key of a push the emulator made, as the instances count it.
fn record_key(record: &PushRecord) -> String {
    match record.msg_id {
        Some(id) => format!("m:{id}"),
        None => {
            let at = record.xml.split("<CreateTime>").nth(1).unwrap();
            let at = &at[..at.find('<').unwrap()];
            format!("e:{}:{}:{}", record.openid, at, record.kind)
        }
    }
}

const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_handle_a_thousand_retried_pushes_once_each_and_send_late_replies_once() {
    let Some(mut server) = RedisServer::start("the several-instances end-to-end test") else {
        return;
    };
    let url = server.url();
    let wechat = MockServer::start().await;
    wechat.add_online_agent(AGENT, "Alice").unwrap();
    let mut children: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| instance("instance", name, &url, &wechat))
        .collect();
    let mut urls = Vec::new();
    for name in ["a", "b", "c"] {
        urls.push(format!(
            "http://127.0.0.1:{}/wechat",
            port_of(&url, name).await
        ));
    }
    let config = WebhookConfig::safe(&urls[0], TOKEN, EAK)
        .unwrap()
        .also_to(&urls[1])
        .also_to(&urls[2])
        .timeout(Duration::from_millis(400))
        .attempts(3);
    wechat.set_webhook(config.clone());

    // 940 user messages of mixed kinds, 16 at a time, then a session opened and closed
    // for each of the 30 users handed to the agent: 1,000 pushes.
    let inputs: Vec<(String, UserInput)> = (0..940)
        .map(|i| {
            let (openid, input) = match i {
                i if i < 10 => (format!("late-{i}"), UserInput::text(format!("late {i}"))),
                i if i < 30 => (format!("slow-{i}"), UserInput::text(format!("slow {i}"))),
                i if i < 60 => (format!("human-{i}"), UserInput::text(format!("human {i}"))),
                i if i % 10 == 0 => (format!("user-{}", i % 97), UserInput::text("图片见上")),
                i => (
                    format!("user-{}", i % 97),
                    UserInput::text(format!("hello {i}")),
                ),
            };
            (openid, input)
        })
        .collect();
    let images: Vec<_> = (0..940).filter(|i| i % 10 == 0 && *i >= 60).collect();
    let records: Vec<PushRecord> = futures_util::stream::iter(inputs.into_iter().enumerate())
        .map(|(i, (openid, input))| {
            let wechat = &wechat;
            let image = images.contains(&i);
            async move {
                if image {
                    wechat.push_image(&openid, PNG.to_vec()).await.unwrap()
                } else {
                    wechat.push_message(&openid, input).await.unwrap()
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(records.len(), 940);
    for i in 30..60 {
        let openid = format!("human-{i}");
        wechat.accept_waiting(AGENT, &openid).unwrap();
        wechat.end_session(&openid).unwrap();
    }
    wechat.settle_pushes().await;
    let pushes = wechat.pushes();
    assert_eq!(pushes.len(), 1_000, "940 messages and 60 session events");
    let kinds: std::collections::BTreeSet<&str> = pushes.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["image", "kf_close_session", "kf_create_session", "text"]
    );
    let retried = pushes.iter().filter(|p| p.attempts > 1).count();
    assert!(
        retried >= 30,
        "the slow and late pushes were retried: {retried}"
    );
    let moved = pushes
        .iter()
        .filter(|p| p.urls.windows(2).any(|w| w[0] != w[1]))
        .count();
    assert!(moved >= 10, "retries reached other instances: {moved}");
    for push in &pushes {
        assert!(
            !matches!(
                push.outcome,
                PushOutcome::NoAnswer | PushOutcome::Status(_) | PushOutcome::Invalid(_)
            ),
            "every push is answered: {push:?}"
        );
    }

    // Every push's side effect happened exactly once, across the three instances.
    let mut line = redis(&url).await;
    let effects: HashMap<String, i64> = line.hgetall("test:effects").await.unwrap();
    for push in &pushes {
        let key = record_key(push);
        assert_eq!(effects.get(&key), Some(&1), "{key}: {push:?}");
    }
    assert_eq!(effects.len(), 1_000);

    // Each late reply reached its user once, by the customer-service API.
    for i in 0..10 {
        let openid = format!("late-{i}");
        assert_eq!(
            received(&wechat, &openid, &format!("late reply {i}")).await,
            1,
            "{openid}: {:?}",
            wechat.conversation(&openid)
        );
    }
    // The hand-offs reached the waiting queue (then the agent): passive replies only.
    for push in pushes
        .iter()
        .filter(|p| p.openid.starts_with("human-") && p.kind == "text")
    {
        assert!(
            matches!(push.outcome, PushOutcome::Transferred { .. }),
            "{push:?}"
        );
    }

    // An instance killed after its handler returned, before the send: another sends it.
    let mut dying = instance("dying", "dying", &url, &wechat);
    let dying_url = format!("http://127.0.0.1:{}/wechat", port_of(&url, "dying").await);
    wechat.set_webhook(
        WebhookConfig::safe(&dying_url, TOKEN, EAK)
            .unwrap()
            .timeout(Duration::from_millis(400)),
    );
    let record = wechat.push_text("dying-user", "help").await.unwrap();
    assert_eq!(
        record.outcome,
        PushOutcome::Success,
        "answered `success` past its budget"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = dying.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the dying instance did not die");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(42), "{}", output(&mut dying));
    assert_eq!(agent_texts(&wechat, "dying-user", "rescued reply"), 0);
    let rescuer_store = store(&url, "kill:").await;
    let rescuer = Webhook::builder()
        .token(TOKEN)
        .app_id(wechat.appid())
        .encoding_aes_key(EAK)
        .unwrap()
        .dedup_store(rescuer_store.clone())
        .defer_replies(
            Arc::new(DeferredSender::new(client(
                &wechat.base_url(),
                wechat.appid(),
                wechat.secret(),
            ))),
            rescuer_store.clone(),
        )
        .build()
        .unwrap();
    rescuer.start_delivery();
    assert_eq!(received(&wechat, "dying-user", "rescued reply").await, 1);
    assert_eq!(rescuer.reports().await.unwrap(), vec![]);

    // Redis down: the push is refused (503) and no handler runs it.
    wechat.set_webhook(config);
    server.stop();
    let record = wechat.push_text("down-user", "anyone?").await.unwrap();
    assert_eq!(record.outcome, PushOutcome::Status(503));
    let down_key = format!("ran m:{}", record.msg_id.unwrap());
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
        let out = output(child);
        assert!(
            !out.contains(&down_key),
            "a handler ran without its mark:\n{out}"
        );
    }
}
