//! Every way a push is refused: each a typed error, none a panic, and the application
//! never called.

use std::time::Duration;

use wx_kefu_inbound::{Error, Query, Reply, Webhook};

use crate::common::*;
use crate::{NOW, plain_webhook, safe_webhook};

/// Handles a push and insists the application is not reached.
fn refused(webhook: &Webhook, query: &str, body: &str) -> Error {
    match webhook.handle(&Query::parse(query), body.as_bytes(), |push| {
        panic!("the application was called with {push:?}")
    }) {
        Ok(answer) => panic!("accepted: {answer:?}"),
        Err(error) => error,
    }
}

#[test]
fn a_tampered_signature() {
    let body = text_push("oUSER", "hi", 1, NOW);
    let query = plain_query(NOW, "42").replace("nonce=42", "nonce=43");
    assert_eq!(
        refused(&plain_webhook(), &query, &body),
        Error::BadSignature
    );
    let other_token = format!(
        "signature={}&timestamp={NOW}&nonce=42",
        sha1_sorted(&["OTHER", &NOW.to_string(), "42"])
    );
    assert_eq!(
        refused(&plain_webhook(), &other_token, &body),
        Error::BadSignature
    );
    let no_signature = format!("timestamp={NOW}&nonce=42");
    assert_eq!(
        refused(&plain_webhook(), &no_signature, &body),
        Error::MissingParam("signature")
    );
}

#[test]
fn a_tampered_ciphertext_or_msg_signature() {
    let xml = text_push("oUSER", "hi", 1, NOW);
    let (query, body) = safe_push(&key_of(EAK), APPID, &xml, NOW, "42");
    // One character of the ciphertext changed: the msg_signature no longer matches.
    let at = body.find("<Encrypt><![CDATA[").unwrap() + 30;
    let mut tampered = body.clone();
    let c = if &body[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, c);
    assert_eq!(
        refused(&safe_webhook(), &query, &tampered),
        Error::BadMsgSignature
    );
    // The msg_signature itself changed.
    let given = query.split("msg_signature=").nth(1).unwrap().to_owned();
    let forged = query.replace(&given, &sha1_sorted(&["x"]));
    assert_eq!(
        refused(&safe_webhook(), &forged, &body),
        Error::BadMsgSignature
    );
    // The plain `signature` alone does not open safe mode.
    let without = query.replace(&format!("&msg_signature={given}"), "");
    assert_eq!(
        refused(&safe_webhook(), &without, &body),
        Error::MissingParam("msg_signature")
    );
}

#[test]
fn a_message_for_another_appid() {
    let xml = text_push("oUSER", "hi", 1, NOW);
    let (query, body) = safe_push(&key_of(EAK), "wxSOMEONE_ELSE", &xml, NOW, "42");
    assert_eq!(
        refused(&safe_webhook(), &query, &body),
        Error::WrongAppId {
            found: "wxSOMEONE_ELSE".into()
        }
    );
}

#[test]
fn a_replayed_or_future_timestamp() {
    let body = text_push("oUSER", "hi", 1, NOW);
    for at in [NOW - 301, NOW + 301, 0, i64::MIN, i64::MAX] {
        match refused(&plain_webhook(), &plain_query(at, "42"), &body) {
            Error::Replayed {
                timestamp, window, ..
            } => assert_eq!((timestamp, window), (at, 300)),
            other => panic!("{at}: {other:?}"),
        }
    }
    let bad = "signature=x&timestamp=yesterday&nonce=42";
    assert_eq!(
        refused(&plain_webhook(), bad, &body),
        Error::BadTimestamp("yesterday".into())
    );
    // Inside the window (a window cannot be turned off: `attacks.rs`); a wide one.
    plain_webhook()
        .handle(
            &Query::parse(&plain_query(NOW - 300, "42")),
            body.as_bytes(),
            |_| Reply::success(),
        )
        .unwrap();
    let lax = Webhook::builder()
        .token(TOKEN)
        .plain_mode()
        .app_id(APPID)
        .clock(|| NOW)
        .replay_window(Some(Duration::from_secs(86_400)))
        .build()
        .unwrap();
    lax.handle(
        &Query::parse(&plain_query(NOW - 86_400, "42")),
        body.as_bytes(),
        |_| Reply::success(),
    )
    .unwrap();
}

