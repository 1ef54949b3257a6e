//! Values that must never reach a log line, an error message or `Debug` output:
//! the app secret and access tokens.
//!
//! Both types print `***` under `Debug`, have no `Display`, and give their text only
//! through an explicit `expose()`, so a leak has to be written on purpose.

use std::fmt;
use std::sync::Arc;

/// The account's app secret (`AppSecret` in WeChat's console).
///
/// ```
/// use wx_kefu_runtime::AppSecret;
/// let secret = AppSecret::new("s3cr3t");
/// assert_eq!(format!("{secret:?}"), "AppSecret(***)");
/// assert_eq!(secret.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret(Arc<str>);

impl AppSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        AppSecret(Arc::from(secret.into()))
    }

    /// The secret's text; only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret(***)")
    }
}

impl From<String> for AppSecret {
    fn from(secret: String) -> Self {
        AppSecret::new(secret)
    }
}

impl From<&str> for AppSecret {
    fn from(secret: &str) -> Self {
        AppSecret::new(secret)
    }
}

/// The longest access token accepted. WeChat asks clients to reserve at least 512
/// characters for one; four times that leaves room for growth while keeping a URL that
/// carries it far below HTTP's limits.
pub const MAX_TOKEN_CHARS: usize = 2048;

/// Whether `byte` may stand in an access token (see [`AccessToken::check`]).
fn token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~*!$()+,;:@/=".contains(&byte)
}

/// An access token (`access_token`), cheap to clone.
///
/// Equality compares the token text; it is what compare-and-invalidate uses to tell
/// whether a token WeChat rejected is still the cached one.
///
/// ```
/// use wx_kefu_runtime::AccessToken;
/// let token = AccessToken::new("ACCESS_TOKEN");
/// assert_eq!(format!("{token:?}"), "AccessToken(***)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(Arc::from(token.into()))
    }

    /// Why `token` cannot be used as an access token, if it cannot: it is empty, longer
    /// than [`MAX_TOKEN_CHARS`], or holds a character outside the ones WeChat's tokens
    /// use (ASCII letters, digits and `-_.~*!$()+,;:@/=`). Tokens are checked when they
    /// arrive, so that a bad one is never cached.
    pub fn check(token: &str) -> Result<(), String> {
        if token.is_empty() {
            return Err("it is empty".to_owned());
        }
        if token.len() > MAX_TOKEN_CHARS {
            return Err(format!(
                "it is {} characters long, more than the {MAX_TOKEN_CHARS} allowed",
                token.chars().count()
            ));
        }
        if !token.bytes().all(token_byte) {
            return Err("it holds characters an access token never has".to_owned());
        }
        Ok(())
    }

    /// The token's text; only for putting it on the wire or into a token store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

impl From<String> for AccessToken {
    fn from(token: String) -> Self {
        AccessToken::new(token)
    }
}

impl From<&str> for AccessToken {
    fn from(token: &str) -> Self {
        AccessToken::new(token)
    }
}

/// A credential of the third-party platform that is not an access token: a
/// `component_verify_ticket`, an authorizer's refresh token, an authorization code.
/// `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(Arc<str>);

impl Credential {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Credential(Arc::from(value.into()))
    }

    /// The credential itself, to send to WeChat or keep in a store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(***)")
    }
}

impl From<String> for Credential {
    fn from(value: String) -> Self {
        Credential::new(value)
    }
}

impl From<&str> for Credential {
    fn from(value: &str) -> Self {
        Credential::new(value)
    }
}
