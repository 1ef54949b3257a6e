//! Every endpoint through the SDK against the emulator: the happy path (the answer and the
//! emulator's state after it) and each documented error, as an `Error::Api` with its errcode
//! and rid — or, where the SDK's own checks make WeChat's answer unreachable, an
//! `Error::Invalid` that never reached the emulator.

use wx_kefu_tests as common;

use std::time::Duration;

use common::{Env, MediaIds, jpeg, upload_media};
use serde_json::json;
use wx_kefu_api::validate::Rule;
use wx_kefu_api::*;
use wx_kefu_mock::{
    Fault, InvitationStatus, OPERCODE_AGENT_RECEIVED, OPERCODE_AGENT_SENT, UserEvent,
};

const STABLE_TOKEN: &str = "/cgi-bin/stable_token";
const CLASSIC_TOKEN: &str = "/cgi-bin/token";
const ADD: &str = "/customservice/kfaccount/add";
const UPDATE: &str = "/customservice/kfaccount/update";
const DEL: &str = "/customservice/kfaccount/del";
const INVITE: &str = "/customservice/kfaccount/inviteworker";
const UPLOAD: &str = "/customservice/kfaccount/uploadheadimg";
const KF_LIST: &str = "/cgi-bin/customservice/getkflist";
const ONLINE_LIST: &str = "/cgi-bin/customservice/getonlinekflist";
const CREATE: &str = "/customservice/kfsession/create";
const CLOSE: &str = "/customservice/kfsession/close";
const GET_SESSION: &str = "/customservice/kfsession/getsession";
const SESSION_LIST: &str = "/customservice/kfsession/getsessionlist";
const WAIT_CASE: &str = "/customservice/kfsession/getwaitcase";
const MSG_LIST: &str = "/customservice/msgrecord/getmsglist";
const SEND: &str = "/cgi-bin/message/custom/send";
const TYPING: &str = "/cgi-bin/message/custom/typing";

const ALICE: &str = "alice@gh_e2e";
const BOB: &str = "bob@gh_e2e";
const CAROL: &str = "carol@gh_e2e";
const USER: &str = "o_e2e_user_1";
const USER2: &str = "o_e2e_user_2";

/// The JSON body of the last request to `path`.
fn last_body(env: &Env, path: &str) -> serde_json::Value {
    let requests = env.mock.requests_to(path);
    let last = requests.last().expect("a request");
    last.json()
        .unwrap_or_else(|| panic!("not JSON: {}", last.body))
}

/// The method of every request to `path`.
fn methods(env: &Env, path: &str) -> Vec<String> {
    env.mock
        .requests_to(path)
        .iter()
        .map(|r| r.method.clone())
        .collect()
}

// ---- access tokens ----

#[tokio::test]
async fn stable_token_happy_path_and_errors() {
    let env = Env::start().await;
    let (appid, secret) = (env.mock.appid().to_owned(), env.mock.secret().to_owned());
    let request = || GetStableAccessToken::new("client_credential", &appid, &secret);

    let first = env.client.get_stable_access_token(request()).await.unwrap();
    assert!(
        (7190..=7200).contains(&first.expires_in),
        "{}",
        first.expires_in
    );
    assert!(first.access_token.len() >= 32);
    env.forbid(first.access_token.clone());
    assert_eq!(env.mock.stable_token_fetches(), 1);
    let logged = &env.mock.requests_to(STABLE_TOKEN)[0];
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.access_token(), None, "a token call carries no token");
    let body = logged.json().unwrap();
    assert_eq!(body["grant_type"], "client_credential");
    assert_eq!(body["appid"], appid.as_str());
    assert_eq!(body["secret"], "<redacted>");

    // Normal mode: the same token while it is valid.
    let again = env.client.get_stable_access_token(request()).await.unwrap();
    assert_eq!(again.access_token, first.access_token);
    assert_eq!(env.mock.stable_token_fetches(), 2);

    // force_refresh rotates it, and the client's own calls then use the new one.
    let forced = env
        .client
        .get_stable_access_token(request().force_refresh(true))
        .await
        .unwrap();
    env.forbid(forced.access_token.clone());
    assert_ne!(forced.access_token, first.access_token);
    assert_eq!(
        env.mock.requests_to(STABLE_TOKEN)[2].json().unwrap()["force_refresh"],
        true
    );
    env.client.get_kf_list().await.unwrap();
    assert_eq!(
        env.mock.requests_to(KF_LIST)[0].access_token(),
        Some(forced.access_token.as_str())
    );

    // A second forced refresh within 30 s: 45011, never retried.
    let before = env.mock.requests_to(STABLE_TOKEN).len();
    env.api_err(
        env.client
            .get_stable_access_token(request().force_refresh(true))
            .await,
        ErrCode::ApiMinuteQuotaReached,
    );
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), before + 1);

    // Wrong secret, wrong appid: each answered once, not retried.
    env.forbid("0123456789abcdef0123456789abcdef");
    let before = env.mock.requests_to(STABLE_TOKEN).len();
    env.api_err(
        env.client
            .get_stable_access_token(GetStableAccessToken::new(
                "client_credential",
                &appid,
                "0123456789abcdef0123456789abcdef",
            ))
            .await,
        ErrCode::InvalidAppsecret,
    );
    env.api_err(
        env.client
            .get_stable_access_token(GetStableAccessToken::new(
                "client_credential",
                "wx_not_this_app",
                &secret,
            ))
            .await,
        ErrCode::InvalidAppid,
    );
    assert_eq!(env.mock.requests_to(STABLE_TOKEN).len(), before + 2);
    // A grant_type other than client_credential (WeChat's 40002) is refused before sending.
    env.invalid(
        env.client
            .get_stable_access_token(GetStableAccessToken::new("password", &appid, &secret))
            .await,
        "get_stable_access_token",
        "grant_type",
    );

    // Empty credentials are refused before sending.
    env.invalid(
        env.client
            .get_stable_access_token(GetStableAccessToken::new("client_credential", "", &secret))
            .await,
        "get_stable_access_token",
        "appid",
    );
    env.invalid(
        env.client
            .get_stable_access_token(GetStableAccessToken::new("client_credential", &appid, ""))
            .await,
        "get_stable_access_token",
        "secret",
    );
    env.finish().await;
}

