//! WeChat's error answers: `{"errcode":N,"errmsg":"… rid: …"}` with HTTP 200,
//! the messages WeChat writes for each code, and request ids that never repeat.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// A non-zero errcode answered instead of a result, with an optional detail
/// rendered the way WeChat does (`hint: [...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WxError {
    pub(crate) code: i64,
    pub(crate) hint: Option<String>,
}

impl WxError {
    /// An error with WeChat's message for `code`.
    pub(crate) fn new(code: i64) -> Self {
        WxError { code, hint: None }
    }

    /// Adds a detail to the message.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The JSON body WeChat answers, with a fresh request id.
    pub(crate) fn body(&self, now_ms: i64) -> Value {
        let message = errmsg(self.code);
        let rid = rid(now_ms);
        let errmsg = match &self.hint {
            Some(hint) => format!("{message} hint: [{hint}] rid: {rid}"),
            None => format!("{message} rid: {rid}"),
        };
        json!({ "errcode": self.code, "errmsg": errmsg })
    }
}

/// What one handler answers: a JSON document, or an errcode.
pub(crate) type Outcome = Result<Value, WxError>;

/// A successful answer: JSON, or a file (a media download).
#[derive(Debug)]
pub(crate) enum Answer {
    Json(Value),
    File {
        content_type: String,
        filename: String,
        data: bytes::Bytes,
    },
}

impl From<Value> for Answer {
    fn from(value: Value) -> Self {
        Answer::Json(value)
    }
}

/// `{"errcode":0,"errmsg":"ok"}`, the answer of every call that returns nothing else.
pub(crate) fn ok() -> Outcome {
    Ok(json!({ "errcode": 0, "errmsg": "ok" }))
}

/// WeChat's English message for an errcode.
pub(crate) fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        40001 => {
            "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken"
        }
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40004 => "invalid media type",
        40005 => "invalid file type",
        // Sic: WeChat's spelling in recorded answers.
        40006 => "invalid meida size",
        40007 => "invalid media_id",
        40008 => "invalid message type",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40066 => "invalid url",
        40125 => "invalid appsecret",
        40200 => "invalid account type",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41005 => "media data missing",
        45001 => "media size out of limit",
        42001 => "access_token expired",
        43001 => "require GET method",
        43002 => "require POST method",
        43004 => "require subscribe",
        44002 => "empty post data",
        44004 => "empty content",
        45002 => "content size out of limit",
        45008 => "article size out of limit",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        45015 => "response out of time limit or subscription is canceled",
        45047 => "out of response count limit",
        45072 => "command field content is invalid",
        45080 => "has not sent message to user in 30 seconds",
        45081 => "already in typing status",
        45162 => "invalid msgtype, link is not supported by official account",
        47001 => "data format error",
        48001 => "api unauthorized",
        48002 => "user refuse to accept the msg",
        61003 => "component is not authorized by this account",
        61004 => "access clientip is not registered",
        61005 => "component ticket is expired",
        61006 => "component ticket is invalid",
        61007 => "api is unauthorized to component",
        61009 => "code is invalid",
        61010 => "code is expired",
        61011 => "invalid component",
        61016 => "function category of API need be confirmed by component",
        61023 => "refresh_token is invalid",
        61024 => "must use api(api_component_token) to get token for component acct",
        61457 => "invalid file type",
        65400 => "please enable new custom service, or wait for a while if you have enabled",
        65401 => "invalid custom service account",
        65402 => "the custom service account need to bind a wechat user",
        65403 => "illegal nickname",
        65404 => "illegal custom service account",
        65405 => "custom service account number reach limit",
        65406 => "custom service account exists",
        65407 => "the wechat user have been one of your workers",
        65408 => "the wechat user has been invited",
        65409 => "wechat account invalid",
        65410 => "too many custom service accounts bound by the worker",
        65411 => "an effective invitation to bind the custom service account exists",
        65412 => "the custom service account has been bound by a wechat user",
        65413 => "no effective session for the customer",
        65414 => "another worker is serving the customer",
        65415 => "the worker is not online",
        65416 => "invalid parameters",
        65417 => "exceeded time limit",
        // Codes the emulator never answers by itself (injected ones): the catalogue's words.
        other => match wx_kefu_api::ErrCode::from_code(other).en() {
            "" => "injected error",
            meaning => meaning,
        },
    }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// A random 64-bit number (from std's randomly keyed hasher; good enough for fake ids).
pub(crate) fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(SEQUENCE.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A request id in WeChat's shape (`6561a4b2-5e1d7a0c-3f2a9b11`), unique per process.
pub(crate) fn rid(now_ms: i64) -> String {
    let seconds = now_ms.div_euclid(1000) as u32;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed) as u32;
    let random = random_u64() as u32;
    format!("{seconds:08x}-{sequence:08x}-{random:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_a_unique_rid() {
        let first = WxError::new(45015).body(1_700_000_000_000);
        let second = WxError::new(45015).body(1_700_000_000_000);
        assert_eq!(first["errcode"], 45015);
        let text = first["errmsg"].as_str().unwrap_or_default();
        assert!(text.starts_with("response out of time limit"), "{text}");
        assert!(text.contains(" rid: "), "{text}");
        assert_ne!(first["errmsg"], second["errmsg"]);
        let hinted = WxError::new(47001).hint("unknown field `password`").body(0);
        assert!(
            hinted["errmsg"]
                .as_str()
                .unwrap_or_default()
                .starts_with("data format error hint: [unknown field `password`] rid: ")
        );
    }
}
