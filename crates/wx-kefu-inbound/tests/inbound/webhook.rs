//! What the webhook accepts: every kind of push decoded, unknown kinds kept, retries
//! answered from the dedup cache, key rotation, the URL check and the replies' XML.

use std::cell::Cell;
use std::time::Duration;

use wx_kefu_inbound::{
    Content, DedupKey, Delivery, Event, Family, Fields, Push, Query, Reply, UserMessage, Webhook,
    xml,
};

use crate::common::*;
use crate::vectors::open_answer;
use crate::{NOW, plain_webhook, safe_webhook};

fn message_push(msg_type: &str, fields: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{fields}<MsgId>42</MsgId></xml>"
    )
}

/// The push as the application sees it, through a plain webhook.
fn received(body: &str) -> Push {
    let mut seen = None;
    plain_webhook()
        .handle(
            &Query::parse(&plain_query(NOW, "1")),
            body.as_bytes(),
            |push| {
                seen = Some(push.clone());
                Reply::success()
            },
        )
        .unwrap();
    seen.unwrap()
}

#[test]
fn every_user_message_kind() {
    let text = received(&message_push(
        "text",
        "<Content><![CDATA[你好 & <b>]]></Content>",
    ));
    assert!(
        matches!(text.message(), Some(UserMessage::Text(t)) if t.content == "你好 & <b>" && t.bizmsgmenuid.is_none())
    );
    assert!(matches!(
        text.content,
        Content::Message {
            msg_id: Some(42),
            ..
        }
    ));

    let tap = received(&message_push(
        "text",
        "<Content><![CDATA[满意]]></Content><bizmsgmenuid>101</bizmsgmenuid>",
    ));
    assert!(
        matches!(tap.message(), Some(UserMessage::Text(t)) if t.bizmsgmenuid.as_deref() == Some("101"))
    );

    let image = received(&message_push(
        "image",
        "<PicUrl><![CDATA[http://p/1]]></PicUrl><MediaId><![CDATA[M1]]></MediaId>",
    ));
    assert!(
        matches!(image.message(), Some(UserMessage::Image(i)) if i.pic_url == "http://p/1" && i.media_id == "M1")
    );

    let voice = received(&message_push(
        "voice",
        "<MediaId><![CDATA[M2]]></MediaId><Format><![CDATA[amr]]></Format>",
    ));
    assert!(
        matches!(voice.message(), Some(UserMessage::Voice(v)) if v.format == "amr" && v.recognition.is_none())
    );

    let video = received(&message_push(
        "video",
        "<MediaId><![CDATA[M3]]></MediaId><ThumbMediaId><![CDATA[T3]]></ThumbMediaId>",
    ));
    assert!(matches!(video.message(), Some(UserMessage::Video(v)) if v.thumb_media_id == "T3"));

    let location = received(&message_push(
        "location",
        "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]></Label>",
    ));
    let Some(UserMessage::Location(place)) = location.message() else {
        panic!("{location:?}");
    };
    assert_eq!(
        (place.location_x, place.location_y, place.scale),
        (23.134521, 113.358803, 20)
    );
    assert_eq!(place.label, "广州");

    let link = received(&message_push(
        "link",
        "<Title><![CDATA[T]]></Title><Description><![CDATA[D]]></Description><Url><![CDATA[https://x]]></Url>",
    ));
    assert!(matches!(link.message(), Some(UserMessage::Link(l)) if l.url == "https://x"));
    assert_eq!(UserMessage::KINDS.len(), 7);
}

#[test]
fn the_kefu_events() {
    let create = received(&event_push(
        "oUSER",
        "kf_create_session",
        NOW,
        "<KfAccount><![CDATA[test1@gh_test]]></KfAccount>",
    ));
    assert!(
        matches!(create.event(), Some(Event::KfCreateSession(e)) if e.kf_account == "test1@gh_test")
    );
    assert!(create.is_event() && create.message().is_none());

    let close = received(&event_push(
        "oUSER",
        "kf_close_session",
        NOW,
        "<KfAccount><![CDATA[test1@gh_test]]></KfAccount>",
    ));
    assert!(
        matches!(close.event(), Some(Event::KfCloseSession(e)) if e.kf_account == "test1@gh_test")
    );

    let switch = received(&event_push(
        "oUSER",
        "kf_switch_session",
        NOW,
        "<FromKfAccount><![CDATA[a@gh]]></FromKfAccount><ToKfAccount><![CDATA[b@gh]]></ToKfAccount>",
    ));
    let Some(Event::KfSwitchSession(moved)) = switch.event() else {
        panic!("{switch:?}");
    };
    assert_eq!(
        (moved.from_kf_account.as_str(), moved.to_kf_account.as_str()),
        ("a@gh", "b@gh")
    );
    assert_eq!(switch.event().map(Family::tag), Some("kf_switch_session"));
    // WeChat's spelling of kinds is matched ignoring case.
    let shouted = received(&event_push(
        "oUSER",
        "KF_CLOSE_SESSION",
        NOW,
        "<KfAccount>a@b</KfAccount>",
    ));
    assert!(matches!(shouted.event(), Some(Event::KfCloseSession(_))));
}

