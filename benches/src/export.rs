//! The record export's memory: 100,000 records streamed by `export_records` against one
//! page fetched alone and against the same records collected into a `Vec`.

use std::pin::pin;

use futures_util::StreamExt;
use serde::Serialize;
use wx_kefu_api::{Client, KefuApi, export_records};

use crate::bodies;
use crate::measure::{Memory, heap_peak};
use crate::server::{EXPORT_PAGES, MsgListMode, Server};

/// What the three measurements saw.
#[derive(Debug, Clone, Serialize)]
pub struct ExportMemory {
    /// Records the export yielded.
    pub records: usize,
    /// Pages the server answered.
    pub pages: usize,
    /// One `get_msg_list` call of 10,000 records, the answer dropped.
    pub one_page: Memory,
    /// `export_records` over 100,000 records, each record dropped as it comes.
    pub export_streamed: Memory,
    /// The same export with every record kept: what an unbounded export would hold.
    pub export_collected: Memory,
    /// Heap peak of the streamed export over that of one page (bounded: close to 1).
    pub streamed_over_one_page: f64,
}

/// Measures the three, one after the other, with nothing else running.
pub async fn export_memory(
    server: &Server,
    control: &reqwest::Client,
    client: &Client,
) -> Result<ExportMemory, String> {
    server.reset(control, 0, MsgListMode::Paged).await?;
    let (end, total) = (bodies::START + 3600, EXPORT_PAGES * bodies::PAGE);
    // Once untimed, so connection and first-use allocations are behind us.
    let warm = client.get_msg_list(bodies::START, end, 1, 10_000).await;
    warm.map_err(|e| format!("get_msg_list: {e}"))?;

    let (page, one_page) = heap_peak(async {
        let page = client.get_msg_list(bodies::START, end, 1, 10_000).await;
        page.map(|page| page.recordlist.len())
    })
    .await;
    let page = page.map_err(|e| format!("get_msg_list: {e}"))?;

    let (streamed, export_streamed) = heap_peak(async {
        let mut records = pin!(export_records(client, bodies::START, end));
        let mut count = 0_usize;
        while let Some(record) = records.next().await {
            record?;
            count += 1;
        }
        Ok::<_, wx_kefu_api::Error>(count)
    })
    .await;
    let records = streamed.map_err(|e| format!("export_records: {e}"))?;

    let (collected, export_collected) = heap_peak(async {
        let records = export_records(client, bodies::START, end);
        let all: Result<Vec<_>, _> = records.collect::<Vec<_>>().await.into_iter().collect();
        all.map(|all| all.len())
    })
    .await;
    let collected = collected.map_err(|e| format!("export_records: {e}"))?;

    if page != bodies::PAGE || records != total || collected != total {
        return Err(format!(
            "expected {} records per page and {total} in all; got {page}, {records}, {collected}",
            bodies::PAGE
        ));
    }
    Ok(ExportMemory {
        records,
        pages: EXPORT_PAGES,
        one_page,
        export_streamed,
        export_collected,
        streamed_over_one_page: export_streamed.heap_peak_bytes as f64
            / one_page.heap_peak_bytes.max(1) as f64,
    })
}
