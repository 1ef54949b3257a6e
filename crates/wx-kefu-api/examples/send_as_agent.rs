//! Send a message as a specific agent, tagged as AI-generated.
//!
//! ```sh
//! cargo run --example send_as_agent
//! ```
//!
//! `customservice.kf_account` makes the message appear from that agent;
//! `aimsgcontext.is_ai_msg = 1` tells WeChat (and the user) that a model wrote it.
//! Runs on the embedded emulator.

use std::error::Error as StdError;

use wx_kefu_api::*;
use wx_kefu_mock::MockServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let mock = MockServer::start().await;
    let client = Client::builder()
        .app_id(mock.appid())
        .app_secret(mock.secret())
        .base_url(mock.base_url())
        .build()?;
    mock.add_online_agent("ai_helper@gh_demo", "智能助手")?;
    mock.user_message("o_user", "你们几点下班？");

    let message = SendCustomMessage::new("o_user", Text::new("我们的客服在 9:00–21:00 在线。"))
        .customservice(CustomService::new("ai_helper@gh_demo"))
        .aimsgcontext(AiMsgContext::new(1));
    client.send_custom_message(message).await?;

    let sent = mock.requests_to("/cgi-bin/message/custom/send");
    println!(
        "sent: {}",
        sent.last()
            .and_then(|r| r.json())
            .map(|j| j.to_string())
            .unwrap_or_default()
    );
    Ok(())
}
