//! `wx-kefu`: the WeChat Official Account customer-service API (客服接口) from the command line.
//!
//! Agent accounts, sessions and the waiting queue, messages and typing, chat-record export,
//! access tokens, and the emulator. The endpoint commands are derived from the API spec
//! ([`wx_kefu_api::ENDPOINTS`]) and called through [`wx_kefu_api::call_json`], so a new
//! endpoint in the spec appears here without code; see [`cli`] for how.
//!
//! Exit status: 0 success, 1 local failure, 2 usage error (nothing was sent),
//! 3 WeChat answered an errcode, 4 transport error (see [`error`]).

mod args;
mod cli;
mod config;
mod context;
mod error;
mod export;
mod fallback;
mod media;
mod mock;
mod output;
mod platform;
mod request;
mod time;
mod token;

use std::io::Read;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};

use crate::cli::{ConfigCommand, ConfigSetArgs, MockArgs, TokenArgs};
use crate::context::{Context, Global, Source};
use crate::error::{CliError, CliResult, EXIT_FAILURE, EXIT_USAGE};
use crate::export::ExportArgs;
use crate::output::Printer;

fn main() -> ExitCode {
    let matches = match cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => {
            let status = match error.use_stderr() {
                true => EXIT_USAGE,
                false => 0,
            };
            // If the terminal is gone there is nobody to tell.
            let _ = error.print();
            return ExitCode::from(status);
        }
    };
    let global = match cli::global(&matches) {
        Ok(global) => global,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let json = global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            CliError::local(format!("cannot start the async runtime: {error}")).report(json);
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(&matches, global)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report(json);
            ExitCode::from(error.exit_code())
        }
    }
}

/// Dispatches the parsed command line.
async fn run(matches: &ArgMatches, global: Global) -> CliResult {
    let Some((name, sub)) = matches.subcommand() else {
        return Err(CliError::usage("no command given; see `wx-kefu --help`"));
    };
    let parse = |error: clap::Error| CliError::usage(error.to_string());
    match name {
        "mock" => {
            let args = MockArgs::from_arg_matches(sub).map_err(parse)?;
            let tz = time::zone(global.tz.as_deref()).map_err(CliError::usage)?;
            let printer = Printer {
                json: global.json,
                tz,
            };
            mock::run(&printer, &args).await
        }
        "config" => {
            let command = ConfigCommand::from_arg_matches(sub).map_err(parse)?;
            if let ConfigCommand::Path = command {
                // Even when the file is broken: that is when people look for it.
                let path = config::path(global.config.as_deref())?;
                return match global.json {
                    true => output::write_stdout(
                        format!("{}\n", serde_json::json!({ "config_file": path })).as_bytes(),
                    ),
                    false => output::write_stdout(format!("{}\n", path.display()).as_bytes()),
                };
            }
            let context = Context::new(global)?;
            run_config(&context, matches, &command)
        }
        "token" => {
            let args = TokenArgs::from_arg_matches(sub).map_err(parse)?;
            let context = Context::new(global)?;
            token::run(&context, &args).await
        }
        group => {
            let Some((verb, args)) = sub.subcommand() else {
                return Err(CliError::usage(format!("`{group}` needs a subcommand")));
            };
            let context = Context::new(global)?;
            if group == "records" && verb == "export" {
                let args = ExportArgs::from_arg_matches(args).map_err(parse)?;
                return export::run(&context, &args).await;
            }
            if group == "platform" && verb == "authorizers" {
                return platform::authorizers(&context).await;
            }
            let Some(placement) = cli::placements()
                .into_iter()
                .find(|p| p.group == group && p.verb == verb)
            else {
                return Err(CliError::usage(format!("unknown command `{group} {verb}`")));
            };
            let mut request = request::build(placement.meta, args)?;
            let attachments = media::attachments(args, &request)?;
            // The platform's own calls carry its component token.
            let client = match placement.meta.group {
                "platform" => context.platform()?.component().clone(),
                _ => context.client()?,
            };
            if placement.meta.downloads {
                return media::download(&context.printer, &client, placement.meta, request, args)
                    .await;
            }
            media::attach(&client, &mut request, attachments).await?;
            if let Some(fallback) = fallback::declared(args, &request)? {
                let delivered = fallback.send(&client).await?;
                return context.printer.answer(&fallback::shown(&delivered));
            }
            let answer = wx_kefu_api::call_json(&client, placement.meta.name, request).await?;
            context.printer.answer(&answer)
        }
    }
}

