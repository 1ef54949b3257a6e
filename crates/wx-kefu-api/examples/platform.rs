//! A third-party platform serving several accounts, end to end on the embedded emulator.
//!
//! ```sh
//! cargo run --example platform --features inbound-axum
//! ```
//!
//! The emulator plays WeChat's open platform; this program plays a SaaS customer-service
//! vendor's server: its 授权事件接收URL (tickets, authorizations) and its 消息与事件接收URL
//! (`/wechat/{appid}`, every authorizer's pushes) on 127.0.0.1. Three merchants authorize
//! the platform; a user of one writes in and is answered as that merchant, then asks for a
//! person and is handed to that merchant's agent, who answers through the API as the
//! merchant; a merchant revokes the platform and its calls fail typed; WeChat's go-live
//! test passes. Each step prints one line; the first failure ends it non-zero.

use std::process::ExitCode;
use std::time::Duration;

use wx_kefu_api::inbound::{Reply, UserMessage, Webhook};
use wx_kefu_api::platform::Platform;
use wx_kefu_api::*;
use wx_kefu_mock::{MockServer, PlatformConfig, PushOutcome};

const COMPONENT: &str = "wxc0mp0nentdemo01";
const SECRET: &str = "component-secret-demo";
const TOKEN: &str = "platform-token";
const EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const MERCHANTS: [(&str, &str); 3] = [
    ("wxa1ice0000000001", "Alice 花店"),
    ("wxb0b000000000002", "Bob 书店"),
    ("wxca70000000000003", "Cat 咖啡"),
];

type Failure = Box<dyn std::error::Error>;

fn ok(step: &str, detail: impl std::fmt::Display) {
    println!("  ok   {step:<44} {detail}");
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("the platform served every account as itself");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("  FAIL {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Failure> {
    let wechat = MockServer::builder().web_view(true).start().await?;
    println!(
        "WeChat's open platform (emulated): {}/_mock/",
        wechat.base_url()
    );
    let platform = Platform::builder()
        .component_app_id(COMPONENT)
        .component_secret(SECRET)
        .base_url(wechat.base_url())
        .build()?;
    let url = serve(&platform, &wechat).await?;
    wechat.set_platform(
        PlatformConfig::new(COMPONENT, SECRET, TOKEN, EAK)
            .auth_events_to(format!("{url}/auth"))
            .messages_to(format!("{url}/wechat/$APPID$")),
    );
    wait_for("the verify ticket", async || {
        platform
            .authorizations()
            .ticket()
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await?;
    ok("verify ticket received", "pushed every 10 minutes, kept");

    for (appid, _) in MERCHANTS {
        wechat.authorize(appid, &[1, 6]).await?;
        wait_for("the authorization", async || {
            platform
                .permission_sets(appid)
                .await
                .ok()
                .flatten()
                .is_some()
        })
        .await?;
        let merchant = wechat.authorizer(appid)?;
        let agent = format!("agent@{}", merchant.wechat_id().unwrap_or_default());
        merchant.add_online_agent(&agent, "客服")?;
    }
    ok(
        "three merchants authorized",
        "permission sets 1 (消息管理), 6 (微信多客服)",
    );

    for (appid, _) in MERCHANTS {
        let agents = platform.client(appid).get_kf_list().await?;
        let names: Vec<_> = agents
            .kf_list
            .iter()
            .map(|a| a.kf_account.as_str())
            .collect();
        ok(&format!("{appid} lists its own agents"), names.join(", "));
    }

    let (bob, _) = MERCHANTS[1];
    let merchant = wechat.authorizer(bob)?;
    let asked = merchant.push_text("o_reader", "有《三体》吗？").await?;
    match &asked.outcome {
        PushOutcome::Replied {
            content: Some(text),
            ..
        } => ok("a user of Bob is answered as Bob", text),
        other => return Err(format!("the push was answered {other:?}").into()),
    }
    let handed = merchant.push_text("o_reader", "人工").await?;
    if !matches!(handed.outcome, PushOutcome::Transferred { .. }) {
        return Err(format!("the hand-off was answered {:?}", handed.outcome).into());
    }
    let agent = format!("agent@{}", merchant.wechat_id().unwrap_or_default());
    merchant.accept_waiting(&agent, "o_reader")?;
    let client = platform.client(bob);
    let session = client.get_kf_session("o_reader").await?;
    ok(
        "handed to Bob's agent",
        session.kf_account.unwrap_or_default(),
    );
    client
        .send_custom_message(
            SendCustomMessage::new("o_reader", Text::new("有的，给您留一本"))
                .customservice(CustomService::new(agent.as_str())),
        )
        .await?;
    ok(
        "Bob's agent answers through the API",
        "as Bob, with Bob's token",
    );

    let (cat, _) = MERCHANTS[2];
    wechat.revoke(cat).await?;
    wait_for("the revocation", async || {
        platform.permission_sets(cat).await.ok().flatten().is_none()
    })
    .await?;
    match platform.client(cat).get_kf_list().await {
        Err(Error::Revoked { .. }) => ok(
            "Cat revoked: its calls fail typed",
            "Error::Revoked, its keys purged",
        ),
        other => return Err(format!("a revoked account's call: {other:?}").into()),
    }

    let report = wechat.go_live_test(Duration::from_secs(5)).await?;
    if !report.passed() {
        return Err(format!("the go-live test: {:?}", report.problems).into());
    }
    ok("the go-live test (全网发布) passes", "offline");
    if std::env::args().any(|arg| arg == "--wait") {
        println!(
            "the emulator keeps running: {}/_mock/ (Ctrl-C ends it)",
            wechat.base_url()
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

/// The platform's server: its two URLs on 127.0.0.1. Returns its base URL.
async fn serve(platform: &Platform, wechat: &MockServer) -> Result<String, Failure> {
    let webhook = |many: bool| -> Result<Webhook, Failure> {
        let builder = Webhook::builder()
            .token(TOKEN)
            .encoding_aes_key(EAK)?
            .app_id(COMPONENT)
            .clock(wechat.time_source());
        Ok(match many {
            true => builder.many_accounts(),
            false => builder,
        }
        .build()?)
    };
    let names = |appid: &str| {
        MERCHANTS
            .iter()
            .find(|(id, _)| *id == appid)
            .map_or("", |(_, name)| *name)
    };
    let handler = move |appid: String, _client: Client, push: inbound::Push| async move {
        match push.message() {
            Some(UserMessage::Text(text)) if text.content.contains("人工") => {
                Reply::transfer_customer_service()
            }
            Some(UserMessage::Text(_)) => Reply::text(format!(
                "{} 的客服机器人：您好，正在为您查询",
                names(&appid)
            )),
            _ => Reply::Success,
        }
    };
    let app = axum::Router::new()
        .route("/auth", platform.authorization_route(webhook(false)?))
        .route(
            "/wechat/{appid}",
            platform.message_route(webhook(true)?, handler),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) -> Result<(), Failure> {
    for _ in 0..200 {
        if done().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!("{what} did not arrive within 5 s").into())
}
