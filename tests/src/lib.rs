//! wx-kefu-tests: the workspace-level tests live in `tests/tests/`; this library is what
//! they share (a library, so that each test binary uses the part it needs).
//!
//! What the end-to-end tests share: an emulator with a client pointed at it, helpers that
//! unwrap errors of the expected kind, and the leak scan every test ends with.
//!
//! Every error a test produces goes through [`Env::err`] (or a helper built on it), which
//! keeps its `Display`, `Debug` and source chain; [`Env::finish`] then checks that none of
//! them, nor any log line captured in this test binary, holds the app secret or an access
//! token the emulator issued.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wx_kefu_api::validate::Rule;
use wx_kefu_api::*;
use wx_kefu_mock::MockServer;
pub use wx_kefu_test_support::{init_tracing, logs};

/// Retries that are quick but keep the default rules: 3 attempts, millisecond backoff.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::new()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(20))
        .deadline(Duration::from_secs(30))
}

/// An emulator, a client of it, and everything rendered from errors so far.
pub struct Env {
    pub mock: MockServer,
    pub client: Client,
    rendered: Mutex<Vec<String>>,
    /// Further strings that must never appear (wrong secrets tried, tokens seen in answers).
    secrets: Mutex<Vec<String>>,
}

impl Env {
    /// Starts an emulator and a client with [`fast_retries`].
    pub async fn start() -> Env {
        Env::start_with(|builder| builder).await
    }

    /// Starts an emulator and a client whose builder `configure` adjusts.
    pub async fn start_with(configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Env {
        Env::start_on(MockServer::start().await, configure)
    }

    /// A client on `mock` (already started: several hosts, say), its builder adjusted by
    /// `configure`.
    pub fn start_on(
        mock: MockServer,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Env {
        init_tracing();
        let client = configure(builder(&mock)).build().expect("client");
        Env {
            mock,
            client,
            rendered: Mutex::new(Vec::new()),
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// Starts an emulator serving its web view and control API under `/_mock/`.
    pub async fn start_web() -> Env {
        let mock = MockServer::builder()
            .web_view(true)
            .start()
            .await
            .expect("an emulator on 127.0.0.1");
        Env::start_on(mock, |builder| builder)
    }

    /// Another client of the same emulator.
    pub fn client_with(&self, configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
        configure(builder(&self.mock)).build().expect("client")
    }

    /// Adds a string the leak scan must not find (a wrong secret, a token from an answer).
    pub fn forbid(&self, secret: impl Into<String>) {
        self.secrets.lock().unwrap().push(secret.into());
    }

    /// Keeps the renderings of an error for the leak scan and returns it.
    pub fn keep(&self, error: Error) -> Error {
        let mut text = format!("{error}\n{error:?}\n{error:#?}");
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!("\n{cause}\n{cause:?}"));
            source = cause.source();
        }
        self.rendered.lock().unwrap().push(text);
        error
    }

    /// The error of a call that must fail.
    pub fn err<T: Debug>(&self, result: Result<T, Error>) -> Error {
        match result {
            Ok(value) => panic!("the call should fail, but answered {value:?}"),
            Err(error) => self.keep(error),
        }
    }

    /// The error of a call WeChat must refuse with `code`: an [`Error::Api`] with a rid that
    /// is also the tail of its errmsg, and the same errcode in the emulator's log.
    pub fn api_err<T: Debug>(&self, result: Result<T, Error>, code: ErrCode) -> Error {
        let error = self.err(result);
        match &error {
            Error::Api {
                code: got,
                message,
                rid,
                ..
            } => {
                assert_eq!(*got, code, "wrong errcode: {error}");
                let rid = rid.as_deref().unwrap_or_else(|| panic!("no rid: {error}"));
                assert!(
                    rid.len() == 26
                        && rid.split('-').count() == 3
                        && rid.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
                    "rid `{rid}` is not in WeChat's shape"
                );
                assert!(
                    message.ends_with(&format!("rid: {rid}")),
                    "rid not from errmsg: {message}"
                );
                assert_eq!(error.rid(), Some(rid));
                assert_eq!(error.code(), Some(code));
            }
            other => panic!("expected Error::Api({code:?}), got {other:?}"),
        }
        error
    }

    /// The validation failure of a call the SDK must refuse before any I/O: an
    /// [`Error::Invalid`] on `field`, and no request at all reached the emulator.
    pub fn invalid<T: Debug>(&self, result: Result<T, Error>, endpoint: &str, field: &str) -> Rule {
        let before = self.mock.requests().len();
        let error = self.err(result);
        assert_eq!(
            self.mock.requests().len(),
            before,
            "an invalid request reached the emulator"
        );
        assert!(error.is_not_sent(), "{error:?}");
        match error {
            Error::Invalid {
                endpoint: got,
                source,
            } => {
                assert_eq!(got, endpoint);
                assert_eq!(source.field, field, "{source}");
                source.rule
            }
            other => panic!("expected Error::Invalid on `{field}`, got {other:?}"),
        }
    }

    /// The requests the emulator received for a path, as (errcode answered, fault applied?).
    pub fn outcomes(&self, path: &str) -> Vec<Option<i64>> {
        self.mock
            .requests_to(path)
            .iter()
            .map(|r| r.errcode)
            .collect()
    }

    /// The leak scan: no kept error rendering and no captured log line holds the secret or
    /// any token the emulator handed to this test's clients.
    pub async fn finish(self) {
        let mut secrets = self.secrets.lock().unwrap().clone();
        secrets.push(self.mock.secret().to_owned());
        for request in self.mock.requests() {
            if let Some(token) = request.access_token() {
                secrets.push(token.to_owned());
            }
        }
        if let Ok(token) = self.client.access_token().await {
            secrets.push(token.expose().to_owned());
        }
        secrets.retain(|s| !s.is_empty());
        secrets.sort();
        secrets.dedup();
        assert!(
            secrets.len() >= 2,
            "the scan should know the secret and at least one token: {secrets:?}"
        );
        let rendered = self.rendered.lock().unwrap();
        for text in rendered.iter() {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "an error leaks `{secret}`: {text}"
                );
            }
        }
        let logs = logs();
        for secret in &secrets {
            assert!(!logs.contains(secret.as_str()), "the logs leak `{secret}`");
        }
    }
}

