//! The hand-off: a user's message reaches the agents, on the embedded emulator.
//!
//! ```sh
//! cargo run --example handoff --features inbound-axum
//! ```
//!
//! It starts the emulator and the account's server (the SDK's webhook as an axum route, in
//! safe mode), both on 127.0.0.1. A user writes; WeChat (the emulator) pushes the message,
//! sealed and signed; the server answers `transfer_customer_service`; the user waits in the
//! queue; an agent takes the session through the API, and the server hears of it
//! (`kf_create_session`), then of its end (`kf_close_session`). Each step prints one line.

use std::error::Error as StdError;
use std::process::ExitCode;

use wx_kefu_api::inbound::{Event, Push, Reply, UserMessage, Webhook};
use wx_kefu_api::*;
use wx_kefu_mock::{MockServer, PushOutcome, WebhookConfig};

type Result<T = ()> = std::result::Result<T, Box<dyn StdError>>;

/// The Token and EncodingAESKey set in the account's server configuration.
const TOKEN: &str = "handoff-token";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// The account's server logic: anyone asking for a person is handed to the agents.
async fn on_push(push: Push) -> Reply {
    match (push.message(), push.event()) {
        (Some(UserMessage::Text(text)), _) if text.content.contains("人工") => {
            println!(
                "  srv  {} asks for a person: transfer_customer_service",
                push.openid()
            );
            Reply::transfer_customer_service()
        }
        (_, Some(Event::KfCreateSession(session))) => {
            println!(
                "  srv  kf_create_session: {} serves {}",
                session.kf_account,
                push.openid()
            );
            Reply::success()
        }
        (_, Some(Event::KfCloseSession(session))) => {
            println!(
                "  srv  kf_close_session: {} is done with {}",
                session.kf_account,
                push.openid()
            );
            Reply::success()
        }
        _ => Reply::success(),
    }
}

async fn handoff() -> Result {
    let mock = MockServer::start().await;
    let client = Client::builder()
        .app_id(mock.appid())
        .app_secret(mock.secret())
        .base_url(mock.base_url())
        .build()?;
    let agent = "alice@gh_handoff";
    let user = "o_handoff_user";
    mock.add_online_agent(agent, "Alice")?;

    // The account's server: verifies, opens and decodes every push, answers retries once.
    let webhook = Webhook::builder()
        .token(TOKEN)
        .app_id(mock.appid())
        .encoding_aes_key(ENCODING_AES_KEY)?
        .clock(mock.time_source())
        .build()?;
    let app = axum::Router::new().route(
        "/wechat",
        wx_kefu_api::inbound::axum::route(webhook, on_push),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/wechat", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    mock.set_webhook(WebhookConfig::safe(&url, TOKEN, ENCODING_AES_KEY)?);
    println!(
        "emulator at {}, account server at {url} (safe mode)",
        mock.base_url()
    );

    let pushed = mock.push_text(user, "你好，我要转人工").await?;
    let PushOutcome::Transferred { serving: None, .. } = pushed.outcome else {
        return Err(format!("expected a transfer to the queue, got {:?}", pushed.outcome).into());
    };
    println!(
        "  ok   {:<38} sealed, signed, answered",
        "WeChat pushes the message"
    );
    let queue = client.get_wait_case().await?;
    println!("  ok   {:<38} {} waiting", "get_wait_case", queue.count);

    client.create_kf_session(agent, user).await?;
    println!("  ok   {:<38} {agent} takes {user}", "create_kf_session");
    mock.settle_pushes().await;
    let message = SendCustomMessage::new(user, Text::new("您好，我是客服 Alice。"))
        .customservice(CustomService::new(agent));
    client.send_custom_message(message).await?;
    println!("  ok   {:<38} as {agent}", "send_custom_message");
    client.close_session(agent, user).await?;
    println!("  ok   {:<38} {agent} is done", "close_session");
    mock.settle_pushes().await;

    let kinds: Vec<String> = mock.pushes().into_iter().map(|p| p.kind).collect();
    if kinds != ["text", "kf_create_session", "kf_close_session"] {
        return Err(format!("unexpected pushes: {kinds:?}").into());
    }
    println!("  ok   {:<38} {}", "pushes", kinds.join(", "));
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match handoff().await {
        Ok(()) => {
            println!("handoff finished");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("handoff failed: {error}");
            ExitCode::FAILURE
        }
    }
}
