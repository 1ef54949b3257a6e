//! Export chat records between two instants to JSON lines, one record per line.
//!
//! ```sh
//! cargo run --example export_jsonl > records.jsonl
//! ```
//!
//! The export splits the range into 24-hour windows and pages each by `msgid`, holding one
//! page at a time, so a range of months streams in constant memory. It runs on the embedded
//! emulator, seeded with a conversation spread over three days.

use std::error::Error as StdError;
use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use wx_kefu_api::*;
use wx_kefu_mock::MockServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let mock = MockServer::start().await;
    let client = Client::builder()
        .app_id(mock.appid())
        .app_secret(mock.secret())
        .base_url(mock.base_url())
        .build()?;
    let start = mock.now();
    for day in 0..3 {
        mock.user_message("o_export_user", &format!("第 {} 天的问题", day + 1));
        client
            .send_custom_message(SendCustomMessage::new(
                "o_export_user",
                Text::new("收到，马上处理。"),
            ))
            .await?;
        mock.advance(Duration::from_secs(86_400));
    }

    let mut out = std::io::stdout().lock();
    let mut records = std::pin::pin!(export_records(&client, start, mock.now()));
    let mut count = 0;
    while let Some(record) = records.next().await {
        serde_json::to_writer(&mut out, &record?)?;
        out.write_all(b"\n")?;
        count += 1;
    }
    eprintln!("exported {count} record(s)");
    Ok(())
}