#[test]
fn unknown_kinds_are_kept_not_refused() {
    let odd = received(&message_push("hologram", "<Depth>3</Depth>"));
    assert_eq!(
        odd.message(),
        Some(&UserMessage::Unknown("hologram".into()))
    );
    assert_eq!(odd.fields.get("Depth"), Some("3"));
    let event = received(&event_push(
        "oUSER",
        "subscribe",
        NOW,
        "<EventKey><![CDATA[qrscene_1]]></EventKey><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo>",
    ));
    assert_eq!(event.event(), Some(&Event::Unknown("subscribe".into())));
    assert_eq!(event.fields.get("EventKey"), Some("qrscene_1"));
    assert_eq!(event.fields.get("ScanCodeInfo/ScanType"), Some("qrcode"));
    // A known kind missing a field it needs is an error, not a guess.
    assert!(matches!(
        Push::parse(&message_push("image", "<PicUrl>u</PicUrl>")),
        Err(wx_kefu_inbound::Error::MissingField(f)) if f == "MediaId"
    ));
}

#[test]
fn a_retry_is_answered_without_processing_it_again() {
    let webhook = safe_webhook();
    let calls = Cell::new(0);
    let xml = text_push("oUSER", "转人工", 777, NOW);
    let mut answers = Vec::new();
    for nonce in ["1", "2", "3"] {
        // WeChat's retries: the same push, sealed and signed anew.
        let (query, body) = safe_push(&key_of(EAK), APPID, &xml, NOW, nonce);
        answers.push(
            webhook
                .handle(&Query::parse(&query), body.as_bytes(), |_| {
                    calls.set(calls.get() + 1);
                    Reply::transfer_customer_service()
                })
                .unwrap(),
        );
    }
    assert_eq!(calls.get(), 1, "processed once");
    for answer in &answers {
        let (_, inner) = open_answer(answer);
        assert_eq!(
            element(&inner, "MsgType").as_deref(),
            Some("transfer_customer_service")
        );
    }
    assert_eq!(webhook.dedup().len(), 1);
}

#[test]
fn a_retry_while_the_first_is_in_progress_and_a_failed_first() {
    let webhook = plain_webhook();
    let raw = plain_query(NOW, "1");
    let query = Query::parse(&raw);
    let body = text_push("oUSER", "hi", 9, NOW);
    let Delivery::New(first) = webhook.receive(&query, body.as_bytes()).unwrap() else {
        panic!("new");
    };
    // The retry arrives while the first is still being processed: not processed again,
    // and no answer yet (`handle`, which cannot wait, answers `success`).
    let Delivery::InProgress(pending) = webhook.receive(&query, body.as_bytes()).unwrap() else {
        panic!("in progress");
    };
    assert_eq!(pending.push().dedup_key(), DedupKey::Message(9));
    assert!(pending.answer().is_none());
    let answer = webhook
        .handle(&query, body.as_bytes(), |_| panic!("processed twice"))
        .unwrap();
    assert!(answer.is_success());
    // The first fails (dropped unanswered): the next retry is processed.
    drop(first);
    assert!(pending.answer().is_none());
    let Delivery::New(again) = webhook.receive(&query, body.as_bytes()).unwrap() else {
        panic!("a failed push is processed again");
    };
    let Delivery::InProgress(waiting) = webhook.receive(&query, body.as_bytes()).unwrap() else {
        panic!("in progress");
    };
    let answer = webhook.answer(again, &Reply::text("ok")).unwrap();
    assert_eq!(element(&answer.body, "Content").as_deref(), Some("ok"));
    // The waiting retry now gets the first one's reply.
    let late = waiting.answer().unwrap().unwrap();
    assert_eq!(element(&late.body, "Content").as_deref(), Some("ok"));
    match webhook.receive(&query, body.as_bytes()).unwrap() {
        Delivery::Repeat { answer: repeat, .. } => assert_eq!(repeat, answer),
        other => panic!("{other:?}"),
    }
}