#[tokio::test]
async fn classic_token_happy_path_and_errors() {
    let env = Env::start().await;
    let (appid, secret) = (env.mock.appid().to_owned(), env.mock.secret().to_owned());

    let first = env
        .client
        .get_access_token("client_credential", &appid, &secret)
        .await
        .unwrap();
    let second = env
        .client
        .get_access_token("client_credential", &appid, &secret)
        .await
        .unwrap();
    env.forbid(first.access_token.clone());
    env.forbid(second.access_token.clone());
    assert_eq!(first.expires_in, 7200);
    assert_ne!(
        first.access_token, second.access_token,
        "each fetch is a new token"
    );
    assert_eq!(env.mock.classic_token_fetches(), 2);
    assert_eq!(env.mock.stable_token_fetches(), 0);
    assert_eq!(methods(&env, CLASSIC_TOKEN), ["GET", "GET"]);
    let logged = &env.mock.requests_to(CLASSIC_TOKEN)[0];
    assert_eq!(logged.query_param("grant_type"), Some("client_credential"));
    assert_eq!(logged.query_param("appid"), Some(appid.as_str()));
    assert_eq!(logged.access_token(), None);

    env.forbid("fedcba9876543210fedcba9876543210");
    env.api_err(
        env.client
            .get_access_token(
                "client_credential",
                &appid,
                "fedcba9876543210fedcba9876543210",
            )
            .await,
        ErrCode::InvalidAppsecret,
    );
    env.api_err(
        env.client
            .get_access_token("client_credential", "wx_other", &secret)
            .await,
        ErrCode::InvalidAppid,
    );
    env.invalid(
        env.client
            .get_access_token("authorization_code", &appid, &secret)
            .await,
        "get_access_token",
        "grant_type",
    );
    assert_eq!(env.mock.requests_to(CLASSIC_TOKEN).len(), 4);
    assert_eq!(env.mock.classic_token_fetches(), 2);
    env.invalid(
        env.client
            .get_access_token("client_credential", &appid, "")
            .await,
        "get_access_token",
        "secret",
    );
    env.finish().await;
}

#[tokio::test]
async fn a_client_with_a_wrong_secret_gets_a_typed_token_error_once() {
    let env = Env::start().await;
    env.forbid("00000000000000000000000000000000");
    for mode in [TokenMode::Stable, TokenMode::Classic] {
        let client = env.client_with(|b| {
            b.app_secret("00000000000000000000000000000000")
                .token_mode(mode)
        });
        let before = env.mock.requests().len();
        let error = env.err(client.get_kf_list().await);
        match &error {
            Error::Token {
                code, hint, rid, ..
            } => {
                assert_eq!(*code, Some(ErrCode::InvalidAppsecret));
                assert!(!hint.is_empty());
                assert!(rid.is_some(), "{error}");
            }
            other => panic!("expected Error::Token, got {other:?}"),
        }
        assert!(error.is_token_error());
        assert!(!error.is_retryable());
        // One token request, no business request.
        let seen = &env.mock.requests()[before..];
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].path.ends_with("token"), "{}", seen[0].path);
        assert_eq!(seen[0].errcode, Some(40125));
    }
    assert_eq!(env.mock.requests_to(KF_LIST).len(), 0);
    // The scan needs a token: the good client fetches one.
    env.client.get_kf_list().await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn forced_refreshes_are_limited_to_20_a_day() {
    let env = Env::start().await;
    let (appid, secret) = (env.mock.appid().to_owned(), env.mock.secret().to_owned());
    let force =
        || GetStableAccessToken::new("client_credential", &appid, &secret).force_refresh(true);
    let mut tokens = Vec::new();
    for _ in 0..20 {
        let answer = env.client.get_stable_access_token(force()).await.unwrap();
        env.forbid(answer.access_token.clone());
        tokens.push(answer.access_token);
        env.mock.advance(Duration::from_secs(31));
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 20, "each forced refresh is a new token");
    env.api_err(
        env.client.get_stable_access_token(force()).await,
        ErrCode::ApiDailyQuotaReached,
    );
    assert_eq!(
        env.mock.requests_to(STABLE_TOKEN).len(),
        21,
        "45009 is never retried"
    );
    // A day later the quota is back.
    env.mock.advance(Duration::from_secs(86_400));
    let answer = env.client.get_stable_access_token(force()).await.unwrap();
    env.forbid(answer.access_token);
    env.finish().await;
}

/// Documented errors the emulator has no state for (a blocked user, a wrong account type,
/// an IP allow-list): injected, they surface typed, with their rid, and are not retried.
#[tokio::test]
async fn injected_documented_errors_surface_typed_and_are_not_retried() {
    let env = Env::start().await;
    let (appid, secret) = (env.mock.appid().to_owned(), env.mock.secret().to_owned());
    env.mock.user_message(USER, "hi");
    let send = || SendCustomMessage::new(USER, Text::new("x"));
    for (code, expected) in [
        (48002, ErrCode::UserRefusedMessages),
        (45002, ErrCode::ContentTooLong),
        (48001, ErrCode::ApiUnauthorized),
        (48004, ErrCode::ApiBanned),
    ] {
        env.mock.inject(Fault::errcode(code).on_path(SEND).times(3));
        env.api_err(env.client.send_custom_message(send()).await, expected);
        env.mock.clear_faults();
    }
    assert_eq!(
        env.outcomes(SEND),
        [Some(48002), Some(45002), Some(48001), Some(48004)]
    );
    for (code, expected) in [
        (40200, ErrCode::InvalidAccountType),
        (45072, ErrCode::InvalidTypingCommand),
    ] {
        env.mock
            .inject(Fault::errcode(code).on_path(TYPING).times(3));
        env.api_err(
            env.client.typing(USER, TypingCommand::Typing).await,
            expected,
        );
        env.mock.clear_faults();
    }
    assert_eq!(env.outcomes(TYPING), [Some(40200), Some(45072)]);
    env.mock
        .inject(Fault::errcode(40164).on_path(STABLE_TOKEN).times(3));
    env.api_err(
        env.client
            .get_stable_access_token(GetStableAccessToken::new(
                "client_credential",
                &appid,
                &secret,
            ))
            .await,
        ErrCode::IpNotAllowed,
    );
    env.mock.clear_faults();
    // A code outside the catalogue keeps its number.
    env.mock.inject(Fault::errcode(99_999).on_path(KF_LIST));
    let error = env.api_err(env.client.get_kf_list().await, ErrCode::Unknown(99_999));
    assert_eq!(error.code().map(ErrCode::code), Some(99_999));
    assert_eq!(env.mock.sessions().len(), 0);
    env.finish().await;
}

// ---- agent accounts ----

