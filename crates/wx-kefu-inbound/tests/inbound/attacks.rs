//! What an attacker who can reach the webhook tries, each refused (issue 21): a captured
//! plain-mode query with another body, a sealed push replayed after the dedup cache would
//! have forgotten it, and attacker text echoed into errors and answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use wx_kefu_inbound::{Error, Query, Reply, Webhook};

use crate::common::*;
use crate::{NOW, plain_webhook, safe_webhook};

/// Handles a push, counting the application's calls.
fn deliver(webhook: &Webhook, query: &str, body: &str, calls: &AtomicUsize) -> Result<(), Error> {
    webhook
        .handle(&Query::parse(query), body.as_bytes(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Reply::success()
        })
        .map(|_| ())
}

#[test]
fn plain_mode_is_an_explicit_choice() {
    let error = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .build()
        .unwrap_err();
    let Error::Config(why) = &error else {
        panic!("{error:?}")
    };
    assert!(why.contains("plain_mode()"), "{why}");
    assert!(
        Webhook::builder()
            .token(TOKEN)
            .app_id(APPID)
            .plain_mode()
            .build()
            .is_ok()
    );
}

#[test]
fn a_captured_plain_query_carries_one_body() {
    let webhook = plain_webhook();
    let calls = AtomicUsize::new(0);
    let query = plain_query(NOW, "77");
    let genuine = text_push("oUSER", "hi", 1, NOW);
    deliver(&webhook, &query, &genuine, &calls).unwrap();
    // The same signed query with a forged body and a fresh MsgId: refused.
    let forged = text_push("oUSER", "refund everything", 2, NOW);
    assert_eq!(
        deliver(&webhook, &query, &forged, &calls),
        Err(Error::QueryReused)
    );
    // The signature's letter case does not make it a new query.
    let upper = {
        let (signature, rest) = query.split_once('&').unwrap();
        format!(
            "{}&{rest}",
            signature
                .to_ascii_uppercase()
                .replace("SIGNATURE=", "signature=")
        )
    };
    assert_eq!(
        deliver(&webhook, &upper, &forged, &calls),
        Err(Error::QueryReused)
    );
    // WeChat's retry sends the same bytes: it passes, answered from the cache.
    deliver(&webhook, &query, &genuine, &calls).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(Error::QueryReused.http_status(), 401);
}

#[test]
fn a_sealed_push_replayed_late_in_the_window_does_not_run_again() {
    let now = Arc::new(AtomicI64::new(NOW));
    let clock = Arc::clone(&now);
    let webhook = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .encoding_aes_key(EAK)
        .unwrap()
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);
    // Stamped at the far edge of the window when it first arrives, replayed at the other.
    let stamped = NOW + 300;
    let (query, body) = safe_push(
        &key_of(EAK),
        APPID,
        &text_push("oUSER", "hi", 9, stamped),
        stamped,
        "5",
    );
    deliver(&webhook, &query, &body, &calls).unwrap();
    for later in [61, 300, 600] {
        now.store(NOW + later, Ordering::SeqCst);
        deliver(&webhook, &query, &body, &calls).unwrap();
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a replay ran the application"
    );
    // Past the window the replay is refused outright.
    now.store(NOW + 601, Ordering::SeqCst);
    assert!(matches!(
        deliver(&webhook, &query, &body, &calls),
        Err(Error::Replayed { .. })
    ));
}

#[test]
fn a_dedup_shorter_than_the_window_or_no_window_is_refused_at_build() {
    let short = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .plain_mode()
        .dedup(100, Duration::from_secs(60))
        .build()
        .unwrap_err();
    assert_eq!(
        short,
        Error::DedupTooShort {
            ttl_secs: 60,
            needed_secs: 600
        }
    );
    let narrow = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .plain_mode()
        .replay_window(Some(Duration::from_secs(30)))
        .dedup(100, Duration::from_secs(60))
        .build();
    assert!(narrow.is_ok(), "60 s covers twice a 30 s window");
    let none = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .plain_mode()
        .replay_window(None)
        .build()
        .unwrap_err();
    assert!(matches!(none, Error::Config(why) if why.contains("replay window")));
    let nothing = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .plain_mode()
        .dedup(0, Duration::from_secs(600))
        .build()
        .unwrap_err();
    assert!(matches!(nothing, Error::DedupTooShort { ttl_secs: 0, .. }));
}

#[test]
fn attacker_text_is_quoted_and_cut_in_errors() {
    let injected = format!("1\r\nX-Forged: yes{}", "A".repeat(10_000));
    let query = format!(
        "signature=x&timestamp={}&nonce=1",
        injected.replace('\r', "%0D").replace('\n', "%0A")
    );
    let error = safe_webhook()
        .handle(&Query::parse(&query), b"<xml/>", |_| Reply::success())
        .unwrap_err();
    let Error::BadTimestamp(kept) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        kept.chars().count(),
        wx_kefu_inbound::ECHO_CHARS + 1,
        "{kept}"
    );
    let shown = error.to_string();
    assert!(!shown.contains('\r') && !shown.contains('\n'), "{shown}");
    assert!(shown.contains(r#""1\r\nX-Forged: yes"#), "{shown}");
    assert!(shown.len() < 160, "{} bytes", shown.len());

    let query = format!("{}&encrypt_type=rot13%0D%0Aevil", plain_query(NOW, "1"));
    let error = plain_webhook()
        .handle(&Query::parse(&query), b"<xml/>", |_| Reply::success())
        .unwrap_err();
    assert_eq!(error.to_string(), r#"unknown encrypt_type "rot13\r\nevil""#);
    assert_eq!(error.public_reason(), "bad request");
}
