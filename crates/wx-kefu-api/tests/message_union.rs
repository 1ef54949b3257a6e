//! The `msgtype` union: all 11 kinds serialise to WeChat's
//! `{"touser":…,"msgtype":"X","X":{…}}` inside [`SendCustomMessage`] and round-trip;
//! unknown kinds are refused with their name; the envelope's optional fields.

use serde_json::{Value, json};
use wx_kefu_api::*;

/// One message of every kind, with the payload WeChat expects under its key.
fn every_kind() -> Vec<(Message, Value)> {
    vec![
        (
            Text::new("您好 <a href=\"https://example.com\" data-miniprogram-appid=\"wxabc\" data-miniprogram-path=\"pages/index\">点击</a>").into(),
            json!({"content":"您好 <a href=\"https://example.com\" data-miniprogram-appid=\"wxabc\" data-miniprogram-path=\"pages/index\">点击</a>"}),
        ),
        (Image::new("MEDIA_ID").into(), json!({"media_id":"MEDIA_ID"})),
        (Voice::new("MEDIA_ID").into(), json!({"media_id":"MEDIA_ID"})),
        (
            Video::new("MEDIA_ID", "THUMB_MEDIA_ID")
                .title("TITLE")
                .description("DESCRIPTION")
                .into(),
            json!({"media_id":"MEDIA_ID","thumb_media_id":"THUMB_MEDIA_ID","title":"TITLE","description":"DESCRIPTION"}),
        ),
        (
            Music::new("MUSIC_URL", "HQ_MUSIC_URL", "THUMB_MEDIA_ID")
                .title("MUSIC_TITLE")
                .description("MUSIC_DESCRIPTION")
                .into(),
            json!({"title":"MUSIC_TITLE","description":"MUSIC_DESCRIPTION","musicurl":"MUSIC_URL","hqmusicurl":"HQ_MUSIC_URL","thumb_media_id":"THUMB_MEDIA_ID"}),
        ),
        (
            News::new(vec![Article::new().title("Happy Day").description("Is Really A Happy Day").url("https://example.com/a").picurl("https://example.com/a.jpg")])
            .into(),
            json!({"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"https://example.com/a","picurl":"https://example.com/a.jpg"}]}),
        ),
        (MpNews::new("MEDIA_ID").into(), json!({"media_id":"MEDIA_ID"})),
        (
            MpNewsArticle::new("ARTICLE_ID").into(),
            json!({"article_id":"ARTICLE_ID"}),
        ),
        (
            MsgMenu::new(vec![MenuItem::new("101", "满意"), MenuItem::new("102", "不满意")])
                .head_content("您对本次服务是否满意呢? ")
                .tail_content("欢迎再次光临")
                .into(),
            json!({"head_content":"您对本次服务是否满意呢? ","list":[{"id":"101","content":"满意"},{"id":"102","content":"不满意"}],"tail_content":"欢迎再次光临"}),
        ),
        (WxCard::new("CARD_ID").into(), json!({"card_id":"CARD_ID"})),
        (
            MiniProgramPage::new("title", "appid", "pagepath", "thumb_media_id").into(),
            json!({"title":"title","appid":"appid","pagepath":"pagepath","thumb_media_id":"thumb_media_id"}),
        ),
    ]
}

#[test]
fn the_union_has_the_eleven_documented_kinds() {
    assert_eq!(
        Message::TAGS,
        [
            "text",
            "image",
            "voice",
            "video",
            "music",
            "news",
            "mpnews",
            "mpnewsarticle",
            "msgmenu",
            "wxcard",
            "miniprogrampage",
        ]
    );
    let tags: Vec<_> = every_kind().iter().map(|(m, _)| m.tag()).collect();
    assert_eq!(tags, Message::TAGS);
}

#[test]
fn every_kind_serialises_under_a_key_named_after_its_tag() {
    for (message, payload) in every_kind() {
        let tag = message.tag();
        let request = SendCustomMessage::new("OPENID", message);
        let mut expected = serde_json::Map::new();
        expected.insert("touser".into(), json!("OPENID"));
        expected.insert("msgtype".into(), json!(tag));
        expected.insert(tag.into(), payload);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            Value::Object(expected),
            "msgtype {tag}"
        );
    }
}

#[test]
fn every_kind_round_trips_inside_the_envelope() {
    for (message, _) in every_kind() {
        let tag = message.tag();
        let request = SendCustomMessage::new("OPENID", message)
            .customservice(CustomService::new("test1@kftest"))
            .aimsgcontext(AiMsgContext::new(1));
        let text = serde_json::to_string(&request).unwrap();
        let back: SendCustomMessage = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("msgtype {tag} does not decode: {e}\n{text}"));
        assert_eq!(back, request, "msgtype {tag}");
        // Also through a Value, which is how a test server usually holds a body.
        let value = serde_json::to_value(&request).unwrap();
        let back: SendCustomMessage = serde_json::from_value(value).unwrap();
        assert_eq!(back, request, "msgtype {tag}");
    }
}

