//! Sending: reply windows, counts, message types, chat records, typing.

use std::time::Duration;

use serde_json::{Value, json};
use wx_kefu_mock::{OPERCODE_AGENT_RECEIVED, OPERCODE_AGENT_SENT, UserEvent};

use crate::{CREATE, Harness, SEND, TYPING, assert_error, code};

fn text(openid: &str, content: &str) -> Value {
    json!({ "touser": openid, "msgtype": "text", "text": { "content": content } })
}

async fn send(h: &Harness, body: Value) -> Value {
    h.post(SEND, body).await
}

async fn typing(h: &Harness, openid: &str, command: &str) -> Value {
    h.post(TYPING, json!({ "touser": openid, "command": command }))
        .await
}

#[tokio::test]
async fn a_user_message_allows_five_replies_within_48_hours() {
    let mut h = Harness::new().await;
    assert_error(&send(&h, text("stranger", "hi")).await, 40003);
    h.mock.user_event("u1", UserEvent::Follow);
    h.mock.advance(Duration::from_secs(61));
    assert_error(&send(&h, text("u1", "hi")).await, 45015);
    h.mock.user_message("u1", "你好");
    for i in 0..5 {
        assert_eq!(code(&send(&h, text("u1", &format!("reply {i}"))).await), 0);
    }
    assert_error(&send(&h, text("u1", "one more")).await, 45047);
    // A new message opens a new window.
    h.mock.user_message("u1", "还在吗");
    assert_eq!(code(&send(&h, text("u1", "yes")).await), 0);
    h.advance(Duration::from_secs(48 * 3600 + 1));
    assert_error(&send(&h, text("u1", "too late")).await, 45015);
}

#[tokio::test]
async fn a_menu_click_follow_or_scan_allows_three_within_a_minute() {
    for event in [UserEvent::MenuClick, UserEvent::Follow, UserEvent::Scan] {
        let h = Harness::new().await;
        h.mock.user_event("u1", event);
        for _ in 0..3 {
            assert_eq!(code(&send(&h, text("u1", "hi")).await), 0, "{event:?}");
        }
        assert_error(&send(&h, text("u1", "hi")).await, 45047);
        h.mock.user_event("u1", event);
        h.mock.advance(Duration::from_secs(61));
        assert_error(&send(&h, text("u1", "hi")).await, 45015);
    }
}

#[tokio::test]
async fn a_payment_allows_any_number_and_unfollowing_none() {
    let h = Harness::new().await;
    h.mock.user_event("u1", UserEvent::Payment);
    for _ in 0..12 {
        assert_eq!(code(&send(&h, text("u1", "thanks")).await), 0);
    }
    h.mock.user_event("u1", UserEvent::Unfollow);
    assert_error(&send(&h, text("u1", "hi")).await, 43004);
    h.mock.user_event("u1", UserEvent::Follow);
    assert_eq!(code(&send(&h, text("u1", "welcome back")).await), 0);
}

#[tokio::test]
async fn a_link_card_holds_exactly_one_article() {
    let h = Harness::new().await;
    h.user("u1");
    let article = json!({ "title": "t", "description": "d", "url": "https://e.com", "picurl": "https://e.com/a.jpg" });
    let news = |articles: Vec<Value>| json!({ "touser": "u1", "msgtype": "news", "news": { "articles": articles } });
    assert_error(
        &send(&h, news(vec![article.clone(), article.clone()])).await,
        45008,
    );
    assert_error(&send(&h, news(vec![])).await, 45008);
    assert_eq!(code(&send(&h, news(vec![article])).await), 0);
}

#[tokio::test]
async fn message_types_and_envelopes() {
    let h = Harness::new().await;
    h.mock.user_event("u1", UserEvent::Payment);
    assert_error(
        &send(&h, json!({ "touser": "u1", "msgtype": "link", "link": {} })).await,
        45162,
    );
    assert_error(
        &send(&h, json!({ "touser": "u1", "msgtype": "fax", "fax": {} })).await,
        40008,
    );
    assert_error(
        &send(&h, json!({ "touser": "u1", "msgtype": "text" })).await,
        47001,
    );
    let mismatched = json!({ "touser": "u1", "msgtype": "text", "text": { "content": "a" }, "image": { "media_id": "m" } });
    assert_error(&send(&h, mismatched).await, 47001);
    // Empty is 44004 (empty content); 45002 is for too long.
    assert_error(&send(&h, text("u1", "")).await, 44004);
    assert_error(
        &send(&h, json!({ "msgtype": "text", "text": { "content": "a" } })).await,
        40003,
    );
    let ai = json!({ "touser": "u1", "msgtype": "text", "text": { "content": "a" }, "aimsgcontext": { "is_ai_msg": 2 } });
    assert_error(&send(&h, ai).await, 47001);
    let ai = json!({ "touser": "u1", "msgtype": "text", "text": { "content": "a" }, "aimsgcontext": { "is_ai_msg": 1 } });
    assert_eq!(code(&send(&h, ai).await), 0);
}

