//! The runtime fetches tokens itself (authentication is its job), so it holds the two token
//! paths and knows which errcodes mean "refresh the token": these tests keep it in step with the spec.

use wx_kefu_api::meta::EndpointMeta;
use wx_kefu_api::*;

fn endpoint(name: &str) -> &'static EndpointMeta {
    ENDPOINTS
        .iter()
        .copied()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no endpoint {name}"))
}

#[test]
fn token_paths_match_the_spec() {
    let stable = endpoint("get_stable_access_token");
    assert_eq!(wx_kefu_runtime::token::STABLE_TOKEN_PATH, stable.path);
    assert_eq!(stable.method, Method::Post);
    assert!(!stable.auth);
    let classic = endpoint("get_access_token");
    assert_eq!(wx_kefu_runtime::token::CLASSIC_TOKEN_PATH, classic.path);
    assert_eq!(classic.method, Method::Get);
    assert!(!classic.auth);
}

#[test]
fn every_business_call_is_authenticated_and_listed_once() {
    let mut names: Vec<&str> = ENDPOINTS.iter().map(|e| e.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ENDPOINTS.len());
    // The platform's own token call, and restarting its ticket pushes (which authenticates
    // with the component secret), carry no token: the others carry the component token.
    let unauthenticated = ["get_component_access_token", "start_push_ticket"];
    for e in ENDPOINTS
        .iter()
        .filter(|e| e.group != "tokens" && !unauthenticated.contains(&e.name))
    {
        assert!(e.auth, "{} must carry the access token", e.name);
        let docs = match e.group {
            "platform" => "https://developers.weixin.qq.com/doc/oplatform/",
            _ => "https://developers.weixin.qq.com/doc/service/",
        };
        assert!(e.doc_url.starts_with(docs), "{}", e.doc_url);
    }
    for name in unauthenticated {
        assert!(!endpoint(name).auth, "{name}");
    }
}

/// The platform's calls a `Platform` makes itself are the spec's: same paths, and the
/// token calls retried as reads (a new token, like a classic one, is the one to use).
#[test]
fn the_platforms_token_calls_are_reads_and_its_code_exchange_is_not() {
    for name in [
        "get_component_access_token",
        "get_authorizer_token",
        "get_authorizer_list",
        "start_push_ticket",
    ] {
        assert!(endpoint(name).idempotent, "{name}");
    }
    // A code works once: a retry after it may have arrived would answer 61009.
    assert!(!endpoint("query_auth").idempotent);
}

#[test]
fn writes_are_not_idempotent_and_reads_are() {
    for name in [
        "add_kf_account",
        "update_kf_account",
        "del_kf_account",
        "invite_kf_worker",
        "upload_kf_head_img",
        "create_kf_session",
        "close_session",
        "send_custom_message",
        "typing",
    ] {
        assert!(
            !endpoint(name).idempotent,
            "{name} must never be retried once sent"
        );
    }
    for name in [
        "get_kf_list",
        "get_online_kf_list",
        "get_kf_session",
        "get_kf_session_list",
        "get_wait_case",
        "get_msg_list",
    ] {
        assert!(endpoint(name).idempotent, "{name} is a read");
    }
}

#[test]
fn path_prefixes_are_the_irregular_ones_wechat_uses() {
    for (name, path) in [
        ("get_kf_list", "/cgi-bin/customservice/getkflist"),
        (
            "get_online_kf_list",
            "/cgi-bin/customservice/getonlinekflist",
        ),
        ("send_custom_message", "/cgi-bin/message/custom/send"),
        ("typing", "/cgi-bin/message/custom/typing"),
        ("add_kf_account", "/customservice/kfaccount/add"),
        ("del_kf_account", "/customservice/kfaccount/del"),
        (
            "upload_kf_head_img",
            "/customservice/kfaccount/uploadheadimg",
        ),
        ("create_kf_session", "/customservice/kfsession/create"),
        ("get_wait_case", "/customservice/kfsession/getwaitcase"),
        ("get_msg_list", "/customservice/msgrecord/getmsglist"),
    ] {
        assert_eq!(endpoint(name).path, path);
    }
}

#[test]
fn catalogue_flags_drive_the_retry_rules() {
    for code in [40001, 40014, 42001] {
        assert!(ErrCode::from_code(code).is_token_invalid(), "{code}");
    }
    assert!(ErrCode::from_code(-1).is_transient());
    for code in [
        45009, 45011, 45015, 45047, 48001, 65400, 65401, 65402, 65413, 65417,
    ] {
        assert!(ErrCode::from_code(code).is_never_retried(), "{code}");
    }
    for code in [45015, 45047] {
        assert!(ErrCode::from_code(code).is_out_of_window(), "{code}");
    }
    assert_eq!(
        ErrCode::from_code(40125)
            .token_fetch_hint()
            .map(|h| h.contains("secret")),
        Some(true)
    );
    assert_eq!(ErrCode::from_code(123_456), ErrCode::Unknown(123_456));
    for code in ErrCode::ALL {
        assert_eq!(ErrCode::from_code(code.code()), *code);
        assert!(!code.zh().is_empty() && !code.en().is_empty(), "{code:?}");
    }
}