#[tokio::test]
async fn add_update_and_delete_an_account() {
    let env = Env::start().await;
    env.client
        .add_kf_account(ALICE, "Alice 客服")
        .await
        .unwrap();
    let accounts = env.mock.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].kf_account, ALICE);
    assert_eq!(accounts[0].nickname, "Alice 客服");
    assert_eq!(accounts[0].kf_id, 1001);
    assert_eq!(accounts[0].kf_wx, None);
    assert!(!accounts[0].online);
    assert_eq!(
        last_body(&env, ADD),
        json!({"kf_account": ALICE, "nickname": "Alice 客服"})
    );
    assert_eq!(methods(&env, ADD), ["POST"]);

    // Sixteen characters are allowed, whatever their bytes.
    let sixteen = "客".repeat(16);
    env.client.add_kf_account(BOB, &sixteen).await.unwrap();
    assert_eq!(env.mock.account(BOB).unwrap().nickname, sixteen);
    assert_eq!(env.mock.account(BOB).unwrap().kf_id, 1002);

    // 65406: exists (not retried: one request).
    env.api_err(
        env.client.add_kf_account(ALICE, "Again").await,
        ErrCode::KfAccountExists,
    );
    assert_eq!(env.outcomes(ADD), [Some(0), Some(0), Some(65406)]);
    assert_eq!(env.mock.account(ALICE).unwrap().nickname, "Alice 客服");

    // 65403 / 65404 cannot be reached: the SDK refuses first.
    let rule = env.invalid(
        env.client.add_kf_account("no-at-sign", "Nick").await,
        "add_kf_account",
        "kf_account",
    );
    assert!(matches!(rule, Rule::Pattern { .. }), "{rule:?}");
    env.invalid(
        env.client
            .add_kf_account("eleven_char@gh_e2e", "Nick")
            .await,
        "add_kf_account",
        "kf_account",
    );
    env.invalid(
        env.client
            .add_kf_account(format!("a@{}", "x".repeat(31)), "Nick")
            .await,
        "add_kf_account",
        "kf_account",
    );
    let rule = env.invalid(
        env.client.add_kf_account(CAROL, "客".repeat(17)).await,
        "add_kf_account",
        "nickname",
    );
    assert_eq!(
        rule,
        Rule::MaxChars {
            max: 16,
            actual: 17
        }
    );
    env.invalid(
        env.client.add_kf_account(CAROL, "").await,
        "add_kf_account",
        "nickname",
    );
    assert_eq!(env.mock.accounts().len(), 2);

    // Update.
    env.client
        .update_kf_account(ALICE, "Alice 2")
        .await
        .unwrap();
    assert_eq!(env.mock.account(ALICE).unwrap().nickname, "Alice 2");
    assert_eq!(
        last_body(&env, UPDATE),
        json!({"kf_account": ALICE, "nickname": "Alice 2"})
    );
    env.api_err(
        env.client.update_kf_account(CAROL, "Carol").await,
        ErrCode::InvalidKfAccount,
    );
    env.invalid(
        env.client.update_kf_account(ALICE, "x".repeat(17)).await,
        "update_kf_account",
        "nickname",
    );
    env.invalid(
        env.client.update_kf_account("bad account", "x").await,
        "update_kf_account",
        "kf_account",
    );
    assert_eq!(env.outcomes(UPDATE), [Some(0), Some(65401)]);

    // Delete: the account travels in the body and in the query.
    env.client.del_kf_account(BOB).await.unwrap();
    let logged = env.mock.requests_to(DEL).pop().unwrap();
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.query_param("kf_account"), Some(BOB));
    assert_eq!(logged.json().unwrap(), json!({"kf_account": BOB}));
    let left: Vec<_> = env
        .mock
        .accounts()
        .into_iter()
        .map(|a| a.kf_account)
        .collect();
    assert_eq!(left, [ALICE]);
    env.api_err(
        env.client.del_kf_account(BOB).await,
        ErrCode::InvalidKfAccount,
    );
    env.invalid(
        env.client.del_kf_account("@gh_e2e").await,
        "del_kf_account",
        "kf_account",
    );
    assert_eq!(env.outcomes(DEL), [Some(0), Some(65401)]);
    env.finish().await;
}

#[tokio::test]
async fn the_hundred_and_first_account_is_refused() {
    let env = Env::start().await;
    for i in 0..99 {
        env.mock
            .add_account(&format!("a{i}@gh_e2e"), &format!("Agent {i}"))
            .unwrap();
    }
    env.client
        .add_kf_account("a99@gh_e2e", "Agent 99")
        .await
        .unwrap();
    assert_eq!(env.mock.accounts().len(), 100);
    env.api_err(
        env.client.add_kf_account("a100@gh_e2e", "Agent 100").await,
        ErrCode::TooManyKfAccounts,
    );
    assert_eq!(env.mock.accounts().len(), 100);
    assert!(env.mock.account("a100@gh_e2e").is_none());
    assert_eq!(env.outcomes(ADD), [Some(0), Some(65405)]);
    // After a delete there is room again.
    env.client.del_kf_account("a0@gh_e2e").await.unwrap();
    env.client
        .add_kf_account("a100@gh_e2e", "Agent 100")
        .await
        .unwrap();
    assert_eq!(env.mock.accounts().len(), 100);
    let list = env.client.get_kf_list().await.unwrap();
    assert_eq!(list.kf_list.len(), 100);
    assert_eq!(list.kf_list[99].kf_account, "a100@gh_e2e");
    env.finish().await;
}

