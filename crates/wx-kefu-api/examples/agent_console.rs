//! An agent console without a webhook: poll the waiting queue, open a session with the
//! earliest user, reply, and close it when done.
//!
//! ```sh
//! cargo run --example agent_console
//! ```
//!
//! It runs on the embedded emulator, which plays three users waiting for an agent.
//! Against the real API, build the client from your app id and secret instead, and use
//! an agent account that is bound to a WeChat user and online.

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
    let agent = "bob@gh_console";
    mock.add_online_agent(agent, "Bob")?;
    for (user, text) in [
        ("o_user_a", "退货怎么办理？"),
        ("o_user_b", "发票开错了"),
        ("o_user_c", "在吗"),
    ] {
        mock.user_message(user, text);
        mock.enqueue_waiting(user)?;
    }

    loop {
        let queue = client.get_wait_case().await?;
        let Some(next) = queue.waitcaselist.first() else {
            println!("queue empty: nothing to do");
            break;
        };
        println!("{} waiting; taking {}", queue.count, next.openid);
        client
            .create_kf_session(agent, next.openid.as_str())
            .await?;
        let reply = SendCustomMessage::new(
            next.openid.as_str(),
            Text::new("您好，我是客服 Bob，请问有什么可以帮您？"),
        )
        .customservice(CustomService::new(agent));
        match client.send_custom_message(reply).await {
            Ok(_) => println!("  replied to {}", next.openid),
            // The user's reply window may have closed while they waited: say so, don't retry.
            Err(error) if error.is_out_of_window() => {
                println!("  {} is outside the reply window: {error}", next.openid)
            }
            Err(error) => return Err(error.into()),
        }
        client.close_session(agent, next.openid.as_str()).await?;
        println!("  session closed");
    }
    let sessions = client.get_kf_session_list(agent).await?;
    println!("{agent} has {} open session(s)", sessions.sessionlist.len());
    Ok(())
}