#[test]
fn every_kind_round_trips_on_its_own() {
    for (message, payload) in every_kind() {
        let tag = message.tag();
        let value = serde_json::to_value(&message).unwrap();
        assert_eq!(
            value,
            json!({"msgtype": tag, tag: payload}),
            "msgtype {tag}"
        );
        let back: Message = serde_json::from_value(value).unwrap();
        assert_eq!(back, message, "msgtype {tag}");
    }
}

#[test]
fn optional_payload_fields_are_omitted_and_round_trip() {
    let video = SendCustomMessage::new("OPENID", Video::new("MEDIA_ID", "THUMB"));
    let value = serde_json::to_value(&video).unwrap();
    assert_eq!(
        value,
        json!({"touser":"OPENID","msgtype":"video","video":{"media_id":"MEDIA_ID","thumb_media_id":"THUMB"}})
    );
    assert_eq!(
        serde_json::from_value::<SendCustomMessage>(value).unwrap(),
        video
    );

    let music = SendCustomMessage::new("OPENID", Music::new("U", "HQ", "THUMB"));
    let value = serde_json::to_value(&music).unwrap();
    assert_eq!(
        value,
        json!({"touser":"OPENID","msgtype":"music","music":{"musicurl":"U","hqmusicurl":"HQ","thumb_media_id":"THUMB"}})
    );
    assert_eq!(
        serde_json::from_value::<SendCustomMessage>(value).unwrap(),
        music
    );

    let menu = SendCustomMessage::new("OPENID", MsgMenu::new(vec![MenuItem::new("1", "yes")]));
    assert_eq!(
        serde_json::to_value(&menu).unwrap(),
        json!({"touser":"OPENID","msgtype":"msgmenu","msgmenu":{"list":[{"id":"1","content":"yes"}]}})
    );
}

#[test]
fn field_order_does_not_matter_when_decoding() {
    // The payload before its tag, the envelope fields in between.
    let text = r#"{"text":{"content":"hi"},"customservice":{"kf_account":"a@b"},"msgtype":"text","touser":"OPENID"}"#;
    let request: SendCustomMessage = serde_json::from_str(text).unwrap();
    assert_eq!(
        request,
        SendCustomMessage::new("OPENID", Text::new("hi")).customservice(CustomService::new("a@b"))
    );
}

#[test]
fn an_unknown_msgtype_is_refused_by_name() {
    let link = r#"{"touser":"OPENID","msgtype":"link","link":{"title":"t","description":"d","url":"u","thumb_url":"p"}}"#;
    let error = serde_json::from_str::<SendCustomMessage>(link)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`link`"), "{error}");
    let error = serde_json::from_str::<Message>(link)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`link`"), "{error}");
    // The error lists what is known.
    assert!(error.contains("`miniprogrampage`"), "{error}");
}

#[test]
fn a_missing_or_mistyped_payload_is_refused() {
    let error = serde_json::from_str::<Message>(r#"{"msgtype":"text"}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`text`"), "{error}");
    let error = serde_json::from_str::<Message>(r#"{"msgtype":"image","image":{"id":"x"}}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("media_id"), "{error}");
    let error = serde_json::from_str::<Message>(r#"{"text":{"content":"hi"}}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("msgtype"), "{error}");
    // The payload under another kind's key is not taken.
    let error = serde_json::from_str::<Message>(r#"{"msgtype":"voice","image":{"media_id":"x"}}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`voice`"), "{error}");
}

#[test]
fn aimsgcontext_is_emitted_only_when_set() {
    let plain = SendCustomMessage::new("OPENID", Text::new("hi"));
    let value = serde_json::to_value(&plain).unwrap();
    assert_eq!(value.get("aimsgcontext"), None, "{value}");
    assert_eq!(value.get("customservice"), None, "{value}");

    let ai = plain.clone().aimsgcontext(AiMsgContext::new(1));
    let value = serde_json::to_value(&ai).unwrap();
    assert_eq!(
        value,
        json!({"touser":"OPENID","msgtype":"text","text":{"content":"hi"},"aimsgcontext":{"is_ai_msg":1}})
    );
    assert_eq!(
        serde_json::from_value::<SendCustomMessage>(value)
            .unwrap()
            .aimsgcontext,
        Some(AiMsgContext::new(1))
    );

    let not_ai = plain.aimsgcontext(AiMsgContext::new(0));
    assert_eq!(
        serde_json::to_value(&not_ai).unwrap()["aimsgcontext"],
        json!({"is_ai_msg":0})
    );
}

#[test]
fn the_envelope_parts_are_one_json_body() {
    let request = SendCustomMessage::new("OPENID", WxCard::new("CARD_ID"))
        .customservice(CustomService::new("test1@kftest"))
        .aimsgcontext(AiMsgContext::new(1));
    let RequestParts { query, body } = request.parts();
    assert!(query.is_empty(), "{query:?}");
    let Body::Json(bytes) = body else {
        panic!("expected a JSON body, got {body:?}");
    };
    let sent: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        sent,
        json!({
            "touser":"OPENID",
            "msgtype":"wxcard",
            "wxcard":{"card_id":"CARD_ID"},
            "customservice":{"kf_account":"test1@kftest"},
            "aimsgcontext":{"is_ai_msg":1}
        })
    );
}
