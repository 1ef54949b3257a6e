//! The runtime's rules under the emulator's fault injection: one token fetch for a herd,
//! one replay after a rejected token, retries for reads and never a duplicate send, typed
//! errors for bodies that are not WeChat's, the record export across days and pages, and
//! the leak scan over every error those paths produce.

use wx_kefu_tests as common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use wx_kefu_api::*;
use wx_kefu_mock::{Fault, FaultKind, OPERCODE_AGENT_SENT};

const STABLE_TOKEN: &str = "/cgi-bin/stable_token";
const CLASSIC_TOKEN: &str = "/cgi-bin/token";
const KF_LIST: &str = "/cgi-bin/customservice/getkflist";
const WAIT_CASE: &str = "/customservice/kfsession/getwaitcase";
const CREATE: &str = "/customservice/kfsession/create";
const MSG_LIST: &str = "/customservice/msgrecord/getmsglist";
const SEND: &str = "/cgi-bin/message/custom/send";
const TYPING: &str = "/cgi-bin/message/custom/typing";

const USER: &str = "o_fault_user";
const ALICE: &str = "alice@gh_fault";

/// How many messages the emulator recorded as sent.
fn sent(env: &Env) -> usize {
    env.mock
        .records()
        .iter()
        .filter(|r| r.opercode == OPERCODE_AGENT_SENT)
        .count()
}

fn text(content: &str) -> SendCustomMessage {
    SendCustomMessage::new(USER, Text::new(content))
}

/// An environment whose user may be sent any number of messages.
async fn with_user(configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Env {
    let env = Env::start_with(configure).await;
    env.mock.user_message(USER, "hi");
    env.mock.user_event(USER, wx_kefu_mock::UserEvent::Payment);
    env
}

// ---- tokens ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herd_of_1000_calls_on_a_cold_client_makes_one_token_fetch() {
    let env = Env::start().await;
    // The one fetch is slow, so that every caller arrives while it is under way.
    env.mock
        .inject(Fault::delay(Duration::from_millis(500)).on_path(STABLE_TOKEN));
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let client = env.client.clone();
            tokio::spawn(async move { client.get_kf_list().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(env.mock.stable_token_fetches(), 1);
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), 1);
    let reads = env.mock.requests_to(KF_LIST);
    assert_eq!(reads.len(), 1000);
    let token = reads[0].access_token().unwrap().to_owned();
    assert!(
        reads
            .iter()
            .all(|r| r.access_token() == Some(token.as_str()))
    );
    assert!(reads.iter().all(|r| r.errcode == Some(0)));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herd_of_rejected_calls_refreshes_the_token_once() {
    let env = Env::start().await;
    env.client.get_wait_case().await.unwrap();
    let old = env.mock.requests_to(WAIT_CASE)[0]
        .access_token()
        .unwrap()
        .to_owned();
    env.mock.invalidate_tokens();
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let client = env.client.clone();
            tokio::spawn(async move { client.get_wait_case().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // Compare-and-invalidate: one refresh however many calls saw 40001, and a normal one
    // (force_refresh would retire the token of every other instance sharing the account).
    assert_eq!(env.mock.stable_token_fetches(), 2);
    let fetches = env.mock.requests_to(STABLE_TOKEN);
    assert_eq!(fetches.len(), 2);
    assert!(
        fetches
            .iter()
            .all(|r| r.json().unwrap()["force_refresh"] == false)
    );
    let reads = env.mock.requests_to(WAIT_CASE);
    let rejected: Vec<_> = reads.iter().filter(|r| r.errcode == Some(40001)).collect();
    let served: Vec<_> = reads.iter().filter(|r| r.errcode == Some(0)).collect();
    assert_eq!(rejected.len() + served.len(), reads.len());
    assert_eq!(served.len(), 1001, "each call succeeded exactly once");
    assert!(!rejected.is_empty());
    assert!(
        rejected
            .iter()
            .all(|r| r.access_token() == Some(old.as_str()))
    );
    let new = served[1].access_token().unwrap();
    assert_ne!(new, old);
    assert!(served[1..].iter().all(|r| r.access_token() == Some(new)));
    env.finish().await;
}

#[tokio::test]
async fn a_rejected_token_is_refetched_once_and_the_call_replayed() {
    let env = with_user(|b| b).await;
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.mock.stable_token_fetches(), 1);

    // 40001 mid-flight, on a read.
    env.mock.invalidate_tokens();
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.mock.stable_token_fetches(), 2);
    let reads = env.mock.requests_to(KF_LIST);
    let outcomes: Vec<_> = reads.iter().map(|r| r.errcode).collect();
    assert_eq!(outcomes, [Some(0), Some(40001), Some(0)]);
    assert_eq!(reads[1].access_token(), reads[0].access_token());
    assert_ne!(reads[2].access_token(), reads[1].access_token());

    // 40001 on a send: replayed once (the first attempt was refused, nothing was sent).
    env.mock.invalidate_tokens();
    env.client.send_custom_message(text("once")).await.unwrap();
    assert_eq!(env.mock.stable_token_fetches(), 3);
    assert_eq!(env.outcomes(SEND), [Some(40001), Some(0)]);
    assert_eq!(sent(&env), 1);

    // 42001: the emulator's clock moved past the token's two hours.
    env.mock.advance(Duration::from_secs(7200 + 1));
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.mock.stable_token_fetches(), 4);
    assert_eq!(
        env.outcomes(KF_LIST)[3..],
        [Some(42001), Some(0)],
        "expired: refetched and replayed"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_token_rejected_again_after_the_replay_is_returned_not_looped() {
    let env = with_user(|b| b).await;
    env.client.access_token().await.unwrap();
    for code in [40001, 40014, 42001] {
        env.mock.clear_requests();
        env.mock
            .inject(Fault::errcode(code).on_path(KF_LIST).times(5));
        let fetches = env.mock.stable_token_fetches();
        let error = env.api_err(env.client.get_kf_list().await, ErrCode::from_code(code));
        assert!(error.is_token_error());
        assert_eq!(env.outcomes(KF_LIST), [Some(code), Some(code)]);
        // One refetch (normal mode gives the same, still valid token back).
        assert_eq!(env.mock.stable_token_fetches(), fetches + 1);
        let pending = env.mock.pending_faults();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].remaining(), 3);
        env.mock.clear_faults();
    }
    // The same on a send: two attempts, both refused, nothing sent.
    env.mock
        .inject(Fault::errcode(40001).on_path(SEND).times(2));
    env.api_err(
        env.client.send_custom_message(text("x")).await,
        ErrCode::InvalidCredential,
    );
    assert_eq!(env.outcomes(SEND), [Some(40001), Some(40001)]);
    assert_eq!(sent(&env), 0);
    env.finish().await;
}