#[tokio::test]
async fn the_invitation_flow_and_its_errors() {
    let env = Env::start().await;
    for account in [ALICE, BOB, CAROL] {
        env.client.add_kf_account(account, "Agent").await.unwrap();
    }
    let now = env.mock.now();

    env.client
        .invite_kf_worker(ALICE, "wx_alice")
        .await
        .unwrap();
    assert_eq!(
        last_body(&env, INVITE),
        json!({"kf_account": ALICE, "invite_wx": "wx_alice"})
    );
    let invitation = env.mock.account(ALICE).unwrap().invitation.unwrap();
    assert_eq!(invitation.invite_wx, "wx_alice");
    assert_eq!(invitation.status, InvitationStatus::Waiting);
    assert!((now + 7 * 86_400..=now + 7 * 86_400 + 5).contains(&invitation.expire_time));
    let listed = env.client.get_kf_list().await.unwrap();
    let alice = &listed.kf_list[0];
    assert_eq!(alice.invite_wx.as_deref(), Some("wx_alice"));
    assert_eq!(alice.invite_status, Some(InviteStatus::Waiting));
    assert_eq!(alice.invite_expire_time, Some(invitation.expire_time));
    assert_eq!(alice.kf_wx, None);

    // 65411: this account has a pending invitation.
    env.api_err(
        env.client.invite_kf_worker(ALICE, "wx_other").await,
        ErrCode::InvitationPending,
    );
    // 65408: this WeChat user is already invited (by another account).
    env.api_err(
        env.client.invite_kf_worker(BOB, "wx_alice").await,
        ErrCode::AlreadyInvited,
    );
    // The user accepts: bound.
    env.mock.accept_invitation(ALICE).unwrap();
    let alice = env.mock.account(ALICE).unwrap();
    assert_eq!(alice.kf_wx.as_deref(), Some("wx_alice"));
    assert_eq!(alice.invitation, None);
    // 65412: the account is bound already.
    env.api_err(
        env.client.invite_kf_worker(ALICE, "wx_new").await,
        ErrCode::KfAccountAlreadyBound,
    );
    // 65407: this WeChat user already works for the account.
    env.api_err(
        env.client.invite_kf_worker(BOB, "wx_alice").await,
        ErrCode::AlreadyWorker,
    );
    // 65410: this WeChat user is bound to too many accounts.
    env.mock.set_worker_at_limit("wx_busy");
    env.api_err(
        env.client.invite_kf_worker(BOB, "wx_busy").await,
        ErrCode::WorkerBoundTooMany,
    );
    // 65401: no such account.
    env.api_err(
        env.client.invite_kf_worker("nobody@gh_e2e", "wx_x").await,
        ErrCode::InvalidKfAccount,
    );
    // 65409 (invalid WeChat ID) cannot be reached: the SDK refuses first.
    env.invalid(
        env.client.invite_kf_worker(BOB, "").await,
        "invite_kf_worker",
        "invite_wx",
    );
    let rule = env.invalid(
        env.client.invite_kf_worker(BOB, "w".repeat(65)).await,
        "invite_kf_worker",
        "invite_wx",
    );
    assert_eq!(
        rule,
        Rule::MaxChars {
            max: 64,
            actual: 65
        }
    );
    assert_eq!(
        env.outcomes(INVITE),
        [
            Some(0),
            Some(65411),
            Some(65408),
            Some(65412),
            Some(65407),
            Some(65410),
            Some(65401)
        ]
    );

    // Rejected and expired invitations show in the list, and may be sent again.
    env.client.invite_kf_worker(BOB, "wx_bob").await.unwrap();
    env.mock.reject_invitation(BOB).unwrap();
    env.client
        .invite_kf_worker(CAROL, "wx_carol")
        .await
        .unwrap();
    env.mock.expire_invitation(CAROL).unwrap();
    let listed = env.client.get_kf_list().await.unwrap();
    assert_eq!(
        listed.kf_list[1].invite_status,
        Some(InviteStatus::Rejected)
    );
    assert_eq!(listed.kf_list[2].invite_status, Some(InviteStatus::Expired));
    env.client.invite_kf_worker(BOB, "wx_bob2").await.unwrap();
    assert_eq!(
        env.mock.account(BOB).unwrap().invitation.unwrap().status,
        InvitationStatus::Waiting
    );
    // An invitation left unanswered for 7 days expires by itself.
    env.mock.advance(Duration::from_secs(7 * 86_400 + 1));
    let listed = env.client.get_kf_list().await.unwrap();
    assert_eq!(listed.kf_list[1].invite_status, Some(InviteStatus::Expired));
    env.client.invite_kf_worker(BOB, "wx_bob3").await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn avatar_upload_from_bytes_and_path_and_its_refusals() {
    let env = Env::start().await;
    env.client.add_kf_account(ALICE, "Alice").await.unwrap();
    env.client
        .upload_kf_head_img(ALICE, Upload::bytes(jpeg(2048), "alice.jpg"))
        .await
        .unwrap();
    let account = env.mock.account(ALICE).unwrap();
    assert_eq!(account.avatar_bytes, Some(2048));
    let url = account.headimgurl.clone().unwrap();
    let logged = env.mock.requests_to(UPLOAD).pop().unwrap();
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.query_param("kf_account"), Some(ALICE));
    assert_eq!(
        logged.body,
        "multipart: media (alice.jpg, image/jpeg, 2048 bytes)"
    );
    let listed = env.client.get_kf_list().await.unwrap();
    assert_eq!(
        listed.kf_list[0].kf_headimgurl.as_deref(),
        Some(url.as_str())
    );

    // From a file on disk, exactly at the 5 MB limit.
    let path = std::env::temp_dir().join(format!(
        "wx-kefu-e2e-{}-{}.jpg",
        std::process::id(),
        env.mock.addr().port()
    ));
    std::fs::write(&path, jpeg(5 * 1024 * 1024)).unwrap();
    let uploaded = env
        .client
        .upload_kf_head_img(ALICE, Upload::path(&path))
        .await;
    std::fs::remove_file(&path).unwrap();
    uploaded.unwrap();
    assert_eq!(
        env.mock.account(ALICE).unwrap().avatar_bytes,
        Some(5_242_880)
    );

    // From an async reader, read up to a limit.
    let upload = Upload::reader(&jpeg(3000)[..], "reader.jpg", 5 * 1024 * 1024)
        .await
        .unwrap();
    env.client.upload_kf_head_img(ALICE, upload).await.unwrap();
    assert_eq!(env.mock.account(ALICE).unwrap().avatar_bytes, Some(3000));
    assert_eq!(
        env.mock.requests_to(UPLOAD).pop().unwrap().body,
        "multipart: media (reader.jpg, image/jpeg, 3000 bytes)"
    );
    let too_big = Upload::reader(&jpeg(3000)[..], "reader.jpg", 2999).await;
    assert_eq!(
        too_big.unwrap_err().kind(),
        std::io::ErrorKind::FileTooLarge
    );

    // Not a JPEG, or over 5 MB: refused before sending (61457 is never reached).
    let rule = env.invalid(
        env.client
            .upload_kf_head_img(
                ALICE,
                Upload::bytes(b"\x89PNG\r\n\x1a\n-not-a-jpeg".to_vec(), "a.jpg"),
            )
            .await,
        "upload_kf_head_img",
        "media",
    );
    assert!(matches!(rule, Rule::FileType { .. }), "{rule:?}");
    let rule = env.invalid(
        env.client
            .upload_kf_head_img(ALICE, Upload::bytes(jpeg(5 * 1024 * 1024 + 1), "big.jpg"))
            .await,
        "upload_kf_head_img",
        "media",
    );
    assert_eq!(
        rule,
        Rule::FileTooLarge {
            max: 5_242_880,
            actual: 5_242_881
        }
    );
    env.invalid(
        env.client
            .upload_kf_head_img("bad", Upload::bytes(jpeg(100), "a.jpg"))
            .await,
        "upload_kf_head_img",
        "kf_account",
    );
    // A file that does not exist: an upload error, nothing sent.
    let before = env.mock.requests().len();
    let error = env.err(
        env.client
            .upload_kf_head_img(ALICE, Upload::path("/nonexistent/wx-kefu/avatar.jpg"))
            .await,
    );
    assert!(matches!(error, Error::Upload { .. }), "{error:?}");
    assert_eq!(env.mock.requests().len(), before);
    // 65401: no such account.
    env.api_err(
        env.client
            .upload_kf_head_img(BOB, Upload::bytes(jpeg(100), "b.jpg"))
            .await,
        ErrCode::InvalidKfAccount,
    );
    assert_eq!(
        env.outcomes(UPLOAD),
        [Some(0), Some(0), Some(0), Some(65401)]
    );
    env.finish().await;
}

