//! The settings a command runs with — global options, environment and config file merged —
//! and the SDK client made from them.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use std::time::Duration;

use wx_kefu_api::client::DEFAULT_BASE_URL;
use wx_kefu_api::platform::Platform;
use wx_kefu_api::token::BoxFuture;
use wx_kefu_api::{
    AccessToken, Client, ClientBuilder, RedisAuthorizations, RedisPlatformTokens, TokenProvider,
};

use crate::config::{self, Config};
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::time;

/// Options every command accepts. Its `Debug` hides the secret and the token.
#[derive(Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The official account's AppID.
    #[arg(long, env = "WX_APPID", global = true, value_name = "APPID")]
    pub appid: Option<String>,
    /// The official account's AppSecret. Prefer the environment or the config file: a
    /// flag shows in the process list and the shell history.
    #[arg(
        long,
        env = "WX_SECRET",
        global = true,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret: Option<String>,
    /// An access token managed elsewhere (a central token service); no appid or secret is
    /// then needed, and wx-kefu never fetches a token itself.
    #[arg(
        long,
        env = "WX_ACCESS_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub access_token: Option<String>,
    /// The API's base URL: the emulator (`wx-kefu mock`), a proxy, or a regional host such
    /// as `https://sh.api.weixin.qq.com`. Default: `https://api.weixin.qq.com`.
    #[arg(long, env = "WX_BASE_URL", global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// The config file (default: wx-kefu/config.json in the user's config directory).
    #[arg(long, env = "WX_KEFU_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON for machines: one document per command, JSON lines for exports,
    /// and errors as a JSON document on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// The time zone for dates given and times shown (an IANA name such as Asia/Shanghai;
    /// default: the system's, which honours TZ).
    #[arg(long, env = "WX_KEFU_TZ", global = true, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Seconds allowed for each HTTP request.
    #[arg(long, global = true, default_value_t = 15, value_name = "SECONDS")]
    pub timeout: u64,
    /// Act as this account through the third-party platform (its component appid, secret and
    /// Redis from the flags below, the environment or the config file).
    #[arg(long, env = "WX_AUTHORIZER", global = true, value_name = "APPID")]
    pub authorizer: Option<String>,
    /// The third-party platform's AppID.
    #[arg(long, env = "WX_COMPONENT_APPID", global = true, value_name = "APPID")]
    pub component_appid: Option<String>,
    /// The third-party platform's AppSecret (prefer the environment or the config file).
    #[arg(
        long,
        env = "WX_COMPONENT_SECRET",
        global = true,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub component_secret: Option<String>,
    /// The Redis where the platform's service keeps the verify ticket, the refresh tokens and
    /// the tokens (`redis://host:6379/0`): the command shares them instead of fetching its own.
    #[arg(
        long,
        env = "WX_PLATFORM_REDIS",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub platform_redis: Option<String>,
}

impl fmt::Debug for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("Global")
            .field("appid", &self.appid)
            .field("secret", &hidden(&self.secret))
            .field("access_token", &hidden(&self.access_token))
            .field("base_url", &self.base_url)
            .field("config", &self.config)
            .field("json", &self.json)
            .field("tz", &self.tz)
            .field("timeout", &self.timeout)
            .field("authorizer", &self.authorizer)
            .field("component_appid", &self.component_appid)
            .field("component_secret", &hidden(&self.component_secret))
            .field("platform_redis", &hidden(&self.platform_redis))
            .finish()
    }
}

/// Everything a command needs besides its own arguments.
#[derive(Debug)]
pub struct Context {
    /// The global options (flags and environment).
    pub global: Global,
    /// Where the config file is.
    pub config_path: PathBuf,
    /// The config file's content (empty when there is none).
    pub config: Config,
    /// How answers are printed.
    pub printer: Printer,
}

/// Where a credential comes from, for `config show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A flag or an environment variable.
    Argument,
    /// The config file.
    ConfigFile,
    /// Nowhere.
    Missing,
}

impl Context {
    /// Merges the global options with the config file.
    pub fn new(global: Global) -> CliResult<Context> {
        let tz = time::zone(global.tz.as_deref()).map_err(CliError::usage)?;
        let config_path = config::path(global.config.as_deref())?;
        let config = config::load(&config_path)?;
        let printer = Printer {
            json: global.json,
            tz,
        };
        Ok(Context {
            global,
            config_path,
            config,
            printer,
        })
    }

    /// The app id in effect and where it comes from.
    pub fn appid(&self) -> (Option<String>, Source) {
        pick(self.global.appid.as_ref(), self.config.appid.as_ref())
    }

