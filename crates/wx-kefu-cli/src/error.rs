//! The command line's errors, the exit status each maps to, and how they are printed.
//!
//! Every failure ends the process with one of four statuses, so that scripts can tell
//! a mistake of theirs (2) from WeChat refusing a call (3) and from the network (4).

use std::fmt;
use std::io::Write;

use serde_json::json;
use wx_kefu_api::Error;
use wx_kefu_api::dynamic::DynamicError;

/// A local failure: the output or config file could not be written or read.
pub const EXIT_FAILURE: u8 = 1;
/// A usage error: bad arguments, missing credentials, or a request refused before anything was sent.
pub const EXIT_USAGE: u8 = 2;
/// WeChat answered with an errcode (including a refused access-token request).
pub const EXIT_API: u8 = 3;
/// No usable answer: connection, timeout, HTTP status, undecodable body, stalled paging.
pub const EXIT_TRANSPORT: u8 = 4;

/// The exit statuses as `--help` documents them.
pub const EXIT_HELP: &str = "\
Exit status:
  0  success
  1  local failure (writing the output file, reading or writing the config file)
  2  usage error: bad arguments, missing credentials, or a request refused before
     anything was sent (malformed kf_account, window over 24 h, avatar over 5 MB, ...)
  3  WeChat answered an errcode: the code, its zh/en meaning and the rid are printed
  4  transport error: no usable answer (connect failure, timeout, HTTP status,
     undecodable body, a record cursor that stopped advancing)";

/// What went wrong.
#[derive(Debug)]
pub enum Failure {
    /// Bad input, caught before any request.
    Usage(String),
    /// A call of the SDK failed.
    Sdk(Error),
    /// A local failure (files).
    Local(String),
}

/// An error of the command line: what failed, and hints on what to do about it.
#[derive(Debug)]
pub struct CliError {
    /// What failed (boxed: the SDK's error is large and results are everywhere).
    pub failure: Box<Failure>,
    /// Sentences printed after the error.
    pub hints: Vec<String>,
}

/// The command line's result type.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        Failure::Usage(message.into()).into()
    }

    /// A local failure.
    pub fn local(message: impl Into<String>) -> CliError {
        Failure::Local(message.into()).into()
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        match &*self.failure {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Local(_) => EXIT_FAILURE,
            Failure::Sdk(error) => sdk_exit_code(error),
        }
    }

    fn kind(&self) -> &'static str {
        match self.exit_code() {
            EXIT_USAGE => "usage",
            EXIT_API => "api",
            EXIT_TRANSPORT => "transport",
            _ => "local",
        }
    }

    /// Prints the error on stderr: readable, or as one JSON document with `json`.
    pub fn report(&self, json: bool) {
        let mut stderr = std::io::stderr().lock();
        // Nothing more can be done when stderr itself is gone.
        let _ = if json {
            writeln!(stderr, "{}", self.to_json())
        } else {
            write!(stderr, "{self}")
        };
    }

    /// The error as the JSON document `--json` prints on stderr.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = json!({
            "kind": self.kind(),
            "exit_code": self.exit_code(),
            "message": self.headline(),
        });
        if let Failure::Sdk(sdk) = &*self.failure {
            if let Some(endpoint) = sdk.endpoint() {
                error["endpoint"] = json!(endpoint);
            }
            if let Some(code) = sdk.code() {
                error["errcode"] = json!(code.code());
                error["zh"] = json!(code.zh());
                error["en"] = json!(code.en());
            }
            if let Some(rid) = sdk.rid() {
                error["rid"] = json!(rid);
            }
            if let Some(status) = sdk.status() {
                error["http_status"] = json!(status);
            }
        }
        if !self.hints.is_empty() {
            error["hints"] = json!(self.hints);
        }
        json!({ "error": error })
    }

    fn headline(&self) -> String {
        match &*self.failure {
            Failure::Usage(message) | Failure::Local(message) => message.clone(),
            Failure::Sdk(error) => error.to_string(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.failure {
            Failure::Sdk(error @ (Error::Api { .. } | Error::Token { .. })) => {
                let endpoint = error.endpoint().unwrap_or("the call");
                let Some(code) = error.code() else {
                    // A token answer that was not WeChat JSON: the message says it all.
                    writeln!(f, "error: {error}")?;
                    return self.write_hints(f);
                };
                writeln!(
                    f,
                    "error: {endpoint}: WeChat answered errcode {}",
                    code.code()
                )?;
                if code.zh().is_empty() && code.en().is_empty() {
                    writeln!(f, "  meaning: (not in the error catalogue)")?;
                } else {
                    writeln!(f, "  zh:      {}", code.zh())?;
                    writeln!(f, "  en:      {}", code.en())?;
                }
                match error {
                    Error::Api { message, .. } => writeln!(f, "  errmsg:  {message}")?,
                    Error::Token { message, hint, .. } => {
                        writeln!(f, "  errmsg:  {message}")?;
                        writeln!(f, "  fix:     {hint}")?;
                    }
                    _ => {}
                }
                match error.rid() {
                    Some(rid) => writeln!(f, "  rid:     {rid} (quote it to WeChat support)")?,
                    None => writeln!(f, "  rid:     (none in the answer)")?,
                }
            }
            _ => writeln!(f, "error: {}", self.headline())?,
        }
        self.write_hints(f)
    }
}

impl CliError {
    fn write_hints(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for hint in &self.hints {
            writeln!(f, "hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<Failure> for CliError {
    fn from(failure: Failure) -> Self {
        CliError {
            failure: Box::new(failure),
            hints: Vec::new(),
        }
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        let hint = match &error {
            Error::Transport { .. } => Some("check --base-url / WX_BASE_URL and the network"),
            Error::Config { .. } => Some("see `wx-kefu --help` for the credential options"),
            _ => None,
        };
        let error = CliError::from(Failure::Sdk(error));
        match hint {
            Some(hint) => error.hint(hint),
            None => error,
        }
    }
}

impl From<DynamicError> for CliError {
    fn from(error: DynamicError) -> Self {
        match error {
            DynamicError::Call(error) => error.into(),
            DynamicError::Request { endpoint, source } => CliError::usage(format!(
                "the request for `{endpoint}` is malformed: {source}"
            )),
            unknown @ DynamicError::UnknownKey { .. } => CliError::usage(unknown.to_string()),
            other => CliError::local(other.to_string()),
        }
    }
}

/// The exit status for an SDK error.
fn sdk_exit_code(error: &Error) -> u8 {
    match error {
        Error::Invalid { .. } | Error::Upload { .. } | Error::Config { .. } => EXIT_USAGE,
        Error::Api { .. } | Error::Token { .. } => EXIT_API,
        Error::Transport { .. }
        | Error::Status { .. }
        | Error::Decode { .. }
        | Error::TooLarge { .. }
        | Error::PagingStalled { .. } => EXIT_TRANSPORT,
        _ => EXIT_FAILURE,
    }
}