#[tokio::test]
async fn the_agent_lists() {
    let env = Env::start().await;
    assert!(env.client.get_kf_list().await.unwrap().kf_list.is_empty());
    assert!(
        env.client
            .get_online_kf_list()
            .await
            .unwrap()
            .kf_online_list
            .is_empty()
    );
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.client.add_kf_account(BOB, "Bob").await.unwrap();
    env.mock.add_account(CAROL, "Carol").unwrap();
    env.mock.bind_account(CAROL, "wx_carol").unwrap();
    env.mock.user_message(USER, "hi");
    env.mock.user_message(USER2, "hi");
    env.client.create_kf_session(ALICE, USER).await.unwrap();
    env.client.create_kf_session(ALICE, USER2).await.unwrap();

    let list = env.client.get_kf_list().await.unwrap().kf_list;
    assert_eq!(list.len(), 3);
    let state = env.mock.accounts();
    for (listed, held) in list.iter().zip(&state) {
        assert_eq!(listed.kf_account, held.kf_account);
        assert_eq!(listed.kf_nick.as_ref(), Some(&held.nickname));
        assert_eq!(listed.kf_id.as_i64(), Some(held.kf_id as i64));
        assert_eq!(listed.kf_wx, held.kf_wx);
        assert_eq!(listed.kf_openid, held.kf_openid);
        // Always there, as documented: empty before an avatar is set.
        assert_eq!(listed.kf_headimgurl.as_deref(), Some(""));
        assert_eq!(listed.invite_status, None);
    }
    assert_eq!(list[0].kf_wx.as_deref(), Some("wx_alice"));
    assert_eq!(list[1].kf_wx, None);
    assert_eq!(list[2].kf_wx.as_deref(), Some("wx_carol"));
    assert_eq!(methods(&env, KF_LIST), ["GET", "GET"]);

    let online = env
        .client
        .get_online_kf_list()
        .await
        .unwrap()
        .kf_online_list;
    assert_eq!(online.len(), 1);
    assert_eq!(online[0].kf_account, ALICE);
    assert_eq!(online[0].status, OnlineStatus::WebOnline);
    assert_eq!(online[0].kf_id.as_i64(), Some(1001));
    assert_eq!(online[0].accepted_case, 2);
    assert_eq!(online[0].kf_openid, state[0].kf_openid);
    assert_eq!(methods(&env, ONLINE_LIST), ["GET", "GET"]);

    env.mock.set_online(CAROL, true).unwrap();
    env.mock.set_online(ALICE, false).unwrap();
    let online = env
        .client
        .get_online_kf_list()
        .await
        .unwrap()
        .kf_online_list;
    let names: Vec<_> = online.iter().map(|a| a.kf_account.as_str()).collect();
    assert_eq!(names, [CAROL]);
    assert_eq!(online[0].accepted_case, 0);
    env.finish().await;
}

#[tokio::test]
async fn kefu_not_enabled_is_65400_everywhere_it_is_documented() {
    let env = Env::start().await;
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message(USER, "hi");
    env.mock.set_kefu_enabled(false);
    let code = ErrCode::KefuNotEnabled;
    env.api_err(env.client.add_kf_account(BOB, "Bob").await, code);
    env.api_err(env.client.update_kf_account(ALICE, "A").await, code);
    env.api_err(env.client.del_kf_account(ALICE).await, code);
    env.api_err(env.client.invite_kf_worker(ALICE, "wx").await, code);
    env.api_err(env.client.create_kf_session(ALICE, USER).await, code);
    env.api_err(env.client.get_kf_session(USER).await, code);
    env.api_err(env.client.get_wait_case().await, code);
    let now = env.mock.now();
    env.api_err(env.client.get_msg_list(now - 60, now, 1, 100).await, code);
    env.api_err(
        env.client
            .upload_kf_head_img(ALICE, Upload::bytes(jpeg(64), "a.jpg"))
            .await,
        code,
    );
    env.api_err(env.client.get_kf_list().await, code);
    env.api_err(env.client.get_online_kf_list().await, code);
    env.api_err(env.client.close_session(ALICE, USER).await, code);
    env.api_err(env.client.get_kf_session_list(ALICE).await, code);
    // Never retried, reads included: one request each.
    for path in [
        ADD,
        UPDATE,
        DEL,
        INVITE,
        UPLOAD,
        KF_LIST,
        ONLINE_LIST,
        CREATE,
        CLOSE,
        GET_SESSION,
        SESSION_LIST,
        WAIT_CASE,
        MSG_LIST,
    ] {
        assert_eq!(env.outcomes(path), [Some(65400)], "{path}");
    }
    assert_eq!(env.mock.accounts().len(), 1);
    assert!(env.mock.sessions().is_empty());
    // Messages are not part of the customer-service feature: they still go out.
    env.client
        .send_custom_message(SendCustomMessage::new(USER, Text::new("still here")))
        .await
        .unwrap();
    env.client
        .typing(USER, TypingCommand::Typing)
        .await
        .unwrap();
    env.mock.set_kefu_enabled(true);
    env.client.create_kf_session(ALICE, USER).await.unwrap();
    env.finish().await;
}

// ---- sessions ----

#[tokio::test]
async fn sessions_create_get_list_close_and_their_errors() {
    let env = Env::start().await;
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.add_online_agent("dave@gh_e2e", "Dave").unwrap();
    env.mock.add_account(BOB, "Bob").unwrap(); // not bound
    env.mock.add_account(CAROL, "Carol").unwrap();
    env.mock.bind_account(CAROL, "wx_carol").unwrap(); // bound, offline
    env.mock.user_message(USER, "你好");
    env.mock.user_message(USER2, "hello");
    env.mock.enqueue_waiting(USER).unwrap();

    // 65402 not bound, 65415 not online, 65401 unknown agent, 40003 unknown user.
    env.api_err(
        env.client.create_kf_session(BOB, USER).await,
        ErrCode::KfAccountNotBound,
    );
    env.api_err(
        env.client.create_kf_session(CAROL, USER).await,
        ErrCode::AgentOffline,
    );
    env.api_err(
        env.client.create_kf_session("zed@gh_e2e", USER).await,
        ErrCode::InvalidKfAccount,
    );
    env.api_err(
        env.client.create_kf_session(ALICE, "o_nobody").await,
        ErrCode::InvalidOpenid,
    );
    assert!(env.mock.sessions().is_empty());
    env.invalid(
        env.client.create_kf_session(ALICE, "").await,
        "create_kf_session",
        "openid",
    );

    let now = env.mock.now();
    env.client.create_kf_session(ALICE, USER).await.unwrap();
    assert_eq!(
        last_body(&env, CREATE),
        json!({"kf_account": ALICE, "openid": USER})
    );
    let sessions = env.mock.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].openid, USER);
    assert_eq!(sessions[0].kf_account, ALICE);
    assert!((now..=now + 5).contains(&sessions[0].createtime));
    assert!(env.mock.waiting().is_empty(), "a served user stops waiting");
    // Creating it again answers 0 and changes nothing.
    env.client.create_kf_session(ALICE, USER).await.unwrap();
    assert_eq!(env.mock.sessions(), sessions);
    // Another agent cannot take the user over: 65414.
    env.api_err(
        env.client.create_kf_session("dave@gh_e2e", USER).await,
        ErrCode::ServedByOtherAgent,
    );
    assert_eq!(
        env.outcomes(CREATE),
        [
            Some(65402),
            Some(65415),
            Some(65401),
            Some(40003),
            Some(0),
            Some(0),
            Some(65414)
        ]
    );

    // get_kf_session: who serves the user, and since when.
    let state = env.client.get_kf_session(USER).await.unwrap();
    assert_eq!(state.kf_account.as_deref(), Some(ALICE));
    assert_eq!(state.createtime, Some(sessions[0].createtime));
    let logged = env.mock.requests_to(GET_SESSION).pop().unwrap();
    assert_eq!(logged.method, "GET");
    assert_eq!(logged.query_param("openid"), Some(USER));
    let nobody = env.client.get_kf_session(USER2).await.unwrap();
    assert_eq!(nobody.kf_account.as_deref(), Some(""));
    assert_eq!(nobody.createtime, Some(0));
    env.api_err(
        env.client.get_kf_session("o_nobody").await,
        ErrCode::InvalidOpenid,
    );

    // get_kf_session_list.
    let list = env.client.get_kf_session_list(ALICE).await.unwrap();
    assert_eq!(list.sessionlist.len(), 1);
    assert_eq!(list.sessionlist[0].openid, USER);
    assert_eq!(list.sessionlist[0].createtime, sessions[0].createtime);
    assert_eq!(
        env.mock.requests_to(SESSION_LIST)[0].query_param("kf_account"),
        Some(ALICE)
    );
    assert!(
        env.client
            .get_kf_session_list("dave@gh_e2e")
            .await
            .unwrap()
            .sessionlist
            .is_empty()
    );
    env.api_err(
        env.client.get_kf_session_list(BOB).await,
        ErrCode::KfAccountNotBound,
    );
    env.api_err(
        env.client.get_kf_session_list("zed@gh_e2e").await,
        ErrCode::InvalidKfAccount,
    );
    env.invalid(
        env.client.get_kf_session_list("no at").await,
        "get_kf_session_list",
        "kf_account",
    );

    // close: 65414 by another agent, then by the right one, then 65413.
    env.api_err(
        env.client.close_session("dave@gh_e2e", USER).await,
        ErrCode::ServedByOtherAgent,
    );
    assert_eq!(env.mock.sessions().len(), 1);
    env.client.close_session(ALICE, USER).await.unwrap();
    assert_eq!(
        last_body(&env, CLOSE),
        json!({"kf_account": ALICE, "openid": USER})
    );
    assert!(env.mock.sessions().is_empty());
    env.api_err(
        env.client.close_session(ALICE, USER).await,
        ErrCode::NoSession,
    );
    env.api_err(
        env.client.close_session(ALICE, "o_nobody").await,
        ErrCode::InvalidOpenid,
    );
    env.api_err(
        env.client.close_session("zed@gh_e2e", USER).await,
        ErrCode::InvalidKfAccount,
    );
    assert_eq!(
        env.outcomes(CLOSE),
        [Some(65414), Some(0), Some(65413), Some(40003), Some(65401)]
    );
    let after = env.client.get_kf_session(USER).await.unwrap();
    assert_eq!(after.kf_account.as_deref(), Some(""));
    env.finish().await;
}