#[test]
fn events_of_one_second_are_kept_apart_and_the_cache_is_bounded() {
    let webhook = Webhook::builder()
        .token(TOKEN)
        .plain_mode()
        .app_id(APPID)
        .clock(|| NOW)
        .replay_window(Some(Duration::from_secs(30)))
        .dedup(2, Duration::from_secs(60))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let nonce = Cell::new(0);
    let push = |body: String| {
        // Each delivery its own signed query (a query carries one body).
        nonce.set(nonce.get() + 1);
        webhook
            .handle(
                &Query::parse(&plain_query(NOW, &nonce.get().to_string())),
                body.as_bytes(),
                |_| {
                    calls.set(calls.get() + 1);
                    Reply::success()
                },
            )
            .unwrap();
    };
    let kf = "<KfAccount>a@gh</KfAccount>";
    push(event_push("oUSER", "kf_create_session", NOW, kf));
    push(event_push("oUSER", "kf_close_session", NOW, kf));
    push(event_push("oUSER", "kf_close_session", NOW, kf));
    assert_eq!(calls.get(), 2);
    // A third key evicts the oldest (capacity 2): the create event is new again.
    push(event_push("oOTHER", "kf_close_session", NOW, kf));
    push(event_push("oUSER", "kf_create_session", NOW, kf));
    assert_eq!(calls.get(), 4);
    assert_eq!(webhook.dedup().len(), 2);
}

#[test]
fn key_rotation_accepts_the_previous_key_and_answers_with_it() {
    let webhook = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .encoding_aes_key(EAK)
        .unwrap()
        .previous_encoding_aes_key(EAK_OLD)
        .unwrap()
        .clock(|| NOW)
        .build()
        .unwrap();
    for (key, msg_id) in [(key_of(EAK), 1), (key_of(EAK_OLD), 2)] {
        let (query, body) = safe_push(
            &key,
            APPID,
            &text_push("oUSER", "hi", msg_id, NOW),
            NOW,
            "5",
        );
        let answer = webhook
            .handle(&Query::parse(&query), body.as_bytes(), |_| {
                Reply::text("hello")
            })
            .unwrap();
        let (_, xml, appid) = unseal(&key, &element(&answer.body, "Encrypt").unwrap());
        assert_eq!(appid, APPID);
        assert_eq!(element(&xml, "Content").as_deref(), Some("hello"));
    }
    // A key that is neither: refused.
    let stranger = key_of("0000000000000000000000000000000000000000000");
    let (query, body) = safe_push(
        &stranger,
        APPID,
        &text_push("oUSER", "hi", 3, NOW),
        NOW,
        "5",
    );
    let error = webhook
        .handle(&Query::parse(&query), body.as_bytes(), |_| Reply::success())
        .unwrap_err();
    assert!(
        matches!(
            error,
            wx_kefu_inbound::Error::Decrypt | wx_kefu_inbound::Error::Malformed(_)
        ),
        "{error:?}"
    );
    // Without the previous key, the old one no longer opens.
    let (query, body) = safe_push(
        &key_of(EAK_OLD),
        APPID,
        &text_push("oUSER", "hi", 4, NOW),
        NOW,
        "5",
    );
    assert!(
        safe_webhook()
            .handle(&Query::parse(&query), body.as_bytes(), |_| Reply::success())
            .is_err()
    );
}

#[test]
fn the_url_check_echoes_echostr() {
    let ts = NOW.to_string();
    let good = format!(
        "signature={}&echostr=5837397520665436492&timestamp={ts}&nonce=1011253778",
        sha1_sorted(&[TOKEN, &ts, "1011253778"])
    );
    for webhook in [plain_webhook(), safe_webhook()] {
        let answer = webhook.verify_url(&Query::parse(&good)).unwrap();
        assert_eq!(answer.body, "5837397520665436492");
        assert!(answer.content_type.starts_with("text/plain"));
        assert_eq!(
            webhook.verify_url(&Query::parse(&good.replace("nonce=1011253778", "nonce=1"))),
            Err(wx_kefu_inbound::Error::BadSignature)
        );
        assert_eq!(
            webhook.verify_url(&Query::parse(&good.replace("echostr=", "x="))),
            Err(wx_kefu_inbound::Error::MissingParam("echostr"))
        );
    }
}

