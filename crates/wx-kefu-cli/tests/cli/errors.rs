//! Exit statuses and error output: usage (2), API (3), transport (4).

use wx_kefu_mock::Fault;

use crate::support::{API, Emu, TRANSPORT, USAGE};

#[test]
fn bad_input_is_refused_before_any_request() {
    let emu = Emu::start();
    let malformed = emu.run(&["account", "add", "no-at-sign", "客服"]);
    malformed.code(USAGE);
    assert!(
        malformed.stderr.contains("`kf_account` is malformed"),
        "{malformed:?}"
    );
    let long_nick = emu.run(&[
        "account",
        "add",
        "a@gh_test",
        "一二三四五六七八九十一二三四五六七",
    ]);
    long_nick.code(USAGE);
    assert!(
        long_nick.stderr.contains("at most 16 characters"),
        "{long_nick:?}"
    );

    let day = 86_400_i64;
    let start = 1_793_462_400_i64;
    let window = |hours: i64| {
        let end = (start + hours * 3600).to_string();
        emu.run(&["records", "list", &start.to_string(), &end, "1", "100"])
    };
    let too_long = window(25);
    too_long.code(USAGE);
    assert!(
        too_long.stderr.contains(&format!("between 0 and {day}")),
        "{too_long:?}"
    );
    let not_a_number = emu.run(&["records", "list", "yesterday", "1", "1", "1"]);
    not_a_number.code(USAGE);

    let json = emu.run(&["--json", "account", "add", "bad", "x"]);
    json.code(USAGE);
    let error = json.error_json();
    assert_eq!(error["error"]["kind"], "usage");
    assert_eq!(error["error"]["exit_code"], USAGE);
    assert!(json.stdout.is_empty());

    assert_eq!(emu.request_count(), 0, "{:?}", emu.mock.requests());

    // The same 24 hours exactly are fine.
    window(24).ok();
}

#[test]
fn api_errors_print_the_code_its_meaning_and_the_rid() {
    let emu = Emu::start();
    emu.mock.add_account("test1@gh_test", "客服").unwrap();
    let exists = emu.run(&["account", "add", "test1@gh_test", "客服"]);
    exists.code(API);
    let stderr = &exists.stderr;
    assert!(stderr.contains("errcode 65406"), "{stderr}");
    assert!(stderr.contains("zh:      已经存在的客服账号"), "{stderr}");
    assert!(
        stderr.contains("en:      The agent account exists."),
        "{stderr}"
    );
    assert!(stderr.contains("rid:     "), "{stderr}");
    assert!(exists.stdout.is_empty());

    let json = emu.run(&["--json", "account", "add", "test1@gh_test", "客服"]);
    json.code(API);
    let error = &json.error_json()["error"];
    assert_eq!(error["kind"], "api");
    assert_eq!(error["endpoint"], "add_kf_account");
    assert_eq!(error["errcode"], 65406);
    assert_eq!(error["zh"], "已经存在的客服账号");
    assert_eq!(error["en"], "The agent account exists.");
    let rid = error["rid"].as_str().expect("a rid");
    assert!(error["message"].as_str().unwrap().contains(rid));

    // A wrong secret: WeChat refuses the token (still an API error), and the secret given
    // is not printed either.
    let mut wrong = emu.command(&["account", "list"]);
    wrong.env("WX_SECRET", "0123456789abcdef0123456789abcdef");
    let refused = emu.output(wrong);
    refused.code(API);
    assert!(refused.stderr.contains("errcode 40125"), "{refused:?}");
    assert!(refused.stderr.contains("fix:"), "{refused:?}");
    assert!(!refused.stderr.contains("0123456789abcdef0123456789abcdef"));
}

#[test]
fn transport_errors_have_their_own_status() {
    let emu = Emu::start();
    emu.mock.user_message("o_user", "在吗");
    // A send whose connection drops is not retried (it may have been delivered).
    emu.mock
        .inject(Fault::drop_connection().on_path("/cgi-bin/message/custom/send"));
    let dropped = emu.run(&["message", "send", "text", "o_user", "-f", "content=hi"]);
    dropped.code(TRANSPORT);
    assert!(
        dropped.stderr.contains("send_custom_message"),
        "{dropped:?}"
    );

    // A read answered by a broken proxy: retried, then given up.
    emu.mock.inject(
        Fault::status_with_body(502, "<html>bad gateway</html>")
            .times(3)
            .on_path("/cgi-bin/customservice/getkflist"),
    );
    let gateway = emu.run(&["--json", "account", "list"]);
    gateway.code(TRANSPORT);
    let error = &gateway.error_json()["error"];
    assert_eq!(error["kind"], "transport");
    assert_eq!(error["http_status"], 502);

    // Nobody listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut nowhere = emu.command(&["account", "list"]);
    nowhere.env("WX_BASE_URL", format!("http://127.0.0.1:{closed}"));
    let refused = emu.output(nowhere);
    refused.code(TRANSPORT);
    assert!(refused.stderr.contains("could not connect"), "{refused:?}");
}

#[test]
fn missing_credentials_and_bad_options_are_usage_errors() {
    let emu = Emu::start();
    let mut bare = emu.bare(&["account", "list"]);
    bare.env("WX_BASE_URL", emu.mock.base_url())
        .env("WX_KEFU_CONFIG", emu.config_path());
    let none = emu.output(bare);
    none.code(USAGE);
    assert!(none.stderr.contains("no appid and secret"), "{none:?}");
    assert!(none.stderr.contains("WX_APPID"), "{none:?}");

    emu.run(&["account", "frobnicate"]).code(USAGE);
    emu.run(&["account", "add", "only-one-arg@gh"]).code(USAGE);
    emu.run(&["--tz", "Mars/Olympus", "account", "list"])
        .code(USAGE);
    let base = emu.run(&["--base-url", "ftp://example.com", "account", "list"]);
    base.code(USAGE);
    assert_eq!(emu.request_count(), 0);
}
