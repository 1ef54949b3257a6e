//! Chat records: the 24-hour window, `number`, and paging by `msgid`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Harness, MSG_LIST, assert_error, code};

async fn page(h: &Harness, starttime: i64, endtime: i64, msgid: i64, number: i64) -> Value {
    h.post(
        MSG_LIST,
        json!({ "starttime": starttime, "endtime": endtime, "msgid": msgid, "number": number }),
    )
    .await
}

#[tokio::test]
async fn window_and_number_limits() {
    let h = Harness::new().await;
    let now = h.mock.now();
    assert_error(&page(&h, now - 86_401, now, 1, 10).await, 65417);
    // The end before the start: an invalid parameter, not a window too long.
    assert_error(&page(&h, now, now - 1, 1, 10).await, 65416);
    assert_error(&page(&h, now - 10, now, 1, 10_001).await, 65416);
    assert_error(&page(&h, now - 10, now, 1, 0).await, 65416);
    assert_error(&page(&h, now - 10, now, 0, 10).await, 65416);
    let answer = page(&h, now - 86_400, now, 1, 10_000).await;
    assert_eq!(answer, json!({ "recordlist": [], "number": 0, "msgid": 1 }));
    assert_error(
        &h.post(
            MSG_LIST,
            json!({ "starttime": now, "endtime": now, "msgid": 1 }),
        )
        .await,
        65416,
    );
    let as_string =
        json!({ "starttime": now.to_string(), "endtime": now, "msgid": 1, "number": 1 });
    assert_error(&h.post(MSG_LIST, as_string).await, 47001);
}

#[tokio::test]
async fn paging_by_msgid_until_an_empty_page() {
    let h = Harness::new().await;
    let start = h.mock.now();
    for i in 0..25 {
        h.mock.user_message("u1", &format!("message {i}"));
        h.mock.advance(Duration::from_secs(60));
    }
    let end = h.mock.now();
    let mut msgid = 1;
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let answer = page(&h, start, end, msgid, 10).await;
        assert_eq!(code(&answer), 0);
        let list = answer["recordlist"].as_array().unwrap().clone();
        assert_eq!(answer["number"], list.len());
        sizes.push(list.len());
        if list.is_empty() {
            assert_eq!(answer["msgid"], msgid);
            break;
        }
        let next = answer["msgid"].as_i64().unwrap();
        assert!(next > msgid, "msgid must advance");
        msgid = next;
        seen.extend(list);
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [10, 10, 5, 0]);
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[0]["text"], "message 0");
    assert_eq!(seen[24]["text"], "message 24");
    assert_eq!(seen[0]["opercode"], 2003);
    assert_eq!(seen[0]["openid"], "u1");
    assert!(seen[0]["time"].is_i64() && seen[0]["worker"].is_string());
}

#[tokio::test]
async fn only_records_inside_the_window_are_returned() {
    let mut h = Harness::new().await;
    h.mock.user_message("u1", "early");
    h.advance(Duration::from_secs(3600));
    let start = h.mock.now();
    h.mock.user_message("u1", "inside");
    h.advance(Duration::from_secs(3600));
    h.mock.user_message("u1", "late");
    let answer = page(&h, start, start + 60, 1, 100).await;
    let texts: Vec<&Value> = answer["recordlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["text"])
        .collect();
    assert_eq!(texts, [&json!("inside")]);
    assert_eq!(answer["msgid"], 3);
}