#[tokio::test]
async fn the_waiting_queue_earliest_first_at_most_100() {
    let env = Env::start().await;
    let empty = env.client.get_wait_case().await.unwrap();
    assert_eq!(empty.count, 0);
    assert!(empty.waitcaselist.is_empty());

    for i in 0..101 {
        env.mock.enqueue_waiting(&format!("o_wait_{i:03}")).unwrap();
        env.mock.advance(Duration::from_secs(2));
    }
    let queue = env.client.get_wait_case().await.unwrap();
    assert_eq!(queue.count, 101);
    assert_eq!(queue.waitcaselist.len(), 100);
    let held = env.mock.waiting();
    for (listed, held) in queue.waitcaselist.iter().zip(&held) {
        assert_eq!(listed.openid, held.openid);
        assert_eq!(listed.latest_time, Some(held.latest_time));
    }
    assert_eq!(queue.waitcaselist[0].openid, "o_wait_000");
    assert_eq!(queue.waitcaselist[99].openid, "o_wait_099");
    assert!(
        queue
            .waitcaselist
            .windows(2)
            .all(|w| w[0].latest_time < w[1].latest_time)
    );
    assert_eq!(methods(&env, WAIT_CASE), ["GET", "GET"]);

    // Serving the first one takes it off the queue.
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message("o_wait_000", "still there?");
    env.client
        .create_kf_session(ALICE, "o_wait_000")
        .await
        .unwrap();
    let queue = env.client.get_wait_case().await.unwrap();
    assert_eq!(queue.count, 100);
    assert_eq!(queue.waitcaselist.len(), 100);
    assert_eq!(queue.waitcaselist[0].openid, "o_wait_001");
    assert_eq!(queue.waitcaselist[99].openid, "o_wait_100");
    env.finish().await;
}

// ---- messages ----

/// Every message type, naming the media uploaded, and how the chat records show it.
fn every_message(media: &MediaIds) -> Vec<(Message, &'static str)> {
    vec![
        (Text::new("您好").into(), "您好"),
        (Image::new(&media.image).into(), "[image]"),
        (Voice::new(&media.voice).into(), "[voice]"),
        (
            Video::new(&media.video, &media.thumb).title("t").into(),
            "[video]",
        ),
        (
            Music::new("https://e.com/a.mp3", "https://e.com/b.mp3", &media.thumb).into(),
            "[music]",
        ),
        (
            News::new(vec![
                Article::new()
                    .title("title")
                    .description("desc")
                    .url("https://e.com")
                    .picurl("https://e.com/p.jpg"),
            ])
            .into(),
            "[news]",
        ),
        (MpNews::new("MEDIA_MPNEWS").into(), "[mpnews]"),
        (MpNewsArticle::new("ARTICLE").into(), "[mpnewsarticle]"),
        (
            MsgMenu::new(vec![
                MenuItem::new("101", "Yes"),
                MenuItem::new("102", "No"),
            ])
            .head_content("OK?")
            .into(),
            "[msgmenu]",
        ),
        (WxCard::new("CARD").into(), "[wxcard]"),
        (
            MiniProgramPage::new("title", "wxMINI", "pages/index", &media.thumb).into(),
            "[miniprogrampage]",
        ),
    ]
}

