//! Every request type against the exact JSON WeChat expects (the samples in
//! `tests/samples/` and the bodies of API.md), and every endpoint's
//! `Endpoint::parts()`: which fields go to the query, which to the body.

use serde_json::{Value, json};
use wx_kefu_api::*;

const SEND_TEXT: &str = include_str!("samples/send-text.json");
const SEND_MSGMENU: &str = include_str!("samples/send-msgmenu.json");
const SEND_MINIPROGRAMPAGE: &str = include_str!("samples/send-miniprogrampage.json");

fn sample(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The query pairs and the JSON body one attempt of `request` sends.
fn json_parts<E: Endpoint>(request: &E) -> (Vec<(&'static str, String)>, Value) {
    let RequestParts { query, body } = request.parts();
    match body {
        Body::Json(bytes) => (query, serde_json::from_slice(&bytes).unwrap()),
        other => panic!("{}: expected a JSON body, got {other:?}", E::META.name),
    }
}

/// Checks that serde and `parts()` both produce exactly `expected`, with no query pairs.
fn assert_json_body<E: Endpoint + serde::Serialize>(request: &E, expected: Value) {
    assert_eq!(
        serde_json::to_value(request).unwrap(),
        expected,
        "{}: serialised body",
        E::META.name
    );
    let (query, body) = json_parts(request);
    assert_eq!(body, expected, "{}: body of parts()", E::META.name);
    assert!(
        query.is_empty(),
        "{}: unexpected query {query:?}",
        E::META.name
    );
    assert_eq!(E::META.method, Method::Post, "{}", E::META.name);
}

// ---- messages -------------------------------------------------------------------------

#[test]
fn send_text_as_an_agent_matches_the_sample() {
    let request = SendCustomMessage::new("OPENID", Text::new("Hello World"))
        .customservice(CustomService::new("test1@kftest"));
    assert_json_body(&request, sample(SEND_TEXT));
}

#[test]
fn send_msgmenu_matches_the_sample() {
    let menu = MsgMenu::new(vec![
        MenuItem::new("101", "满意"),
        MenuItem::new("102", "不满意"),
    ])
    .head_content("您对本次服务是否满意呢? ")
    .tail_content("欢迎再次光临");
    let request = SendCustomMessage::new("OPENID", menu);
    assert_json_body(&request, sample(SEND_MSGMENU));
}

#[test]
fn send_miniprogrampage_matches_the_sample() {
    let page = MiniProgramPage::new("title", "appid", "pagepath", "thumb_media_id");
    let request = SendCustomMessage::new("OPENID", page);
    assert_json_body(&request, sample(SEND_MINIPROGRAMPAGE));
}

#[test]
fn samples_decode_back_to_the_same_requests() {
    let text: SendCustomMessage = serde_json::from_str(SEND_TEXT).unwrap();
    assert_eq!(
        text,
        SendCustomMessage::new("OPENID", Text::new("Hello World"))
            .customservice(CustomService::new("test1@kftest"))
    );
    let page: SendCustomMessage = serde_json::from_str(SEND_MINIPROGRAMPAGE).unwrap();
    assert_eq!(
        page.message,
        Message::MiniProgramPage(MiniProgramPage::new(
            "title",
            "appid",
            "pagepath",
            "thumb_media_id"
        ))
    );
    assert_eq!(page.customservice, None);
    assert_eq!(page.aimsgcontext, None);
}

#[test]
fn typing_bodies() {
    assert_json_body(
        &Typing::new("OPENID", TypingCommand::Typing),
        json!({"touser":"OPENID","command":"Typing"}),
    );
    assert_json_body(
        &Typing::new("OPENID", TypingCommand::CancelTyping),
        json!({"touser":"OPENID","command":"CancelTyping"}),
    );
}

// ---- accounts -------------------------------------------------------------------------

#[test]
fn add_and_update_account_bodies() {
    let expected = json!({"kf_account":"test1@gh_test","nickname":"客服1"});
    assert_json_body(
        &AddKfAccount::new("test1@gh_test", "客服1"),
        expected.clone(),
    );
    assert_json_body(&UpdateKfAccount::new("test1@gh_test", "客服1"), expected);
}

#[test]
fn delete_account_sends_kf_account_in_query_and_body() {
    let request = DelKfAccount::new("test1@gh_test");
    let (query, body) = json_parts(&request);
    assert_eq!(query, vec![("kf_account", "test1@gh_test".to_owned())]);
    assert_eq!(body, json!({"kf_account":"test1@gh_test"}));
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"kf_account":"test1@gh_test"})
    );
    assert_eq!(DelKfAccount::META.method, Method::Post);
    assert_eq!(DelKfAccount::META.path, "/customservice/kfaccount/del");
}

