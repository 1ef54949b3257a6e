//! Retries: reads are retried on passing failures, sends only when they provably never
//! left, and some codes never; the server counts what actually arrived.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use serde_json::json;
use wx_kefu_runtime::reqwest;
use wx_kefu_runtime::token::BoxFuture;
use wx_kefu_runtime::{AccessToken, Error, Result, RetryPolicy, TokenProvider, TransportKind};

use crate::common::*;

fn code(code: i64) -> Reply {
    Reply::Json(json!({"errcode": code, "errmsg": format!("error {code} rid: 0005-{code}")}))
}

#[tokio::test]
async fn errcode_minus_one_is_retried_for_a_read() {
    let (mock, base) = start().await;
    mock.script("read", [code(-1), code(-1)]);
    let client = builder(&base).build().unwrap();
    assert_eq!(client.call(Read).await.unwrap().value, "read");
    assert_eq!(mock.hits("read"), 3);
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit() {
    let (mock, base) = start().await;
    mock.script("read", [code(-1), code(-1), code(-1), code(-1)]);
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Read).await);
    assert!(error.is_retryable() && error.code().is_some_and(|c| c.code() == -1));
    assert_eq!(mock.hits("read"), 3);

    let (mock, base) = start().await;
    mock.script("read", [code(-1)]);
    let client = builder(&base)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    err(client.call(Read).await);
    assert_eq!(mock.hits("read"), 1);

    let (mock, base) = start().await;
    mock.script("read", [code(-1)]);
    let no_time = fast_retries().deadline(Duration::ZERO);
    let client = builder(&base).retry_policy(no_time).build().unwrap();
    err(client.call(Read).await);
    assert_eq!(mock.hits("read"), 1, "no retry starts past the deadline");
}

#[tokio::test]
async fn errcode_minus_one_is_not_retried_for_a_send() {
    let (mock, base) = start().await;
    mock.script("send", [code(-1)]);
    let client = builder(&base).build().unwrap();
    let error = err(client.call(Send::new("hi")).await);
    assert_eq!(error.code().map(|c| c.code()), Some(-1));
    assert_eq!(
        mock.hits("send"),
        1,
        "a send that may have arrived is never repeated"
    );
}

#[tokio::test]
async fn http_5xx_is_retried_for_a_read_and_not_for_a_send() {
    let (mock, base) = start().await;
    mock.script(
        "read",
        [
            Reply::Raw(502, "bad gateway"),
            Reply::Raw(503, "unavailable"),
        ],
    );
    mock.script("send", [Reply::Raw(502, "bad gateway")]);
    let client = builder(&base).build().unwrap();
    client.call(Read).await.unwrap();
    assert_eq!(mock.hits("read"), 3);
    let error = err(client.call(Send::new("hi")).await);
    assert!(
        matches!(&error, Error::Status { status: 502, .. }),
        "{error}"
    );
    assert_eq!(mock.hits("send"), 1);
}

#[tokio::test]
async fn codes_that_retrying_cannot_fix_are_never_retried() {
    for never in [45009, 45011, 45015, 45047, 48001, 65400, 65413, 65417] {
        let (mock, base) = start().await;
        mock.script("read", [code(never), code(never), code(never)]);
        let client = builder(&base).build().unwrap();
        let error = err(client.call(Read).await);
        assert_eq!(error.code().map(|c| c.code()), Some(never));
        assert!(!error.is_retryable(), "{never}");
        assert_eq!(mock.hits("read"), 1, "{never} was retried");
    }
}

#[tokio::test]
async fn a_timeout_after_a_send_is_returned_not_retried() {
    // The server never answers; 3 s is ample for a request to reach it on loopback.
    let (mock, base) = start().await;
    mock.script("send", [Reply::Hang, Reply::Hang, Reply::Hang]);
    mock.script("read", [Reply::Hang, Reply::Hang, Reply::Hang]);
    let policy = fast_retries().max_attempts(2);
    let client = builder(&base)
        .timeout(Duration::from_secs(3))
        .retry_policy(policy)
        .build()
        .unwrap();
    client.access_token().await.unwrap();

    let (send, read) = tokio::join!(client.call(Send::new("hi")), client.call(Read));
    for error in [err(send), err(read)] {
        let timed_out = matches!(
            &error,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        );
        assert!(timed_out, "{error:?}");
        assert!(error.is_retryable() && !error.is_not_sent());
    }
    assert_eq!(
        mock.hits("send"),
        1,
        "the send may have arrived: it is not repeated"
    );
    assert_eq!(mock.hits("read"), 2, "a read is retried after a timeout");
}

