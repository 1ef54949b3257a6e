//! Every response type against the sample answers in `tests/samples/`:
//! the decoded values, not just that decoding succeeds.
//!
//! The samples are WeChat's documented shapes; `getonlinekflist-numeric-id.json` carries
//! `kf_id` as a number, as the newer docs type it, where the older samples send a string.

use serde_json::{Value, json};
use wx_kefu_api::wire::StringOrNumber;
use wx_kefu_api::*;

const GETKFLIST: &str = include_str!("samples/getkflist.json");
const GETONLINEKFLIST: &str = include_str!("samples/getonlinekflist.json");
const GETONLINEKFLIST_NUMERIC: &str = include_str!("samples/getonlinekflist-numeric-id.json");
const GETSESSION: &str = include_str!("samples/getsession.json");
const GETSESSIONLIST: &str = include_str!("samples/getsessionlist.json");
const GETWAITCASE: &str = include_str!("samples/getwaitcase.json");
const GETMSGLIST: &str = include_str!("samples/getmsglist.json");
const STABLE_TOKEN: &str = include_str!("samples/stable_token.json");
const TOKEN: &str = include_str!("samples/token.json");
const OK: &str = include_str!("samples/ok.json");

const HEADIMG: &str = "http://mmbiz.qpic.cn/mmbiz/4whpV1VZl2iccsvYbHvnphkyGtnvjfUS8Ym0GSaLic0FD3vN0V8PILcibEGb2fPfEOmw/0";

fn decode<T: serde::de::DeserializeOwned>(sample: &str) -> T {
    match serde_json::from_str(sample) {
        Ok(value) => value,
        Err(error) => panic!(
            "{} does not decode: {error}\n{sample}",
            std::any::type_name::<T>()
        ),
    }
}

/// Adds unknown fields at the top level and inside every object of every array,
/// as a newer WeChat might send them.
fn with_unknown_fields(sample: &str) -> String {
    fn add(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for inner in map.values_mut() {
                    add(inner);
                }
                map.insert("x_new_field".into(), json!({"nested": [1, "two", null]}));
                map.insert("x_new_flag".into(), json!(true));
            }
            Value::Array(items) => items.iter_mut().for_each(add),
            _ => {}
        }
    }
    let mut value: Value = serde_json::from_str(sample).unwrap();
    add(&mut value);
    value.to_string()
}

// ---- getkflist ------------------------------------------------------------------------

fn expected_kf_list() -> GetKfListResponse {
    GetKfListResponse::new(vec![
        KfInfo::new("test1@test", StringOrNumber::from("1001"))
            .kf_nick("ntest1")
            .kf_headimgurl(HEADIMG)
            .kf_wx("kfwx1"),
        KfInfo::new("test2@test", StringOrNumber::from("1002"))
            .kf_nick("ntest2")
            .kf_headimgurl(HEADIMG)
            .kf_wx("kfwx2"),
        KfInfo::new("test3@test", StringOrNumber::from("1003"))
            .kf_nick("ntest3")
            .kf_headimgurl(HEADIMG)
            .invite_wx("kfwx3")
            .invite_expire_time(123_456_789)
            .invite_status(InviteStatus::Waiting),
    ])
}

#[test]
fn getkflist_decodes_every_agent() {
    let list: GetKfListResponse = decode(GETKFLIST);
    assert_eq!(list, expected_kf_list());
}

#[test]
fn getkflist_optional_fields_absent_and_present() {
    let list: GetKfListResponse = decode(GETKFLIST);
    let [bound, _, invited] = &list.kf_list[..] else {
        panic!("expected 3 agents, got {}", list.kf_list.len());
    };
    // A bound agent: kf_wx present, no invitation fields.
    assert_eq!(bound.kf_account, "test1@test");
    assert_eq!(bound.kf_nick.as_deref(), Some("ntest1"));
    assert_eq!(bound.kf_id.as_str(), "1001");
    assert_eq!(bound.kf_id.as_i64(), Some(1001));
    assert_eq!(bound.kf_wx.as_deref(), Some("kfwx1"));
    assert_eq!(bound.invite_wx, None);
    assert_eq!(bound.invite_expire_time, None);
    assert_eq!(bound.invite_status, None);
    assert_eq!(bound.kf_openid, None);
    // An invited agent: no kf_wx, the invitation fields present.
    assert_eq!(invited.kf_wx, None);
    assert_eq!(invited.invite_wx.as_deref(), Some("kfwx3"));
    assert_eq!(invited.invite_expire_time, Some(123_456_789));
    assert_eq!(invited.invite_status, Some(InviteStatus::Waiting));
}

