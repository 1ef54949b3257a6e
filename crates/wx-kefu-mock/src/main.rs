//! `wx-kefu-mock`: runs the emulator of the WeChat customer-service API on 127.0.0.1
//! and prints its base URL, appid and secret, and the address of its web view (whose JSON
//! control API drives it from any language). Stop it with Ctrl-C.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Parser;
use wx_kefu_mock::MockServer;

/// Runs the wx-kefu emulator of the WeChat customer-service API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "wx-kefu-mock", version, about)]
struct Args {
    /// The address to listen on. Anything but loopback (e.g. `0.0.0.0` in a container)
    /// exposes the emulator, its web view and its control API to the network: whoever
    /// reaches it can play WeChat's side and point pushes at any URL (SECURITY.md).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// A host name the web view and control API answer to besides 127.0.0.1, localhost
    /// and [::1] (a compose service's name); repeat for more. Other names are refused
    /// (DNS rebinding).
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// How many ports (hosts) serve the account, as WeChat's api. and api2. hosts do; the
    /// others than the first take free ports. Each can be taken down from the control API.
    #[arg(long, default_value_t = 1)]
    hosts: usize,
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
    let mut builder = MockServer::builder()
        .host(args.host)
        .port(args.port)
        .hosts(args.hosts)
        .web_view(true);
    for name in &args.allow_host {
        builder = builder.allow_host(name);
    }
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
                "wx-kefu-mock: cannot listen on {}:{}: {error}",
                args.host, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    if !args.host.is_loopback() {
        eprintln!(
            "wx-kefu-mock: listening on {} — the emulator and its control API are reachable from the network (see SECURITY.md)",
            server.addr()
        );
    }
    println!("wx-kefu-mock listening");
    println!("base_url {}", server.base_url());
    println!("appid    {}", server.appid());
    println!("secret   {}", server.secret());
    println!("web_view {}/_mock/", server.base_url());
    if args.hosts > 1 {
        println!("hosts    {}", server.host_urls().join(" "));
    }
    std::future::pending::<ExitCode>().await
}