#[test]
fn invite_worker_body() {
    assert_json_body(
        &InviteKfWorker::new("test1@gh_test", "worker_wx"),
        json!({"kf_account":"test1@gh_test","invite_wx":"worker_wx"}),
    );
}

#[test]
fn upload_head_img_is_multipart_media_with_kf_account_in_query() {
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    let request = UploadKfHeadImg::new("test1@gh_test", Upload::bytes(jpeg, "head.jpg"));
    let RequestParts { query, body } = request.parts();
    assert_eq!(query, vec![("kf_account", "test1@gh_test".to_owned())]);
    let Body::Multipart(file) = body else {
        panic!("expected a multipart body, got {body:?}");
    };
    assert_eq!(file.field, "media");
    assert_eq!(file.limits.max_bytes, 5 * 1024 * 1024);
    assert_eq!(file.limits.kinds, &[FileKind::Jpeg]);
    assert_eq!(file.file.filename(), "head.jpg");
    assert_eq!(UploadKfHeadImg::META.method, Method::Post);
    assert_eq!(
        UploadKfHeadImg::META.path,
        "/customservice/kfaccount/uploadheadimg"
    );
    // parts() is called once per attempt: a second call gives the same parts.
    let RequestParts { query, body } = request.parts();
    assert_eq!(query.len(), 1);
    assert!(matches!(body, Body::Multipart(f) if f.field == "media"));
}

#[test]
fn list_calls_are_bare_gets() {
    fn assert_bare_get<E: Endpoint>(request: &E) {
        let RequestParts { query, body } = request.parts();
        assert!(query.is_empty(), "{}: {query:?}", E::META.name);
        assert!(matches!(body, Body::Empty), "{}: {body:?}", E::META.name);
        assert_eq!(E::META.method, Method::Get, "{}", E::META.name);
    }
    assert_bare_get(&GetKfList::new());
    assert_bare_get(&GetOnlineKfList::new());
    assert_bare_get(&GetWaitCase::new());
}

// ---- sessions -------------------------------------------------------------------------

#[test]
fn create_and_close_session_bodies() {
    let expected = json!({"kf_account":"test1@gh_test","openid":"OPENID"});
    assert_json_body(
        &CreateKfSession::new("test1@gh_test", "OPENID"),
        expected.clone(),
    );
    assert_json_body(&CloseSession::new("test1@gh_test", "OPENID"), expected);
}

#[test]
fn get_session_sends_openid_in_the_query_only() {
    let request = GetKfSession::new("OPENID");
    let RequestParts { query, body } = request.parts();
    assert_eq!(query, vec![("openid", "OPENID".to_owned())]);
    assert!(matches!(body, Body::Empty), "{body:?}");
    assert_eq!(GetKfSession::META.method, Method::Get);
    assert_eq!(serde_json::to_value(&request).unwrap(), json!({}));
}

#[test]
fn get_session_list_sends_kf_account_in_the_query_only() {
    let request = GetKfSessionList::new("test1@gh_test");
    let RequestParts { query, body } = request.parts();
    assert_eq!(query, vec![("kf_account", "test1@gh_test".to_owned())]);
    assert!(matches!(body, Body::Empty), "{body:?}");
    assert_eq!(GetKfSessionList::META.method, Method::Get);
    assert_eq!(serde_json::to_value(&request).unwrap(), json!({}));
}

// ---- records --------------------------------------------------------------------------

#[test]
fn getmsglist_body() {
    assert_json_body(
        &GetMsgList::new(1_700_000_000, 1_700_086_400, 1, 10_000),
        json!({"starttime":1_700_000_000,"endtime":1_700_086_400,"msgid":1,"number":10_000}),
    );
}

// ---- tokens ---------------------------------------------------------------------------

#[test]
fn stable_token_body() {
    let request = GetStableAccessToken::new("client_credential", "wx_APPID", "APPSECRET")
        .force_refresh(false);
    assert_json_body(
        &request,
        json!({"grant_type":"client_credential","appid":"wx_APPID","secret":"APPSECRET","force_refresh":false}),
    );
    let forced = request.clone().force_refresh(true);
    assert_eq!(json_parts(&forced).1["force_refresh"], json!(true));
    // Left unset, force_refresh is not sent (WeChat's default is false).
    let unset = GetStableAccessToken::new("client_credential", "wx_APPID", "APPSECRET");
    assert_eq!(
        json_parts(&unset).1,
        json!({"grant_type":"client_credential","appid":"wx_APPID","secret":"APPSECRET"})
    );
    assert!(!GetStableAccessToken::META.auth);
}

#[test]
fn stable_token_request_debug_hides_the_secret() {
    let request = GetStableAccessToken::new("client_credential", "wx_APPID", "APPSECRET-42");
    let shown = format!("{request:?}");
    assert!(!shown.contains("APPSECRET-42"), "secret leaked: {shown}");
    let classic = GetAccessToken::new("client_credential", "wx_APPID", "APPSECRET-42");
    let shown = format!("{classic:?}");
    assert!(!shown.contains("APPSECRET-42"), "secret leaked: {shown}");
}

