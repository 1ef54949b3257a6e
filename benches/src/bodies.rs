//! The fixed bodies the local server answers and the bench sends, built once.
//!
//! Record pages are serialised from the SDK's own types, so they have WeChat's documented
//! shape (`{"recordlist":[…],"number":…,"msgid":…}`); the texts mix Chinese, ASCII and
//! escapes, as chat records do.

use bytes::Bytes;
use wx_kefu_api::{MsgList, OperCode, Record, SendCustomMessage, Text};

/// The openid the bench sends messages to.
pub const OPENID: &str = "oDF3iY9WMaswOPWjCIp_f3Bnpljk";

/// The text of the bench's message.
pub const TEXT: &str = "您好，客服test1为您服务。";

/// The answer of a successful send.
pub const OK: &[u8] = br#"{"errcode":0,"errmsg":"ok"}"#;

/// The answer of a token call.
pub const TOKEN: &[u8] = br#"{"access_token":"BENCH_ACCESS_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz","expires_in":7200}"#;

/// The platform's component token answer.
pub const COMPONENT_TOKEN: &[u8] = br#"{"component_access_token":"BENCH_COMPONENT_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz","expires_in":7200}"#;

/// An authorizer's token answer (the same token for every authorizer).
pub const AUTHORIZER_TOKEN: &[u8] = br#"{"authorizer_access_token":"BENCH_ACCESS_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz","expires_in":7200,"authorizer_refresh_token":"refreshtoken@@@bench"}"#;

/// The access token of [`TOKEN`], for the bare client's URLs.
pub const ACCESS_TOKEN: &str = "BENCH_ACCESS_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz";

/// The answer of `get_kf_list`: WeChat's documented sample (three agents).
pub const KF_LIST: &[u8] = br#"{"kf_list":[{"kf_account":"test1@test","kf_headimgurl":"http://mmbiz.qpic.cn/mmbiz/4whpV1VZl2iccsvYbHvnphkyGtnvjfUS8Ym0GSaLic0FD3vN0V8PILcibEGb2fPfEOmw/0","kf_id":"1001","kf_nick":"ntest1","kf_wx":"kfwx1"},{"kf_account":"test2@test","kf_headimgurl":"http://mmbiz.qpic.cn/mmbiz/4whpV1VZl2iccsvYbHvnphkyGtnvjfUS8Ym0GSaLic0FD3vN0V8PILcibEGb2fPfEOmw/0","kf_id":"1002","kf_nick":"ntest2","kf_wx":"kfwx2"},{"kf_account":"test3@test","kf_headimgurl":"http://mmbiz.qpic.cn/mmbiz/4whpV1VZl2iccsvYbHvnphkyGtnvjfUS8Ym0GSaLic0FD3vN0V8PILcibEGb2fPfEOmw/0","kf_id":"1003","kf_nick":"ntest3","invite_wx":"kfwx3","invite_expire_time":123456789,"invite_status":"waiting"}]}"#;

/// Records per page: the most WeChat sends at once.
pub const PAGE: usize = 10_000;

/// The first record's time; record `i` happened `i / 4` seconds later, so 100,000
/// records fit in one 24-hour window.
pub const START: i64 = 1_700_000_000;

/// The request body of the bench's message, exactly as the SDK serialises it.
pub fn send_body() -> Bytes {
    let message = SendCustomMessage::new(OPENID, Text::new(TEXT));
    Bytes::from(serde_json::to_vec(&message).expect("a message serialises"))
}

const TEXTS: &[&str] = &[
    " 您好，客服test1为您服务。",
    "你好，有什么事情？",
    "我想查询一下订单 #2023112100042 的物流状态",
    "[image]",
    "好的，请稍等，我帮您看一下。",
    "Thanks! The parcel says \"delivered\" but I have nothing.\nCan you check?",
    "[voice]",
    "已为您登记，预计 24 小时内回复。",
];

const OPERCODES: &[i64] = &[2002, 2003, 2003, 2002, 1000, 1001, 2002, 1004];

/// Record number `i` of the bench's history.
fn record(i: usize) -> Record {
    let n = i64::try_from(i).expect("record numbers fit in i64");
    Record::new(
        format!("oDF3iY9WMaswOPWjCIp_f3B{:05}", i % 100_000),
        OperCode::from(OPERCODES[i % OPERCODES.len()]),
        START + n / 4,
    )
    .text(TEXTS[i % TEXTS.len()])
    .worker(format!("kf{}@gh_bench", i % 7))
}

/// The page of `count` records starting at record `first`, with the cursor `next`.
pub fn page(first: usize, count: usize, next: i64) -> Bytes {
    let records = (first..first + count).map(record).collect();
    let count = i64::try_from(count).expect("page sizes fit in i64");
    let page = MsgList::new(records).number(count).msgid(next);
    Bytes::from(serde_json::to_vec(&page).expect("a page serialises"))
}

/// The same page with `"errcode":0,"errmsg":"ok"` as its first keys, as WeChat's answers
/// often begin; the runtime probes such bodies for the code.
pub fn with_errcode(page: &[u8]) -> Bytes {
    let rest = page.strip_prefix(b"{").expect("a page is an object");
    let mut body = br#"{"errcode":0,"errmsg":"ok","#.to_vec();
    body.extend_from_slice(rest);
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_decode_into_the_sdk_types() {
        let plain = page(0, 8, 9);
        let list: MsgList = serde_json::from_slice(&plain).unwrap();
        assert_eq!((list.recordlist.len(), list.msgid), (8, Some(9)));
        assert_eq!(list.recordlist[5].text.as_deref(), Some(TEXTS[5]));
        let coded: MsgList = serde_json::from_slice(&with_errcode(&plain)).unwrap();
        assert_eq!(coded, list);
        assert!(with_errcode(&plain).starts_with(br#"{"errcode":0,"errmsg":"ok","recordlist":["#));
        let send: serde_json::Value = serde_json::from_slice(&send_body()).unwrap();
        assert_eq!(send["text"]["content"], TEXT);
    }
}