/// The official page of each kefu call, as WeChat's service-account index names it
/// (developers.weixin.qq.com/doc/service/api/…, checked 2026-12): several pages are not
/// named after their path (`inviteworker` → `api_invitekfworker`). A wrong link reaches
/// rustdoc, the README and the CLI's help. Calls added later are not pinned here.
#[test]
fn doc_links_name_the_official_pages() {
    let pages = [
        (
            "/customservice/kfaccount/add",
            "servicermanage/api_addkfaccount",
        ),
        (
            "/customservice/kfaccount/update",
            "servicermanage/api_updatekfaccount",
        ),
        (
            "/customservice/kfaccount/del",
            "servicermanage/api_delkfaccount",
        ),
        (
            "/customservice/kfaccount/inviteworker",
            "servicermanage/api_invitekfworker",
        ),
        (
            "/customservice/kfaccount/uploadheadimg",
            "servicermanage/api_uploadkfheadimg",
        ),
        (
            "/cgi-bin/customservice/getkflist",
            "servicermanage/api_getkflist",
        ),
        (
            "/cgi-bin/customservice/getonlinekflist",
            "servicermanage/api_getonlinekflist",
        ),
        (
            "/cgi-bin/message/custom/send",
            "message/api_sendcustommessage",
        ),
        ("/cgi-bin/message/custom/typing", "message/api_typing"),
        (
            "/customservice/msgrecord/getmsglist",
            "message/api_getmsglist",
        ),
        (
            "/customservice/kfsession/create",
            "messctrl/api_createkfsession",
        ),
        (
            "/customservice/kfsession/close",
            "messctrl/api_closesession",
        ),
        (
            "/customservice/kfsession/getsession",
            "messctrl/api_getkfsession",
        ),
        (
            "/customservice/kfsession/getsessionlist",
            "messctrl/api_getkfsessionlist",
        ),
        (
            "/customservice/kfsession/getwaitcase",
            "messctrl/api_getwaitcase",
        ),
    ];
    for (path, page) in pages {
        let meta = ENDPOINTS
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no endpoint at {path}"));
        assert_eq!(
            meta.doc_url,
            format!("https://developers.weixin.qq.com/doc/service/api/customer/{page}.html"),
            "{}",
            meta.name
        );
    }
}

/// Every endpoint's example request (built by the generator from the spec's examples and
/// types) passes the endpoint's own checks: tools and tests may rely on it.
#[tokio::test]
async fn every_example_request_is_valid() {
    let client = Client::builder()
        .app_id("wx")
        .app_secret("secret")
        .base_url("http://127.0.0.1:9")
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    for meta in ENDPOINTS {
        let example = example_request(meta.name).unwrap_or_else(|| panic!("{}", meta.name));
        let request: serde_json::Value = serde_json::from_str(example).unwrap();
        let outcome = if meta.downloads {
            download_json(&client, meta.name, request).await.map(drop)
        } else {
            call_json(&client, meta.name, request).await.map(drop)
        };
        match outcome {
            // Refused only by the network (or, for an upload, the missing example file).
            Err(dynamic::DynamicError::Call(
                Error::Transport { .. } | Error::Token { .. } | Error::Upload { .. },
            )) => {}
            other => panic!("{}: {example} was not valid: {other:?}", meta.name),
        }
    }
}

/// Whether `{}` decodes into the endpoint's answer type: the runtime's own test for a type
/// nobody described.
fn decodes_from_nothing<E: Endpoint>() -> bool {
    serde_json::from_str::<E::Response>("{}").is_ok()
}

/// The generator says in the metadata whether an answer needs `errcode` 0 (it requires no
/// field of its own); it must say what the type itself would.
#[test]
fn the_metadata_says_which_answers_need_an_errcode_as_their_types_do() {
    macro_rules! verdicts {
        ($($endpoint:ty),* $(,)?) => {
            vec![$((
                <$endpoint as Endpoint>::META.name,
                <$endpoint as Endpoint>::META.answer_needs_errcode,
                decodes_from_nothing::<$endpoint>(),
            )),*]
        };
    }
    let verdicts = verdicts![
        AddKfAccount,
        UpdateKfAccount,
        DelKfAccount,
        InviteKfWorker,
        UploadKfHeadImg,
        GetKfList,
        GetOnlineKfList,
        UploadTempMedia,
        GetTempMedia,
        AddMaterial,
        GetMaterial,
        DelMaterial,
        GetMaterialCount,
        SendCustomMessage,
        Typing,
        SendTemplateMessage,
        SendSubscribeMessage,
        GetAllPrivateTemplate,
        DelPrivateTemplate,
        GetIndustry,
        GetMsgList,
        CreateKfSession,
        CloseSession,
        GetKfSession,
        GetKfSessionList,
        GetWaitCase,
        GetStableAccessToken,
        GetAccessToken,
        StartPushTicket,
        GetComponentAccessToken,
        CreatePreAuthCode,
        QueryAuth,
        GetAuthorizerToken,
        GetAuthorizerList,
        GetAuthorizerInfo,
    ];
    assert_eq!(
        verdicts.len(),
        ENDPOINTS.len(),
        "list every endpoint of the spec here"
    );
    for (name, said, by_type) in verdicts {
        assert_eq!(said, Some(by_type), "{name}");
    }
}
