//! Tests of the emulator itself, with raw HTTP requests (reqwest), not through the SDK:
//! every rule it emulates, malformed requests, the clock, fault injection and the log.

mod accounts;
mod binary;
mod conformance;
mod control_surface;
mod faults;
mod lifecycle;
mod messages;
mod pushes;
mod records;
mod request_log;
mod sessions;
mod strict;
mod tokens;

use reqwest::{Client, Method};
use serde_json::Value;
use wx_kefu_mock::MockServer;

/// An emulator, a raw HTTP client and a valid access token.
pub(crate) struct Harness {
    pub(crate) mock: MockServer,
    pub(crate) http: Client,
    pub(crate) token: String,
}

/// A raw answer.
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) text: String,
}

impl Raw {
    /// The body as JSON (panics when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let mock = MockServer::start().await;
        let token = mock.access_token();
        Harness {
            mock,
            http: Client::new(),
            token,
        }
    }

    /// Moves the emulator's clock and takes a new token, as the old one may have expired.
    pub(crate) fn advance(&mut self, by: std::time::Duration) {
        self.mock.advance(by);
        self.token = self.mock.access_token();
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.mock.base_url())
    }

    /// `POST path?access_token=…` with a JSON body; checks HTTP 200.
    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .query(&[("access_token", &self.token)])
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// `GET path?access_token=…&query`; checks HTTP 200.
    pub(crate) async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(self.url(path))
            .query(&[("access_token", self.token.as_str())])
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// Any request with the token, a content type and raw bytes.
    pub(crate) async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Raw {
        let mut request = self
            .http
            .request(method, self.url(path))
            .query(&[("access_token", &self.token)]);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.body(body).send().await.unwrap();
        Raw {
            status: response.status().as_u16(),
            text: response.text().await.unwrap(),
        }
    }

    /// A user who wrote a moment ago, so may be answered.
    pub(crate) fn user(&self, openid: &str) {
        self.mock.user_message(openid, "你好");
    }
}

/// The errcode of an answer (0 when absent, as WeChat omits it on success).
pub(crate) fn code(value: &Value) -> i64 {
    value.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// Checks that an error answer carries a `rid`.
pub(crate) fn assert_error(value: &Value, expected: i64) {
    assert_eq!(code(value), expected, "{value}");
    let message = value["errmsg"].as_str().unwrap_or_default();
    assert!(message.contains(" rid: "), "no rid in {message}");
}

pub(crate) const ADD: &str = "/customservice/kfaccount/add";
pub(crate) const UPDATE: &str = "/customservice/kfaccount/update";
pub(crate) const DEL: &str = "/customservice/kfaccount/del";
pub(crate) const INVITE: &str = "/customservice/kfaccount/inviteworker";
pub(crate) const UPLOAD: &str = "/customservice/kfaccount/uploadheadimg";
pub(crate) const LIST: &str = "/cgi-bin/customservice/getkflist";
pub(crate) const ONLINE: &str = "/cgi-bin/customservice/getonlinekflist";
pub(crate) const CREATE: &str = "/customservice/kfsession/create";
pub(crate) const CLOSE: &str = "/customservice/kfsession/close";
pub(crate) const GET_SESSION: &str = "/customservice/kfsession/getsession";
pub(crate) const SESSION_LIST: &str = "/customservice/kfsession/getsessionlist";
pub(crate) const WAIT_CASE: &str = "/customservice/kfsession/getwaitcase";
pub(crate) const MSG_LIST: &str = "/customservice/msgrecord/getmsglist";
pub(crate) const SEND: &str = "/cgi-bin/message/custom/send";
pub(crate) const TYPING: &str = "/cgi-bin/message/custom/typing";
pub(crate) const STABLE_TOKEN: &str = "/cgi-bin/stable_token";
pub(crate) const TOKEN: &str = "/cgi-bin/token";