#[test]
fn plain_replies_and_their_xml() {
    let user_message = received(&text_push("oUSER", "hi", 1, NOW));
    let transfer = Reply::transfer_customer_service()
        .to_xml(&user_message, NOW)
        .unwrap();
    let fields = xml::parse(&transfer).unwrap();
    assert_eq!(fields.get("ToUserName"), Some("oUSER"));
    assert_eq!(fields.get("FromUserName"), Some(ACCOUNT));
    assert_eq!(fields.get("MsgType"), Some("transfer_customer_service"));
    assert_eq!(fields.get("TransInfo/KfAccount"), None);
    let to_one = Reply::transfer_to("test1@gh_test")
        .to_xml(&user_message, NOW)
        .unwrap();
    assert_eq!(
        xml::parse(&to_one).unwrap().get("TransInfo/KfAccount"),
        Some("test1@gh_test")
    );
    // Text cannot break out of its CDATA.
    let sneaky = "]]><MsgType>news</MsgType><![CDATA[";
    let text = Reply::text(sneaky).to_xml(&user_message, NOW).unwrap();
    let fields = xml::parse(&text).unwrap();
    assert_eq!(fields.get("Content"), Some(sneaky));
    assert_eq!(fields.get("MsgType"), Some("text"));
    assert_eq!(Reply::success().to_xml(&user_message, NOW), None);
    // WeChat forwards user messages only: a transfer answered to an event is `success`.
    let event = received(&event_push(
        "oUSER",
        "kf_close_session",
        NOW,
        "<KfAccount>a@b</KfAccount>",
    ));
    assert_eq!(Reply::transfer_customer_service().to_xml(&event, NOW), None);
    let answer = plain_webhook()
        .handle(
            &Query::parse(&plain_query(NOW, "9")),
            event_push(
                "oUSER",
                "kf_close_session",
                NOW + 1,
                "<KfAccount>a@b</KfAccount>",
            )
            .as_bytes(),
            |_| Reply::transfer_customer_service(),
        )
        .unwrap();
    assert!(answer.is_success());
}

#[test]
fn the_query_is_percent_decoded() {
    let query = Query::parse(
        "?signature=ab%2Bcd&timestamp=1&nonce=a+b&openid=o%E4%BD%A0&encrypt_type=aes&x=%zz",
    );
    assert_eq!(query.signature.as_deref(), Some("ab+cd"));
    assert_eq!(query.nonce.as_deref(), Some("a b"));
    assert_eq!(query.openid.as_deref(), Some("o你"));
    assert_eq!(query.encrypt_type.as_deref(), Some("aes"));
    let twice = Query::parse("nonce=1&nonce=2");
    assert_eq!(twice.nonce.as_deref(), Some("1"));
    assert_eq!(Query::parse("%").signature, None);
}

#[test]
fn xml_values_entities_and_whitespace() {
    let fields = xml::parse(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<xml>\n  <!-- a comment -->\n  <A>a &amp; b &lt;c&gt; &#20320;&#x597D;</A>\n  <B>\n    <![CDATA[ kept ]]>\n  </B>\n  <C/>\n  <D><E>1</E><E>2</E></D>\n</xml>\n",
    )
    .unwrap();
    assert_eq!(fields.get("A"), Some("a & b <c> 你好"));
    assert_eq!(fields.get("B"), Some(" kept "));
    assert_eq!(fields.get("C"), Some(""));
    assert_eq!(fields.iter().filter(|(n, _)| *n == "D/E").count(), 2);
    // An element that opens a child is no field, whatever text it has around it; text
    // alone keeps its whitespace; the fields equal the same pairs given directly.
    let mixed = xml::parse("<xml><F>before<G>x</G>after</F><H>  </H><I>a&amp;b</I></xml>").unwrap();
    assert_eq!(mixed.get("F"), None);
    assert_eq!(mixed.get("F/G"), Some("x"));
    assert_eq!(mixed.get("H"), Some("  "));
    assert_eq!(
        mixed,
        Fields::from_pairs([("F/G", "x"), ("H", "  "), ("I", "a&b")])
    );
    assert_eq!(format!("{mixed:?}").matches("F/G").count(), 1);
    // The dedup cache's hash seed never shows.
    assert!(format!("{:?}", wx_kefu_inbound::Dedup::default()).contains("KeyedHash(***)"));
}

