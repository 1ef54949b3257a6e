//! The webhook's shared state on a real `redis-server`, with several processes: this test
//! binary re-run as children (`WX_KEFU_INBOUND_CHILD` selects the role), each one an
//! instance with its own webhook and Redis connection. Instances are lined up with a
//! counter in Redis; every wait is bounded.
//!
//! Without `redis-server` on PATH the tests report themselves skipped and pass, unless
//! `WX_KEFU_REQUIRE_REDIS=1` (CI sets it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use wx_kefu_inbound::redis::RedisInbound;
use wx_kefu_inbound::shared::{
    BoxFuture, Deferred, Outbox, Problem, ReplySender, SendFailure, WindowStore,
};
use wx_kefu_inbound::{Action, Error, Query, Reply, Webhook};
use wx_kefu_test_support::{RedisServer, finish, spawn_child};

use crate::NOW;
use crate::common::{APPID, TOKEN, plain_query, text_push};

const ROLE: &str = "WX_KEFU_INBOUND_CHILD";
const SKIP: &str = "the inbound Redis tests";

fn query(nonce: &str) -> String {
    plain_query(NOW, nonce)
}

async fn store(url: &str, prefix: &str) -> Arc<RedisInbound> {
    Arc::new(
        RedisInbound::builder()
            .url(url)
            .key_prefix(prefix)
            .claim_after(Duration::from_secs(1))
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
}

fn webhook(redis: &Arc<RedisInbound>) -> wx_kefu_inbound::WebhookBuilder {
    Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .plain_mode()
        .clock(|| NOW)
        .dedup_store(redis.clone())
        .window_store(redis.clone())
        .lease(Duration::from_millis(600))
        .retry_wait(Duration::from_secs(3))
}

async fn connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits (bounded) for `condition`.
async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Counts the sends, and fails none.
#[derive(Default)]
struct Counting(AtomicUsize);

impl ReplySender for Counting {
    fn send<'a>(
        &'a self,
        _app_id: &'a str,
        _openid: &'a str,
        _reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), SendFailure>> {
        self.0.fetch_add(1, SeqCst);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The body of a child process (no-op in a normal run). Roles:
/// - `handle`: line up with the others, then process the push once; the handler counts
///   its run in Redis and takes 300 ms; prints the answer;
/// - `hold`: process the push with a handler that never ends (the parent kills it);
/// - `take`: take the outbox's next reply and exit without settling it;
/// - `take-mark`: take it, mark it as being sent, and exit (died mid-send).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let url = std::env::var("WX_KEFU_REDIS_URL").unwrap();
    let prefix = std::env::var("WX_KEFU_REDIS_PREFIX").unwrap();
    let redis = store(&url, &prefix).await;
    let body = text_push("oUSER", "在吗", 42, NOW);
    match role.as_str() {
        "handle" => {
            let webhook = webhook(&redis).build().unwrap();
            let mut line = connection(&url).await;
            let _: i64 = line.incr("test:ready", 1).await.unwrap();
            let go = eventually(Duration::from_secs(20), async || {
                line.exists("test:go").await.unwrap()
            })
            .await;
            assert!(go, "the parent never said go");
            let url = url.clone();
            let answer = webhook
                .process(
                    &Query::parse(&query("n1")),
                    body.as_bytes(),
                    |_| async move {
                        let mut redis = connection(&url).await;
                        let _: i64 = redis.incr("test:runs", 1).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Reply::text("您好")
                    },
                )
                .await
                .unwrap();
            println!("child-answer: {}", answer.body);
        }
        "hold" => {
            let webhook = webhook(&redis).build().unwrap();
            let _ = webhook
                .process(&Query::parse(&query("n1")), body.as_bytes(), |_| {
                    std::future::pending::<Reply>()
                })
                .await;
            unreachable!("the handler never ends");
        }
        "take" | "take-mark" => {
            let taken = redis.take(Duration::from_secs(2)).await.unwrap();
            assert_eq!(taken.len(), 1, "one reply waits");
            if role == "take-mark" {
                assert!(redis.begin_send(&taken[0]).await.unwrap());
            }
            println!("child-took: {}", taken[0].id);
            std::process::exit(0);
        }
        other => panic!("unknown child role {other}"),
    }
}

fn child(role: &str, url: &str, prefix: &str) -> std::process::Child {
    spawn_child(
        "shared_redis::child_process",
        ROLE,
        role,
        &[("WX_KEFU_REDIS_URL", url), ("WX_KEFU_REDIS_PREFIX", prefix)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_push_delivered_to_three_processes_at_once_runs_once_and_all_answer_its_reply() {
    let Some(server) = RedisServer::start(SKIP) else {
        return;
    };
    let url = server.url();
    let children: Vec<_> = (0..3).map(|_| child("handle", &url, "t1:")).collect();
    let mut redis = connection(&url).await;
    let ready = eventually(Duration::from_secs(30), async || {
        redis.get::<_, Option<i64>>("test:ready").await.unwrap() == Some(3)
    })
    .await;
    assert!(ready, "the children did not start");
    let _: () = redis.set("test:go", 1).await.unwrap();
    let results = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| finish(c, Duration::from_secs(30)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (ok, out) in &results {
        assert!(ok, "a child failed:\n{out}");
        assert!(
            out.contains("child-answer: <xml>") && out.contains("<![CDATA[您好]]>"),
            "every instance answers the one reply (the first by running, the others by waiting for it):\n{out}"
        );
    }
    let runs: i64 = redis.get("test:runs").await.unwrap();
    assert_eq!(runs, 1, "the handler ran once across three processes");
    // The key is the account's and the push's, and holds the reply, not a token.
    let keys: Vec<String> = redis.keys("t1:*").await.unwrap();
    assert!(
        keys.contains(&format!("t1:{{{APPID}}}:push:m:42")),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_while_handling_lets_a_retry_run_the_push_after_its_lease() {
    let Some(server) = RedisServer::start(SKIP) else {
        return;
    };
    let url = server.url();
    let mut holder = child("hold", &url, "t2:");
    let mut redis = connection(&url).await;
    let key = format!("t2:{{{APPID}}}:push:m:42");
    let marked = eventually(Duration::from_secs(30), async || {
        redis.exists(&key).await.unwrap()
    })
    .await;
    assert!(marked, "the holder never marked the push");
    let store = store(&url, "t2:").await;
    let webhook = webhook(&store).build().unwrap();
    let body = text_push("oUSER", "在吗", 42, NOW);
    let runs = Arc::new(AtomicUsize::new(0));
    let run = |runs: Arc<AtomicUsize>| {
        move |_| async move {
            runs.fetch_add(1, SeqCst);
            Reply::text("again")
        }
    };
    // While the holder lives (and renews), a retry waits and then answers `success`
    // without running the push.
    let quick = webhook_with_wait(&store, Duration::from_millis(200));
    let answer = quick
        .process(
            &Query::parse(&query("n2")),
            body.as_bytes(),
            run(runs.clone()),
        )
        .await
        .unwrap();
    assert!(answer.is_success());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        redis.exists::<_, bool>(&key).await.unwrap(),
        "renewed past its 600 ms lease while the holder lives"
    );
    assert_eq!(runs.load(SeqCst), 0);
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Its mark expires within the lease; the next retry runs the push.
    let expired = eventually(Duration::from_secs(5), async || {
        !redis.exists::<_, bool>(&key).await.unwrap()
    })
    .await;
    assert!(expired, "the dead holder's mark did not expire");
    let answer = webhook
        .process(
            &Query::parse(&query("n3")),
            body.as_bytes(),
            run(runs.clone()),
        )
        .await
        .unwrap();
    assert!(answer.body.contains("again"), "{}", answer.body);
    assert_eq!(runs.load(SeqCst), 1);
}

fn webhook_with_wait(store: &Arc<RedisInbound>, wait: Duration) -> Webhook {
    webhook(store).retry_wait(wait).build().unwrap()
}

/// One late reply in the outbox under `prefix`; a child in `role` takes it and exits;
/// then another instance delivers: its webhook and what it sent.
async fn left_by_a_child(url: &str, prefix: &str, role: &str) -> (Webhook, Arc<Counting>) {
    let store = store(url, prefix).await;
    store
        .put(&Deferred::new(APPID, "oUSER", Reply::text("late"), NOW))
        .await
        .unwrap();
    let (ok, out) = tokio::task::spawn_blocking({
        let (url, prefix, role) = (url.to_owned(), prefix.to_owned(), role.to_owned());
        move || finish(child(&role, &url, &prefix), Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(ok && out.contains("child-took:"), "{out}");
    // Another instance, delivering: it claims the entry once it has idled 1 s.
    let sender = Arc::new(Counting::default());
    let webhook = webhook(&store)
        .defer_replies(sender.clone(), store.clone())
        .build()
        .unwrap();
    webhook.start_delivery();
    (webhook, sender)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_taken_by_an_instance_that_died_is_sent_once_by_another() {
    let Some(server) = RedisServer::start(SKIP) else {
        return;
    };
    let url = server.url();
    let (webhook, sender) = left_by_a_child(&url, "t3:", "take").await;
    let sent = eventually(Duration::from_secs(10), async || sender.0.load(SeqCst) == 1).await;
    assert!(sent, "the claimed reply was not sent");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sender.0.load(SeqCst), 1, "sent once, never again");
    assert_eq!(webhook.reports().await.unwrap(), vec![]);
    let mut redis = connection(&url).await;
    let pending: i64 = redis.xlen("t3:outbox").await.unwrap();
    assert_eq!(pending, 0, "settled: acknowledged and deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_whose_sender_died_mid_send_is_reported_and_not_sent_again() {
    let Some(server) = RedisServer::start(SKIP) else {
        return;
    };
    let url = server.url();
    let (webhook, sender) = left_by_a_child(&url, "t4:", "take-mark").await;
    let reported = eventually(Duration::from_secs(10), async || {
        !webhook.reports().await.unwrap().is_empty()
    })
    .await;
    assert!(reported, "the half-sent reply was not reported");
    let reports = webhook.reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].problem, Problem::MaybeSent);
    assert_eq!(reports[0].deferred.openid, "oUSER");
    assert_eq!(reports[0].deferred.reply, Reply::text("late"));
    assert_eq!(sender.0.load(SeqCst), 0, "never sent a second time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_opened_on_one_process_is_read_and_counted_on_another() {
    let Some(server) = RedisServer::start(SKIP) else {
        return;
    };
    let url = server.url();
    // A child handles the push (the window opens there).
    let children = vec![child("handle", &url, "t5:")];
    let mut redis = connection(&url).await;
    let _: () = redis.set("test:go", 1).await.unwrap();
    let results = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| finish(c, Duration::from_secs(30)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(results[0].0, "{}", results[0].1);
    let store = store(&url, "t5:").await;
    let webhook = webhook(&store).build().unwrap();
    let open = webhook.window("oUSER").await.unwrap().expect("open");
    assert_eq!(
        (open.last_action, open.closes_at, open.replies_left),
        (Action::Message, NOW + 48 * 3600, Some(5))
    );
    assert!(store.replied(APPID, "oUSER", NOW + 1).await.unwrap());
    assert_eq!(
        webhook.window("oUSER").await.unwrap().unwrap().replies_left,
        Some(4)
    );
    for _ in 0..4 {
        assert!(store.replied(APPID, "oUSER", NOW + 2).await.unwrap());
    }
    assert!(!store.replied(APPID, "oUSER", NOW + 3).await.unwrap());
    assert!(!webhook.window("oUSER").await.unwrap().unwrap().is_open());
    // The sync calls cannot use the shared store: a typed refusal.
    let refused = webhook.handle(
        &Query::parse(&query("n9")),
        text_push("oUSER", "x", 7, NOW).as_bytes(),
        |_| Reply::success(),
    );
    assert_eq!(refused, Err(Error::NeedsAsync("receive/handle")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_a_push_is_refused_typed_and_its_handler_never_runs() {
    let Some(mut server) = RedisServer::start(SKIP) else {
        return;
    };
    let store = store(&server.url(), "t6:").await;
    let webhook = webhook(&store).build().unwrap();
    server.stop();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let refused = webhook
        .process(
            &Query::parse(&query("n1")),
            text_push("oUSER", "在吗", 42, NOW).as_bytes(),
            |_| async move {
                counted.fetch_add(1, SeqCst);
                Reply::success()
            },
        )
        .await
        .unwrap_err();
    match &refused {
        Error::Store { store, what, .. } => assert_eq!((*store, *what), ("dedup", "mark a push")),
        other => panic!("expected a dedup store error, got {other:?}"),
    }
    assert_eq!(refused.http_status(), 503, "WeChat retries a 503");
    assert!(!refused.to_string().contains("redis://"), "{refused}");
    assert_eq!(runs.load(SeqCst), 0);
}
