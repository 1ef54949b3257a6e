//! `wx-kefu token` and `--access-token`.

use crate::support::{API, Emu};

#[test]
fn the_token_is_shown_only_with_show() {
    let emu = Emu::start();
    let shown = emu.run(&["--json", "token", "--show"]).ok().json();
    let token = shown["access_token"]
        .as_str()
        .expect("the token")
        .to_owned();
    assert!(token.len() > 16);
    let expires_in = shown["expires_in"].as_i64().expect("expires_in");
    assert!((7000..=7200).contains(&expires_in), "{shown}");
    assert!(shown["expires_at"].as_str().unwrap().ends_with('Z'));

    // The stable token is the same while valid: a run without --show must not print it.
    let hidden = emu.run(&["token"]);
    hidden.ok();
    assert!(!hidden.stdout.contains(&token), "{hidden:?}");
    assert!(hidden.stdout.contains("expires_in"), "{hidden:?}");
    assert!(hidden.stdout.contains("expires_at"), "{hidden:?}");
    assert!(hidden.stdout.contains("--show prints it"), "{hidden:?}");
    let json = emu.run(&["token", "--json"]).ok().json();
    assert!(json.get("access_token").is_none(), "{json}");
    assert_eq!(json["appid"], emu.mock.appid());

    let table = emu.run(&["token", "--show"]);
    assert!(table.ok().stdout.contains(&token));

    let before = emu.mock.stable_token_fetches();
    let refreshed = emu
        .run(&["token", "--refresh", "--json", "--show"])
        .ok()
        .json();
    assert_ne!(refreshed["access_token"], token.as_str());
    assert_eq!(emu.mock.stable_token_fetches(), before + 1);
}

#[test]
fn an_external_token_is_used_without_appid_or_secret() {
    let emu = Emu::start();
    emu.mock.add_account("test1@gh_test", "客服").unwrap();
    let token = emu.mock.access_token();
    let mut command = emu.bare(&["--json", "account", "list"]);
    command
        .env("WX_BASE_URL", emu.mock.base_url())
        .env("WX_KEFU_CONFIG", emu.config_path())
        .env("WX_ACCESS_TOKEN", &token);
    let list = emu.output(command);
    assert_eq!(
        list.ok().json()["kf_list"][0]["kf_account"],
        "test1@gh_test"
    );
    assert_eq!(emu.mock.stable_token_fetches(), 0);

    let mut info = emu.bare(&["token", "--access-token", &token]);
    info.env("WX_KEFU_CONFIG", emu.config_path());
    let info = emu.output(info);
    info.ok();
    assert!(info.stdout.contains("unknown"), "{info:?}");
    assert!(!info.stdout.contains(&token), "{info:?}");

    emu.mock.invalidate_tokens();
    let mut stale = emu.bare(&["account", "list", "--access-token", &token]);
    stale
        .env("WX_BASE_URL", emu.mock.base_url())
        .env("WX_KEFU_CONFIG", emu.config_path());
    let stale = emu.output(stale);
    stale.code(API);
    assert!(stale.stderr.contains("errcode 40001"), "{stale:?}");
}
