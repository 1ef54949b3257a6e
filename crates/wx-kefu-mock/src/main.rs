//! `wx-kefu-mock`: runs the emulator of the WeChat customer-service API on 127.0.0.1
//! and prints its base URL, appid and secret, and the address of its web view (whose JSON
//! control API drives it from any language). Stop it with Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use wx_kefu_mock::MockServer;

/// Runs the wx-kefu emulator of the WeChat customer-service API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "wx-kefu-mock", version, about)]
struct Args {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The appid the token calls accept (random when not given).
    #[arg(long, env = "WX_MOCK_APPID")]
    appid: Option<String>,
    /// The secret the token calls accept (random when not given).
    #[arg(long, env = "WX_MOCK_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut builder = MockServer::builder().port(args.port).web_view(true);
    if let Some(appid) = args.appid {
        builder = builder.appid(appid);
    }
    if let Some(secret) = args.secret {
        builder = builder.secret(secret);
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "wx-kefu-mock: cannot listen on 127.0.0.1:{}: {error}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    println!("wx-kefu-mock listening");
    println!("base_url {}", server.base_url());
    println!("appid    {}", server.appid());
    println!("secret   {}", server.secret());
    println!("web_view {}/_mock/", server.base_url());
    std::future::pending::<ExitCode>().await
}
