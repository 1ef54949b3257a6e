//! Bad user input: every validation rule of the spec refuses the call before the network.
//!
//! Each test points a real [`Client`] at a local listener that counts the connections
//! it accepts, makes bad calls through [`KefuApi`], checks the [`Error::Invalid`] names
//! the field and the rule, and then checks the listener saw nothing: no call and no
//! token fetch. A valid call at the end of each test proves the listener is reachable
//! and counting, so a zero can be trusted.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wx_kefu_api::validate::Rule;
use wx_kefu_api::*;

/// A tiny HTTP/1.1 server on 127.0.0.1 that counts connections and records request lines.
/// It answers a token to the token calls and `{"errcode":0,"errmsg":"ok"}` to the rest.
struct Listener {
    base_url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    async fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, log.clone()));
            }
        });
        Listener {
            base_url,
            connections,
            requests,
        }
    }

    fn client(&self) -> Client {
        Client::builder()
            .app_id("wx_test_appid")
            .app_secret("test-secret")
            .base_url(&self.base_url)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The paths (without query) of the requests served so far.
    fn paths(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Asserts nothing reached the listener, then proves it is listening: `valid` is a
    /// call that passes validation, and must reach it after a token fetch.
    async fn assert_untouched_then<T: std::fmt::Debug>(
        &self,
        valid: impl Future<Output = Result<T>>,
        path: &str,
    ) {
        assert_eq!(
            self.connections(),
            0,
            "a refused call reached the network: {:?}",
            self.paths()
        );
        if let Err(error) = valid.await {
            panic!("the valid call failed: {error}");
        }
        assert_eq!(
            self.paths(),
            ["/cgi-bin/stable_token", path],
            "the valid call did not reach the listener as expected"
        );
        assert!(self.connections() >= 1);
    }
}

/// Reads one request (head and a `Content-Length` or chunked body), answers, closes.
async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let content_length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    let mut scanned = head_end;
    loop {
        let complete = match content_length {
            Some(len) => buf.len() - head_end >= len,
            None if chunked => {
                // Only the new bytes (and a possible split terminator) are searched.
                let from = scanned.saturating_sub(4).max(head_end);
                scanned = buf.len();
                find(&buf[from..], b"0\r\n\r\n").is_some()
            }
            None => true,
        };
        if complete {
            break;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request_line = String::from_utf8_lossy(&buf[..head_end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let answer = if path.ends_with("/stable_token") || path.ends_with("/token") {
        r#"{"access_token":"TEST_TOKEN","expires_in":7200}"#
    } else if path.ends_with("/getmsglist") {
        // An answer carrying data must carry it: an empty page.
        r#"{"errcode":0,"errmsg":"ok","recordlist":[],"number":0}"#
    } else if path.ends_with("/template/send") {
        r#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#
    } else {
        r#"{"errcode":0,"errmsg":"ok"}"#
    };
    log.lock().unwrap().push(path);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Asserts `result` is an [`Error::Invalid`] of `endpoint` for `field` breaking `rule`,
/// and that its message names the field.
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T>, endpoint: &str, field: &str, rule: Rule) {
    match &result {
        Err(
            error @ Error::Invalid {
                endpoint: e,
                source,
            },
        ) => {
            assert_eq!(*e, endpoint, "endpoint of {source}");
            assert_eq!(source.field, field, "field of {source}");
            assert_eq!(source.rule, rule, "rule of {source}");
            let shown = error.to_string();
            assert!(shown.starts_with(endpoint), "{shown}");
            assert!(shown.contains(&format!("`{field}`")), "{shown}");
            assert!(error.is_not_sent(), "{shown}");
        }
        other => panic!("expected Error::Invalid for {endpoint}.{field}, got {other:?}"),
    }
}

fn kf_pattern() -> Rule {
    Rule::Pattern {
        pattern: KF_ACCOUNT_PATTERN.source(),
        hint: KF_ACCOUNT_PATTERN.hint(),
    }
}

/// Malformed agent accounts: a space, a prefix of 11, no `@`, a suffix of 31, and more.
fn bad_accounts() -> Vec<String> {
    vec![
        "bad account".to_owned(),
        format!("{}@gh_test", "a".repeat(11)),
        "test1gh_test".to_owned(),
        format!("test1@{}", "b".repeat(31)),
        String::new(),
        "@gh_test".to_owned(),
        "test1@".to_owned(),
        "tes-t1@gh_test".to_owned(),
        "test1@gh@test".to_owned(),
        "test1@gh test".to_owned(),
        "客服@gh_test".to_owned(),
    ]
}

// ---- kf_account -------------------------------------------------------------------------

#[tokio::test]
async fn kf_account_pattern_is_checked_by_every_account_call() {
    let server = Listener::start().await;
    let client = server.client();
    let jpeg = || Upload::bytes(vec![0xFF, 0xD8, 0xFF, 0xE0], "head.jpg");
    for account in bad_accounts() {
        let a = account.as_str();
        let f = "kf_account";
        assert_invalid(
            client.add_kf_account(a, "客服1").await,
            "add_kf_account",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.update_kf_account(a, "客服1").await,
            "update_kf_account",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.del_kf_account(a).await,
            "del_kf_account",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.invite_kf_worker(a, "worker_wx").await,
            "invite_kf_worker",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.upload_kf_head_img(a, jpeg()).await,
            "upload_kf_head_img",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.create_kf_session(a, "OPENID").await,
            "create_kf_session",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.close_session(a, "OPENID").await,
            "close_session",
            f,
            kf_pattern(),
        );
        assert_invalid(
            client.get_kf_session_list(a).await,
            "get_kf_session_list",
            f,
            kf_pattern(),
        );
        let as_agent =
            SendCustomMessage::new("OPENID", Text::new("hi")).customservice(CustomService::new(a));
        assert_invalid(
            client.send_custom_message(as_agent).await,
            "send_custom_message",
            "customservice.kf_account",
            kf_pattern(),
        );
    }
    // The longest valid account: a prefix of 10 and a WeChat ID of 30.
    let longest = format!("{}@{}", "a".repeat(10), "b".repeat(30));
    server
        .assert_untouched_then(
            client.add_kf_account(longest, "客服1"),
            "/customservice/kfaccount/add",
        )
        .await;
}

#[tokio::test]
async fn kf_account_error_names_the_field_and_the_rule() {
    let server = Listener::start().await;
    let client = server.client();
    let error = client.add_kf_account("bad account", "x").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "add_kf_account: invalid request: `kf_account` is malformed: {} (pattern `{}`)",
            KF_ACCOUNT_PATTERN.hint(),
            KF_ACCOUNT_PATTERN.source()
        )
    );
    assert!(error.is_not_sent());
    assert!(!error.is_retryable());
    assert_eq!(error.endpoint(), Some("add_kf_account"));
    assert_eq!(error.code(), None);
    server
        .assert_untouched_then(
            client.del_kf_account("test1@gh_test"),
            "/customservice/kfaccount/del",
        )
        .await;
}

// ---- nickname ---------------------------------------------------------------------------

#[tokio::test]
async fn nickname_counts_characters_not_bytes() {
    let server = Listener::start().await;
    let client = server.client();
    let seventeen = "客".repeat(17);
    for (nickname, rule) in [
        ("", Rule::Required),
        (
            seventeen.as_str(),
            Rule::MaxChars {
                max: 16,
                actual: 17,
            },
        ),
        (
            "abcdefghijklmnopq",
            Rule::MaxChars {
                max: 16,
                actual: 17,
            },
        ),
    ] {
        assert_invalid(
            client.add_kf_account("test1@gh_test", nickname).await,
            "add_kf_account",
            "nickname",
            rule.clone(),
        );
        assert_invalid(
            client.update_kf_account("test1@gh_test", nickname).await,
            "update_kf_account",
            "nickname",
            rule,
        );
    }
    // 16 Chinese characters are 48 bytes, and allowed.
    let sixteen = "客".repeat(16);
    assert_eq!(sixteen.len(), 48);
    server
        .assert_untouched_then(
            client.update_kf_account("test1@gh_test", sixteen),
            "/customservice/kfaccount/update",
        )
        .await;
}

#[tokio::test]
async fn invite_wx_must_be_given_and_bounded() {
    let server = Listener::start().await;
    let client = server.client();
    assert_invalid(
        client.invite_kf_worker("test1@gh_test", "").await,
        "invite_kf_worker",
        "invite_wx",
        Rule::Required,
    );
    assert_invalid(
        client
            .invite_kf_worker("test1@gh_test", "w".repeat(65))
            .await,
        "invite_kf_worker",
        "invite_wx",
        Rule::MaxChars {
            max: 64,
            actual: 65,
        },
    );
    server
        .assert_untouched_then(
            client.invite_kf_worker("test1@gh_test", "w".repeat(64)),
            "/customservice/kfaccount/inviteworker",
        )
        .await;
}

// ---- openid -----------------------------------------------------------------------------

#[tokio::test]
async fn openid_must_not_be_empty() {
    let server = Listener::start().await;
    let client = server.client();
    let long = "o".repeat(129);
    for (openid, rule) in [
        ("", Rule::Required),
        (
            long.as_str(),
            Rule::MaxChars {
                max: 128,
                actual: 129,
            },
        ),
    ] {
        assert_invalid(
            client.typing(openid, TypingCommand::Typing).await,
            "typing",
            "touser",
            rule.clone(),
        );
        assert_invalid(
            client
                .send_custom_message(SendCustomMessage::new(openid, Text::new("hi")))
                .await,
            "send_custom_message",
            "touser",
            rule.clone(),
        );
        assert_invalid(
            client.create_kf_session("test1@gh_test", openid).await,
            "create_kf_session",
            "openid",
            rule.clone(),
        );
        assert_invalid(
            client.close_session("test1@gh_test", openid).await,
            "close_session",
            "openid",
            rule.clone(),
        );
        assert_invalid(
            client.get_kf_session(openid).await,
            "get_kf_session",
            "openid",
            rule,
        );
    }
    server
        .assert_untouched_then(
            client.typing("OPENID", TypingCommand::CancelTyping),
            "/cgi-bin/message/custom/typing",
        )
        .await;
}

// ---- messages ---------------------------------------------------------------------------

fn article() -> Article {
    Article::new()
        .title("t")
        .description("d")
        .url("https://example.com")
        .picurl("https://example.com/p.jpg")
}

#[tokio::test]
async fn news_needs_exactly_one_article() {
    let server = Listener::start().await;
    let client = server.client();
    for articles in [Vec::new(), vec![article(), article()]] {
        let actual = articles.len();
        assert_invalid(
            client
                .send_custom_message(SendCustomMessage::new("OPENID", News::new(articles)))
                .await,
            "send_custom_message",
            "news.articles",
            Rule::Items {
                min: Some(1),
                max: Some(1),
                actual,
            },
        );
    }
    server
        .assert_untouched_then(
            client
                .send_custom_message(SendCustomMessage::new("OPENID", News::new(vec![article()]))),
            "/cgi-bin/message/custom/send",
        )
        .await;
}

#[tokio::test]
async fn msgmenu_needs_items() {
    let server = Listener::start().await;
    let client = server.client();
    assert_invalid(
        client
            .send_custom_message(SendCustomMessage::new(
                "OPENID",
                MsgMenu::new(Vec::new()).head_content("满意吗?"),
            ))
            .await,
        "send_custom_message",
        "msgmenu.list",
        Rule::Items {
            min: Some(1),
            max: None,
            actual: 0,
        },
    );
    for (item, field) in [
        (MenuItem::new("", "满意"), "msgmenu.list.id"),
        (MenuItem::new("101", ""), "msgmenu.list.content"),
    ] {
        assert_invalid(
            client
                .send_custom_message(SendCustomMessage::new("OPENID", MsgMenu::new(vec![item])))
                .await,
            "send_custom_message",
            field,
            Rule::Required,
        );
    }
    server
        .assert_untouched_then(
            client.send_custom_message(SendCustomMessage::new(
                "OPENID",
                MsgMenu::new(vec![MenuItem::new("101", "满意")]),
            )),
            "/cgi-bin/message/custom/send",
        )
        .await;
}

#[tokio::test]
async fn message_payloads_need_their_ids() {
    let server = Listener::start().await;
    let client = server.client();
    let cases: Vec<(Message, &str)> = vec![
        (Text::new("").into(), "text.content"),
        (Image::new("").into(), "image.media_id"),
        (Voice::new("").into(), "voice.media_id"),
        (Video::new("", "THUMB").into(), "video.media_id"),
        (Video::new("MEDIA", "").into(), "video.thumb_media_id"),
        (Music::new("", "HQ", "THUMB").into(), "music.musicurl"),
        (Music::new("U", "", "THUMB").into(), "music.hqmusicurl"),
        (Music::new("U", "HQ", "").into(), "music.thumb_media_id"),
        (MpNews::new("").into(), "mpnews.media_id"),
        (MpNewsArticle::new("").into(), "mpnewsarticle.article_id"),
        (WxCard::new("").into(), "wxcard.card_id"),
        (
            MiniProgramPage::new("t", "", "p", "THUMB").into(),
            "miniprogrampage.appid",
        ),
        (
            MiniProgramPage::new("t", "appid", "", "THUMB").into(),
            "miniprogrampage.pagepath",
        ),
        (
            MiniProgramPage::new("t", "appid", "p", "").into(),
            "miniprogrampage.thumb_media_id",
        ),
    ];
    for (message, field) in cases {
        assert_invalid(
            client
                .send_custom_message(SendCustomMessage::new("OPENID", message))
                .await,
            "send_custom_message",
            field,
            Rule::Required,
        );
    }
    server
        .assert_untouched_then(
            client.send_custom_message(SendCustomMessage::new("OPENID", Image::new("MEDIA"))),
            "/cgi-bin/message/custom/send",
        )
        .await;
}

#[tokio::test]
async fn is_ai_msg_is_zero_or_one() {
    let server = Listener::start().await;
    let client = server.client();
    for value in [2, -1] {
        let request = SendCustomMessage::new("OPENID", Text::new("hi"))
            .aimsgcontext(AiMsgContext::new(value));
        assert_invalid(
            client.send_custom_message(request).await,
            "send_custom_message",
            "aimsgcontext.is_ai_msg",
            Rule::Range {
                min: Some(0),
                max: Some(1),
                actual: value,
            },
        );
    }
    server
        .assert_untouched_then(
            client.send_custom_message(
                SendCustomMessage::new("OPENID", Text::new("hi"))
                    .aimsgcontext(AiMsgContext::new(1)),
            ),
            "/cgi-bin/message/custom/send",
        )
        .await;
}

// ---- records ----------------------------------------------------------------------------

const T0: i64 = 1_700_000_000;

#[tokio::test]
async fn get_msg_list_number_is_between_1_and_10000() {
    let server = Listener::start().await;
    let client = server.client();
    for number in [10_001, 0, -5] {
        assert_invalid(
            client.get_msg_list(T0, T0 + 3600, 1, number).await,
            "get_msg_list",
            "number",
            Rule::Range {
                min: Some(1),
                max: Some(10_000),
                actual: number,
            },
        );
    }
    server
        .assert_untouched_then(
            client.get_msg_list(T0, T0 + 3600, 1, 10_000),
            "/customservice/msgrecord/getmsglist",
        )
        .await;
}

#[tokio::test]
async fn get_msg_list_msgid_starts_at_1() {
    let server = Listener::start().await;
    let client = server.client();
    assert_invalid(
        client.get_msg_list(T0, T0 + 3600, 0, 100).await,
        "get_msg_list",
        "msgid",
        Rule::Range {
            min: Some(1),
            max: None,
            actual: 0,
        },
    );
    assert_invalid(
        client.get_msg_list(-1, T0, 1, 100).await,
        "get_msg_list",
        "starttime",
        Rule::Range {
            min: Some(0),
            max: None,
            actual: -1,
        },
    );
    server
        .assert_untouched_then(
            client.get_msg_list(T0, T0 + 3600, 1, 1),
            "/customservice/msgrecord/getmsglist",
        )
        .await;
}

#[tokio::test]
async fn get_msg_list_window_is_at_most_24_hours_and_forward() {
    let server = Listener::start().await;
    let client = server.client();
    for (start, end) in [(T0, T0 + 86_401), (T0, T0 - 100), (0, 2 * 86_400)] {
        assert_invalid(
            client.get_msg_list(start, end, 1, 100).await,
            "get_msg_list",
            "endtime",
            Rule::Span {
                start: "starttime",
                end: "endtime",
                max: 86_400,
                actual: end - start,
            },
        );
    }
    // Exactly 24 hours, and an empty window, are allowed.
    assert_eq!(server.connections(), 0);
    client.get_msg_list(T0, T0, 1, 100).await.unwrap();
    server.requests.lock().unwrap().clear();
    let before = server.connections();
    client.get_msg_list(T0, T0 + 86_400, 1, 100).await.unwrap();
    assert_eq!(
        server.paths(),
        ["/customservice/msgrecord/getmsglist"],
        "the token is cached"
    );
    assert!(server.connections() > before);
}

// ---- uploads ----------------------------------------------------------------------------

const FIVE_MB: u64 = 5 * 1024 * 1024;

fn jpeg_of(len: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; len];
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    bytes
}

#[tokio::test]
async fn upload_refuses_a_file_over_5_mb() {
    let server = Listener::start().await;
    let client = server.client();
    let six_mb = 6 * 1024 * 1024;
    assert_invalid(
        client
            .upload_kf_head_img("test1@gh_test", Upload::bytes(jpeg_of(six_mb), "head.jpg"))
            .await,
        "upload_kf_head_img",
        "media",
        Rule::FileTooLarge {
            max: FIVE_MB,
            actual: six_mb as u64,
        },
    );
    // One byte over is too much as well.
    let over = FIVE_MB as usize + 1;
    assert_invalid(
        client
            .upload_kf_head_img("test1@gh_test", Upload::bytes(jpeg_of(over), "head.jpg"))
            .await,
        "upload_kf_head_img",
        "media",
        Rule::FileTooLarge {
            max: FIVE_MB,
            actual: over as u64,
        },
    );
    // A file on disk is measured before it is sent.
    let path = std::env::temp_dir().join(format!("wx-kefu-api-6mb-{}.jpg", std::process::id()));
    std::fs::write(&path, jpeg_of(six_mb)).unwrap();
    let result = client
        .upload_kf_head_img("test1@gh_test", Upload::path(&path))
        .await;
    std::fs::remove_file(&path).unwrap();
    assert_invalid(
        result,
        "upload_kf_head_img",
        "media",
        Rule::FileTooLarge {
            max: FIVE_MB,
            actual: six_mb as u64,
        },
    );
    // Exactly 5 MB is allowed.
    server
        .assert_untouched_then(
            client.upload_kf_head_img(
                "test1@gh_test",
                Upload::bytes(jpeg_of(FIVE_MB as usize), "head.jpg"),
            ),
            "/customservice/kfaccount/uploadheadimg",
        )
        .await;
}

#[tokio::test]
async fn upload_refuses_what_is_not_a_jpeg() {
    let server = Listener::start().await;
    let client = server.client();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let jpeg_type = || Rule::FileType { expected: "JPEG" };
    // Its name says .jpg, its bytes say PNG: the bytes win.
    assert_invalid(
        client
            .upload_kf_head_img("test1@gh_test", Upload::bytes(png.clone(), "head.jpg"))
            .await,
        "upload_kf_head_img",
        "media",
        jpeg_type(),
    );
    assert_invalid(
        client
            .upload_kf_head_img("test1@gh_test", Upload::bytes(png, "head.png"))
            .await,
        "upload_kf_head_img",
        "media",
        jpeg_type(),
    );
    assert_invalid(
        client
            .upload_kf_head_img("test1@gh_test", Upload::bytes(Vec::new(), "empty.jpg"))
            .await,
        "upload_kf_head_img",
        "media",
        Rule::FileEmpty,
    );
    server
        .assert_untouched_then(
            client.upload_kf_head_img("test1@gh_test", Upload::bytes(jpeg_of(64), "head.jpg")),
            "/customservice/kfaccount/uploadheadimg",
        )
        .await;
}

#[tokio::test]
async fn upload_of_a_missing_file_fails_before_the_network() {
    let server = Listener::start().await;
    let client = server.client();
    let missing = std::env::temp_dir().join("wx-kefu-api-no-such-file.jpg");
    let error = client
        .upload_kf_head_img("test1@gh_test", Upload::path(&missing))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Upload { endpoint, .. } if *endpoint == "upload_kf_head_img"),
        "{error:?}"
    );
    assert!(error.is_not_sent());
    assert_eq!(server.connections(), 0);
}

