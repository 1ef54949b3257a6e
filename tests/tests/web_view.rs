//! The emulator's web view in a real browser: headless Chromium (Debian's `chromium`,
//! driven through `chromedriver` over WebDriver) against the page of an emulator whose
//! webhook is the SDK's own inbound side.
//!
//! A user writes "你好" in the page → the account's server hands them to the agents → the
//! waiting queue shows them → the SDK creates a session and sends a text, an image and a
//! menu → the bubbles appear in the user's conversation without a reload → a menu item
//! tapped in the page comes back to the server as WeChat's menu-click message → a fault
//! injected from the page fails the SDK's next call with its errcode. The page is saved
//! as `target/web-view/web-view.png` for a person to look at.
//!
//! Without `chromium` and `chromedriver` the test says it was skipped; with
//! `WX_KEFU_REQUIRE_BROWSER=1` (CI sets it) their absence fails it.

use wx_kefu_tests as common;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, account_server};
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use wx_kefu_api::inbound::{Reply, UserMessage};
use wx_kefu_api::*;
use wx_kefu_mock::WebhookConfig;

const USER: &str = "o_web_user";
const ALICE: &str = "alice@gh_web";
const SEND: &str = "/cgi-bin/message/custom/send";
/// A behaviour test, not a timing one: generous bounds for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// Where Debian puts them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `chromedriver` on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads a process group of its own, with the browsers it started:
        // end them all, also when the test failed before closing its session.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver, or says why the test cannot run.
