//! `wx-kefu message send <type> …` and `wx-kefu message typing`.

use crate::support::{API, Emu, USAGE};

const SEND: &str = "/cgi-bin/message/custom/send";

#[test]
fn messages_are_sent_from_fields_or_a_payload() {
    let emu = Emu::start();
    emu.mock
        .add_online_agent("agent1@gh_test", "客服一号")
        .unwrap();
    emu.mock.user_message("o_user", "在吗");

    let sent = emu.run(&[
        "message",
        "send",
        "text",
        "o_user",
        "--field",
        "content=您好",
    ]);
    assert_eq!(sent.ok().stdout, "ok\n");
    let body = emu.mock.requests_to(SEND)[0].json().expect("a JSON body");
    assert_eq!(
        body,
        serde_json::json!({ "touser": "o_user", "msgtype": "text", "text": { "content": "您好" } })
    );

    let payload = r#"{"articles":[{"title":"标题","description":"d","url":"https://example.com","picurl":"https://example.com/p.jpg"}]}"#;
    let json = emu.run(&[
        "--json",
        "message",
        "send",
        "news",
        "o_user",
        "--payload",
        payload,
        "--customservice",
        r#"{"kf_account":"agent1@gh_test"}"#,
    ]);
    assert_eq!(json.ok().json(), serde_json::json!({ "ok": true }));
    let body = emu.mock.requests_to(SEND)[1].json().expect("a JSON body");
    assert_eq!(body["msgtype"], "news");
    assert_eq!(body["news"]["articles"][0]["title"], "标题");
    assert_eq!(body["customservice"]["kf_account"], "agent1@gh_test");

    let menu = emu.path("menu.json");
    std::fs::write(
        &menu,
        r#"{"head_content":"请选择","list":[{"id":"1","content":"满意"}]}"#,
    )
    .unwrap();
    emu.run(&[
        "message",
        "send",
        "msgmenu",
        "o_user",
        "--payload",
        &format!("@{}", menu.display()),
        "-f",
        "tail_content=谢谢",
    ])
    .ok();
    let body = emu.mock.requests_to(SEND)[2].json().expect("a JSON body");
    assert_eq!(body["msgmenu"]["list"][0]["content"], "满意");
    assert_eq!(body["msgmenu"]["tail_content"], "谢谢");

    let records: Vec<String> = emu.mock.records().into_iter().map(|r| r.text).collect();
    assert!(records.iter().any(|text| text == "您好"), "{records:?}");
}

#[test]
fn bad_messages_are_refused_before_any_request() {
    let emu = Emu::start();
    let unknown = emu.run(&["message", "send", "link", "o_user", "-f", "title=x"]);
    unknown.code(USAGE);
    assert!(
        unknown.stderr.contains("invalid value 'link'"),
        "{unknown:?}"
    );
    assert!(unknown.stderr.contains("miniprogrampage"), "{unknown:?}");

    let empty = emu.run(&["message", "send", "text", "o_user"]);
    empty.code(USAGE);
    assert!(empty.stderr.contains("content"), "{empty:?}");

    let blank = emu.run(&["message", "send", "text", "o_user", "-f", "content="]);
    blank.code(USAGE);

    let two = emu.run(&[
        "message",
        "send",
        "news",
        "o_user",
        "-f",
        r#"articles:=[{"title":"a","description":"","url":"u","picurl":"p"},{"title":"b","description":"","url":"u","picurl":"p"}]"#,
    ]);
    two.code(USAGE);
    assert!(two.stderr.contains("articles"), "{two:?}");

    let bad_field = emu.run(&["message", "send", "text", "o_user", "-f", "content"]);
    bad_field.code(USAGE);
    assert!(bad_field.stderr.contains("KEY=VALUE"), "{bad_field:?}");

    let bad_object = emu.run(&[
        "message",
        "send",
        "text",
        "o_user",
        "-f",
        "content=hi",
        "--customservice",
        "[1]",
    ]);
    bad_object.code(USAGE);
    assert!(
        bad_object
            .stderr
            .contains("--customservice must be a JSON object")
    );
    assert_eq!(emu.request_count(), 0, "{:?}", emu.mock.requests());
}

