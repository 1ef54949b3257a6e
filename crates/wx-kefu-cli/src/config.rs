//! The config file: the account's appid, secret and base URL, so that they need not be in
//! every command or environment.
//!
//! It lives in the user's config directory (`~/.config/wx-kefu/config.json` on Linux,
//! `~/Library/Application Support/wx-kefu/config.json` on macOS), or where `--config` /
//! `WX_KEFU_CONFIG` says. It holds the app secret, so it is created with permissions 0600
//! (its directory 0700) and a warning is printed when it is readable by others.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// The file name inside the config directory.
pub const FILE_NAME: &str = "config.json";

/// What the config file holds; every entry is optional. Its `Debug` hides the secret.
#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The official account's AppID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// The official account's AppSecret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The API's base URL (WeChat's host when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// A third-party platform's AppID (commands with `--authorizer` act through it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_appid: Option<String>,
    /// The platform's AppSecret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_secret: Option<String>,
    /// The Redis the platform's service keeps its ticket, refresh tokens and tokens in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_redis: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("appid", &self.appid)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("base_url", &self.base_url)
            .field("component_appid", &self.component_appid)
            .field(
                "component_secret",
                &self.component_secret.as_ref().map(|_| "***"),
            )
            .field(
                "platform_redis",
                &self.platform_redis.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// Where the config file is: `explicit` if given, else in the user's config directory.
pub fn path(explicit: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    dirs::config_dir()
        .map(|dir| dir.join("wx-kefu").join(FILE_NAME))
        .ok_or_else(|| {
            CliError::usage("no config directory is known for this user")
                .hint("pass --config FILE or set WX_KEFU_CONFIG")
        })
}

/// Reads the config file; a missing file is an empty config.
pub fn load(path: &Path) -> CliResult<Config> {
    let text = match crate::request::read_regular(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Config::default());
        }
        Err(error) => {
            return Err(CliError::local(format!(
                "cannot read the config file {}: {error}",
                path.display()
            )));
        }
    };
    warn_if_shared(path);
    serde_json::from_str(&text).map_err(|error| {
        CliError::usage(format!(
            "the config file {} is not valid: {error}",
            path.display()
        ))
        .hint("it holds a JSON object with the keys appid, secret, base_url, component_appid, component_secret and platform_redis")
    })
}

/// Writes the config file atomically, readable by its owner only.
pub fn save(path: &Path, config: &Config) -> CliResult<()> {
    let local = |what: &str, error: std::io::Error| {
        CliError::local(format!("cannot {what} {}: {error}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| local("create the directory of", e))?;
    }
    let mut text = serde_json::to_string_pretty(config)
        .map_err(|e| CliError::local(format!("cannot encode the config: {e}")))?;
    text.push('\n');
    let temp = path.with_extension("json.tmp");
    let _ = fs::remove_file(&temp);
    let mut file = private_file(&temp).map_err(|e| local("create", e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| local("write", e))?;
    drop(file);
    fs::rename(&temp, path).map_err(|e| local("replace", e))
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: the config file {} holds the app secret and is readable by others; \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}
