//! Record export: three days split into 24 h windows, paged by msgid, lazily, and stopped
//! (not looped) when msgid fails to advance.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wx_kefu_runtime::endpoint::json_body;
use wx_kefu_runtime::meta::EndpointMeta;
use wx_kefu_runtime::{Endpoint, Error, Invalid, Method, MsgIdPage, RequestParts, export};

use crate::common::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_700_000_000;

/// `POST /test/records` `{starttime, endtime, msgid, number}`.
#[derive(Serialize)]
struct Records {
    starttime: i64,
    endtime: i64,
    msgid: i64,
    number: u32,
}

impl Endpoint for Records {
    const META: &'static EndpointMeta = meta!("test_records", Post, "/test/records", true);
    type Response = Page;
    fn validate(&self) -> Result<(), Invalid> {
        wx_kefu_runtime::validate::span("starttime", self.starttime, "endtime", self.endtime, DAY)
    }
    fn parts(&self) -> RequestParts {
        RequestParts {
            query: Vec::new(),
            body: json_body(self),
        }
    }
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
struct Record {
    openid: String,
    opercode: i64,
    text: String,
    time: i64,
    worker: String,
}

#[derive(Deserialize)]
struct Page {
    recordlist: Vec<Record>,
    msgid: i64,
}

impl MsgIdPage for Page {
    type Item = Record;
    fn into_page(self) -> (Vec<Record>, i64) {
        (self.recordlist, self.msgid)
    }
}

/// The server's archive; it answers windows inclusively and pages by position.
struct Archive {
    records: Vec<Record>,
    requests: Mutex<Vec<(i64, i64, i64, u32)>>,
    stuck: AtomicBool,
}

#[derive(Deserialize)]
struct PageQuery {
    starttime: i64,
    endtime: i64,
    msgid: i64,
    number: usize,
}

async fn answer_records(
    State((mock, archive)): State<(Arc<Mock>, Arc<Archive>)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    if let Some(reply) = mock.enter("records", &query) {
        return render(Some(reply), "records", &uri).await;
    }
    let q: PageQuery = serde_json::from_slice(&body).unwrap();
    archive
        .requests
        .lock()
        .unwrap()
        .push((q.starttime, q.endtime, q.msgid, q.number as u32));
    if q.endtime - q.starttime > DAY || q.endtime < q.starttime {
        return axum::Json(json!({"errcode": 65417, "errmsg": "time range too long"}))
            .into_response();
    }
    let window: Vec<_> = archive
        .records
        .iter()
        .filter(|r| (q.starttime..=q.endtime).contains(&r.time))
        .collect();
    let skip = usize::try_from(q.msgid - 1).unwrap();
    let page: Vec<_> = window.iter().skip(skip).take(q.number).cloned().collect();
    let next = if archive.stuck.load(SeqCst) {
        q.msgid
    } else {
        q.msgid + page.len() as i64
    };
    axum::Json(json!({"recordlist": page, "number": page.len(), "msgid": next})).into_response()
}

fn record(time: i64) -> Record {
    Record {
        openid: "oDF3iY9WMaswOPWjCIp_f3Bnpljk".into(),
        opercode: 2002,
        text: format!("at {time}"),
        time,
        worker: "test1@test".into(),
    }
}

async fn start_archive(records: Vec<Record>) -> (Arc<Mock>, Arc<Archive>, wx_kefu_runtime::Client) {
    let mock = Mock::new();
    let archive = Arc::new(Archive {
        records,
        requests: Mutex::new(Vec::new()),
        stuck: AtomicBool::new(false),
    });
    let routes = Router::new()
        .route("/test/records", post(answer_records))
        .with_state((mock.clone(), archive.clone()));
    let base = serve(router(&mock).merge(routes)).await;
    (mock, archive, builder(&base).build().unwrap())
}

fn build(starttime: i64, endtime: i64, msgid: i64, number: u32) -> Records {
    Records {
        starttime,
        endtime,
        msgid,
        number,
    }
}

#[tokio::test]
async fn three_days_are_exported_in_windows_and_pages_each_record_once() {
    // A record every two hours, and records on and around the window boundaries.
    let mut times: Vec<i64> = (0..36).map(|i| T0 + i * 7200 + 17).collect();
    times.extend([
        T0,
        T0 + DAY,
        T0 + DAY + 1,
        T0 + 2 * DAY + 1,
        T0 + 2 * DAY + 2,
        T0 + 3 * DAY - 1,
    ]);
    times.sort();
    let all: Vec<Record> = times.iter().copied().map(record).collect();
    let (_mock, archive, client) = start_archive(all.clone()).await;

    let exported: Vec<Record> = export(&client, T0..=T0 + 3 * DAY - 1, 5, build)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(exported, all, "every record once, in order");

    let requests = archive.requests.lock().unwrap().clone();
    let mut windows: Vec<(i64, i64)> = requests.iter().map(|r| (r.0, r.1)).collect();
    windows.dedup();
    assert_eq!(
        windows,
        [
            (T0, T0 + DAY),
            (T0 + DAY + 1, T0 + 2 * DAY + 1),
            (T0 + 2 * DAY + 2, T0 + 3 * DAY - 1)
        ]
    );
    for (start, end) in &windows {
        let in_window = all
            .iter()
            .filter(|r| (*start..=*end).contains(&r.time))
            .count();
        let pages: Vec<i64> = requests
            .iter()
            .filter(|r| (r.0, r.1) == (*start, *end))
            .map(|r| r.2)
            .collect();
        // Full pages of 5, then the page shorter than 5 (empty only when the full
        // pages held every record) that ends the window: no call for an empty page.
        let expected: Vec<i64> = (0..=in_window / 5).map(|p| 1 + 5 * p as i64).collect();
        assert_eq!(
            pages, expected,
            "window {start}..={end}: pages by msgid until a short page"
        );
    }
    assert!(requests.iter().all(|r| r.3 == 5));
}

#[tokio::test]
async fn the_export_is_lazy_and_holds_one_page() {
    let all: Vec<Record> = (0..20).map(|i| record(T0 + i)).collect();
    let (_mock, archive, client) = start_archive(all).await;
    let stream = export(&client, T0..=T0 + DAY, 5, build);
    let first: Vec<_> = stream.take(5).try_collect().await.unwrap();
    assert_eq!(first.len(), 5);
    assert_eq!(
        archive.requests.lock().unwrap().len(),
        1,
        "the next page is fetched only when needed"
    );
}

#[tokio::test]
async fn a_short_last_page_ends_its_window_whatever_its_msgid() {
    // Three records a window, pages of 5, and a cursor that never advances: the short
    // page is the window's last, so nothing stalls and nothing is asked twice.
    let all: Vec<Record> = [0, 1, 2, DAY + 10, DAY + 11, DAY + 12]
        .iter()
        .map(|t| record(T0 + t))
        .collect();
    let (_mock, archive, client) = start_archive(all.clone()).await;
    archive.stuck.store(true, SeqCst);
    let exported: Vec<Record> = export(&client, T0..=T0 + 2 * DAY, 5, build)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(exported, all);
    let requests = archive.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one call per window: {requests:?}");
}

#[tokio::test]
async fn a_msgid_that_does_not_advance_stops_the_export_with_an_error() {
    let all: Vec<Record> = (0..20).map(|i| record(T0 + i)).collect();
    let (_mock, archive, client) = start_archive(all).await;
    archive.stuck.store(true, SeqCst);
    let items: Vec<_> = export(&client, T0..=T0 + 2 * DAY, 5, build).collect().await;
    assert_eq!(items.len(), 6, "the page, then one error, then the end");
    assert!(items[..5].iter().all(Result::is_ok));
    let error = checked(items[5].as_ref().unwrap_err().clone());
    assert!(matches!(
        error,
        Error::PagingStalled {
            endpoint: "test_records",
            msgid: 1,
            starttime: T0,
            ..
        }
    ));
    assert_eq!(archive.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_error_ends_the_export() {
    let (mock, archive, client) = start_archive(vec![record(T0)]).await;
    mock.script(
        "records",
        [Reply::Json(
            json!({"errcode": 65416, "errmsg": "invalid parameter"}),
        )],
    );
    let items: Vec<_> = export(&client, T0..=T0 + 3 * DAY, 5, build).collect().await;
    assert_eq!(items.len(), 1);
    let error = checked(items[0].as_ref().unwrap_err().clone());
    assert_eq!(error.code().map(|c| c.code()), Some(65416));
    assert!(archive.requests.lock().unwrap().is_empty());

    let (start, end) = (T0 + 10, T0);
    let empty: Vec<_> = export(&client, start..=end, 5, build).collect().await;
    assert!(empty.is_empty(), "an empty range makes no request");
}
