//! Many accounts through the third-party platform, end to end against the emulator playing
//! WeChat's platform: its tickets pushed to the platform's 授权事件接收URL, the merchants'
//! authorizations, each authorizer's own account, and the go-live test.
//!
//! The scenarios of one process are here; `platform_instances` runs four processes on one
//! real `redis-server` (skipped, and passing, without `redis-server` on PATH unless
//! `WX_KEFU_REQUIRE_REDIS=1`, as CI sets).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wx_kefu_api::inbound::shared::MemoryOutbox;
use wx_kefu_api::inbound::{Push, Reply, UserMessage, Webhook, WebhookBuilder};
use wx_kefu_api::platform::Platform;
use wx_kefu_api::*;
use wx_kefu_mock::{MockServer, PlatformConfig, PushOutcome};
use wx_kefu_test_support::{RedisServer, spawn_child};

const COMPONENT: &str = "wxc0mp0nent0a1b2c";
const SECRET: &str = "component-secret-0123456789abcdef";
const TOKEN: &str = "platform-token";
const EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const ACCOUNTS: [&str; 3] = [
    "wxa11ce0000000001",
    "wxb0b000000000002",
    "wxca7000000000003",
];
const ROLE: &str = "WX_KEFU_PLATFORM_INSTANCE";

fn platform_builder(mock_url: &str) -> wx_kefu_api::platform::PlatformBuilder {
    Platform::builder()
        .component_app_id(COMPONENT)
        .component_secret(SECRET)
        .base_url(mock_url)
        .ticket_wait(Duration::from_secs(3))
}

/// What the platform's message handler saw: (authorizer appid, ToUserName, text).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// The platform's server: its two URLs on 127.0.0.1. Returns its base URL.
async fn serve(platform: &Platform, mock: &MockServer) -> (String, Seen) {
    serve_with(platform, mock, |builder| builder).await
}

