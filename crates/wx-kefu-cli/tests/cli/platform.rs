//! `--authorizer APPID` and `wx-kefu platform …`: the binary acts through a third-party
//! platform on the Redis the platform's service uses (here: this test, seeding it), so it
//! shares the ticket, the refresh tokens and the tokens instead of fetching its own.
//!
//! Skipped (and passing) without `redis-server` on PATH, unless `WX_KEFU_REQUIRE_REDIS=1`.

use std::process::Command;

use wx_kefu_api::platform::Platform;
use wx_kefu_api::*;
use wx_kefu_mock::PlatformConfig;
use wx_kefu_test_support::RedisServer;

use crate::support::{Emu, USAGE};

const COMPONENT: &str = "wxclic0mp0nent001";
const SECRET: &str = "cli-component-secret";
const ACCOUNT: &str = "wxc1iaccount00001";

/// A platform on `redis` with the emulator's ticket and `ACCOUNT` authorized (grants 1, 6):
/// what the platform's service would have stored. Returns the account's agent.
fn seed(emu: &Emu, redis: &RedisServer) -> String {
    emu.mock.set_platform(PlatformConfig::new(
        COMPONENT,
        SECRET,
        "token",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    ));
    emu.block_on(async {
        emu.mock.push_ticket().await.unwrap();
        let ticket = emu.mock.latest_ticket().unwrap();
        let connection = wx_kefu_api::redis::Client::open(redis.url().as_str())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap();
        let store = RedisAuthorizations::new(connection.clone(), None, COMPONENT).unwrap();
        store
            .put_ticket(&Ticket {
                value: Credential::new(ticket),
                issued_at: emu.mock.now(),
            })
            .await
            .unwrap();
        let platform = Platform::builder()
            .component_app_id(COMPONENT)
            .component_secret(SECRET)
            .base_url(emu.mock.base_url())
            .authorization_store(store)
            .token_cache(RedisPlatformTokens::new(connection, None, COMPONENT).unwrap())
            .build()
            .unwrap();
        let code = emu.mock.authorize(ACCOUNT, &[1, 6]).await.unwrap();
        platform.authorized(&code, emu.mock.now()).await.unwrap();
    });
    let account = emu.mock.authorizer(ACCOUNT).unwrap();
    let agent = format!("agent@{}", account.wechat_id().unwrap());
    account.add_online_agent(&agent, "客服").unwrap();
    agent
}

fn platform_command(emu: &Emu, redis: &RedisServer, args: &[&str]) -> Command {
    let mut command = emu.bare(args);
    command
        .env("WX_BASE_URL", emu.mock.base_url())
        .env("WX_KEFU_CONFIG", emu.config_path())
        .env("WX_COMPONENT_APPID", COMPONENT)
        .env("WX_COMPONENT_SECRET", SECRET)
        .env("WX_PLATFORM_REDIS", redis.url());
    command
}

#[test]
fn a_command_acts_as_an_authorizer_through_the_platform() {
    let Some(redis) = RedisServer::start("the CLI's platform test") else {
        return;
    };
    let emu = Emu::start();
    let agent = seed(&emu, &redis);
    let tokens_before = emu
        .mock
        .requests_to("/cgi-bin/component/api_authorizer_token")
        .len();
    let list = emu.output(platform_command(
        &emu,
        &redis,
        &["--authorizer", ACCOUNT, "--json", "account", "list"],
    ));
    let doc = list.ok().json();
    assert_eq!(doc["kf_list"][0]["kf_account"], agent.as_str(), "{list:?}");
    // The account's own list, not the emulator's own account's.
    assert!(emu.mock.accounts().is_empty());
    // One token fetch for the account (the exchange's own token was dropped when the
    // authorization was applied), kept in Redis for the next run.
    let fetched = emu
        .mock
        .requests_to("/cgi-bin/component/api_authorizer_token")
        .len()
        - tokens_before;
    assert_eq!(fetched, 1);
    let again = emu.output(platform_command(
        &emu,
        &redis,
        &["--authorizer", ACCOUNT, "--json", "account", "list"],
    ));
    again.ok();
    assert_eq!(
        emu.mock
            .requests_to("/cgi-bin/component/api_authorizer_token")
            .len()
            - tokens_before,
        fetched,
        "a second run reads the shared token"
    );

    let listed = emu.output(platform_command(
        &emu,
        &redis,
        &["--json", "platform", "authorizers"],
    ));
    let doc = listed.ok().json();
    assert_eq!(doc["total_count"], 1, "{listed:?}");
    assert_eq!(doc["authorizers"][0]["authorizer_appid"], ACCOUNT);
    assert_eq!(
        doc["authorizers"][0]["permission_sets"],
        serde_json::json!([1, 6])
    );
    for secret in [SECRET, "refreshtoken@@@", "ticket@@@"] {
        assert!(
            !listed.stdout.contains(secret) && !listed.stderr.contains(secret),
            "{listed:?}"
        );
    }
}

#[test]
fn without_the_platforms_credentials_the_command_says_what_to_set() {
    let emu = Emu::start();
    let run = emu.output({
        let mut command = emu.bare(&["--authorizer", ACCOUNT, "account", "list"]);
        command.env("WX_KEFU_CONFIG", emu.config_path());
        command
    });
    run.code(USAGE);
    assert!(run.stderr.contains("no third-party platform"), "{run:?}");
    assert!(run.stderr.contains("WX_COMPONENT_APPID"), "{run:?}");
}
