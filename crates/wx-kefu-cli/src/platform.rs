//! `wx-kefu platform authorizers`: every account that authorizes the platform, with the
//! permission sets the platform's store keeps for it (never a refresh token).

use serde_json::json;
use wx_kefu_api::KefuApi;

use crate::context::Context;
use crate::error::CliResult;

/// `api_get_authorizer_list`'s largest page.
const PAGE: i64 = 500;

/// Lists the authorizers: every page of the list, each with its permission sets (`null`
/// where the store does not know them, e.g. without the platform's Redis).
pub async fn authorizers(context: &Context) -> CliResult {
    let platform = context.platform()?;
    let component = platform.component();
    let mut rows = Vec::new();
    let mut offset = 0;
    let total = loop {
        let page = component
            .get_authorizer_list(platform.component_app_id(), offset, PAGE)
            .await?;
        let entries = page.list.len();
        for entry in page.list {
            let sets = platform.permission_sets(&entry.authorizer_appid).await?;
            rows.push(json!({
                "authorizer_appid": entry.authorizer_appid,
                "auth_time": entry.auth_time,
                "permission_sets": sets,
            }));
        }
        offset += PAGE;
        if entries == 0 || offset >= page.total_count {
            break page.total_count;
        }
    };
    context
        .printer
        .answer(&json!({ "total_count": total, "authorizers": rows }))
}