/// [`serve`], the message webhook configured further; a text `慢` takes its handler a
/// second.
async fn serve_with(
    platform: &Platform,
    mock: &MockServer,
    configure: impl FnOnce(WebhookBuilder) -> WebhookBuilder,
) -> (String, Seen) {
    let auth = Webhook::builder()
        .token(TOKEN)
        .encoding_aes_key(EAK)
        .unwrap()
        .app_id(COMPONENT)
        .clock(mock.time_source())
        .build()
        .unwrap();
    let messages = configure(
        Webhook::builder()
            .token(TOKEN)
            .encoding_aes_key(EAK)
            .unwrap()
            .app_id(COMPONENT)
            .many_accounts()
            .clock(mock.time_source()),
    )
    .build()
    .unwrap();
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let handler = move |appid: String, _client: Client, push: Push| {
        let log = Arc::clone(&log);
        async move {
            let text = match push.message() {
                Some(UserMessage::Text(text)) => text.content.clone(),
                _ => String::new(),
            };
            log.lock()
                .unwrap()
                .push((appid.clone(), push.to_user_name.clone(), text.clone()));
            if text == "慢" {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Reply::text(format!("{appid} 久等了"))
            } else if text == "转人工" {
                Reply::transfer_customer_service()
            } else {
                Reply::text(format!("{appid} 收到：{text}"))
            }
        }
    };
    let app = axum::Router::new()
        .route("/auth", platform.authorization_route(auth))
        .route("/wechat/{appid}", platform.message_route(messages, handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn config(url: &str) -> PlatformConfig {
    PlatformConfig::new(COMPONENT, SECRET, TOKEN, EAK)
        .auth_events_to(format!("{url}/auth"))
        .messages_to(format!("{url}/wechat/$APPID$"))
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen within 5 s");
}

/// How many requests the emulator served for `path`.
fn requests(mock: &MockServer, path: &str) -> usize {
    mock.requests().iter().filter(|r| r.path == path).count()
}

const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";

/// An emulator playing the platform, the platform serving its URLs, the ticket arrived and
/// every account of `ACCOUNTS` authorized (grants 1 and 6), each with an online agent.
async fn world() -> (MockServer, Platform, Seen) {
    let mock = MockServer::start().await;
    let platform = platform_builder(&mock.base_url()).build().unwrap();
    let (url, seen) = serve(&platform, &mock).await;
    mock.set_platform(config(&url));
    eventually("the first ticket", async || {
        platform.authorizations().ticket().await.unwrap().is_some()
    })
    .await;
    for appid in ACCOUNTS {
        mock.authorize(appid, &[1, 6]).await.unwrap();
        let account = mock.authorizer(appid).unwrap();
        let wechat_id = account.wechat_id().unwrap();
        account
            .add_online_agent(&format!("agent@{wechat_id}"), "客服")
            .unwrap();
    }
    for appid in ACCOUNTS {
        eventually("the authorization applied", async || {
            platform.permission_sets(appid).await.unwrap() == Some(vec![1, 6])
        })
        .await;
    }
    (mock, platform, seen)
}

#[tokio::test]
async fn three_accounts_are_served_each_as_itself_with_one_token_fetch_each() {
    let (mock, platform, _) = world().await;
    // Ten calls per account at once, cold: one component token, one token per account.
    let calls = ACCOUNTS.iter().flat_map(|appid| {
        let client = platform.client(appid);
        (0..10).map(move |_| {
            let client = client.clone();
            async move { client.get_kf_list().await }
        })
    });
    let lists = futures_util::future::join_all(calls).await;
    for (index, list) in lists.into_iter().enumerate() {
        let list = list.unwrap();
        let appid = ACCOUNTS[index / 10];
        let wechat_id = mock.authorizer(appid).unwrap().wechat_id().unwrap();
        // Each account sees its own agent only.
        let agents: Vec<_> = list.kf_list.iter().map(|a| a.kf_account.clone()).collect();
        assert_eq!(agents, [format!("agent@{wechat_id}")], "{appid}");
    }
    assert_eq!(requests(&mock, COMPONENT_TOKEN), 1);
    assert_eq!(requests(&mock, AUTHORIZER_TOKEN), 3);
    assert_eq!(platform.ready_clients(), 3);
    // Warm: no more token calls.
    platform.client(ACCOUNTS[0]).get_kf_list().await.unwrap();
    assert_eq!(requests(&mock, AUTHORIZER_TOKEN), 3);
}

#[tokio::test]
async fn a_push_from_one_account_is_answered_as_that_account_and_handed_to_its_agent() {
    let (mock, platform, seen) = world().await;
    let bob = mock.authorizer(ACCOUNTS[1]).unwrap();
    let record = bob.push_text("o_user_of_bob", "你好").await.unwrap();
    assert_eq!(
        record.outcome,
        PushOutcome::Replied {
            msg_type: "text".into(),
            content: Some(format!("{} 收到：你好", ACCOUNTS[1]))
        }
    );
    // The push reached the route of its own appid, signed for its own original id.
    let wechat_id = bob.wechat_id().unwrap();
    assert_eq!(
        seen.lock().unwrap().first().cloned(),
        Some((ACCOUNTS[1].to_owned(), wechat_id.clone(), "你好".to_owned()))
    );
    let handed = bob.push_text("o_user_of_bob", "转人工").await.unwrap();
    assert_eq!(
        handed.outcome,
        PushOutcome::Transferred {
            kf_account: None,
            serving: None
        }
    );
    // Bob's agent takes the user from Bob's queue.
    let agent = format!("agent@{wechat_id}");
    bob.accept_waiting(&agent, "o_user_of_bob").unwrap();
    let session = platform
        .client(ACCOUNTS[1])
        .get_kf_session("o_user_of_bob")
        .await
        .unwrap();
    assert_eq!(session.kf_account, Some(agent));
    // The agent answers through the API, as Bob's account.
    platform
        .client(ACCOUNTS[1])
        .send_custom_message(SendCustomMessage::new("o_user_of_bob", Text::new("您好")))
        .await
        .unwrap();
    assert!(
        bob.conversation("o_user_of_bob")
            .iter()
            .any(|b| b.content["content"] == "您好")
    );
    // No other account heard of it.
    assert!(
        mock.authorizer(ACCOUNTS[0])
            .unwrap()
            .conversation("o_user_of_bob")
            .is_empty()
    );
}

#[tokio::test]
async fn a_slow_reply_is_sent_later_as_the_account_it_came_to() {
    let mock = MockServer::start().await;
    let platform = platform_builder(&mock.base_url()).build().unwrap();
    let (url, _) = serve_with(&platform, &mock, |builder| {
        builder
            .defer_replies(Arc::new(platform.clone()), Arc::new(MemoryOutbox::new()))
            .reply_budget(Duration::from_millis(300))
    })
    .await;
    mock.set_platform(config(&url));
    eventually("the first ticket", async || {
        platform.authorizations().ticket().await.unwrap().is_some()
    })
    .await;
    for appid in &ACCOUNTS[..2] {
        mock.authorize(appid, &[1, 6]).await.unwrap();
        eventually("the authorization applied", async || {
            platform.permission_sets(appid).await.unwrap().is_some()
        })
        .await;
    }
    let bob = mock.authorizer(ACCOUNTS[1]).unwrap();
    let record = bob.push_text("o_waits", "慢").await.unwrap();
    // WeChat got `success` within its 5 s; the reply follows through the API, as Bob.
    assert_eq!(record.outcome, PushOutcome::Success);
    let expected = format!("{} 久等了", ACCOUNTS[1]);
    eventually("the deferred reply reaches Bob's user", async || {
        bob.conversation("o_waits")
            .iter()
            .any(|b| b.content["content"] == expected.as_str())
    })
    .await;
    assert!(
        mock.authorizer(ACCOUNTS[0])
            .unwrap()
            .conversation("o_waits")
            .is_empty()
    );
}

#[tokio::test]
async fn a_push_sent_to_another_accounts_url_is_not_handled_as_that_account() {
    let (mock, _platform, seen) = world().await;
    let (alice, bob) = (ACCOUNTS[0], ACCOUNTS[1]);
    let bob_handle = mock.authorizer(bob).unwrap();
    // Bob's pushes go to Alice's URL (a proxy's mistake, or a replay to another path).
    let alices_url = seen_url(&mock, alice);
    let bobs_url = seen_url(&mock, bob);
    bob_handle.set_webhook(
        wx_kefu_mock::WebhookConfig::safe(alices_url, TOKEN, EAK)
            .unwrap()
            .original_id(bob_handle.wechat_id().unwrap()),
    );
    let record = bob_handle.push_text("o_misrouted", "你好").await.unwrap();
    assert_eq!(record.outcome, PushOutcome::Success);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|(_, _, text)| text != "你好"),
        "handled as Alice: {:?}",
        seen.lock().unwrap()
    );
    // Sent where it belongs, it is handled as Bob.
    bob_handle.set_webhook(
        wx_kefu_mock::WebhookConfig::safe(bobs_url, TOKEN, EAK)
            .unwrap()
            .original_id(bob_handle.wechat_id().unwrap()),
    );
    let record = bob_handle.push_text("o_routed", "你好").await.unwrap();
    assert!(
        matches!(record.outcome, PushOutcome::Replied { .. }),
        "{record:?}"
    );
}

/// The message URL the emulator pushes `appid`'s messages to.
fn seen_url(mock: &MockServer, appid: &str) -> String {
    let webhook = mock.authorizer(appid).unwrap().webhook().unwrap();
    webhook.urls()[0].to_owned()
}

#[tokio::test]
async fn lost_refresh_tokens_come_back_from_the_authorizer_list() {
    let (mock, platform, _) = world().await;
    // A new process with an empty token cache and a wiped durable store (but the ticket).
    let store = Arc::new(MemoryAuthorizations::new());
    let ticket = platform.authorizations().ticket().await.unwrap().unwrap();
    store.put_ticket(&ticket).await.unwrap();
    let fresh = platform_builder(&mock.base_url())
        .authorization_store(Arc::clone(&store))
        .build()
        .unwrap();
    fresh.client(ACCOUNTS[2]).get_kf_list().await.unwrap();
    assert_eq!(mock.platform_stats().unwrap().list_fetches, 1);
    // Every account's refresh token was recovered at once: the others need no list.
    fresh.client(ACCOUNTS[0]).get_kf_list().await.unwrap();
    assert_eq!(mock.platform_stats().unwrap().list_fetches, 1);
    assert_eq!(store.authorizers().await.unwrap().len(), 3);

    // A stale refresh token (WeChat's 61023): the list again, then the call goes through.
    let stale = Authorization {
        refresh_token: Credential::new("refreshtoken@@@stale"),
        func_info: vec![1, 6],
        authorized_at: 0,
    };
    store.put_authorization(ACCOUNTS[1], &stale).await.unwrap();
    fresh.client(ACCOUNTS[1]).get_kf_list().await.unwrap();
    assert_eq!(mock.platform_stats().unwrap().list_fetches, 2);
    let recovered = store.authorization(ACCOUNTS[1]).await.unwrap().unwrap();
    assert_ne!(recovered.refresh_token, stale.refresh_token);
    // Recovery keeps what the store knew of the permission sets.
    assert_eq!(recovered.func_info, [1, 6]);
}

#[tokio::test]
async fn a_revoked_account_fails_typed_and_its_keys_are_gone() {
    let (mock, platform, _) = world().await;
    let alice = platform.client(ACCOUNTS[0]);
    alice.get_kf_list().await.unwrap();
    mock.revoke(ACCOUNTS[0]).await.unwrap();
    eventually("the unauthorized push applied", async || {
        platform
            .permission_sets(ACCOUNTS[0])
            .await
            .unwrap()
            .is_none()
    })
    .await;
    let error = alice.get_kf_list().await.unwrap_err();
    assert!(
        matches!(&error, Error::Revoked { authorizer } if authorizer == ACCOUNTS[0]),
        "{error:?}"
    );
    // The others carry on.
    platform.client(ACCOUNTS[1]).get_kf_list().await.unwrap();

    // Revoked without the push reaching the platform: WeChat refuses the token (40001),
    // then the refresh (61003): the same typed error, the store purged.
    let other = ACCOUNTS[2];
    platform.client(other).get_kf_list().await.unwrap();
    mock.clear_platform_events();
    mock.revoke(other).await.unwrap();
    let error = platform.client(other).get_kf_list().await.unwrap_err();
    assert!(
        matches!(&error, Error::Revoked { authorizer } if authorizer == other),
        "{error:?}"
    );
    assert_eq!(platform.permission_sets(other).await.unwrap(), None);
}

#[tokio::test]
async fn without_a_ticket_the_pushes_are_restarted_and_the_next_one_used() {
    let mock = MockServer::start().await;
    let platform = platform_builder(&mock.base_url()).build().unwrap();
    let (url, _) = serve(&platform, &mock).await;
    // The first ticket goes to a URL nobody listens on: lost.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    mock.set_platform(config(&dead_url));
    eventually("the lost ticket", async || {
        mock.platform_stats().unwrap().tickets == 1
    })
    .await;
    // The next would come 10 minutes later; the platform restarts the pushes instead.
    mock.set_platform(config(&url));
    let code = platform
        .component()
        .create_pre_auth_code(COMPONENT)
        .await
        .unwrap();
    assert!(code.expires_in > 0);
    let stats = mock.platform_stats().unwrap();
    assert_eq!(
        (stats.push_restarts, stats.tickets, stats.component_fetches),
        (1, 2, 1)
    );
    // A platform whose store never receives the ticket waits a bounded time and says what
    // to check.
    let deaf = platform_builder(&mock.base_url())
        .authorization_store(MemoryAuthorizations::new())
        .build()
        .unwrap();
    let error = deaf
        .component()
        .create_pre_auth_code(COMPONENT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Token {
                endpoint: "get_component_access_token",
                code: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("授权事件接收URL"), "{error}");
    assert_eq!(mock.platform_stats().unwrap().push_restarts, 2);
}

#[tokio::test]
async fn a_call_the_account_did_not_grant_is_refused_before_sending() {
    let (mock, platform, _) = world().await;
    // Re-authorized with set 2 only (neither 消息管理 nor 微信多客服).
    let narrow = ACCOUNTS[2];
    mock.authorize(narrow, &[2]).await.unwrap();
    eventually("the update applied", async || {
        platform.permission_sets(narrow).await.unwrap() == Some(vec![2])
    })
    .await;
    let client = platform.client(narrow);
    let error = client
        .add_kf_account("new@gh_narrow", "New")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::NotGranted { endpoint: "add_kf_account", needs, granted, .. }
            if needs.contains(&1) && needs.contains(&6) && granted == &[2]),
        "{error:?}"
    );
    assert!(error.to_string().contains("1, 6, 19, 100, 101"), "{error}");
    assert!(mock.requests_to("/customservice/kfaccount/add").is_empty());
    // A call whose sets the spec does not give goes, and WeChat decides.
    client.get_kf_list().await.unwrap();
    // A platform that still believes the old grant sends it; WeChat answers 61007.
    let stale = Arc::new(MemoryAuthorizations::new());
    stale
        .put_ticket(&platform.authorizations().ticket().await.unwrap().unwrap())
        .await
        .unwrap();
    let mut believed = platform
        .authorizations()
        .authorization(narrow)
        .await
        .unwrap()
        .unwrap();
    believed.func_info = vec![1, 6];
    stale.put_authorization(narrow, &believed).await.unwrap();
    let believer = platform_builder(&mock.base_url())
        .authorization_store(stale)
        .build()
        .unwrap();
    let error = believer
        .client(narrow)
        .add_kf_account("new@gh_narrow", "New")
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(ErrCode::ApiUnauthorizedToComponent),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_refused_component_token_says_what_to_do() {
    let (mock, _, _) = world().await;
    let store = || async {
        let store = Arc::new(MemoryAuthorizations::new());
        mock.push_ticket().await.unwrap();
        let ticket = mock.latest_ticket().unwrap();
        store
            .put_ticket(&Ticket {
                value: Credential::new(ticket),
                issued_at: mock.now(),
            })
            .await
            .unwrap();
        store
    };
    for (code, says) in [
        (61004, "IP allow-list"),
        (45009, "clearComponentQuotaByAppSecret"),
    ] {
        mock.inject(
            wx_kefu_mock::Fault::errcode(code)
                .times(1)
                .on_path(COMPONENT_TOKEN),
        );
        let fresh = platform_builder(&mock.base_url())
            .authorization_store(store().await)
            .build()
            .unwrap();
        let error = fresh.client(ACCOUNTS[0]).get_kf_list().await.unwrap_err();
        assert!(
            matches!(&error, Error::Token { endpoint: "get_component_access_token", code: Some(c), .. } if c.code() == code),
            "{error:?}"
        );
        assert!(error.to_string().contains(says), "{error}");
    }
}

#[tokio::test]
async fn the_go_live_test_passes_offline() {
    let (mock, _platform, _) = world().await;
    let report = mock.go_live_test(Duration::from_secs(5)).await.unwrap();
    assert!(report.passed(), "{report:?}");
}

#[tokio::test]
async fn nothing_secret_reaches_an_error_a_debug_or_the_log() {
    let (mock, platform, _) = world().await;
    platform.client(ACCOUNTS[0]).get_kf_list().await.unwrap();
    let ticket = platform.authorizations().ticket().await.unwrap().unwrap();
    let refresh = platform
        .authorizations()
        .authorization(ACCOUNTS[0])
        .await
        .unwrap()
        .unwrap()
        .refresh_token;
    let token = platform.client(ACCOUNTS[0]).access_token().await.unwrap();
    let mut shown = format!("{platform:?} {ticket:?} {refresh:?} {token:?}");
    shown.push_str(&format!("{:?}", mock.requests()));
    shown.push_str(&format!(
        "{:?}",
        mock.platform_pushes()
            .iter()
            .map(|p| &p.outcome)
            .collect::<Vec<_>>()
    ));
    let error = platform
        .component()
        .get_authorizer_token(COMPONENT, ACCOUNTS[0], "refreshtoken@@@wrong")
        .await
        .unwrap_err();
    shown.push_str(&format!("{error} {error:?}"));
    for secret in [
        SECRET,
        ticket.value.expose(),
        refresh.expose(),
        "refreshtoken@@@wrong",
    ] {
        assert!(!shown.contains(secret), "`{secret}` shown in {shown}");
    }
}

// ---- several processes on one Redis ----

/// A child: a platform on the shared Redis (tokens and authorizations), calling every
/// account a few times; prints `done`.
async fn instance(mock_url: &str, redis_url: &str) {
    let platform = redis_platform(mock_url, redis_url).await;
    let calls = ACCOUNTS.iter().flat_map(|appid| {
        let client = platform.client(appid);
        (0..5).map(move |_| {
            let client = client.clone();
            async move { client.get_kf_list().await }
        })
    });
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    println!("done");
}

async fn redis_platform(mock_url: &str, redis_url: &str) -> Platform {
    let connection = wx_kefu_api::redis::Client::open(redis_url)
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    platform_builder(mock_url)
        .token_cache(RedisPlatformTokens::new(connection.clone(), Some("e2e:"), COMPONENT).unwrap())
        .authorization_store(RedisAuthorizations::new(connection, Some("e2e:"), COMPONENT).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_instances() {
    if let Ok(role) = std::env::var(ROLE) {
        let var = |name: &str| std::env::var(name).unwrap();
        if role == "instance" {
            instance(&var("MOCK_URL"), &var("REDIS_URL")).await;
        }
        return;
    }
    let Some(redis) = RedisServer::start("platform_instances") else {
        return;
    };
    let mock = MockServer::start().await;
    // The platform's server (this process) shares the stores with the instances.
    let platform = redis_platform(&mock.base_url(), &redis.url()).await;
    let (url, _) = serve(&platform, &mock).await;
    mock.set_platform(config(&url));
    eventually("the first ticket", async || {
        platform.authorizations().ticket().await.unwrap().is_some()
    })
    .await;
    for appid in ACCOUNTS {
        mock.authorize(appid, &[1, 6]).await.unwrap();
    }
    for appid in ACCOUNTS {
        eventually("the authorization applied", async || {
            platform.permission_sets(appid).await.unwrap().is_some()
        })
        .await;
    }
    let run = async |expected_component: usize, expected_authorizer: usize| {
        let children: Vec<_> = (0..4)
            .map(|_| {
                spawn_child(
                    "platform_instances",
                    ROLE,
                    "instance",
                    &[("MOCK_URL", &mock.base_url()), ("REDIS_URL", &redis.url())],
                )
            })
            .collect();
        // Waiting on a child blocks: off the runtime, which serves the emulator meanwhile.
        let waits = children.into_iter().map(|child| {
            tokio::task::spawn_blocking(move || {
                wx_kefu_test_support::finish(child, Duration::from_secs(60))
            })
        });
        for finished in futures_util::future::join_all(waits).await {
            let (ok, output) = finished.unwrap();
            assert!(
                ok && output.contains("done"),
                "an instance failed:\n{output}"
            );
        }
        assert_eq!(requests(&mock, COMPONENT_TOKEN), expected_component);
        assert_eq!(requests(&mock, AUTHORIZER_TOKEN), expected_authorizer);
    };
    // Cold: one component token and one token per account, across four processes.
    run(1, 3).await;
    // The token cache flushed: one refresh per account, and no 61023.
    let mut connection = wx_kefu_api::redis::Client::open(redis.url().as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = wx_kefu_api::redis::cmd("KEYS")
        .arg("e2e:{wxc0mp0nent0a1b2c:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: () = wx_kefu_api::redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut connection)
        .await
        .unwrap();
    run(2, 6).await;
    assert!(mock.requests().iter().all(|r| r.errcode != Some(61023)));
    // The refresh tokens wiped from the durable store: recovered from the list.
    let _: () = wx_kefu_api::redis::cmd("DEL")
        .arg(format!("e2e:{{{COMPONENT}}}:authorizations"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let _: () = wx_kefu_api::redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut connection)
        .await
        .unwrap();
    run(3, 9).await;
    assert!(mock.platform_stats().unwrap().list_fetches >= 1);
    // An account revoked: its calls fail typed, its keys are gone.
    mock.revoke(ACCOUNTS[0]).await.unwrap();
    eventually("the unauthorized push applied", async || {
        platform
            .permission_sets(ACCOUNTS[0])
            .await
            .unwrap()
            .is_none()
    })
    .await;
    let left: Vec<String> = wx_kefu_api::redis::cmd("KEYS")
        .arg(format!("e2e:{{{COMPONENT}:{}}}:*", ACCOUNTS[0]))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(left.iter().all(|key| !key.ends_with(":token")), "{left:?}");
    let error = redis_platform(&mock.base_url(), &redis.url())
        .await
        .client(ACCOUNTS[0])
        .get_kf_list()
        .await
        .unwrap_err();
    assert!(matches!(&error, Error::Revoked { .. }), "{error:?}");
    // No key names a secret.
    let all: Vec<String> = wx_kefu_api::redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    for key in &all {
        assert!(!key.contains("@@@") && !key.contains(SECRET), "{key}");
    }
}