// ---- tokens -----------------------------------------------------------------------------

#[tokio::test]
async fn token_calls_need_appid_and_secret() {
    let server = Listener::start().await;
    let client = server.client();
    assert_invalid(
        client
            .get_stable_access_token(GetStableAccessToken::new("client_credential", "", "s"))
            .await,
        "get_stable_access_token",
        "appid",
        Rule::Required,
    );
    assert_invalid(
        client
            .get_stable_access_token(GetStableAccessToken::new("client_credential", "wx", ""))
            .await,
        "get_stable_access_token",
        "secret",
        Rule::Required,
    );
    assert_invalid(
        client.get_access_token("client_credential", "", "s").await,
        "get_access_token",
        "appid",
        Rule::Required,
    );
    assert_invalid(
        client.get_access_token("client_credential", "wx", "").await,
        "get_access_token",
        "secret",
        Rule::Required,
    );
    assert_eq!(server.connections(), 0);
}

// ---- template messages and subscribe notifications -------------------------------------

fn pattern_rule(pattern: &validate::Pattern) -> Rule {
    Rule::Pattern {
        pattern: pattern.source(),
        hint: pattern.hint(),
    }
}

fn template_data() -> std::collections::BTreeMap<String, TemplateValue> {
    std::collections::BTreeMap::from([("keyword1".to_owned(), TemplateValue::new("巧克力"))])
}