#[test]
fn typing_is_shown_and_outside_the_window_is_an_api_error() {
    let emu = Emu::start();
    emu.mock.user_message("o_user", "在吗");
    emu.run(&["message", "typing", "o_user", "Typing"]).ok();
    assert!(emu.mock.is_typing("o_user"));
    emu.run(&["message", "typing", "o_user", "CancelTyping"])
        .ok();
    assert!(!emu.mock.is_typing("o_user"));
    let bad = emu.run(&["message", "typing", "o_user", "typing"]);
    bad.code(USAGE);

    let stranger = emu.run(&[
        "--json",
        "message",
        "send",
        "text",
        "o_never",
        "-f",
        "content=hi",
    ]);
    stranger.code(API);
    let error = stranger.error_json();
    assert_eq!(error["error"]["kind"], "api");
    assert_eq!(error["error"]["exit_code"], API);
    assert!(error["error"]["errcode"].is_i64(), "{error}");
    assert!(error["error"]["rid"].is_string(), "{error}");
    assert!(stranger.stdout.is_empty());
}

#[test]
fn after_the_window_a_message_falls_back_to_one_template_and_templates_have_their_commands() {
    let emu = Emu::start();
    emu.mock
        .add_template("TPL_cli", "回复提醒", "{{keyword1.DATA}}");
    emu.mock.user_message("o_user", "在吗");
    let send = |text: &str| {
        emu.run(&[
            "--json",
            "message",
            "send",
            "text",
            "o_user",
            "--field",
            &format!("content={text}"),
            "--fallback-template",
            "TPL_cli",
            "--fallback-data",
            "keyword1=客服回复了您",
            "--fallback-url",
            "https://example.com/chat",
            "--idempotency-key",
            "ticket-7",
        ])
    };
    // Inside the window: the message itself.
    assert_eq!(
        send("您好").ok().json(),
        serde_json::json!({ "delivered": "customer_service" })
    );
    // Two days later the window has closed: the template, once however often it is run.
    emu.mock.advance(std::time::Duration::from_secs(49 * 3600));
    let first = send("已发货").ok().json();
    assert_eq!(first["delivered"], "template", "{first}");
    let again = send("已发货").ok().json();
    assert_eq!(first, again, "the same key: the same msgid");
    assert_eq!(emu.mock.notices_sent(), (1, 0));
    let body = emu.mock.requests_to("/cgi-bin/message/template/send")[0]
        .json()
        .expect("a JSON body");
    assert_eq!(body["client_msg_id"], "ticket-7");
    assert_eq!(body["data"]["keyword1"]["value"], "客服回复了您");
    assert_eq!(body["url"], "https://example.com/chat");

    // Without a fallback, the closed window is the typed error.
    let refused = emu.run(&["message", "send", "text", "o_user", "-f", "content=hi"]);
    assert!(refused.stderr.contains("45015"), "{}", refused.stderr);

    // The template commands.
    let list = emu.run(&["--json", "template", "list"]).ok().json();
    assert_eq!(list["template_list"][0]["template_id"], "TPL_cli");
    emu.mock.grant_subscription("o_user", "TPL_cli", 1);
    let sent = emu.run(&[
        "subscribe",
        "send",
        "o_user",
        "TPL_cli",
        "--data",
        r#"{"thing1":{"value":"工单有新回复"}}"#,
    ]);
    assert_eq!(sent.ok().stdout, "ok\n");
    let used_up = emu.run(&[
        "subscribe",
        "send",
        "o_user",
        "TPL_cli",
        "--data",
        r#"{"thing1":{"value":"工单有新回复"}}"#,
    ]);
    assert!(used_up.stderr.contains("43101"), "{}", used_up.stderr);
    // A value breaking its key's rule never leaves the process.
    let before = emu.request_count();
    let invalid = emu.run(&[
        "subscribe",
        "send",
        "o_user",
        "TPL_cli",
        "--data",
        r#"{"phrase1":{"value":"not chinese"}}"#,
    ]);
    assert!(
        invalid.stderr.contains("data.phrase1.value"),
        "{}",
        invalid.stderr
    );
    assert_eq!(emu.request_count(), before);
}