    /// The app secret in effect and where it comes from.
    pub fn secret(&self) -> (Option<String>, Source) {
        pick(self.global.secret.as_ref(), self.config.secret.as_ref())
    }

    /// The base URL in effect and where it comes from (`None`: WeChat's host).
    pub fn base_url(&self) -> (Option<String>, Source) {
        pick(self.global.base_url.as_ref(), self.config.base_url.as_ref())
    }

    /// The external access token, if one is given.
    pub fn access_token(&self) -> Option<&str> {
        self.global
            .access_token
            .as_deref()
            .filter(|token| !token.is_empty())
    }

    /// A client builder with the base URL, timeouts and credentials in effect.
    pub fn builder(&self) -> CliResult<ClientBuilder> {
        let timeout = Duration::from_secs(self.global.timeout.max(1));
        let base_url = self
            .base_url()
            .0
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let builder = Client::builder()
            .base_url(base_url)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)));
        if let Some(token) = self.access_token() {
            return Ok(builder.token_provider(StaticToken(AccessToken::new(token))));
        }
        match (self.appid().0, self.secret().0) {
            (Some(appid), Some(secret)) => Ok(builder.app_id(appid).app_secret(secret)),
            (appid, _) => {
                let missing = match appid {
                    None => "no appid and secret",
                    Some(_) => "no app secret",
                };
                Err(CliError::usage(format!("{missing} to call WeChat with"))
                    .hint("set WX_APPID and WX_SECRET, pass --appid and --secret, run `wx-kefu config set`, or pass --access-token")
                    .hint(format!("the config file is {}", self.config_path.display())))
            }
        }
    }

    /// The client in effect: the account's, or with `--authorizer` the platform's client
    /// acting as that account.
    pub fn client(&self) -> CliResult<Client> {
        match self.global.authorizer.as_deref().filter(|a| !a.is_empty()) {
            Some(authorizer) => Ok(self.platform()?.client(authorizer)),
            None => Ok(self.builder()?.build()?),
        }
    }

    /// The third-party platform in effect, on the Redis its service uses when one is given
    /// (so the ticket, the refresh tokens and the tokens are shared, never fetched anew).
    pub fn platform(&self) -> CliResult<Platform> {
        let appid = pick(
            self.global.component_appid.as_ref(),
            self.config.component_appid.as_ref(),
        )
        .0;
        let secret = pick(
            self.global.component_secret.as_ref(),
            self.config.component_secret.as_ref(),
        )
        .0;
        let (Some(appid), Some(secret)) = (appid, secret) else {
            return Err(CliError::usage("no third-party platform to act through")
                .hint("set WX_COMPONENT_APPID and WX_COMPONENT_SECRET (or the config file's component_appid and component_secret)")
                .hint(format!("the config file is {}", self.config_path.display())));
        };
        let timeout = Duration::from_secs(self.global.timeout.max(1));
        let base_url = self
            .base_url()
            .0
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let mut builder = Platform::builder()
            .component_app_id(appid.as_str())
            .component_secret(secret)
            .base_url(base_url)
            .timeout(timeout);
        let redis = pick(
            self.global.platform_redis.as_ref(),
            self.config.platform_redis.as_ref(),
        )
        .0;
        if let Some(url) = redis {
            // The URL is not quoted: it may hold Redis' password.
            let connection = wx_kefu_api::redis::Client::open(url.as_str())
                .and_then(|client| {
                    client.get_connection_manager_lazy(
                        wx_kefu_api::redis::aio::ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(Duration::from_secs(2)))
                            .set_response_timeout(Some(Duration::from_secs(2))),
                    )
                })
                .map_err(|_| {
                    CliError::usage("the platform's Redis URL is not valid")
                        .hint("expected redis://[user:password@]host[:port][/db]")
                })?;
            builder = builder
                .token_cache(RedisPlatformTokens::new(connection.clone(), None, &appid)?)
                .authorization_store(RedisAuthorizations::new(connection, None, &appid)?);
        }
        Ok(builder.build()?)
    }
}

/// A flag or environment value wins over the config file; empty values count as absent.
fn pick(argument: Option<&String>, file: Option<&String>) -> (Option<String>, Source) {
    match (
        argument.filter(|v| !v.is_empty()),
        file.filter(|v| !v.is_empty()),
    ) {
        (Some(value), _) => (Some(value.clone()), Source::Argument),
        (None, Some(value)) => (Some(value.clone()), Source::ConfigFile),
        (None, None) => (None, Source::Missing),
    }
}

/// A token given on the command line: WeChat's verdict on it is final.
struct StaticToken(AccessToken);

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, wx_kefu_api::Result<AccessToken>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}