#[test]
fn an_oversize_body_is_refused_before_anything_else() {
    let webhook = Webhook::builder()
        .token(TOKEN)
        .plain_mode()
        .app_id(APPID)
        .max_body_bytes(1024)
        .build()
        .unwrap();
    let body = text_push("oUSER", &"长".repeat(400), 1, NOW);
    // No signature at all: the size is checked first.
    assert_eq!(
        refused(&webhook, "", &body),
        Error::BodyTooLarge {
            size: body.len(),
            limit: 1024
        }
    );
    assert_eq!(Error::BodyTooLarge { size: 2, limit: 1 }.http_status(), 413);
    let default = plain_webhook();
    let huge = "x".repeat(wx_kefu_inbound::DEFAULT_MAX_BODY + 1);
    assert!(matches!(
        refused(&default, &plain_query(NOW, "1"), &huge),
        Error::BodyTooLarge { .. }
    ));
}

const XXE: &str = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName>&xxe;</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>x</Content><MsgId>1</MsgId></xml>"#;
const LAUGHS: &str = r#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><Content>&lol2;</Content></xml>"#;

#[test]
fn xxe_and_entity_attempts() {
    let query = plain_query(NOW, "42");
    assert_eq!(refused(&plain_webhook(), &query, XXE), Error::Doctype);
    assert_eq!(refused(&plain_webhook(), &query, LAUGHS), Error::Doctype);
    // An entity without a DOCTYPE is not resolved either.
    let undefined = text_push("oUSER", "x", 1, NOW).replace("<![CDATA[x]]>", "&xxe;");
    assert_eq!(
        refused(&plain_webhook(), &query, &undefined),
        Error::Entity("xxe".into())
    );
    let pi = format!(
        "<?xml-stylesheet href='x'?>{}",
        text_push("oUSER", "x", 1, NOW)
    );
    assert_eq!(
        refused(&plain_webhook(), &query, &pi),
        Error::ProcessingInstruction
    );
    // Inside a safe-mode envelope, and as the envelope.
    let (query, body) = safe_push(&key_of(EAK), APPID, XXE, NOW, "42");
    assert_eq!(refused(&safe_webhook(), &query, &body), Error::Doctype);
    let (query, body) = safe_push(&key_of(EAK), APPID, &text_push("o", "x", 1, NOW), NOW, "42");
    let wrapped = format!("<!DOCTYPE xml>{body}");
    assert_eq!(refused(&safe_webhook(), &query, &wrapped), Error::Doctype);
}

#[test]
fn malformed_xml_is_an_error_not_a_panic() {
    let query = plain_query(NOW, "42");
    let good = text_push("oUSER", "hi", 1, NOW);
    let cases = [
        String::new(),
        "not xml".into(),
        "<xml>".into(),
        "<xml></xmk>".into(),
        "<root><MsgType>text</MsgType></root>".into(),
        format!("{good}{good}"),
        good.replace("<MsgId>1</MsgId>", "<MsgId>1</MsgId><MsgId>2</MsgId>"),
        good.replace(
            "<CreateTime>1700000000</CreateTime>",
            "<CreateTime>soon</CreateTime>",
        ),
        good.replace("<MsgType><![CDATA[text]]></MsgType>", ""),
        good.replace("<Content><![CDATA[hi]]></Content>", ""),
        format!("<xml>{}</xml>", "<a>".repeat(20) + &"</a>".repeat(20)),
        format!("<xml>{}</xml>", "<a>x</a>".repeat(600)),
    ];
    for case in &cases {
        let error = refused(&plain_webhook(), &query, case);
        assert_eq!(error.http_status(), 400, "{case}: {error}");
    }
    let error = refused(
        &plain_webhook(),
        &query,
        &good.replace("<MsgId>1</MsgId>", "<MsgId>1</MsgId><MsgId>2</MsgId>"),
    );
    assert_eq!(error, Error::DuplicateField("MsgId".into()));
    // Every prefix and a few byte flips of a valid push: errors, never panics.
    let bytes = good.as_bytes();
    for cut in 0..bytes.len() {
        let _ = plain_webhook().handle(&Query::parse(&query), &bytes[..cut], |_| Reply::success());
    }
    for at in (0..bytes.len()).step_by(7) {
        for flip in [0x01, 0x80, 0xff] {
            let mut mutated = bytes.to_vec();
            mutated[at] ^= flip;
            let _ = plain_webhook().handle(&Query::parse(&query), &mutated, |_| Reply::success());
        }
    }
    // Not UTF-8.
    assert_eq!(
        plain_webhook()
            .handle(&Query::parse(&query), &[0xff, 0xfe, b'<'], |_| {
                Reply::success()
            })
            .unwrap_err(),
        Error::NotUtf8
    );
}