/// A name server for `wx.test` that fails a number of lookups before answering.
struct FlakyDns {
    failures_left: AtomicUsize,
    lookups: AtomicUsize,
    addr: SocketAddr,
}

impl reqwest::dns::Resolve for FlakyDns {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.lookups.fetch_add(1, SeqCst);
        let fail = self
            .failures_left
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let addr = self.addr;
        Box::pin(async move {
            if fail {
                Err("the name server is down".into())
            } else {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(addr));
                Ok(addrs)
            }
        })
    }
}

/// A fixed token, so that no token request needs the name server.
struct Fixed;

impl TokenProvider for Fixed {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async { Ok(AccessToken::new(token(1))) })
    }
}

async fn flaky(failures: usize) -> (Arc<Mock>, Arc<FlakyDns>, wx_kefu_runtime::Client) {
    let (mock, base) = start().await;
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let dns = Arc::new(FlakyDns {
        failures_left: AtomicUsize::new(failures),
        lookups: AtomicUsize::new(0),
        addr,
    });
    let http = reqwest::Client::builder()
        .dns_resolver(dns.clone())
        .build()
        .unwrap();
    init_tracing();
    let client = wx_kefu_runtime::Client::builder()
        .base_url(format!("http://wx.test:{}", addr.port()))
        .http_client(http)
        .token_provider(Fixed)
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    (mock, dns, client)
}

#[tokio::test]
async fn a_connect_failure_is_retried_even_for_a_send() {
    let (mock, dns, client) = flaky(1).await;
    client.call(Send::new("hi")).await.unwrap();
    assert_eq!(dns.lookups.load(SeqCst), 2);
    assert_eq!(mock.hits("send"), 1, "the message arrived exactly once");
}

#[tokio::test]
async fn a_send_that_never_connects_gives_up_after_the_policy_limit() {
    let (mock, dns, client) = flaky(usize::MAX).await;
    let error = err(client.call(Send::new("hi")).await);
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
    assert!(error.is_not_sent() && error.is_retryable());
    assert_eq!(dns.lookups.load(SeqCst), 3);
    assert_eq!(mock.business_hits(), 0);
}

#[tokio::test]
async fn the_client_timeout_also_bounds_a_caller_supplied_http_client() {
    // A bare reqwest client has no timeout of its own: the SDK's one timeout covers
    // the request and the whole answer, and is a `Timeout` like any other.
    let (mock, base) = start().await;
    mock.script("read", [Reply::Hang]);
    init_tracing();
    let limit = Duration::from_millis(600);
    let client = wx_kefu_runtime::Client::builder()
        .base_url(&base)
        .http_client(reqwest::Client::new())
        .token_provider(Fixed)
        .timeout(limit)
        .retry_policy(RetryPolicy::new().max_attempts(1))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let error = checked(err(client.call(Read).await));
    let elapsed = started.elapsed();
    let Error::Transport {
        kind: TransportKind::Timeout,
        source,
        ..
    } = &error
    else {
        panic!("not a timeout: {error:?}");
    };
    assert_eq!(
        source.downcast_ref::<wx_kefu_runtime::TimedOut>(),
        Some(&wx_kefu_runtime::TimedOut { limit })
    );
    assert_eq!(
        error.to_string(),
        "test_read: timed out: no complete answer within 600ms"
    );
    assert!(error.is_retryable() && !error.is_not_sent());
    assert!(
        elapsed >= limit && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_eq!(mock.hits("read"), 1);
}

/// A send whose first host refuses the connection goes to the next host (it never left),
/// and the switch is logged with both hosts, a proxy's password masked.
#[tokio::test]
async fn a_refused_host_moves_the_call_and_the_log_masks_credentials() {
    let (mock, base) = start().await;
    let dead = dead_base().replace("http://", "http://proxyuser:pr0xy-s3cret@");
    let client = builder(&base)
        .hosts([dead.as_str(), base.as_str()])
        .token_provider(Fixed)
        .build()
        .unwrap();
    client.call(Send::new("hi")).await.unwrap();
    assert_eq!(mock.hits("send"), 1);
    assert_eq!(client.current_host(), base);
    let logs = logs();
    let switch = logs
        .lines()
        .find(|line| line.contains("WeChat host failed: switching") && line.contains(&base))
        .expect("the switch is logged");
    assert!(switch.contains("***:***@127.0.0.1"), "{switch}");
    assert!(
        !logs.contains("pr0xy-s3cret"),
        "the proxy's password was logged"
    );
    assert!(!format!("{client:?}").contains("pr0xy-s3cret"));
}
