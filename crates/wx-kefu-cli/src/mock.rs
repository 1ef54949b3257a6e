//! `wx-kefu mock`: runs the emulator of the WeChat customer-service API on 127.0.0.1 until
//! interrupted, after printing the base URL, appid and secret to point commands at it, and
//! the address of its web view.
//!
//! The appid and secret are the emulator's own, made up at start: printing them is the point.

use serde_json::json;
use wx_kefu_mock::MockServer;

use crate::cli::MockArgs;
use crate::error::{CliError, CliResult};
use crate::output::{Printer, write_stdout};

/// The agent, user and records `--demo` starts with.
const DEMO_AGENT: &str = "agent1@gh_demo";
const DEMO_USER: &str = "o_demo_user";

/// Runs `wx-kefu mock`; returns only on failure.
pub async fn run(printer: &Printer, args: &MockArgs) -> CliResult {
    let server = MockServer::builder()
        .port(args.port)
        .web_view(true)
        .start()
        .await
        .map_err(|error| {
            CliError::local(format!(
                "the emulator cannot listen on 127.0.0.1:{}: {error}",
                args.port
            ))
            .hint("choose another port with --port (0 picks a free one)")
        })?;
    if args.demo {
        seed(&server)?;
    }
    let (base_url, appid, secret) = (server.base_url(), server.appid(), server.secret());
    if printer.json {
        let web_view = format!("{base_url}/_mock/");
        let doc =
            json!({ "base_url": base_url, "appid": appid, "secret": secret, "web_view": web_view });
        write_stdout(format!("{doc}\n").as_bytes())?;
    } else {
        printer.pairs(&[
            ("base_url", base_url.clone()),
            ("appid", appid.to_owned()),
            ("secret", secret.to_owned()),
            ("web_view", format!("{base_url}/_mock/")),
        ])?;
        let demo = match args.demo {
            true => format!("demo: agent {DEMO_AGENT} online, user {DEMO_USER} waiting\n"),
            false => String::new(),
        };
        write_stdout(
            format!(
                "{demo}\nPoint wx-kefu at it (Ctrl-C stops the emulator):\n  \
                 export WX_BASE_URL={base_url} WX_APPID={appid} WX_SECRET={secret}\n"
            )
            .as_bytes(),
        )?;
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Demo data: an online agent, a user who wrote and waits, and a few records.
fn seed(server: &MockServer) -> CliResult {
    let failed = |error: wx_kefu_mock::MockError| {
        CliError::local(format!("cannot seed the demo data: {error:?}"))
    };
    server
        .add_online_agent(DEMO_AGENT, "客服一号")
        .map_err(failed)?;
    server.user_message(DEMO_USER, "你好，我的订单还没发货");
    server.user_message(DEMO_USER, "请问什么时候能到？");
    server.enqueue_waiting(DEMO_USER).map_err(failed)?;
    Ok(())
}