#[tokio::test]
async fn a_failed_token_fetch_is_retried_even_for_a_send() {
    let env = with_user(|b| b).await;
    env.mock
        .inject(Fault::errcode(-1).on_path(STABLE_TOKEN).times(2));
    env.client
        .send_custom_message(text("after a busy token"))
        .await
        .unwrap();
    assert_eq!(
        env.outcomes(STABLE_TOKEN),
        [Some(-1), Some(-1), Some(0)],
        "nothing was sent yet: the token fetch is retried"
    );
    assert_eq!(env.outcomes(SEND), [Some(0)]);
    assert_eq!(sent(&env), 1);

    // A token fetch that keeps failing ends with a typed token error after the cap.
    let cold = env.client_with(|b| b);
    env.mock
        .inject(Fault::errcode(-1).on_path(STABLE_TOKEN).times(3));
    let error = env.err(cold.send_custom_message(text("never")).await);
    assert!(
        matches!(
            &error,
            Error::Token {
                code: Some(ErrCode::SystemBusy),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_token_error());
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), 6);
    assert_eq!(env.outcomes(SEND), [Some(0)]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herd_waiting_on_a_failing_token_fetch_shares_its_failure() {
    let env = Env::start().await;
    let wrong = "0123456789abcdef0123456789abcdef";
    env.forbid(wrong);
    let client = env.client_with(|b| b.app_secret(wrong));
    // The one fetch is slow (3 s), so every caller of the herd waits on it.
    env.mock
        .inject(Fault::delay(Duration::from_secs(3)).on_path(STABLE_TOKEN));
    let started = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let (client, started) = (client.clone(), Arc::clone(&started));
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                client.get_kf_list().await
            })
        })
        .collect();
    let mut errors = Vec::new();
    for call in calls {
        errors.push(env.err(call.await.unwrap()));
    }
    assert_eq!(started.load(Ordering::SeqCst), 1000);
    assert!(
        errors.iter().all(|e| matches!(
            e,
            Error::Token {
                code: Some(ErrCode::InvalidAppsecret),
                ..
            }
        )),
        "{:?}",
        errors[0]
    );
    assert_eq!(
        env.outcomes(STABLE_TOKEN),
        [Some(40125)],
        "one fetch, one failure for all"
    );
    assert!(env.mock.requests_to(KF_LIST).is_empty());
    env.client.get_kf_list().await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn classic_mode_replays_once_with_a_new_classic_token() {
    let env = Env::start_with(|b| b.token_mode(TokenMode::Classic)).await;
    env.client.get_kf_list().await.unwrap();
    env.mock.invalidate_tokens();
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.mock.classic_token_fetches(), 2);
    assert_eq!(env.mock.stable_token_fetches(), 0);
    assert_eq!(env.outcomes(KF_LIST), [Some(0), Some(40001), Some(0)]);
    let reads = env.mock.requests_to(KF_LIST);
    assert_ne!(reads[2].access_token(), reads[1].access_token());
    env.finish().await;
}

#[tokio::test]
async fn refresh_token_forces_a_new_token_only_when_asked() {
    let env = Env::start().await;
    env.client.get_kf_list().await.unwrap();
    env.client.refresh_token().await.unwrap();
    let fetches = env.mock.requests_to(STABLE_TOKEN);
    let forced: Vec<_> = fetches
        .iter()
        .map(|r| r.json().unwrap()["force_refresh"].clone())
        .collect();
    assert_eq!(forced, [false, true]);
    // The old token is retired at once; the client already holds the new one.
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.outcomes(KF_LIST), [Some(0), Some(0)]);
    let reads = env.mock.requests_to(KF_LIST);
    assert_ne!(reads[0].access_token(), reads[1].access_token());
    // WeChat allows one forced refresh per 30 s: a typed token error, not retried,
    // and the cached token stays usable.
    let error = env.err(env.client.refresh_token().await);
    assert!(
        matches!(
            &error,
            Error::Token {
                code: Some(ErrCode::ApiMinuteQuotaReached),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), 3);
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.outcomes(KF_LIST), [Some(0); 3]);
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), 3);
    env.finish().await;
}

/// A central token service: hands out its current token; a rejection moves to the next.
struct Central {
    tokens: Mutex<Vec<String>>,
    current: AtomicUsize,
    rejected: Mutex<Vec<String>>,
}