#[test]
fn a_remembered_push_is_forgotten_after_its_lifetime_on_the_webhooks_clock() {
    let now = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(NOW));
    let clock = std::sync::Arc::clone(&now);
    let webhook = Webhook::builder()
        .token(TOKEN)
        .plain_mode()
        .app_id(APPID)
        .clock(move || clock.load(std::sync::atomic::Ordering::Relaxed))
        .replay_window(Some(Duration::from_secs(30)))
        .dedup(16, Duration::from_secs(60))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let push = |at: i64| {
        webhook
            .handle(
                &Query::parse(&plain_query(at, "1")),
                text_push("oUSER", "hi", 7, NOW).as_bytes(),
                |_| {
                    calls.set(calls.get() + 1);
                    Reply::success()
                },
            )
            .unwrap();
    };
    push(NOW);
    now.store(NOW + 59, std::sync::atomic::Ordering::Relaxed);
    push(NOW + 59);
    assert_eq!(
        calls.get(),
        1,
        "a retry within the lifetime is answered from the cache"
    );
    now.store(NOW + 60, std::sync::atomic::Ordering::Relaxed);
    push(NOW + 60);
    assert_eq!(calls.get(), 1, "kept through its last second");
    now.store(NOW + 61, std::sync::atomic::Ordering::Relaxed);
    push(NOW + 61);
    assert_eq!(calls.get(), 2, "after 60 s the push is new again");
}

/// A platform's message webhook receives the pushes of many accounts, sealed alike: one
/// account's `MsgId` is never another's retry there, and a real retry is still one. On an
/// account's own webhook the same two pushes are one push and its retry.
#[test]
fn on_a_platforms_webhook_the_same_msgid_of_two_accounts_is_two_pushes() {
    let other = |body: &str| body.replace(ACCOUNT, "gh_other_account");
    let key = key_of(EAK);
    let platform = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .encoding_aes_key(EAK)
        .unwrap()
        .many_accounts()
        .clock(|| NOW)
        .build()
        .unwrap();
    let first = text_push("oUSER", "hi", 77, NOW);
    let second = other(&first);
    let (query_a, body_a) = safe_push(&key, APPID, &first, NOW, "1");
    let (query_b, body_b) = safe_push(&key, APPID, &second, NOW, "2");
    let seen = |webhook: &Webhook, query: &str, body: &str| match webhook
        .receive(&Query::parse(query), body.as_bytes())
        .unwrap()
    {
        Delivery::New(incoming) => {
            let account = incoming.push().to_user_name.clone();
            webhook.answer(incoming, &Reply::text("ok")).unwrap();
            format!("new {account}")
        }
        Delivery::Repeat { push, .. } => format!("repeat {}", push.to_user_name),
        other => panic!("{other:?}"),
    };
    assert_eq!(seen(&platform, &query_a, &body_a), format!("new {ACCOUNT}"));
    assert_eq!(seen(&platform, &query_b, &body_b), "new gh_other_account");
    assert_eq!(
        seen(&platform, &query_a, &body_a),
        format!("repeat {ACCOUNT}")
    );
    assert_eq!(
        seen(&platform, &query_b, &body_b),
        "repeat gh_other_account"
    );
    // One account's webhook: the second is taken for the first's retry.
    let single = safe_webhook();
    assert_eq!(seen(&single, &query_a, &body_a), format!("new {ACCOUNT}"));
    assert_eq!(seen(&single, &query_b, &body_b), "repeat gh_other_account");
}

#[test]
fn a_query_is_read_in_place_and_only_an_escaped_value_is_copied() {
    use std::borrow::Cow;
    // WeChat's queries have no escapes: each value is a slice of the raw query.
    let raw = "signature=0a1b&timestamp=1700000000&nonce=42&openid=oUser";
    let query = Query::parse(raw);
    for value in [
        &query.signature,
        &query.timestamp,
        &query.nonce,
        &query.openid,
    ] {
        assert!(matches!(value, Some(Cow::Borrowed(_))), "{value:?}");
    }
    assert_eq!(query.nonce.as_deref(), Some("42"));
    // An escaped value is decoded into a string of its own; the others stay borrowed.
    let query = Query::parse("nonce=4%202&timestamp=1");
    assert!(matches!(&query.nonce, Some(Cow::Owned(nonce)) if nonce == "4 2"));
    assert!(matches!(query.timestamp, Some(Cow::Borrowed("1"))));
}