#[tokio::test]
async fn every_message_type_is_sent_and_recorded() {
    let env = Env::start().await;
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message(USER, "hi");
    env.mock.user_event(USER, UserEvent::Payment); // unlimited for 48 h
    env.client.create_kf_session(ALICE, USER).await.unwrap();

    let media = upload_media(&env.client).await;
    let messages = every_message(&media);
    for (message, _) in &messages {
        env.client
            .send_custom_message(SendCustomMessage::new(USER, message.clone()))
            .await
            .unwrap();
    }
    // As a named agent, and tagged as AI; an agent that does not exist is 65401.
    env.api_err(
        env.client
            .send_custom_message(
                SendCustomMessage::new(USER, Text::new("as dave"))
                    .customservice(CustomService::new("dave@gh_e2e")),
            )
            .await,
        ErrCode::InvalidKfAccount,
    );
    env.mock.add_online_agent("dave@gh_e2e", "Dave").unwrap();
    env.client
        .send_custom_message(
            SendCustomMessage::new(USER, Text::new("as dave"))
                .customservice(CustomService::new("dave@gh_e2e"))
                .aimsgcontext(AiMsgContext::new(1)),
        )
        .await
        .unwrap();
    assert_eq!(
        last_body(&env, SEND),
        json!({
            "touser": USER,
            "msgtype": "text",
            "text": {"content": "as dave"},
            "customservice": {"kf_account": "dave@gh_e2e"},
            "aimsgcontext": {"is_ai_msg": 1}
        })
    );
    let sent: Vec<_> = env
        .mock
        .requests_to(SEND)
        .iter()
        .map(|r| r.json().unwrap()["msgtype"].as_str().unwrap().to_owned())
        .collect();
    let expected_types: Vec<_> = messages
        .iter()
        .map(|(m, _)| m.tag().to_owned())
        .chain(["text".to_owned(), "text".to_owned()])
        .collect();
    assert_eq!(sent, expected_types);
    let first = env.mock.requests_to(SEND)[0].json().unwrap();
    assert_eq!(
        first,
        json!({"touser": USER, "msgtype": "text", "text": {"content": "您好"}})
    );

    let records = env.mock.records();
    assert_eq!(records.len(), 1 + messages.len() + 1);
    assert_eq!(records[0].opercode, OPERCODE_AGENT_RECEIVED);
    assert_eq!(records[0].text, "hi");
    for (record, (_, text)) in records[1..].iter().zip(&messages) {
        assert_eq!(record.opercode, OPERCODE_AGENT_SENT);
        assert_eq!(record.text, *text);
        assert_eq!(record.openid, USER);
        assert_eq!(record.worker, ALICE, "the session's agent");
    }
    let last = records.last().unwrap();
    assert_eq!(
        (last.text.as_str(), last.worker.as_str()),
        ("as dave", "dave@gh_e2e")
    );
    env.finish().await;
}

#[tokio::test]
async fn the_reply_windows_45015_45047_and_other_send_errors() {
    let env = Env::start().await;
    let send = |text: &str| SendCustomMessage::new(USER, Text::new(text));

    // A user message allows 5 replies; the 6th is 45047, never retried.
    env.mock.user_message(USER, "hi");
    for i in 0..5 {
        env.client
            .send_custom_message(send(&format!("r{i}")))
            .await
            .unwrap();
    }
    let error = env.api_err(
        env.client.send_custom_message(send("r5")).await,
        ErrCode::OutOfResponseCountLimit,
    );
    assert!(error.is_out_of_window());
    assert!(!error.is_retryable());
    let sent = |env: &Env| {
        env.mock
            .records()
            .iter()
            .filter(|r| r.opercode == OPERCODE_AGENT_SENT)
            .count()
    };
    assert_eq!(sent(&env), 5);

    // A new message opens a new window; 48 hours later it is closed: 45015.
    env.mock.user_message(USER, "again");
    env.client.send_custom_message(send("ok")).await.unwrap();
    env.mock.advance(Duration::from_secs(48 * 3600 + 1));
    let error = env.api_err(
        env.client.send_custom_message(send("late")).await,
        ErrCode::ResponseOutOfTimeLimit,
    );
    assert!(error.is_out_of_window());
    assert_eq!(sent(&env), 6);
    assert_eq!(
        env.outcomes(SEND)
            .iter()
            .filter(|c| **c != Some(0))
            .collect::<Vec<_>>(),
        [&Some(45047), &Some(42001), &Some(45015)],
        "the token expired with the clock: 42001, then one replay with a fresh token"
    );

    // A menu tap allows 3 within a minute.
    env.mock.user_event(USER, UserEvent::MenuClick);
    for i in 0..3 {
        env.client
            .send_custom_message(send(&format!("m{i}")))
            .await
            .unwrap();
    }
    env.api_err(
        env.client.send_custom_message(send("m3")).await,
        ErrCode::OutOfResponseCountLimit,
    );
    env.mock.user_event(USER, UserEvent::Scan);
    env.mock.advance(Duration::from_secs(61));
    env.api_err(
        env.client.send_custom_message(send("m4")).await,
        ErrCode::ResponseOutOfTimeLimit,
    );
    assert_eq!(sent(&env), 9);

    // 43004: the user unfollowed. 40003: a user the account never saw.
    env.mock.user_event(USER2, UserEvent::Unfollow);
    env.api_err(
        env.client
            .send_custom_message(SendCustomMessage::new(USER2, Text::new("x")))
            .await,
        ErrCode::RequireSubscribe,
    );
    env.api_err(
        env.client
            .send_custom_message(SendCustomMessage::new("o_nobody", Text::new("x")))
            .await,
        ErrCode::InvalidOpenid,
    );

    // 45008 (more than one article) cannot be reached: the SDK refuses first.
    env.mock.user_message(USER, "news please");
    let article = || {
        Article::new()
            .title("t")
            .description("d")
            .url("https://e.com")
            .picurl("https://e.com/p.jpg")
    };
    let rule = env.invalid(
        env.client
            .send_custom_message(SendCustomMessage::new(
                USER,
                News::new(vec![article(), article()]),
            ))
            .await,
        "send_custom_message",
        "news.articles",
    );
    assert_eq!(
        rule,
        Rule::Items {
            min: Some(1),
            max: Some(1),
            actual: 2
        }
    );
    env.invalid(
        env.client
            .send_custom_message(SendCustomMessage::new(USER, News::new(vec![])))
            .await,
        "send_custom_message",
        "news.articles",
    );
    env.invalid(
        env.client
            .send_custom_message(SendCustomMessage::new("", Text::new("x")))
            .await,
        "send_custom_message",
        "touser",
    );
    assert_eq!(sent(&env), 9);
    env.finish().await;
}

#[tokio::test]
async fn typing_and_its_errors() {
    let env = Env::start().await;
    env.mock.user_message(USER, "hi");
    env.client
        .typing(USER, TypingCommand::Typing)
        .await
        .unwrap();
    assert!(env.mock.is_typing(USER));
    assert_eq!(
        last_body(&env, TYPING),
        json!({"touser": USER, "command": "Typing"})
    );
    // 45081: already typing.
    env.api_err(
        env.client.typing(USER, TypingCommand::Typing).await,
        ErrCode::TypingAlreadyShown,
    );
    env.client
        .typing(USER, TypingCommand::CancelTyping)
        .await
        .unwrap();
    assert!(!env.mock.is_typing(USER));
    assert_eq!(
        last_body(&env, TYPING),
        json!({"touser": USER, "command": "CancelTyping"})
    );
    // A message ends the typing state.
    env.client
        .typing(USER, TypingCommand::Typing)
        .await
        .unwrap();
    env.client
        .send_custom_message(SendCustomMessage::new(USER, Text::new("answer")))
        .await
        .unwrap();
    assert!(!env.mock.is_typing(USER));
    // 45080: no interaction within 30 s.
    env.mock.advance(Duration::from_secs(31));
    env.api_err(
        env.client.typing(USER, TypingCommand::Typing).await,
        ErrCode::TypingWithoutInteraction,
    );
    assert!(!env.mock.is_typing(USER));
    env.api_err(
        env.client.typing("o_nobody", TypingCommand::Typing).await,
        ErrCode::InvalidOpenid,
    );
    env.invalid(
        env.client.typing("", TypingCommand::Typing).await,
        "typing",
        "touser",
    );
    assert_eq!(
        env.outcomes(TYPING),
        [
            Some(0),
            Some(45081),
            Some(0),
            Some(0),
            Some(45080),
            Some(40003)
        ]
    );
    env.finish().await;
}

