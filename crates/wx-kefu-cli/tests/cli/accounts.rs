//! `wx-kefu account add|update|delete|invite|avatar|list|online`.

use crate::support::{API, Emu, USAGE, jpeg};

#[test]
fn accounts_are_added_listed_updated_and_deleted() {
    let emu = Emu::start();
    let add = emu.run(&["account", "add", "test1@gh_test", "客服一号"]);
    add.ok();
    assert_eq!(add.stdout, "ok\n");
    assert_eq!(
        emu.mock.account("test1@gh_test").unwrap().nickname,
        "客服一号"
    );

    let json = emu.run(&["--json", "account", "add", "test2@gh_test", "客服二号"]);
    assert_eq!(json.ok().json(), serde_json::json!({ "ok": true }));

    let list = emu.run(&["account", "list"]);
    list.ok();
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines[0].starts_with("kf_account"), "{list:?}");
    assert!(lines[0].contains("kf_nick"), "{list:?}");
    assert!(lines[1].starts_with("test1@gh_test") && lines[1].contains("客服一号"));
    assert!(lines[2].starts_with("test2@gh_test") && lines[2].contains("客服二号"));

    let list = emu.run(&["account", "list", "--json"]);
    let doc = list.ok().json();
    let accounts = doc["kf_list"].as_array().expect("kf_list is an array");
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["kf_account"], "test1@gh_test");
    assert_eq!(accounts[0]["kf_nick"], "客服一号");
    assert!(accounts[0]["kf_id"].is_string() || accounts[0]["kf_id"].is_number());

    emu.run(&["account", "update", "test1@gh_test", "新昵称"])
        .ok();
    assert_eq!(
        emu.mock.account("test1@gh_test").unwrap().nickname,
        "新昵称"
    );

    emu.run(&["account", "delete", "test2@gh_test"]).ok();
    assert!(emu.mock.account("test2@gh_test").is_none());
    let gone = emu.run(&["account", "delete", "test2@gh_test"]);
    gone.code(API);
    assert!(gone.stderr.contains("errcode 65401"), "{gone:?}");
}

#[test]
fn a_worker_is_invited_and_online_agents_are_listed() {
    let emu = Emu::start();
    emu.mock.add_account("test1@gh_test", "客服一号").unwrap();
    emu.run(&["account", "invite", "test1@gh_test", "worker_wx"])
        .ok();
    let invitation = emu.mock.account("test1@gh_test").unwrap().invitation;
    assert_eq!(invitation.expect("an invitation").invite_wx, "worker_wx");

    let none = emu.run(&["account", "online"]);
    none.ok();
    assert_eq!(none.stdout, "(kf_online_list: none)\n");

    emu.mock
        .add_online_agent("agent1@gh_test", "在线客服")
        .unwrap();
    let online = emu.run(&["--json", "account", "online"]).ok().json();
    let agents = online["kf_online_list"].as_array().expect("kf_online_list");
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["kf_account"], "agent1@gh_test");
    assert_eq!(agents[0]["status"], 1);
}

#[test]
fn an_avatar_is_uploaded_and_an_oversized_one_refused_before_any_request() {
    let emu = Emu::start();
    emu.mock.add_account("test1@gh_test", "客服一号").unwrap();
    let small = emu.path("avatar.jpg");
    jpeg(&small, 20_000);
    emu.run(&[
        "account",
        "avatar",
        "test1@gh_test",
        small.to_str().unwrap(),
    ])
    .ok();
    let account = emu.mock.account("test1@gh_test").unwrap();
    assert_eq!(account.avatar_bytes, Some(20_000));
    assert!(account.headimgurl.is_some());

    emu.mock.clear_requests();
    let big = emu.path("big.jpg");
    jpeg(&big, 6 * 1024 * 1024);
    let refused = emu.run(&["account", "avatar", "test1@gh_test", big.to_str().unwrap()]);
    refused.code(USAGE);
    assert!(
        refused.stderr.contains("6291456 bytes") && refused.stderr.contains("at most 5242880"),
        "{refused:?}"
    );
    let missing = emu.run(&["account", "avatar", "test1@gh_test", "/nonexistent/a.jpg"]);
    missing.code(USAGE);
    assert!(
        missing.stderr.contains("cannot read /nonexistent/a.jpg"),
        "{missing:?}"
    );
    let png = emu.path("avatar.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n0000000000").unwrap();
    let not_jpeg = emu.run(&["account", "avatar", "test1@gh_test", png.to_str().unwrap()]);
    not_jpeg.code(USAGE);
    assert!(not_jpeg.stderr.contains("not a JPEG file"), "{not_jpeg:?}");
    assert_eq!(emu.request_count(), 0, "{:?}", emu.mock.requests());
}