#[test]
fn classic_token_is_a_get_with_the_credentials_in_the_query() {
    let request = GetAccessToken::new("client_credential", "wx_APPID", "APPSECRET");
    let RequestParts { query, body } = request.parts();
    assert_eq!(
        query,
        vec![
            ("grant_type", "client_credential".to_owned()),
            ("appid", "wx_APPID".to_owned()),
            ("secret", "APPSECRET".to_owned()),
        ]
    );
    assert!(matches!(body, Body::Empty), "{body:?}");
    assert_eq!(GetAccessToken::META.method, Method::Get);
    assert!(!GetAccessToken::META.auth);
}

// ---- paths ----------------------------------------------------------------------------

/// Every endpoint's method and path, as API.md gives them; the prefixes are irregular
/// (`/cgi-bin/` for getkflist, getonlinekflist and message/custom, none for the rest).
#[test]
fn every_endpoint_has_the_documented_method_and_path() {
    use Method::{Get, Post};
    let expected = [
        ("add_kf_account", Post, "/customservice/kfaccount/add"),
        ("update_kf_account", Post, "/customservice/kfaccount/update"),
        ("del_kf_account", Post, "/customservice/kfaccount/del"),
        (
            "invite_kf_worker",
            Post,
            "/customservice/kfaccount/inviteworker",
        ),
        (
            "upload_kf_head_img",
            Post,
            "/customservice/kfaccount/uploadheadimg",
        ),
        ("get_kf_list", Get, "/cgi-bin/customservice/getkflist"),
        (
            "get_online_kf_list",
            Get,
            "/cgi-bin/customservice/getonlinekflist",
        ),
        ("send_custom_message", Post, "/cgi-bin/message/custom/send"),
        ("typing", Post, "/cgi-bin/message/custom/typing"),
        ("get_msg_list", Post, "/customservice/msgrecord/getmsglist"),
        ("create_kf_session", Post, "/customservice/kfsession/create"),
        ("close_session", Post, "/customservice/kfsession/close"),
        ("get_kf_session", Get, "/customservice/kfsession/getsession"),
        (
            "get_kf_session_list",
            Get,
            "/customservice/kfsession/getsessionlist",
        ),
        ("get_wait_case", Get, "/customservice/kfsession/getwaitcase"),
        ("get_stable_access_token", Post, "/cgi-bin/stable_token"),
        ("get_access_token", Get, "/cgi-bin/token"),
        (
            "start_push_ticket",
            Post,
            "/cgi-bin/component/api_start_push_ticket",
        ),
        (
            "get_component_access_token",
            Post,
            "/cgi-bin/component/api_component_token",
        ),
        (
            "create_pre_auth_code",
            Post,
            "/cgi-bin/component/api_create_preauthcode",
        ),
        ("query_auth", Post, "/cgi-bin/component/api_query_auth"),
        (
            "get_authorizer_token",
            Post,
            "/cgi-bin/component/api_authorizer_token",
        ),
        (
            "get_authorizer_list",
            Post,
            "/cgi-bin/component/api_get_authorizer_list",
        ),
        (
            "get_authorizer_info",
            Post,
            "/cgi-bin/component/api_get_authorizer_info",
        ),
    ];
    // The documented calls are there, as documented; calls added later are not pinned.
    for (name, method, path) in expected {
        let meta = ENDPOINTS
            .iter()
            .find(|meta| meta.name == name)
            .unwrap_or_else(|| panic!("no endpoint {name}"));
        assert_eq!((meta.method, meta.path), (method, path), "{name}");
    }
    for meta in ENDPOINTS {
        // The token calls carry no token: the account's, and the platform's own (its token
        // call, and restarting the ticket pushes, which authenticates with the secret).
        let is_token_call = meta.group == "tokens"
            || matches!(
                meta.name,
                "get_component_access_token" | "start_push_ticket"
            );
        assert_eq!(meta.auth, !is_token_call, "{}: auth", meta.name);
        let docs = match meta.group {
            "platform" => "https://developers.weixin.qq.com/doc/oplatform/",
            _ => "https://developers.weixin.qq.com/doc/service/api/",
        };
        assert!(
            meta.doc_url.starts_with(docs),
            "{}: {}",
            meta.name,
            meta.doc_url
        );
    }
}

/// Reads may be retried; a send never is, since a retry could deliver a message twice.
#[test]
fn reads_are_idempotent_and_sends_are_not() {
    for meta in ENDPOINTS {
        if meta.method == Method::Get {
            assert!(meta.idempotent, "{}: a read must be idempotent", meta.name);
        }
    }
    assert!(!SendCustomMessage::META.idempotent);
    assert!(GetMsgList::META.idempotent);
}