// ---- records ----

#[tokio::test]
async fn get_msg_list_pages_and_its_refusals() {
    let env = Env::start().await;
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message(USER, "hello");
    env.client.create_kf_session(ALICE, USER).await.unwrap();
    env.mock.user_message(USER, "in session");
    env.client
        .send_custom_message(SendCustomMessage::new(USER, Text::new("reply")))
        .await
        .unwrap();
    env.client
        .send_custom_message(SendCustomMessage::new(
            USER,
            Image::new(upload_media(&env.client).await.image),
        ))
        .await
        .unwrap();
    let now = env.mock.now();

    let page = env
        .client
        .get_msg_list(now - 60, now + 60, 1, 3)
        .await
        .unwrap();
    assert_eq!(
        last_body(&env, MSG_LIST),
        json!({"starttime": now - 60, "endtime": now + 60, "msgid": 1, "number": 3})
    );
    let held = env.mock.records();
    assert_eq!(page.recordlist.len(), 3);
    assert_eq!(page.number, Some(3));
    assert_eq!(page.msgid, Some(4));
    let expected = [
        (OperCode::AgentReceived, "hello", ""),
        (OperCode::AgentReceived, "in session", ALICE),
        (OperCode::AgentSent, "reply", ALICE),
    ];
    for ((record, held), (opercode, text, worker)) in
        page.recordlist.iter().zip(&held).zip(expected)
    {
        assert_eq!(record.opercode, opercode);
        assert_eq!(record.text.as_deref(), Some(text));
        assert_eq!(record.worker.as_deref(), Some(worker));
        assert_eq!(record.openid, USER);
        assert_eq!(record.time, held.time);
    }
    let next = env
        .client
        .get_msg_list(now - 60, now + 60, 4, 3)
        .await
        .unwrap();
    assert_eq!(next.recordlist.len(), 1);
    assert_eq!(next.recordlist[0].text.as_deref(), Some("[image]"));
    assert_eq!(next.msgid, Some(5));
    let end = env
        .client
        .get_msg_list(now - 60, now + 60, 5, 3)
        .await
        .unwrap();
    assert!(end.recordlist.is_empty());
    assert_eq!(end.number, Some(0));
    // A window that holds nothing.
    let before = env
        .client
        .get_msg_list(now - 86_400, now - 3_600, 1, 10)
        .await
        .unwrap();
    assert!(before.recordlist.is_empty());

    // 65417 (window over 24 h) and 65416 (bad msgid or number) cannot be reached.
    let rule = env.invalid(
        env.client.get_msg_list(now - 86_401, now, 1, 10).await,
        "get_msg_list",
        "endtime",
    );
    assert!(
        matches!(
            rule,
            Rule::Span {
                max: 86_400,
                actual: 86_401,
                ..
            }
        ),
        "{rule:?}"
    );
    env.invalid(
        env.client.get_msg_list(now, now - 1, 1, 10).await,
        "get_msg_list",
        "endtime",
    );
    env.invalid(
        env.client.get_msg_list(now - 60, now, 0, 10).await,
        "get_msg_list",
        "msgid",
    );
    let rule = env.invalid(
        env.client.get_msg_list(now - 60, now, 1, 10_001).await,
        "get_msg_list",
        "number",
    );
    assert_eq!(
        rule,
        Rule::Range {
            min: Some(1),
            max: Some(10_000),
            actual: 10_001
        }
    );
    env.invalid(
        env.client.get_msg_list(now - 60, now, 1, 0).await,
        "get_msg_list",
        "number",
    );
    assert_eq!(env.outcomes(MSG_LIST), [Some(0); 4]);
    env.finish().await;
}

// ---- paths and methods ----

#[tokio::test]
async fn every_call_uses_its_documented_method_and_path() {
    let env = Env::start().await;
    let (appid, secret) = (env.mock.appid().to_owned(), env.mock.secret().to_owned());
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message(USER, "hi");
    env.mock.enqueue_waiting(USER2).unwrap();
    let c = &env.client;
    let now = env.mock.now();
    let token = c
        .get_stable_access_token(GetStableAccessToken::new(
            "client_credential",
            &appid,
            &secret,
        ))
        .await
        .unwrap();
    env.forbid(token.access_token);
    let classic = c
        .get_access_token("client_credential", &appid, &secret)
        .await
        .unwrap();
    env.forbid(classic.access_token);
    c.add_kf_account(BOB, "Bob").await.unwrap();
    c.update_kf_account(BOB, "Bobby").await.unwrap();
    c.invite_kf_worker(BOB, "wx_bob").await.unwrap();
    c.upload_kf_head_img(BOB, Upload::bytes(jpeg(64), "b.jpg"))
        .await
        .unwrap();
    c.get_kf_list().await.unwrap();
    c.get_online_kf_list().await.unwrap();
    c.create_kf_session(ALICE, USER).await.unwrap();
    c.get_kf_session(USER).await.unwrap();
    c.get_kf_session_list(ALICE).await.unwrap();
    c.get_wait_case().await.unwrap();
    c.typing(USER, TypingCommand::Typing).await.unwrap();
    c.send_custom_message(SendCustomMessage::new(USER, Text::new("x")))
        .await
        .unwrap();
    c.get_msg_list(now - 60, now + 60, 1, 10).await.unwrap();
    c.close_session(ALICE, USER).await.unwrap();
    c.del_kf_account(BOB).await.unwrap();

    let seen: Vec<(String, String, Option<i64>)> = env
        .mock
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.errcode))
        .collect();
    let expected = [
        ("POST", STABLE_TOKEN),
        ("GET", CLASSIC_TOKEN),
        ("POST", STABLE_TOKEN), // the client's own token, fetched once for all that follow
        ("POST", ADD),
        ("POST", UPDATE),
        ("POST", INVITE),
        ("POST", UPLOAD),
        ("GET", KF_LIST),
        ("GET", ONLINE_LIST),
        ("POST", CREATE),
        ("GET", GET_SESSION),
        ("GET", SESSION_LIST),
        ("GET", WAIT_CASE),
        ("POST", TYPING),
        ("POST", SEND),
        ("POST", MSG_LIST),
        ("POST", CLOSE),
        ("POST", DEL),
    ];
    let expected: Vec<(String, String, Option<i64>)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string(), Some(0)))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(env.mock.stable_token_fetches(), 2);
    // Every business call carried the one cached token.
    let business = &env.mock.requests()[3..];
    let token = business[0].access_token().unwrap().to_owned();
    assert!(
        business
            .iter()
            .all(|r| r.access_token() == Some(token.as_str()))
    );
    env.finish().await;
}