fn driver() -> Result<Driver, String> {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !std::path::Path::new(tool).exists() {
            return Err(format!(
                "{tool} is not installed (apt-get install chromium chromium-driver)"
            ));
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromedriver: {e}"))?;
    let driver = Driver { child, port };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > PATIENCE {
            return Err("chromedriver did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(driver)
}

/// chromedriver, or `None` when it is missing and may be (the test then says it was
/// skipped); with `WX_KEFU_REQUIRE_BROWSER` set, its absence fails the test.
fn driver_or_skip() -> Option<Driver> {
    match driver() {
        Ok(driver) => Some(driver),
        Err(why) if std::env::var_os("WX_KEFU_REQUIRE_BROWSER").is_none() => {
            eprintln!("skipped: {why}");
            None
        }
        Err(why) => panic!("WX_KEFU_REQUIRE_BROWSER is set, but {why}"),
    }
}

async fn browser(driver: &Driver) -> Browser {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--lang=zh-CN",
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS configuration (unused: chromedriver is on loopback)")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// Waits until `ready` holds, or fails saying what did not happen.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut ready: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !ready().await {
        assert!(started.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn exists(browser: &Browser, css: &str) -> bool {
    browser
        .find_all(Locator::Css(css))
        .await
        .is_ok_and(|found| !found.is_empty())
}

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("web-view").join("web-view.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_plays_in_the_page_and_the_sdk_answers_live() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let env = Env::start_web().await;
    // The account's server hands every text to the agents.
    let (url, seen) = account_server(&env, "web-token", |push| match push.message() {
        Some(UserMessage::Text(_)) => Reply::transfer_customer_service(),
        _ => Reply::success(),
    })
    .await;
    env.mock
        .set_webhook(WebhookConfig::plain(&url, "web-token"));
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    let page = format!("{}/_mock/", env.mock.base_url());
    let browser = browser(&driver).await;
    browser.goto(&page).await.unwrap();
    eventually("the page connects to its event stream", || async {
        browser
            .find(Locator::Css("[data-testid=live]"))
            .await
            .unwrap()
            .text()
            .await
            .is_ok_and(|text| text.contains("live"))
    })
    .await;

    // The user writes "你好" in the page; the server hands them to the agents.
    let openid = browser
        .find(Locator::Css("[data-testid=user-openid]"))
        .await
        .unwrap();
    openid.send_keys(USER).await.unwrap();
    browser
        .find(Locator::Css("[data-testid=user-open]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let compose = browser
        .find(Locator::Css("[data-testid=compose-text]"))
        .await
        .unwrap();
    compose.send_keys("你好").await.unwrap();
    browser
        .find(Locator::Css("[data-testid=compose-send]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let queued = format!("[data-testid=waiting] li[data-openid='{USER}']");
    eventually("the waiting queue shows the user", || {
        exists(&browser, &queued)
    })
    .await;
    assert_eq!(env.mock.waiting()[0].openid, USER);

    // The SDK takes the user and answers with a text, an image and a menu.
    env.client.create_kf_session(ALICE, USER).await.unwrap();
    let picture = include_bytes!("fixtures/picture.png").to_vec();
    let image = env
        .client
        .upload_temp_media(MediaType::Image, Upload::bytes(picture, "picture.png"))
        .await
        .unwrap();
    let messages: Vec<Message> = vec![
        Text::new("您好，我是客服 Alice，请看截图：").into(),
        Image::new(&image.media_id).into(),
        MsgMenu::new(vec![
            MenuItem::new("101", "满意 Satisfied"),
            MenuItem::new("102", "不满意 Not satisfied"),
        ])
        .head_content("您对本次服务满意吗？")
        .tail_content("感谢您的反馈")
        .into(),
    ];
    for message in messages {
        env.client
            .send_custom_message(
                SendCustomMessage::new(USER, message).customservice(CustomService::new(ALICE)),
            )
            .await
            .unwrap();
    }
    eventually("the text bubble appears without a reload", || async {
        match browser
            .find(Locator::Css(
                ".bubble[data-from=agent][data-kind=text] .text",
            ))
            .await
        {
            Ok(bubble) => bubble
                .text()
                .await
                .is_ok_and(|t| t.contains("我是客服 Alice")),
            Err(_) => false,
        }
    })
    .await;
    eventually("the image bubble shows the uploaded picture", || {
        exists(&browser, ".bubble[data-from=agent][data-kind=image] img")
    })
    .await;
    let loaded = browser
        .execute(
            "const img = document.querySelector('.bubble[data-kind=image] img'); return img.complete && img.naturalWidth;",
            vec![],
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut loaded = loaded;
    while loaded.as_u64() != Some(120) && started.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
        loaded = browser
            .execute("const img = document.querySelector('.bubble[data-kind=image] img'); return img.complete && img.naturalWidth;", vec![])
            .await
            .unwrap();
    }
    assert_eq!(
        loaded.as_u64(),
        Some(120),
        "the picture renders (120 px wide)"
    );
    eventually("the menu shows its items", || {
        exists(
            &browser,
            ".bubble[data-kind=msgmenu] button[data-menu-id='101']",
        )
    })
    .await;

    // A tap on a menu item comes back to the server as WeChat's menu-click message.
    browser
        .find(Locator::Css(
            ".bubble[data-kind=msgmenu] button[data-menu-id='101']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the server hears the tap", || async {
        seen.lock().unwrap().iter().any(|push| {
            matches!(push.message(), Some(UserMessage::Text(text))
                if text.bizmsgmenuid.as_deref() == Some("101") && text.content == "满意 Satisfied")
        })
    })
    .await;
    // A template message and a subscribe notification show as cards, as on a phone.
    env.mock
        .add_template("TPL_web", "回复提醒", "{{keyword1.DATA}}");
    env.mock.grant_subscription(USER, "TPL_web", 1);
    let field = |key: &str, value: &str| {
        std::collections::BTreeMap::from([(key.to_owned(), TemplateValue::new(value))])
    };
    env.client
        .send_template_message(
            SendTemplateMessage::new(USER, "TPL_web", field("keyword1", "客服回复了您的问题"))
                .url("https://example.com/chat"),
        )
        .await
        .unwrap();
    env.client
        .send_subscribe_message(SendSubscribeMessage::new(
            USER,
            "TPL_web",
            std::collections::BTreeMap::from([(
                "thing1".to_owned(),
                SubscribeValue::new("您的工单有新回复"),
            )]),
        ))
        .await
        .unwrap();
    for (kind, text) in [
        ("template", "keyword1: 客服回复了您的问题"),
        ("subscribe", "thing1: 您的工单有新回复"),
    ] {
        let css = format!(".bubble[data-kind={kind}] [data-testid={kind}]");
        eventually(&format!("the {kind} card appears"), || async {
            match browser.find(Locator::Css(&css)).await {
                Ok(card) => card
                    .text()
                    .await
                    .is_ok_and(|t| t.contains(text) && t.contains("回复提醒")),
                Err(_) => false,
            }
        })
        .await;
    }
    let screenshot = browser.screenshot().await.unwrap();
    let path = screenshot_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &screenshot).unwrap();
    eprintln!(
        "web view screenshot: {} ({} bytes)",
        path.display(),
        screenshot.len()
    );

    // A fault injected from the page fails the SDK's next call with its errcode.
    let field = browser
        .find(Locator::Css("[data-testid=fault-path]"))
        .await
        .unwrap();
    field.send_keys(SEND).await.unwrap();
    let value = browser
        .find(Locator::Css("[data-testid=fault-value]"))
        .await
        .unwrap();
    value.clear().await.unwrap();
    value.send_keys("45047").await.unwrap();
    browser
        .find(Locator::Css("[data-testid=fault-inject]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the fault is pending", || async {
        !env.mock.pending_faults().is_empty()
    })
    .await;
    let refused = env
        .client
        .send_custom_message(SendCustomMessage::new(USER, Text::new("还有问题吗？")))
        .await;
    env.api_err(refused, ErrCode::from_code(45047));
    let refused_row = format!("[data-testid=log] tr[data-path='{SEND}'][data-errcode='45047']");
    eventually("the wire shows the refused send", || {
        exists(&browser, &refused_row)
    })
    .await;

    // Nothing the page shows carries the secret or the token.
    let source = browser.source().await.unwrap();
    let token = env.client.access_token().await.unwrap();
    assert!(
        !source.contains(env.mock.secret()),
        "the secret is on the page"
    );
    assert!(!source.contains(token.expose()), "the token is on the page");
    browser.close().await.unwrap();
    env.finish().await;
}

/// Issue 21: a page on another localhost origin (another port, and `localhost` for
/// `127.0.0.1`) tries every request a browser sends without asking (no-cors `text/plain`
/// posts, bodyless posts) and one it must ask for (JSON): none changes the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_localhost_origin_cannot_change_the_emulator() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let mock = wx_kefu_mock::MockServer::builder()
        .web_view(true)
        .start()
        .await
        .unwrap();
    const VICTIM: &str = "o_victim";
    mock.user_message(VICTIM, "在吗");
    let before = mock.snapshot();
    let target = format!("{}/_mock/api", mock.base_url());
    let attack = format!(
        r#"<!doctype html><meta charset="utf-8"><title>attacking</title><script>
const t = "{target}";
const simple = (path, body) => fetch(t + path, {{ method: "POST", mode: "no-cors",
  headers: {{ "Content-Type": "text/plain" }}, body }});
(async () => {{
  const tries = [
    simple("/users/{VICTIM}/images", "GIF89a\u0001\u0000\u0001\u0000"),
    fetch(t + "/users/{VICTIM}/wait", {{ method: "POST", mode: "no-cors" }}),
    fetch(t + "/sessions/{VICTIM}/end", {{ method: "POST", mode: "no-cors" }}),
    simple("/clock", JSON.stringify({{ advance_seconds: 86400 }})),
    simple("/webhook", JSON.stringify({{ url: "http://127.0.0.1:9/x", token: "t" }})),
    simple("/users/{VICTIM}/messages", JSON.stringify({{ text: "pwned" }})),
    fetch(t + "/faults", {{ method: "POST", headers: {{ "Content-Type": "application/json" }},
      body: JSON.stringify({{ errcode: 45047 }}) }}),
  ];
  const settled = await Promise.allSettled(tries);
  document.title = "done " + settled.map((r) => r.status).join(",");
}})();
</script>"#
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let attack = attack.clone();
            async move { axum::response::Html(attack) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!(
        "http://localhost:{}/",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let browser = browser(&driver).await;
    browser.goto(&elsewhere).await.unwrap();
    eventually("the attacking page ran all its requests", || async {
        browser
            .title()
            .await
            .is_ok_and(|title| title.starts_with("done"))
    })
    .await;
    let title = browser.title().await.unwrap();
    browser.close().await.unwrap();

    let after = mock.snapshot();
    for key in ["webhook", "faults", "media", "waiting", "sessions", "users"] {
        assert_eq!(after[key], before[key], "`{key}` changed ({title})");
    }
    // The clock moves with the wall clock, never by the day the page asked for.
    let moved = after["now"].as_i64().unwrap() - before["now"].as_i64().unwrap();
    assert!(moved < 600, "the clock moved {moved} s ({title})");
    assert!(mock.pending_faults().is_empty());
}

/// The emulator plays a third-party platform: the page's switcher drives an authorizer's
/// own account (its users, its agents), the platform panel authorizes and revokes, and no
/// ticket, code, refresh token or secret reaches the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_switches_between_the_platforms_accounts() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let env = Env::start_web().await;
    let secret = "web-component-secret";
    env.mock.set_platform(wx_kefu_mock::PlatformConfig::new(
        "wxwebcomponent001",
        secret,
        "web-token",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    ));
    env.mock
        .authorize("wxwebmerchant0001", &[1, 6])
        .await
        .unwrap();
    let merchant = env.mock.authorizer("wxwebmerchant0001").unwrap();
    merchant.user_message("o_merchant_user", "商户的用户");
    env.mock.user_message("o_own_user", "自己的用户");
    let page = format!("{}/_mock/", env.mock.base_url());
    let browser = browser(&driver).await;
    browser.goto(&page).await.unwrap();
    eventually("the platform's panel lists the authorizer", || {
        exists(
            &browser,
            "[data-testid=authorizers] li[data-appid='wxwebmerchant0001']",
        )
    })
    .await;
    // The emulator's own account first: its user, not the merchant's.
    eventually("the own account's user", || {
        exists(&browser, "[data-testid=users] li[data-openid='o_own_user']")
    })
    .await;
    assert!(
        !exists(
            &browser,
            "[data-testid=users] li[data-openid='o_merchant_user']"
        )
        .await
    );
    // Switch to the merchant: its user, not the own account's. (The options are redrawn
    // with each change: one found just before a redraw is clicked again.)
    eventually("the merchant chosen in the switcher", || async {
        match browser
            .find(Locator::Css(
                "[data-testid=account] option[value='wxwebmerchant0001']",
            ))
            .await
        {
            Ok(option) => option.click().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    eventually("the merchant's user", || {
        exists(
            &browser,
            "[data-testid=users] li[data-openid='o_merchant_user']",
        )
    })
    .await;
    assert!(!exists(&browser, "[data-testid=users] li[data-openid='o_own_user']").await);
    // A second merchant authorizes from the page, with set 1 only.
    let appid = browser
        .find(Locator::Css("[data-testid=grant-appid]"))
        .await
        .unwrap();
    appid.send_keys("wxwebmerchant0002").await.unwrap();
    let sets = browser
        .find(Locator::Css("[data-testid=grant-sets]"))
        .await
        .unwrap();
    sets.clear().await.unwrap();
    sets.send_keys("1").await.unwrap();
    browser
        .find(Locator::Css("[data-testid=grant]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the second merchant authorized", || async {
        env.mock
            .authorizers()
            .iter()
            .any(|a| a.appid == "wxwebmerchant0002" && a.func_info == [1] && a.authorized)
    })
    .await;
    eventually("the page lists the second merchant", || {
        exists(
            &browser,
            "[data-testid=authorizers] li[data-appid='wxwebmerchant0002']",
        )
    })
    .await;
    // And the first revokes from the page (the list is redrawn as the emulator changes: a
    // button found just before a redraw is clicked again).
    eventually("the revoke button clicked", || async {
        match browser
            .find(Locator::Css(
                "[data-testid=authorizers] li[data-appid='wxwebmerchant0001'] [data-testid=revoke]",
            ))
            .await
        {
            Ok(button) => button.click().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    eventually("the first merchant revoked", || async {
        env.mock
            .authorizers()
            .iter()
            .any(|a| a.appid == "wxwebmerchant0001" && !a.authorized)
    })
    .await;
    let source = browser.source().await.unwrap();
    let state = reqwest::get(format!("{}/_mock/api/state", env.mock.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [&source, &state] {
        for hidden in [
            secret,
            "ticket@@@",
            "queryauthcode@@@",
            "refreshtoken@@@",
            "authorizer@@@",
        ] {
            assert!(!shown.contains(hidden), "`{hidden}` reached the page");
        }
    }
    browser.close().await.unwrap();
    env.finish().await;
}