/// A client builder for the emulator: its credentials and [`fast_retries`].
pub fn builder(mock: &MockServer) -> ClientBuilder {
    Client::builder()
        .app_id(mock.appid())
        .app_secret(mock.secret())
        .base_url(mock.base_url())
        .retry_policy(fast_retries())
}

/// A minimal JPEG of `len` bytes: the magic bytes, filler, the end marker.
pub fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    bytes.resize(len - 2, 0);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// A PNG of `len` bytes (the signature and an IHDR chunk's start; the rest zeros).
pub fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.resize(len, 0);
    bytes
}

/// An AMR recording of `len` bytes (the header, then silent frames).
pub fn amr(len: usize) -> Vec<u8> {
    let mut bytes = b"#!AMR\n".to_vec();
    bytes.resize(len, 0x7C);
    bytes
}

/// An MP4 of `len` bytes (an `ftyp` box first).
pub fn mp4(len: usize) -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    bytes.resize(len, 0);
    bytes
}

/// Media ids of the four kinds, uploaded through the SDK.
pub struct MediaIds {
    pub image: String,
    pub voice: String,
    pub video: String,
    pub thumb: String,
}

/// Uploads an image, a recording, a video and a thumbnail as temporary media.
pub async fn upload_media(client: &Client) -> MediaIds {
    let upload = |kind: MediaType, data: Vec<u8>, name: &'static str| async move {
        let answer = client
            .upload_temp_media(kind, Upload::bytes(data, name))
            .await
            .unwrap();
        assert_eq!(answer.r#type, kind.as_str());
        answer.media_id
    };
    MediaIds {
        image: upload(MediaType::Image, png(4096), "a.png").await,
        voice: upload(MediaType::Voice, amr(2048), "a.amr").await,
        video: upload(MediaType::Video, mp4(8192), "a.mp4").await,
        thumb: upload(MediaType::Thumb, jpeg(1024), "t.jpg").await,
    }
}

/// The account's server: the SDK's webhook (plain mode, token `token`, on the emulator's
/// clock) on 127.0.0.1, answering each push with `reply` and keeping what it is pushed.
/// Its URL, and what it saw.
pub async fn account_server(
    env: &Env,
    token: &str,
    reply: impl Fn(&inbound::Push) -> inbound::Reply + Clone + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<inbound::Push>>>) {
    let webhook = inbound::Webhook::builder()
        .token(token)
        .plain_mode()
        .app_id(env.mock.appid())
        .clock(env.mock.time_source())
        .build()
        .expect("a webhook");
    let seen: Arc<Mutex<Vec<inbound::Push>>> = Arc::default();
    let log = Arc::clone(&seen);
    let route = inbound::axum::route(webhook, move |push: inbound::Push| {
        let answer = reply(&push);
        log.lock().unwrap().push(push);
        async move { answer }
    });
    let app = axum::Router::new().route("/wechat", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/wechat", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

// ---- log capture ----