#[tokio::test]
async fn a_template_message_is_checked_field_by_field() {
    let server = Listener::start().await;
    let client = server.client();
    let send = |request: SendTemplateMessage| client.send_template_message(request);
    assert_invalid(
        send(SendTemplateMessage::new("", "TEMPLATE_ID", template_data())).await,
        "send_template_message",
        "touser",
        Rule::Required,
    );
    assert_invalid(
        send(SendTemplateMessage::new("OPENID", "", template_data())).await,
        "send_template_message",
        "template_id",
        Rule::Required,
    );
    assert_invalid(
        send(SendTemplateMessage::new(
            "OPENID",
            "TEMPLATE_ID",
            Default::default(),
        ))
        .await,
        "send_template_message",
        "data",
        Rule::Items {
            min: Some(1),
            max: None,
            actual: 0,
        },
    );
    let red = std::collections::BTreeMap::from([(
        "keyword1".to_owned(),
        TemplateValue::new("巧克力").color("red"),
    )]);
    assert_invalid(
        send(SendTemplateMessage::new("OPENID", "TEMPLATE_ID", red)).await,
        "send_template_message",
        "data.keyword1.color",
        pattern_rule(&TEMPLATE_VALUE_COLOR_PATTERN),
    );
    assert_invalid(
        send(
            SendTemplateMessage::new("OPENID", "TEMPLATE_ID", template_data())
                .client_msg_id("x".repeat(65)),
        )
        .await,
        "send_template_message",
        "client_msg_id",
        Rule::MaxChars {
            max: 64,
            actual: 65,
        },
    );
    assert_invalid(
        send(SendTemplateMessage::new("OPENID", "TEMPLATE_ID", template_data()).url("")).await,
        "send_template_message",
        "url",
        Rule::Required,
    );
    assert_invalid(
        send(
            SendTemplateMessage::new("OPENID", "TEMPLATE_ID", template_data())
                .miniprogram(TemplateMiniProgram::new("")),
        )
        .await,
        "send_template_message",
        "miniprogram.appid",
        Rule::Required,
    );
    server
        .assert_untouched_then(
            send(
                SendTemplateMessage::new("OPENID", "TEMPLATE_ID", template_data())
                    .client_msg_id("x".repeat(64)),
            ),
            "/cgi-bin/message/template/send",
        )
        .await;
}