impl TokenProvider for Central {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        let tokens = self.tokens.lock().unwrap();
        let token = tokens[self.current.load(Ordering::SeqCst)].clone();
        Box::pin(std::future::ready(Ok(AccessToken::new(token))))
    }

    fn rejected<'a>(&'a self, token: &'a AccessToken) -> BoxFuture<'a, ()> {
        self.rejected
            .lock()
            .unwrap()
            .push(token.expose().to_owned());
        self.current.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn an_external_token_provider_is_told_of_a_rejection_and_the_call_replayed() {
    let env = Env::start().await;
    let first = env.mock.access_token();
    let central = Arc::new(Central {
        tokens: Mutex::new(vec![first.clone()]),
        current: AtomicUsize::new(0),
        rejected: Mutex::new(Vec::new()),
    });
    let client = Client::builder()
        .base_url(env.mock.base_url())
        .token_provider(Arc::clone(&central))
        .retry_policy(common::fast_retries())
        .build()
        .unwrap();
    client.get_kf_list().await.unwrap();
    env.mock.invalidate_tokens();
    let second = env.mock.access_token();
    central.tokens.lock().unwrap().push(second.clone());
    client.get_kf_list().await.unwrap();

    let used: Vec<_> = env
        .mock
        .requests_to(KF_LIST)
        .iter()
        .map(|r| (r.access_token().unwrap().to_owned(), r.errcode))
        .collect();
    assert_eq!(
        used,
        [
            (first.clone(), Some(0)),
            (first.clone(), Some(40001)),
            (second.clone(), Some(0))
        ]
    );
    assert_eq!(*central.rejected.lock().unwrap(), [first]);
    assert_eq!(
        env.mock.stable_token_fetches(),
        0,
        "the SDK never fetched a token"
    );
    assert_eq!(env.mock.classic_token_fetches(), 0);
    // The client cannot force a refresh of a token it does not manage.
    let error = env.err(client.refresh_token().await);
    assert!(matches!(&error, Error::Config { .. }), "{error:?}");
    env.finish().await;
}

#[tokio::test]
async fn a_token_is_cached_for_less_than_its_lifetime_but_never_for_nothing() {
    let env = Env::start().await;
    // WeChat says the token lives 0 s: it is still used (cached for a minimum, not refetched
    // in a loop) and the call succeeds.
    let zero = env.mock.access_token();
    env.mock.inject(
        Fault::status_with_body(
            200,
            format!(r#"{{"access_token":"{zero}","expires_in":0}}"#),
        )
        .on_path(STABLE_TOKEN),
    );
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), 1);
    assert_eq!(
        env.mock.requests_to(KF_LIST)[0].access_token(),
        Some(zero.as_str())
    );

    // WeChat says 2 s: the client keeps a margin (half of it here) and fetches a new one
    // before it runs out.
    let short = env.client_with(|b| b);
    let brief = env.mock.access_token();
    env.mock.inject(
        Fault::status_with_body(
            200,
            format!(r#"{{"access_token":"{brief}","expires_in":2}}"#),
        )
        .on_path(STABLE_TOKEN),
    );
    short.get_kf_list().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    short.get_kf_list().await.unwrap();
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), 3);
    let reads = env.mock.requests_to(KF_LIST);
    assert_eq!(reads[1].access_token(), Some(brief.as_str()));
    assert_ne!(reads[2].access_token(), Some(brief.as_str()));
    assert_eq!(reads[2].errcode, Some(0));
    env.finish().await;
}

// ---- retries ----

#[tokio::test]
async fn errcode_minus_one_is_retried_for_a_read_up_to_the_cap() {
    let env = Env::start().await;
    env.mock
        .inject(Fault::errcode(-1).on_path(KF_LIST).times(2));
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.outcomes(KF_LIST), [Some(-1), Some(-1), Some(0)]);

    env.mock.clear_requests();
    env.mock
        .inject(Fault::errcode(-1).on_path(KF_LIST).times(4));
    let error = env.api_err(env.client.get_kf_list().await, ErrCode::SystemBusy);
    assert!(error.is_retryable());
    assert_eq!(
        env.outcomes(KF_LIST),
        [Some(-1); 3],
        "3 attempts, the policy's cap"
    );
    assert_eq!(env.mock.pending_faults()[0].remaining(), 1);
    env.mock.clear_faults();

    // A policy that never retries makes one attempt.
    let never = env.client_with(|b| b.retry_policy(RetryPolicy::never()));
    env.mock.clear_requests();
    env.mock
        .inject(Fault::errcode(-1).on_path(WAIT_CASE).times(2));
    env.api_err(never.get_wait_case().await, ErrCode::SystemBusy);
    assert_eq!(env.outcomes(WAIT_CASE), [Some(-1)]);
    env.mock.clear_faults();

    // HTTP 5xx is retried for a read too.
    env.mock
        .inject(Fault::status(503).on_path(WAIT_CASE).times(2));
    env.client.get_wait_case().await.unwrap();
    let statuses: Vec<_> = env
        .mock
        .requests_to(WAIT_CASE)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(200), Some(503), Some(503), Some(200)]);
    env.finish().await;
}

#[tokio::test]
async fn codes_that_retrying_cannot_fix_are_never_retried() {
    let env = Env::start().await;
    for code in [45009, 45011, 48001, 65400] {
        env.mock.clear_requests();
        env.mock
            .inject(Fault::errcode(code).on_path(KF_LIST).times(3));
        env.api_err(env.client.get_kf_list().await, ErrCode::from_code(code));
        assert_eq!(env.outcomes(KF_LIST), [Some(code)], "errcode {code}");
        env.mock.clear_faults();
    }
    env.finish().await;
}