#[test]
fn broken_ciphertexts() {
    let query_for = |encrypted: &str| {
        let ts = NOW.to_string();
        format!(
            "timestamp={ts}&nonce=1&encrypt_type=aes&msg_signature={}",
            sha1_sorted(&[TOKEN, &ts, "1", encrypted])
        )
    };
    let envelope =
        |encrypted: &str| format!("<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
    // Signed correctly (as if the token leaked), but not a ciphertext of ours.
    for (encrypted, expected) in [
        ("not base64!", Error::BadBase64),
        ("", Error::Decrypt),
        ("AAAA", Error::Decrypt),
        // 32 zero bytes: decrypts to garbage, refused by the padding or the layout.
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            Error::Decrypt,
        ),
    ] {
        let error = refused(&safe_webhook(), &query_for(encrypted), &envelope(encrypted));
        assert!(
            error == expected || matches!(error, Error::Malformed(_)),
            "{encrypted}: {error:?}"
        );
    }
    // Sealed with our key, but the length runs past the end, or there is no room for it.
    let mut lying = vec![0u8; 16];
    lying.extend_from_slice(&1000u32.to_be_bytes());
    lying.extend_from_slice(b"<xml/>");
    for plain in [lying, vec![1u8; 10]] {
        let encrypted = seal_bytes(&key_of(EAK), plain);
        assert!(matches!(
            refused(
                &safe_webhook(),
                &query_for(&encrypted),
                &envelope(&encrypted)
            ),
            Error::Malformed(_)
        ));
    }
    assert_eq!(
        refused(
            &safe_webhook(),
            &query_for("x"),
            "<xml><ToUserName>a</ToUserName></xml>"
        ),
        Error::MissingCiphertext
    );
}

#[test]
fn mode_mismatches() {
    let xml = text_push("oUSER", "hi", 1, NOW);
    // Safe mode refuses plain pushes, even correctly signed ones.
    assert_eq!(
        refused(&safe_webhook(), &plain_query(NOW, "42"), &xml),
        Error::NotEncrypted
    );
    // A plain webhook cannot open an encrypted one.
    let (query, body) = safe_push(&key_of(EAK), APPID, &xml, NOW, "42");
    assert_eq!(refused(&plain_webhook(), &query, &body), Error::NoKey);
    let odd = plain_query(NOW, "42") + "&encrypt_type=rot13";
    assert_eq!(
        refused(&plain_webhook(), &odd, &xml),
        Error::UnknownEncryptType("rot13".into())
    );
}

#[test]
fn configuration_mistakes() {
    assert_eq!(
        Webhook::builder().app_id(APPID).build().unwrap_err(),
        Error::Config("the token is required")
    );
    assert_eq!(
        Webhook::builder().token(TOKEN).build().unwrap_err(),
        Error::Config("the appid is required")
    );
    for bad in [
        "",
        "short",
        &EAK[..42],
        &format!("{EAK}x"),
        &EAK.replace('a', "*"),
    ] {
        assert_eq!(
            Webhook::builder().encoding_aes_key(bad).unwrap_err(),
            Error::BadAesKey,
            "{bad}"
        );
    }
    assert!(matches!(
        Webhook::builder()
            .token(TOKEN)
            .app_id(APPID)
            .previous_encoding_aes_key(EAK_OLD)
            .unwrap()
            .build(),
        Err(Error::Config(_))
    ));
    // Debug shows neither the token nor the key.
    let debug = format!("{:?}", safe_webhook());
    assert!(!debug.contains(TOKEN) && !debug.contains(EAK), "{debug}");
}