#[tokio::test]
async fn every_message_type_is_recorded_as_sent() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh", "n").unwrap();
    h.mock.user_event("u1", UserEvent::Payment);
    h.mock.user_message("u1", "我想问一下");
    // Every message that names a media names one the account holds.
    let jpeg = || vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];
    let media = h.mock.user_media("image", jpeg());
    let thumb = h.mock.user_media("thumb", jpeg());
    let (media, thumb) = (media.as_str(), thumb.as_str());
    let bodies = [
        ("text", json!({ "content": "您好" })),
        ("image", json!({ "media_id": media })),
        ("voice", json!({ "media_id": media })),
        (
            "video",
            json!({ "media_id": media, "thumb_media_id": thumb, "title": "t", "description": "d" }),
        ),
        (
            "music",
            json!({ "musicurl": "https://e.com/a.mp3", "hqmusicurl": "https://e.com/b.mp3", "thumb_media_id": thumb }),
        ),
        (
            "news",
            json!({ "articles": [{ "title": "t", "description": "d", "url": "u", "picurl": "p" }] }),
        ),
        ("mpnews", json!({ "media_id": media })),
        ("mpnewsarticle", json!({ "article_id": "ARTICLE_ID" })),
        (
            "msgmenu",
            json!({ "head_content": "满意吗", "list": [{ "id": "101", "content": "满意" }], "tail_content": "谢谢" }),
        ),
        ("wxcard", json!({ "card_id": "CARD_ID" })),
        (
            "miniprogrampage",
            json!({ "title": "t", "appid": "wxapp", "pagepath": "p", "thumb_media_id": thumb }),
        ),
    ];
    for (msgtype, payload) in &bodies {
        let mut body = json!({ "touser": "u1", "msgtype": msgtype, "customservice": { "kf_account": "test1@gh" } });
        body[*msgtype] = payload.clone();
        assert_eq!(code(&send(&h, body).await), 0, "{msgtype}");
    }
    let records = h.mock.records();
    assert_eq!(records.len(), 1 + bodies.len());
    assert_eq!(records[0].opercode, OPERCODE_AGENT_RECEIVED);
    assert_eq!(records[0].text, "我想问一下");
    assert!(
        records[1..]
            .iter()
            .all(|r| r.opercode == OPERCODE_AGENT_SENT && r.worker == "test1@gh")
    );
    let texts: Vec<&str> = records[1..].iter().map(|r| r.text.as_str()).collect();
    assert_eq!(&texts[..4], ["您好", "[image]", "[voice]", "[video]"]);
    assert!(records.windows(2).all(|w| w[0].msgid + 1 == w[1].msgid));

    assert_error(&send(&h, json!({ "touser": "u1", "msgtype": "text", "text": { "content": "a" }, "customservice": { "kf_account": "nobody@gh" } })).await, 65401);
}

#[tokio::test]
async fn the_worker_of_a_record_is_the_serving_agent() {
    let h = Harness::new().await;
    h.mock.add_online_agent("test1@gh", "n").unwrap();
    h.user("u1");
    h.post(CREATE, json!({ "kf_account": "test1@gh", "openid": "u1" }))
        .await;
    send(&h, text("u1", "hello")).await;
    h.mock.user_message("u1", "hi");
    let records = h.mock.records();
    assert_eq!(records[0].worker, "");
    assert_eq!(records[1].worker, "test1@gh");
    assert_eq!(records[2].worker, "test1@gh");
    assert_eq!(records[2].opercode, OPERCODE_AGENT_RECEIVED);
}

#[tokio::test]
async fn typing_needs_an_interaction_within_30_seconds_and_lasts_15() {
    let h = Harness::new().await;
    assert_error(&typing(&h, "stranger", "Typing").await, 40003);
    h.user("u1");
    assert_error(&typing(&h, "u1", "typing").await, 45072);
    assert_error(&typing(&h, "u1", "").await, 45072);
    assert_eq!(code(&typing(&h, "u1", "Typing").await), 0);
    assert!(h.mock.is_typing("u1"));
    assert_error(&typing(&h, "u1", "Typing").await, 45081);
    h.mock.advance(Duration::from_secs(16));
    assert!(!h.mock.is_typing("u1"));
    assert_eq!(code(&typing(&h, "u1", "Typing").await), 0);
    assert_eq!(code(&typing(&h, "u1", "CancelTyping").await), 0);
    assert!(!h.mock.is_typing("u1"));
    assert_eq!(code(&typing(&h, "u1", "Typing").await), 0);
    // A message cancels the typing state.
    assert_eq!(code(&send(&h, text("u1", "here")).await), 0);
    assert!(!h.mock.is_typing("u1"));
    h.mock.advance(Duration::from_secs(15));
    assert_error(&typing(&h, "u1", "Typing").await, 45080);
    h.mock.user_event("u1", UserEvent::MenuClick);
    assert_eq!(code(&typing(&h, "u1", "Typing").await), 0);
}

#[tokio::test]
async fn a_media_id_the_account_does_not_hold_is_refused_with_40007() {
    let h = Harness::new().await;
    h.mock.user_message("u1", "在吗");
    let image =
        |id: &str| json!({ "touser": "u1", "msgtype": "image", "image": { "media_id": id } });
    assert_error(&send(&h, image("NO_SUCH_MEDIA")).await, 40007);
    let video = |id: &str, thumb: &str| json!({ "touser": "u1", "msgtype": "video", "video": { "media_id": id, "thumb_media_id": thumb } });
    let held = h.mock.user_media("video", b"\0\0\0\x18ftypmp42".to_vec());
    assert_error(&send(&h, video(&held, "NO_SUCH_THUMB")).await, 40007);
    assert_eq!(code(&send(&h, video(&held, &held)).await), 0);
}
