//! `wx-kefu session create|close|get|list|waiting`.

use crate::support::{API, Emu};

#[test]
fn a_session_is_created_shown_listed_and_closed() {
    let emu = Emu::start();
    emu.mock
        .add_online_agent("agent1@gh_test", "客服一号")
        .unwrap();
    emu.mock.user_message("o_user_1", "你好");
    emu.mock.enqueue_waiting("o_user_1").unwrap();
    emu.mock.enqueue_waiting("o_user_2").unwrap();

    let waiting = emu.run(&["--json", "session", "waiting"]).ok().json();
    assert_eq!(waiting["count"], 2);
    let queue = waiting["waitcaselist"].as_array().expect("waitcaselist");
    assert_eq!(queue[0]["openid"], "o_user_1");
    assert!(queue[0]["latest_time"].is_i64());

    let table = emu.run(&["session", "waiting"]);
    table.ok();
    assert!(table.stdout.starts_with("count  2\n"), "{table:?}");
    assert!(table.stdout.contains("latest_time"), "{table:?}");

    emu.run(&["session", "create", "agent1@gh_test", "o_user_1"])
        .ok();
    assert_eq!(emu.mock.sessions().len(), 1);

    let got = emu
        .run(&["--json", "session", "get", "o_user_1"])
        .ok()
        .json();
    assert_eq!(got["kf_account"], "agent1@gh_test");
    assert!(got["createtime"].is_i64());
    let shown = emu.run(&["session", "get", "o_user_1"]);
    assert!(
        shown.ok().stdout.contains("kf_account  agent1@gh_test"),
        "{shown:?}"
    );

    let list = emu
        .run(&["--json", "session", "list", "agent1@gh_test"])
        .ok()
        .json();
    let sessions = list["sessionlist"].as_array().expect("sessionlist");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["openid"], "o_user_1");

    emu.run(&["session", "close", "agent1@gh_test", "o_user_1"])
        .ok();
    assert!(emu.mock.sessions().is_empty());
    let again = emu.run(&["session", "close", "agent1@gh_test", "o_user_1"]);
    again.code(API);
    assert!(again.stderr.contains("errcode 65413"), "{again:?}");
}