#[tokio::test]
async fn errcode_minus_one_is_not_retried_for_a_send() {
    let env = with_user(|b| b).await;
    // WeChat sent the message, then answered "busy": returned, not sent again.
    env.mock
        .inject(Fault::errcode(-1).on_path(SEND).after_handling());
    let error = env.api_err(
        env.client.send_custom_message(text("busy but sent")).await,
        ErrCode::SystemBusy,
    );
    assert!(error.is_retryable(), "passing, but not safe to repeat");
    assert_eq!(env.mock.requests_to(SEND).len(), 1);
    assert_eq!(sent(&env), 1);
    assert_eq!(env.mock.records().last().unwrap().text, "busy but sent");

    // Busy before sending: still one attempt, nothing recorded.
    env.mock.inject(Fault::errcode(-1).on_path(SEND));
    env.api_err(
        env.client.send_custom_message(text("refused")).await,
        ErrCode::SystemBusy,
    );
    assert_eq!(env.mock.requests_to(SEND).len(), 2);
    assert_eq!(sent(&env), 1);

    // The other non-idempotent calls: typing and session create.
    env.mock.inject(Fault::errcode(-1).on_path(TYPING));
    env.api_err(
        env.client.typing(USER, TypingCommand::Typing).await,
        ErrCode::SystemBusy,
    );
    assert_eq!(env.outcomes(TYPING), [Some(-1)]);
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.inject(Fault::errcode(-1).on_path(CREATE));
    env.api_err(
        env.client.create_kf_session(ALICE, USER).await,
        ErrCode::SystemBusy,
    );
    assert_eq!(env.outcomes(CREATE), [Some(-1)]);

    // HTTP 5xx after a send: returned as a status error, not retried.
    env.mock
        .inject(Fault::status(503).on_path(SEND).after_handling());
    let error = env.err(env.client.send_custom_message(text("5xx")).await);
    assert!(
        matches!(&error, Error::Status { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(env.mock.requests_to(SEND).len(), 3);
    assert_eq!(sent(&env), 2);
    env.finish().await;
}

#[tokio::test]
async fn a_timeout_after_a_send_is_returned_and_never_sent_twice() {
    let timeout = Duration::from_secs(2);
    let env = with_user(|b| b.timeout(timeout)).await;
    env.client.access_token().await.unwrap();
    // The message is handled, then the answer takes far longer than the client waits.
    env.mock.inject(
        Fault::delay(Duration::from_secs(20))
            .on_path(SEND)
            .after_handling(),
    );
    let started = Instant::now();
    let error = env.err(env.client.send_custom_message(text("slow")).await);
    let elapsed = started.elapsed();
    assert!(
        matches!(
            &error,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_not_sent());
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(15),
        "not retried: {elapsed:?}"
    );
    // Sent once. A retry would have been answered at once and made a second record.
    assert_eq!(sent(&env), 1);
    assert!(env.mock.pending_faults().is_empty());
    assert!(
        env.mock.requests_to(SEND).iter().all(|r| r.fault.is_some()),
        "no second send arrived"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_timeout_on_a_read_is_retried() {
    let timeout = Duration::from_secs(2);
    let env = Env::start_with(|b| b.timeout(timeout)).await;
    env.client.access_token().await.unwrap();
    env.mock
        .inject(Fault::delay(Duration::from_secs(20)).on_path(KF_LIST));
    let started = Instant::now();
    env.client.get_kf_list().await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= timeout,
        "the first attempt timed out: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert!(env.mock.pending_faults().is_empty());
    let answered: Vec<_> = env
        .mock
        .requests_to(KF_LIST)
        .into_iter()
        .filter(|r| r.fault.is_none())
        .collect();
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].errcode, Some(0));
    env.finish().await;
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_a_read_and_not_for_a_send() {
    let env = with_user(|b| b).await;
    env.mock.inject(Fault::drop_connection().on_path(KF_LIST));
    env.client.get_kf_list().await.unwrap();
    let reads = env.mock.requests_to(KF_LIST);
    assert_eq!(reads.len(), 2);
    assert_eq!(
        (reads[0].status, reads[0].fault.clone()),
        (None, Some(FaultKind::Drop))
    );
    assert_eq!((reads[1].status, reads[1].errcode), (Some(200), Some(0)));

    // Dropped before WeChat handled it: not retried (the client cannot know), nothing sent.
    env.mock.inject(Fault::drop_connection().on_path(SEND));
    let error = env.err(env.client.send_custom_message(text("lost")).await);
    assert!(matches!(&error, Error::Transport { .. }), "{error:?}");
    assert!(
        !error.is_not_sent(),
        "a broken connection may have delivered it"
    );
    assert_eq!(env.mock.requests_to(SEND).len(), 1);
    assert_eq!(sent(&env), 0);

    // Handled, then the answer lost: not retried, sent exactly once.
    env.mock
        .inject(Fault::drop_connection().on_path(SEND).after_handling());
    let error = env.err(env.client.send_custom_message(text("delivered")).await);
    assert!(matches!(&error, Error::Transport { .. }), "{error:?}");
    assert_eq!(env.mock.requests_to(SEND).len(), 2);
    assert_eq!(sent(&env), 1);
    assert_eq!(env.mock.records().last().unwrap().text, "delivered");
    env.finish().await;
}

// ---- bodies that are not WeChat's ----

const BAD_GATEWAY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

#[tokio::test]
async fn html_and_garbage_bodies_are_typed_errors_with_an_excerpt() {
    let env = with_user(|b| b).await;

    // An HTML 502 from a proxy on a read: retried up to the cap, then a status error.
    env.mock.inject(
        Fault::status_with_body(502, BAD_GATEWAY)
            .on_path(KF_LIST)
            .times(3),
    );
    let error = env.err(env.client.get_kf_list().await);
    match &error {
        Error::Status {
            endpoint,
            status,
            excerpt,
        } => {
            assert_eq!((*endpoint, *status), ("get_kf_list", 502));
            assert!(excerpt.starts_with("<html>"), "{excerpt}");
            assert!(excerpt.contains("502 Bad Gateway"), "{excerpt}");
            assert!(
                !excerpt.contains('\n') && !excerpt.contains('\r'),
                "{excerpt:?}"
            );
        }
        other => panic!("expected Error::Status, got {other:?}"),
    }
    assert_eq!(error.status(), Some(502));
    assert!(error.to_string().contains("502 Bad Gateway"), "{error}");
    assert_eq!(env.mock.requests_to(KF_LIST).len(), 3);

    // The same on a send: one attempt.
    env.mock.inject(
        Fault::status_with_body(502, BAD_GATEWAY)
            .on_path(SEND)
            .times(3),
    );
    let error = env.err(env.client.send_custom_message(text("x")).await);
    assert!(
        matches!(&error, Error::Status { status: 502, .. }),
        "{error:?}"
    );
    assert_eq!(env.mock.requests_to(SEND).len(), 1);
    env.mock.clear_faults();

    // An empty 502.
    env.mock
        .inject(Fault::status(502).on_path(WAIT_CASE).times(3));
    let error = env.err(env.client.get_wait_case().await);
    assert!(
        matches!(&error, Error::Status { status: 502, excerpt, .. } if excerpt.is_empty()),
        "{error:?}"
    );

    // A proxy page instead of a token: the token fetch is retried, then a status error
    // naming the token call; no business request was sent.
    let cold = env.client_with(|b| b);
    env.mock.inject(
        Fault::status_with_body(502, BAD_GATEWAY)
            .on_path(STABLE_TOKEN)
            .times(3),
    );
    let before = env.mock.requests_to(WAIT_CASE).len();
    let error = env.err(cold.get_wait_case().await);
    assert!(
        matches!(&error, Error::Status { endpoint: "stable_token", status: 502, excerpt } if excerpt.starts_with("(withheld") && !excerpt.contains("Bad Gateway")),
        "{error:?}"
    );
    assert_eq!(env.mock.requests_to(WAIT_CASE).len(), before);
    assert_eq!(
        env.outcomes(STABLE_TOKEN)[1..],
        [None, None, None],
        "3 attempts, none of them WeChat JSON"
    );

    // WeChat's invalid JSON with HTTP 200: a decode error, not retried, no panic.
    let invalid = r#"{"errcode": invalid kf_account, "errmsg": "invalid kf_account"}"#;
    env.mock.inject(
        Fault::status_with_body(200, invalid)
            .on_path(KF_LIST)
            .times(3),
    );
    let error = env.err(env.client.get_kf_list().await);
    match &error {
        Error::Decode {
            status, excerpt, ..
        } => {
            assert_eq!(*status, 200);
            assert_eq!(excerpt, invalid);
        }
        other => panic!("expected Error::Decode, got {other:?}"),
    }
    assert_eq!(env.mock.requests_to(KF_LIST).len(), 4);
    env.mock.clear_faults();

    // HTML with HTTP 200, and a long body: bounded excerpts.
    let long = format!("<html>{}</html>", "客".repeat(5000));
    env.mock
        .inject(Fault::status_with_body(200, long.clone()).on_path(WAIT_CASE));
    let error = env.err(env.client.get_wait_case().await);
    match &error {
        Error::Decode {
            status, excerpt, ..
        } => {
            assert_eq!(*status, 200);
            assert_eq!(
                excerpt.chars().count(),
                wx_kefu_api::error::EXCERPT_CHARS + 1
            );
            assert!(excerpt.starts_with("<html>客客"));
            assert!(excerpt.ends_with('…'));
        }
        other => panic!("expected Error::Decode, got {other:?}"),
    }
    // A JSON answer of the wrong shape.
    env.mock
        .inject(Fault::status_with_body(200, r#"{"kf_list": 7}"#).on_path(KF_LIST));
    let error = env.err(env.client.get_kf_list().await);
    assert!(
        matches!(&error, Error::Decode { status: 200, excerpt, .. } if excerpt == r#"{"kf_list": 7}"#),
        "{error:?}"
    );
    env.finish().await;
}

#[tokio::test]
async fn answers_that_are_not_the_endpoints_answer_are_never_a_success() {
    let env = with_user(|b| b.retry_policy(RetryPolicy::never())).await;
    // What a proxy, a captive portal or a load balancer may answer with HTTP 200.
    let impostors = [
        "{}",
        "[]",
        r#"[{"errcode":0}]"#,
        r#"{"access_token":"ACCESS_TOKEN_FROM_ELSEWHERE","expires_in":7200}"#,
        r#"{"kf_list":[]}"#,
        r#"{"status":"ok"}"#,
        r#"{"data":{"errcode":0,"errmsg":"ok"}}"#,
        "null",
        "true",
        r#""ok""#,
        r#"{"errcode":0,"errmsg":"ok","errcode":40001}"#,
        r#"{"errcode":0,"errmsg":"ok","errcod\u0065":45015}"#,
    ];
    // A token in a body that is not a token call's answer is not quoted either.
    env.forbid("ACCESS_TOKEN_FROM_ELSEWHERE");
    for body in impostors {
        env.mock
            .inject(Fault::status_with_body(200, body).on_path(SEND));
        let error = env.err(env.client.send_custom_message(text("hello")).await);
        assert!(
            matches!(
                &error,
                Error::Decode {
                    endpoint: "send_custom_message",
                    ..
                }
            ),
            "send answered {body}: {error:?}"
        );
    }
    // A read whose answer lacks its data, even with errcode 0.
    for body in [
        "{}",
        r#"{"errcode":0,"errmsg":"ok"}"#,
        r#"{"kf_online_list":[]}"#,
        "[[]]",
    ] {
        env.mock
            .inject(Fault::status_with_body(200, body).on_path(KF_LIST));
        let error = env.err(env.client.get_kf_list().await);
        assert!(
            matches!(&error, Error::Decode { endpoint: "get_kf_list", source, .. }
                if body.starts_with('[') || source.message().contains("kf_list") || source.message().contains("no errcode")),
            "get_kf_list answered {body}: {error:?}"
        );
    }
    // The genuine answers still succeed, and nothing was sent by the impostors.
    assert_eq!(sent(&env), 0);
    env.client.send_custom_message(text("hello")).await.unwrap();
    env.client.get_kf_list().await.unwrap();
    assert_eq!(sent(&env), 1);
    env.finish().await;
}

#[tokio::test]
async fn an_absurd_token_is_refused_and_the_next_call_fetches_a_good_one() {
    let env = Env::start().await;
    let huge = "A".repeat(100_000);
    for bad in [
        format!(r#"{{"access_token":"{huge}","expires_in":7200}}"#),
        r#"{"access_token":"has space&and#more","expires_in":7200}"#.to_owned(),
        r#"{"access_token":"","expires_in":7200}"#.to_owned(),
        r#"{"access_token":"line\u000abreak","expires_in":7200}"#.to_owned(),
    ] {
        // A cold client each time: the bad answer is the first token it sees.
        let cold = env.client_with(|b| b);
        env.mock.clear_requests();
        env.mock.inject(
            Fault::status_with_body(200, bad.clone())
                .on_path(STABLE_TOKEN)
                .times(3),
        );
        let error = env.err(cold.get_kf_list().await);
        assert!(
            matches!(&error, Error::Token { endpoint: "stable_token", message, .. } if message.contains("unusable")),
            "{bad:.80}: {error:?}"
        );
        assert!(!error.to_string().contains("AAAAAAAA"));
        assert!(env.mock.requests_to(KF_LIST).is_empty(), "no call went out");
        // Nothing was cached: the next call fetches a good token and succeeds.
        env.mock.clear_faults();
        let fetches = env.mock.requests_to(STABLE_TOKEN).len();
        cold.get_kf_list().await.unwrap();
        assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), fetches + 1);
        assert_eq!(env.outcomes(KF_LIST), [Some(0)]);
    }
    env.finish().await;
}

#[tokio::test]
async fn a_providers_unusable_token_fails_the_call_with_a_typed_error() {
    let env = Env::start().await;
    let central = Arc::new(Central {
        tokens: Mutex::new(vec!["B".repeat(100_000), env.mock.access_token()]),
        current: AtomicUsize::new(0),
        rejected: Mutex::new(Vec::new()),
    });
    let provided = Client::builder()
        .base_url(env.mock.base_url())
        .token_provider(Arc::clone(&central))
        .retry_policy(common::fast_retries())
        .build()
        .unwrap();
    let error = env.err(provided.get_kf_list().await);
    assert!(
        matches!(&error, Error::Token { endpoint: "token_provider", message, .. } if message.contains("unusable")),
        "{error:?}"
    );
    assert!(env.mock.requests_to(KF_LIST).is_empty());
    // The provider moves on; the client is not broken by what it was handed before.
    central.current.store(1, Ordering::SeqCst);
    provided.get_kf_list().await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn another_secret_echoed_by_a_token_call_never_reaches_an_error() {
    let env = Env::start().await;
    let other = "0ther-Secret-9f2c1b";
    env.forbid(other);
    let echo = format!(
        r#"{{"errcode":40125,"errmsg":"invalid appsecret {other} rid: 6561a4b2-5e1d7a0c-3f2a9b11"}}"#
    );
    // The classic token call as an endpoint, with a secret that is not the client's.
    env.mock
        .inject(Fault::status_with_body(200, echo.clone()).on_path(CLASSIC_TOKEN));
    let error = env.err(
        env.client
            .get_access_token("client_credential", env.mock.appid(), other)
            .await,
    );
    assert_eq!(error.code().map(ErrCode::code), Some(40125), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(other));
    // A client on a token provider has no secret of its own at all.
    let central = Arc::new(Central {
        tokens: Mutex::new(vec![env.mock.access_token()]),
        current: AtomicUsize::new(0),
        rejected: Mutex::new(Vec::new()),
    });
    let provided = Client::builder()
        .base_url(env.mock.base_url())
        .token_provider(Arc::clone(&central))
        .build()
        .unwrap();
    env.mock
        .inject(Fault::status_with_body(200, echo).on_path(STABLE_TOKEN));
    let error = env.err(
        provided
            .get_stable_access_token(GetStableAccessToken::new(
                "client_credential",
                env.mock.appid(),
                other,
            ))
            .await,
    );
    assert_eq!(error.code().map(ErrCode::code), Some(40125), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(other));
    env.finish().await;
}

#[tokio::test]
async fn answers_with_new_fields_and_codes_still_decode() {
    let env = Env::start().await;
    let list = r#"{"kf_list":[{"kf_account":"a@gh_x","kf_nick":"A","kf_id":1001,"kf_new":{"x":1}}],"new_top":[1,2]}"#;
    env.mock
        .inject(Fault::status_with_body(200, list).on_path(KF_LIST));
    let answer = env.client.get_kf_list().await.unwrap();
    assert_eq!(answer.kf_list.len(), 1);
    assert_eq!(answer.kf_list[0].kf_id.as_i64(), Some(1001));
    assert_eq!(answer.kf_list[0].kf_headimgurl, None);
    let online = r#"{"kf_online_list":[{"kf_account":"a@gh_x","status":7,"kf_id":"1001","accepted_case":2}]}"#;
    env.mock.inject(
        Fault::status_with_body(200, online).on_path("/cgi-bin/customservice/getonlinekflist"),
    );
    let answer = env.client.get_online_kf_list().await.unwrap();
    assert_eq!(answer.kf_online_list[0].status, OnlineStatus::Unknown(7));
    assert_eq!(answer.kf_online_list[0].kf_id.as_i64(), Some(1001));
    let now = env.mock.now();
    let page = format!(
        r#"{{"recordlist":[{{"openid":"o","opercode":1000,"text":"t","time":{now},"worker":"w"}},{{"openid":"o","opercode":3001,"text":"u","time":{now},"worker":"w","extra":true}}],"number":2,"msgid":3}}"#
    );
    env.mock
        .inject(Fault::status_with_body(200, page).on_path(MSG_LIST));
    let records = env.client.get_msg_list(now - 10, now, 1, 10).await.unwrap();
    let codes: Vec<_> = records.recordlist.iter().map(|r| r.opercode).collect();
    assert_eq!(codes, [OperCode::SessionCreated, OperCode::Unknown(3001)]);
    assert_eq!(records.msgid, Some(3));
    env.finish().await;
}

// ---- record export ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_across_three_days_returns_every_record_once() {
    let env = Env::start().await;
    let mock = &env.mock;
    let say = |text: String| mock.user_message(USER, &text);

    say("before the range".into());
    mock.advance(Duration::from_secs(200));
    for i in 0..12_000 {
        say(format!("day1-{i}"));
    }
    mock.advance(Duration::from_secs(86_400 - 100));
    say("edge-end".into());
    mock.advance(Duration::from_secs(1));
    say("edge-start".into());
    mock.advance(Duration::from_secs(3_600));
    for i in 0..500 {
        say(format!("day2-{i}"));
    }
    mock.advance(Duration::from_secs(86_400));
    for i in 0..10_000 {
        say(format!("day3-{i}"));
    }
    mock.advance(Duration::from_secs(80_000));
    say("last".into());
    mock.advance(Duration::from_secs(5));
    say("after the range".into());

    let held = mock.records();
    let time_of = |text: &str| held.iter().find(|r| r.text == text).unwrap().time;
    // The range starts exactly 24 h before `edge-end` and ends at `last`.
    let start = time_of("edge-end") - 86_400;
    let end = time_of("last");
    assert!(time_of("before the range") < start);
    assert!(time_of("day1-0") >= start);
    assert!(time_of("after the range") > end);
    assert!(end - start > 2 * 86_400 + 1 && end - start <= 3 * 86_400);

    let exported: Vec<Record> = export_records(&env.client, start, end)
        .try_collect()
        .await
        .unwrap();
    let got: Vec<_> = exported
        .iter()
        .map(|r| {
            (
                r.openid.clone(),
                i64::from(r.opercode),
                r.text.clone(),
                r.time,
                r.worker.clone(),
            )
        })
        .collect();
    let expected: Vec<_> = held
        .iter()
        .filter(|r| (start..=end).contains(&r.time))
        .map(|r| {
            (
                r.openid.clone(),
                r.opercode,
                Some(r.text.clone()),
                r.time,
                Some(r.worker.clone()),
            )
        })
        .collect();
    assert_eq!(expected.len(), 22_503);
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "every record, once, in order");

    // Three windows of at most 24 h, back to back, each paged until a page shorter than 10,000.
    let pages: Vec<(i64, i64, i64, i64)> = mock
        .requests_to(MSG_LIST)
        .iter()
        .map(|r| {
            let body = r.json().unwrap();
            let field = |k: &str| body[k].as_i64().unwrap();
            (
                field("starttime"),
                field("endtime"),
                field("msgid"),
                field("number"),
            )
        })
        .collect();
    let w1 = (start, start + 86_400);
    let w2 = (start + 86_401, start + 172_801);
    let w3 = (start + 172_802, end);
    let expected_pages: Vec<(i64, i64, i64, i64)> =
        [(w1, 1), (w1, 10_002), (w2, 1), (w3, 1), (w3, 22_504)]
            .iter()
            .map(|((s, e), msgid)| (*s, *e, *msgid, 10_000))
            .collect();
    assert_eq!(pages, expected_pages);
    env.finish().await;
}

#[tokio::test]
async fn an_export_whose_msgid_does_not_advance_stops_with_an_error() {
    let env = Env::start().await;
    let now = env.mock.now();
    // A full page (10,000 records) whose cursor stays at 1: following it would loop.
    let record =
        format!(r#"{{"openid":"{USER}","opercode":2003,"text":"again","time":{now},"worker":""}}"#);
    let stuck = format!(
        r#"{{"recordlist":[{}],"number":10000,"msgid":1}}"#,
        vec![record; 10_000].join(",")
    );
    env.mock.inject(
        Fault::status_with_body(200, stuck)
            .on_path(MSG_LIST)
            .times(10),
    );
    let items: Vec<Result<Record, Error>> =
        export_records(&env.client, now - 60, now).collect().await;
    assert_eq!(items.len(), 10_001, "the page, then the error");
    assert_eq!(items[0].as_ref().unwrap().text.as_deref(), Some("again"));
    let error = env.err(items[10_000].clone());
    assert!(
        matches!(
            &error,
            Error::PagingStalled {
                msgid: 1,
                starttime,
                endtime,
                ..
            } if *starttime == now - 60 && *endtime == now
        ),
        "{error:?}"
    );
    assert_eq!(env.mock.requests_to(MSG_LIST).len(), 1);
    env.mock.clear_faults();
    env.finish().await;
}

// ---- the leak scan ----

#[tokio::test]
async fn no_error_shows_the_secret_or_a_token_even_when_the_server_echoes_them() {
    let env = with_user(|b| b.timeout(Duration::from_secs(2))).await;
    let secret = env.mock.secret().to_owned();
    let token = env.client.access_token().await.unwrap().expose().to_owned();
    env.forbid(token.clone());

    // Bodies that quote the token and the secret.
    let echo = format!("<html>GET /x?access_token={token} secret={secret}</html>");
    env.mock.inject(
        Fault::status_with_body(502, echo.clone())
            .on_path(KF_LIST)
            .times(3),
    );
    let error = env.err(env.client.get_kf_list().await);
    assert!(
        matches!(&error, Error::Status { excerpt, .. } if excerpt.contains("access_token=***"))
    );
    let errmsg = format!(
        r#"{{"errcode":40003,"errmsg":"invalid openid {token} {secret} rid: 6561a4b2-5e1d7a0c-3f2a9b11"}}"#
    );
    env.mock
        .inject(Fault::status_with_body(200, errmsg).on_path(SEND));
    let error = env.err(env.client.send_custom_message(text("x")).await);
    assert_eq!(error.code(), Some(ErrCode::InvalidOpenid));
    assert_eq!(error.rid(), Some("6561a4b2-5e1d7a0c-3f2a9b11"));
    env.mock.inject(
        Fault::status_with_body(200, format!("not json {token} {secret}")).on_path(WAIT_CASE),
    );
    env.err(env.client.get_wait_case().await);

    // Transport errors, whose URL held the token: dropped, timed out.
    env.mock.inject(Fault::drop_connection().on_path(SEND));
    env.err(env.client.send_custom_message(text("y")).await);
    env.mock
        .inject(Fault::delay(Duration::from_secs(20)).on_path(SEND));
    env.err(env.client.send_custom_message(text("z")).await);

    // The classic token call carries the secret in its URL: drop it, refuse it, echo it.
    let classic = env.client_with(|b| b.token_mode(TokenMode::Classic));
    env.mock
        .inject(Fault::drop_connection().on_path(CLASSIC_TOKEN).times(3));
    let error = env.err(classic.get_kf_list().await);
    assert!(matches!(&error, Error::Transport { .. }), "{error:?}");
    env.mock.inject(
        Fault::status_with_body(502, format!("<html>secret={secret}</html>"))
            .on_path(CLASSIC_TOKEN)
            .times(3),
    );
    let error = env.err(classic.get_kf_list().await);
    assert!(matches!(&error, Error::Status { .. }), "{error:?}");
    // The token call's own answer holds a token: an answer of the wrong shape is not quoted.
    env.mock.inject(
        Fault::status_with_body(200, format!(r#"{{"access_token": 1, "x": "{secret}"}}"#))
            .on_path(CLASSIC_TOKEN),
    );
    env.err(classic.get_kf_list().await);
    // The same calls through KefuApi (secret in the query, token in the answer).
    env.mock
        .inject(Fault::drop_connection().on_path(CLASSIC_TOKEN).times(3));
    env.err(
        env.client
            .get_access_token("client_credential", env.mock.appid(), &secret)
            .await,
    );
    env.mock.inject(
        Fault::status_with_body(
            200,
            format!(r#"{{"access_token":"{token}","expires_in":"x"}}"#),
        )
        .on_path(STABLE_TOKEN),
    );
    let error = env.err(
        env.client
            .get_stable_access_token(GetStableAccessToken::new(
                "client_credential",
                env.mock.appid(),
                &secret,
            ))
            .await,
    );
    assert!(matches!(&error, Error::Decode { .. }), "{error:?}");

    // Nothing listens: a connect error (retried, then returned).
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    };
    let nowhere = env.client_with(|b| b.base_url(dead));
    assert!(
        !format!("{nowhere:?}").contains(&secret),
        "a client's Debug shows the secret"
    );
    let error = env.err(nowhere.get_kf_list().await);
    assert!(
        matches!(
            &error,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{error:?}"
    );
    // The scan also reads the logs: they were captured (spans and failures included).
    let logs = common::logs();
    assert!(logs.contains("wx_kefu.call"), "no span was captured");
    assert!(logs.contains("call failed"), "no failure was logged");
    env.finish().await;
}

#[tokio::test]
async fn a_token_error_does_not_repeat_a_secret_that_wechat_echoes() {
    let env = Env::start().await;
    let secret = env.mock.secret().to_owned();
    // A token call refused with an errmsg that quotes the secret (as a proxy or a
    // misconfigured gateway might): the typed token error must not carry it.
    env.mock.inject(
        Fault::status_with_body(
            200,
            format!(
                r#"{{"errcode":40125,"errmsg":"invalid appsecret {secret} rid: 6561a4b2-5e1d7a0c-3f2a9b11"}}"#
            ),
        )
        .on_path(STABLE_TOKEN),
    );
    let error = env.err(env.client.get_kf_list().await);
    assert!(
        matches!(
            &error,
            Error::Token {
                code: Some(ErrCode::InvalidAppsecret),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.rid(), Some("6561a4b2-5e1d7a0c-3f2a9b11"));
    env.client.get_kf_list().await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn a_decode_error_does_not_repeat_a_token_found_in_a_wrongly_typed_field() {
    let env = Env::start().await;
    let token = env.client.access_token().await.unwrap().expose().to_owned();
    // An answer that puts the token where a list belongs: the decoder's message quotes
    // the offending value, and the error must still not carry the token.
    env.mock.inject(
        Fault::status_with_body(200, format!(r#"{{"kf_list":"{token}"}}"#)).on_path(KF_LIST),
    );
    let error = env.err(env.client.get_kf_list().await);
    assert!(
        matches!(&error, Error::Decode { status: 200, .. }),
        "{error:?}"
    );
    env.finish().await;
}