fn subscribe(key: &str, value: &str) -> SendSubscribeMessage {
    SendSubscribeMessage::new(
        "OPENID",
        "TEMPLATE_ID",
        std::collections::BTreeMap::from([(key.to_owned(), SubscribeValue::new(value))]),
    )
}

#[tokio::test]
async fn each_subscribe_value_follows_the_rule_of_its_keys_kind() {
    let server = Listener::start().await;
    let client = server.client();
    let max = |max: u32, actual: usize| Rule::MaxChars { max, actual };
    let cases: Vec<(&str, String, Rule)> = vec![
        ("thing1", "一".repeat(21), max(20, 21)),
        (
            "number2",
            "12a".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_NUMBER_PATTERN),
        ),
        ("number3", "1".repeat(33), max(32, 33)),
        (
            "letter4",
            "ab1".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_LETTER_PATTERN),
        ),
        ("symbol5", "!!!!!!".into(), max(5, 6)),
        (
            "symbol6",
            "a!".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_SYMBOL_PATTERN),
        ),
        (
            "character_string7",
            "订单".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_CHARACTER_STRING_PATTERN),
        ),
        (
            "time8",
            "下午三点".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_TIME_PATTERN),
        ),
        (
            "date9",
            "tomorrow".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_DATE_PATTERN),
        ),
        (
            "amount10",
            "¥12345678901".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_AMOUNT_PATTERN),
        ),
        ("phone_number11", "1".repeat(18), max(17, 18)),
        (
            "phone_number12",
            "call me".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_PHONE_NUMBER_PATTERN),
        ),
        ("car_number13", "粤A8Z888挂X".into(), max(8, 9)),
        (
            "car_number14",
            "粤A-8888".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_CAR_NUMBER_PATTERN),
        ),
        (
            "name15",
            "张三李四王五赵六孙七x".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_NAME_PATTERN),
        ),
        ("phrase16", "正常结束了吗啊".into(), max(5, 7)),
        (
            "phrase17",
            "ok".into(),
            pattern_rule(&SEND_SUBSCRIBE_MESSAGE_DATA_PHRASE_PATTERN),
        ),
        ("thing18", String::new(), Rule::Required),
    ];
    for (key, value, rule) in cases {
        assert_invalid(
            client.send_subscribe_message(subscribe(key, &value)).await,
            "send_subscribe_message",
            &format!("data.{key}.value"),
            rule,
        );
    }
    // Values that follow their kind's rule, and a kind the spec does not know (unchecked).
    let valid = [
        ("thing1", "您的订单已发货"),
        ("number2", "339208499.5"),
        ("letter3", "abc"),
        ("symbol4", "!?"),
        ("character_string5", "AB-2020011316024527670"),
        ("time6", "2019年10月1日 15:01"),
        ("date7", "2019年10月1日~2019年10月2日"),
        ("amount8", "¥6000.00元"),
        ("phone_number9", "+86-0766-66888866"),
        ("car_number10", "粤A8Z888挂"),
        ("name11", "张三"),
        ("phrase12", "配送中"),
        ("site13", "任何内容都不检查"),
    ];
    for (key, value) in valid {
        let request = subscribe(key, value);
        assert_eq!(Endpoint::validate(&request), Ok(()), "{key}: {value}");
    }
    server
        .assert_untouched_then(
            client.send_subscribe_message(subscribe("thing1", "您的订单已发货")),
            "/cgi-bin/message/subscribe/bizsend",
        )
        .await;
}