#[test]
fn getkflist_minimal_agent_decodes() {
    // Only the required fields: every optional one absent.
    let list: GetKfListResponse =
        decode(r#"{"kf_list":[{"kf_account":"a@b","kf_nick":"n","kf_id":7}]}"#);
    assert_eq!(
        list,
        GetKfListResponse::new(vec![
            KfInfo::new("a@b", StringOrNumber::from(7)).kf_nick("n")
        ])
    );
    // An account with no agents at all.
    let empty: GetKfListResponse = decode(r#"{"kf_list":[]}"#);
    assert!(empty.kf_list.is_empty());
}

#[test]
fn invite_status_has_its_three_wire_values() {
    for (wire, status) in [
        ("waiting", InviteStatus::Waiting),
        ("rejected", InviteStatus::Rejected),
        ("expired", InviteStatus::Expired),
    ] {
        let agent: KfInfo = decode(&format!(
            r#"{{"kf_account":"a@b","kf_nick":"n","kf_id":"1","invite_status":"{wire}"}}"#
        ));
        assert_eq!(status.as_str(), wire);
        assert_eq!(serde_json::to_value(&status).unwrap(), json!(wire));
        assert_eq!(agent.invite_status, Some(status));
    }
    // A value WeChat adds later is kept, and the rest of the list still decodes.
    let list: GetKfListResponse = decode(
        r#"{"kf_list":[{"kf_account":"a@b","kf_id":"1","invite_status":"revoked"},{"kf_account":"c@d","kf_id":2}]}"#,
    );
    let status = list.kf_list[0].invite_status.clone().unwrap();
    assert_eq!(status, InviteStatus::Unknown("revoked".to_owned()));
    assert_eq!(status.as_str(), "revoked");
    assert_eq!(serde_json::to_value(&status).unwrap(), json!("revoked"));
    assert_eq!(
        list.kf_list[0].kf_nick, None,
        "a nickname WeChat leaves out"
    );
    assert_eq!(list.kf_list[1].kf_id.as_i64(), Some(2));
}

#[test]
fn items_decode_without_the_fields_wechat_may_leave_out() {
    let wait: GetWaitCaseResponse = decode(r#"{"count":1,"waitcaselist":[{"openid":"OPENID"}]}"#);
    assert_eq!(wait.waitcaselist[0].latest_time, None);
    let page: MsgList = decode(
        r#"{"recordlist":[{"openid":"o","opercode":1000,"time":1},{"openid":"o","opercode":2002,"text":"hi","time":2,"worker":"a@b"}],"number":2,"msgid":3}"#,
    );
    assert_eq!(page.recordlist[0].text, None);
    assert_eq!(page.recordlist[0].worker, None);
    assert_eq!(page.recordlist[1].worker.as_deref(), Some("a@b"));
}

#[test]
fn getkflist_tolerates_unknown_fields() {
    let list: GetKfListResponse = decode(&with_unknown_fields(GETKFLIST));
    assert_eq!(list, expected_kf_list());
}

// ---- getonlinekflist ------------------------------------------------------------------

#[test]
fn getonlinekflist_decodes_string_ids() {
    let list: GetOnlineKfListResponse = decode(GETONLINEKFLIST);
    assert_eq!(
        list,
        GetOnlineKfListResponse::new(vec![
            OnlineKfInfo::new(
                "test1@test",
                OnlineStatus::WebOnline,
                StringOrNumber::from("1001"),
                1
            ),
            OnlineKfInfo::new(
                "test2@test",
                OnlineStatus::WebOnline,
                StringOrNumber::from("1002"),
                2
            ),
        ])
    );
    assert_eq!(list.kf_online_list[1].accepted_case, 2);
    assert_eq!(list.kf_online_list[1].kf_openid, None);
}

#[test]
fn getonlinekflist_decodes_numeric_ids_to_the_same_text() {
    let numeric: GetOnlineKfListResponse = decode(GETONLINEKFLIST_NUMERIC);
    assert_eq!(
        numeric,
        GetOnlineKfListResponse::new(vec![
            OnlineKfInfo::new(
                "test1@test",
                OnlineStatus::WebOnline,
                StringOrNumber::from("1001"),
                1
            )
            .kf_openid("oKF_OPENID_1"),
        ])
    );
    let textual: GetOnlineKfListResponse = decode(GETONLINEKFLIST);
    let (a, b) = (
        &numeric.kf_online_list[0].kf_id,
        &textual.kf_online_list[0].kf_id,
    );
    assert_eq!(a, b, "kf_id 1001 and \"1001\" must decode alike");
    assert_eq!(a.as_str(), "1001");
    assert_eq!(a.to_string(), "1001");
    assert_eq!(a.as_i64(), Some(1001));
}

#[test]
fn kf_id_is_written_back_as_a_string() {
    let agent: OnlineKfInfo =
        decode(r#"{"kf_account":"test1@test","status":0,"kf_id":1001,"accepted_case":0}"#);
    assert_eq!(
        serde_json::to_value(&agent).unwrap(),
        json!({"kf_account":"test1@test","status":0,"kf_id":"1001","accepted_case":0})
    );
}

#[test]
fn online_status_is_an_open_enum() {
    for (wire, status) in [
        (0, OnlineStatus::Offline),
        (1, OnlineStatus::WebOnline),
        (3, OnlineStatus::Unknown(3)),
    ] {
        let agent: OnlineKfInfo = decode(&format!(
            r#"{{"kf_account":"a@b","status":{wire},"kf_id":"1","accepted_case":0}}"#
        ));
        assert_eq!(agent.status, status);
        assert_eq!(serde_json::to_value(status).unwrap(), json!(wire));
    }
}

#[test]
fn getonlinekflist_tolerates_unknown_fields() {
    let plain: GetOnlineKfListResponse = decode(GETONLINEKFLIST_NUMERIC);
    let extended: GetOnlineKfListResponse = decode(&with_unknown_fields(GETONLINEKFLIST_NUMERIC));
    assert_eq!(extended, plain);
}

// ---- sessions -------------------------------------------------------------------------

#[test]
fn getsession_decodes_beside_errcode_and_errmsg() {
    let session: SessionState = decode(GETSESSION);
    assert_eq!(
        session,
        SessionState::new()
            .kf_account("test1@test")
            .createtime(123_456_789)
    );
}

#[test]
fn getsession_with_nobody_serving() {
    // An empty kf_account means nobody is serving the user.
    let session: SessionState = decode(r#"{"createtime":0,"kf_account":""}"#);
    assert_eq!(session.kf_account.as_deref(), Some(""));
    assert_eq!(session.createtime, Some(0));
    let bare: SessionState = decode(r#"{"errcode":0,"errmsg":"ok"}"#);
    assert_eq!(bare, SessionState::new());
}

#[test]
fn getsessionlist_decodes_every_session() {
    let list: GetKfSessionListResponse = decode(GETSESSIONLIST);
    assert_eq!(
        list,
        GetKfSessionListResponse::new(vec![
            Session::new("OPENID", 123_456_789),
            Session::new("OPENID", 123_456_789),
        ])
    );
}

#[test]
fn getwaitcase_count_may_exceed_the_list() {
    let wait: GetWaitCaseResponse = decode(GETWAITCASE);
    assert_eq!(wait.count, 150);
    assert_eq!(wait.waitcaselist.len(), 2);
    assert_eq!(
        wait,
        GetWaitCaseResponse::new(
            150,
            vec![
                WaitCase::new("OPENID").latest_time(123_456_789),
                WaitCase::new("OPENID").latest_time(123_456_789),
            ]
        )
    );
}

#[test]
fn session_answers_tolerate_unknown_fields() {
    assert_eq!(
        decode::<SessionState>(&with_unknown_fields(GETSESSION)),
        decode::<SessionState>(GETSESSION)
    );
    assert_eq!(
        decode::<GetKfSessionListResponse>(&with_unknown_fields(GETSESSIONLIST)),
        decode::<GetKfSessionListResponse>(GETSESSIONLIST)
    );
    assert_eq!(
        decode::<GetWaitCaseResponse>(&with_unknown_fields(GETWAITCASE)),
        decode::<GetWaitCaseResponse>(GETWAITCASE)
    );
}

// ---- records --------------------------------------------------------------------------

#[test]
fn getmsglist_decodes_records_and_cursor() {
    let page: MsgList = decode(GETMSGLIST);
    assert_eq!(
        page,
        MsgList::new(vec![
            Record::new(
                "oDF3iY9WMaswOPWjCIp_f3Bnpljk",
                OperCode::AgentSent,
                1_400_563_710
            )
            .text(" 您好，客服test1为您服务。")
            .worker("test1@test"),
            Record::new(
                "oDF3iY9WMaswOPWjCIp_f3Bnpljk",
                OperCode::AgentReceived,
                1_400_563_731
            )
            .text("你好，有什么事情？")
            .worker("test1@test"),
        ])
        .number(2)
        .msgid(20_165_267)
    );
}

#[test]
fn opercode_is_an_open_enum() {
    for (wire, code) in [
        (1000, OperCode::SessionCreated),
        (1001, OperCode::SessionAccepted),
        (1002, OperCode::SessionTransferred),
        (1004, OperCode::SessionClosed),
        (2002, OperCode::AgentSent),
        (2003, OperCode::AgentReceived),
        (1234, OperCode::Unknown(1234)),
    ] {
        let record: Record = decode(&format!(
            r#"{{"openid":"o","opercode":{wire},"text":"[image]","time":1,"worker":"a@b"}}"#
        ));
        assert_eq!(record.opercode, code, "opercode {wire}");
        assert_eq!(i64::from(code), wire);
        // Written back as the same number, so an unknown code survives a round trip.
        assert_eq!(serde_json::to_value(code).unwrap(), json!(wire));
    }
}

#[test]
fn getmsglist_empty_page_and_unknown_fields() {
    let empty: MsgList = decode(r#"{"recordlist":[],"number":0,"msgid":20165267}"#);
    assert_eq!(empty, MsgList::new(Vec::new()).number(0).msgid(20_165_267));
    assert_eq!(
        decode::<MsgList>(&with_unknown_fields(GETMSGLIST)),
        decode::<MsgList>(GETMSGLIST)
    );
}

// ---- tokens and acks ------------------------------------------------------------------

#[test]
fn token_answers_decode_to_access_token_info() {
    assert_eq!(
        decode::<AccessTokenInfo>(STABLE_TOKEN),
        AccessTokenInfo::new("ACCESS_TOKEN", 345)
    );
    assert_eq!(
        decode::<AccessTokenInfo>(TOKEN),
        AccessTokenInfo::new("ACCESS_TOKEN", 7200)
    );
    let info: AccessTokenInfo = decode(&with_unknown_fields(STABLE_TOKEN));
    assert_eq!(info.access_token, "ACCESS_TOKEN");
    assert_eq!(info.expires_in, 345);
}

#[test]
fn access_token_info_debug_hides_the_token() {
    let info: AccessTokenInfo = decode(TOKEN);
    let shown = format!("{info:?}");
    assert!(!shown.contains("ACCESS_TOKEN"), "token leaked: {shown}");
    assert!(shown.contains("***"), "{shown}");
    assert!(shown.contains("7200"), "{shown}");
    let pretty = format!("{:#?}", AccessTokenInfo::new("tok-5ecret-value", 1));
    assert!(
        !pretty.contains("tok-5ecret-value"),
        "token leaked: {pretty}"
    );
}

#[test]
fn ok_answer_decodes_to_ack() {
    assert_eq!(decode::<Ack>(OK), Ack::default());
}