/// `wx-kefu config path|show|set`.
fn run_config(context: &Context, matches: &ArgMatches, command: &ConfigCommand) -> CliResult {
    let printer = &context.printer;
    let path = context.config_path.display().to_string();
    match command {
        ConfigCommand::Path => output::write_stdout(format!("{path}\n").as_bytes()),
        ConfigCommand::Show => {
            let origin = |id: &str, source: Source| match source {
                Source::Argument => match matches.value_source(id) {
                    Some(ValueSource::EnvVariable) => "environment",
                    _ => "flag",
                },
                Source::ConfigFile => "config file",
                Source::Missing => "not set",
            };
            let (appid, appid_source) = context.appid();
            let (secret, secret_source) = context.secret();
            let (base_url, base_source) = context.base_url();
            let token = context.access_token().is_some();
            if printer.json {
                return printer.json(&serde_json::json!({
                    "config_file": path,
                    "appid": appid,
                    "appid_source": origin("appid", appid_source),
                    "secret_set": secret.is_some(),
                    "secret_source": origin("secret", secret_source),
                    "base_url": base_url.clone().unwrap_or_else(|| wx_kefu_api::client::DEFAULT_BASE_URL.to_owned()),
                    "base_url_source": match base_source { Source::Missing => "default", other => origin("base_url", other) },
                    "access_token_set": token,
                }));
            }
            printer.pairs(&[
                ("config_file", path.clone()),
                (
                    "appid",
                    format!(
                        "{} ({})",
                        appid.unwrap_or_else(|| "-".to_owned()),
                        origin("appid", appid_source)
                    ),
                ),
                (
                    "secret",
                    match secret {
                        Some(_) => format!("*** ({})", origin("secret", secret_source)),
                        None => "- (not set)".to_owned(),
                    },
                ),
                (
                    "base_url",
                    match base_url {
                        Some(url) => format!("{url} ({})", origin("base_url", base_source)),
                        None => format!("{} (default)", wx_kefu_api::client::DEFAULT_BASE_URL),
                    },
                ),
                (
                    "access_token",
                    match token {
                        true => {
                            "*** (flag or environment; used instead of appid/secret)".to_owned()
                        }
                        false => "- (not set)".to_owned(),
                    },
                ),
            ])
        }
        ConfigCommand::Set(args) => config_set(context, args),
    }
}

/// `wx-kefu config set`: merges the given settings into the config file.
fn config_set(context: &Context, args: &ConfigSetArgs) -> CliResult {
    let global = &context.global;
    let mut config = context.config.clone();
    let mut changed = Vec::new();
    if let Some(appid) = global.appid.as_ref().filter(|v| !v.is_empty()) {
        config.appid = Some(appid.clone());
        changed.push("appid");
    }
    let secret = match args.secret_stdin {
        true => {
            let mut text = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read the secret from stdin: {e}")))?;
            let line = text.lines().next().unwrap_or("").trim().to_owned();
            if line.is_empty() {
                return Err(CliError::usage("--secret-stdin: stdin holds no secret"));
            }
            Some(line)
        }
        false => global.secret.clone().filter(|v| !v.is_empty()),
    };
    if let Some(secret) = secret {
        config.secret = Some(secret);
        changed.push("secret");
    }
    if let Some(url) = global.base_url.as_ref().filter(|v| !v.is_empty()) {
        config.base_url = Some(url.clone());
        changed.push("base_url");
    }
    if args.clear_base_url {
        config.base_url = None;
        changed.push("base_url (cleared)");
    }
    if changed.is_empty() {
        return Err(CliError::usage("nothing to set")
            .hint("pass --appid, --secret (or --secret-stdin) or --base-url, or set WX_APPID / WX_SECRET / WX_BASE_URL"));
    }
    config::save(&context.config_path, &config)?;
    let path = context.config_path.display().to_string();
    if context.printer.json {
        return context
            .printer
            .json(&serde_json::json!({ "config_file": path, "set": changed }));
    }
    output::write_stdout(format!("wrote {} to {path} (mode 0600)\n", changed.join(", ")).as_bytes())
}
