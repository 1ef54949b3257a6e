//! Many accounts: a third-party platform serving 10,000 authorizers.
//!
//! - **Per call on a warm authorizer.** `send_custom_message` through
//!   `platform.client(appid)` (the client looked up by appid on every call, the calls
//!   rotating over 100 warm authorizers among the 10,000) against the single-account
//!   client's: CPU side by side, and (with `--instructions`) instructions per call, goal
//!   within 1.10×.
//! - **Memory per idle authorizer.** The live heap the platform holds per authorizer whose
//!   token is cached but whose client is not kept (an idle one), with the default memory
//!   stores; and per ready client. Bound: 1 KiB per idle authorizer (a token of ~60–160
//!   characters, its store's locks and times, the map's entry: 10,000 idle accounts then
//!   cost under 10 MiB).
//! - **Redis keys per authorizer** (with `redis-server`): after 1,000 authorizers' tokens
//!   are fetched through `RedisPlatformTokens` and their refresh tokens are kept in
//!   `RedisAuthorizations`: the keys beside the platform's shared three (ticket,
//!   authorizations, component token), per authorizer. Goal: 1.

use std::sync::Arc;

use serde::Serialize;
use wx_kefu_api::platform::Platform;
use wx_kefu_api::*;
use wx_kefu_test_support::RedisServer;

use crate::bodies;
use crate::calls::{self, Clients, Sample};
use crate::measure::{Summary, heap_peak};
use crate::server::Server;

/// Authorizers the platform serves.
pub const AUTHORIZERS: usize = 10_000;

/// Warm authorizers the per-call runs rotate over.
const WARM: usize = 100;

/// The bound on the memory held per idle authorizer.
pub const IDLE_BOUND_BYTES: f64 = 1024.0;

const COMPONENT: &str = "wxbenchcomponent0";

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformResult {
    /// Authorizers served.
    pub authorizers: usize,
    /// Calls per timed run.
    pub calls_per_run: usize,
    /// CPU per call of the single-account client, µs.
    pub single_cpu_us: Summary,
    /// CPU per call through the platform, µs.
    pub platform_cpu_us: Summary,
    /// Platform over single, run by run.
    pub cpu_ratio: Summary,
    /// Instructions per call (single, platform, ratio), with `--instructions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<(f64, f64, f64)>,
    /// Live heap held per idle authorizer (token cached, no client kept), bytes.
    pub idle_bytes_per_authorizer: f64,
    /// The durable record per authorizer when the memory `AuthorizationStore` keeps them.
    pub durable_bytes_per_authorizer: f64,
    /// Live heap per ready client (kept for a recently used authorizer), bytes.
    pub client_bytes: f64,
    /// Redis keys per authorizer beside the platform's shared ones (`None` without Redis).
    pub redis_keys_per_authorizer: Option<f64>,
}

fn appid(n: usize) -> String {
    format!("wxbench{n:010}")
}

/// The durable store of `AUTHORIZERS` authorizations and a ticket.
async fn authorizations(store: &dyn AuthorizationStore) -> Result<(), String> {
    store
        .put_ticket(&Ticket {
            value: Credential::new("ticket@@@bench"),
            issued_at: 1_700_000_000,
        })
        .await
        .map_err(|e| e.to_string())?;
    for n in 0..AUTHORIZERS {
        let authorization = Authorization {
            refresh_token: Credential::new(format!("refreshtoken@@@bench{n:010}")),
            func_info: vec![1, 6],
            authorized_at: 1_700_000_000,
        };
        store
            .put_authorization(&appid(n), &authorization)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A platform on the bench server with the memory stores, its authorizations filled.
async fn platform(server_url: &str, capacity: usize) -> Result<Platform, String> {
    let store = Arc::new(MemoryAuthorizations::new());
    authorizations(store.as_ref()).await?;
    Platform::builder()
        .component_app_id(COMPONENT)
        .component_secret("bench-component-secret")
        .base_url(server_url)
        .authorization_store(store)
        .client_capacity(capacity)
        .build()
        .map_err(|e| e.to_string())
}

/// Fetches the tokens of authorizers `0..n` (the component token first).
async fn warm(platform: &Platform, n: usize) -> Result<(), String> {
    for i in 0..n {
        platform
            .client(&appid(i))
            .access_token()
            .await
            .map_err(|e| format!("warming {}: {e}", appid(i)))?;
    }
    Ok(())
}

/// A timed run of `calls` sends, each through `platform.client(appid)` of the next warm
/// authorizer.
/// (One task on the runtime's workers, as the single-account side's calls run.)
async fn platform_sends(platform: &Platform, appids: &Arc<Vec<String>>, calls: usize) -> Sample {
    let (platform, appids) = (platform.clone(), Arc::clone(appids));
    let cpu = crate::measure::cpu_time();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        for i in 0..calls {
            let message = SendCustomMessage::new(bodies::OPENID, Text::new(bodies::TEXT));
            platform
                .client(&appids[i % appids.len()])
                .send_custom_message(message)
                .await
                .expect("a platform send");
        }
    })
    .await
    .expect("the platform's sends");
    calls::sample(calls, started.elapsed(), crate::measure::cpu_time() - cpu)
}

/// `--profile platform-send[@1] --calls N`: N sends through the platform, for callgrind.
pub async fn profile(server: &Server, calls: usize) -> Result<(), String> {
    let platform = platform(
        &server.base_url,
        wx_kefu_api::platform::DEFAULT_CLIENT_CAPACITY,
    )
    .await?;
    warm(&platform, WARM).await?;
    let appids = Arc::new((0..WARM).map(appid).collect::<Vec<_>>());
    platform_sends(&platform, &appids, WARM).await;
    let sample = platform_sends(&platform, &appids, calls).await;
    println!(
        "platform-send: {calls} calls, {:.1} µs CPU/call",
        sample.cpu_us_per_call()
    );
    Ok(())
}

/// Runs the section.
pub async fn measure(
    server: &Server,
    single: &Clients,
    calls: usize,
    runs: usize,
    instructions: bool,
) -> Result<PlatformResult, String> {
    // Memory: every authorizer's token cached, no client kept (capacity 1), against the
    // durable records alone.
    let (durable, durable_memory) = heap_peak(async {
        let store = MemoryAuthorizations::new();
        authorizations(&store).await.map(|()| store)
    })
    .await;
    let durable = durable?;
    let durable_bytes = durable_memory.heap_end_bytes as f64 / AUTHORIZERS as f64;
    drop(durable);
    let idle = platform(&server.base_url, 1).await?;
    let (warmed, idle_memory) = heap_peak(warm(&idle, AUTHORIZERS)).await;
    warmed?;
    let idle_bytes = idle_memory.heap_end_bytes as f64 / AUTHORIZERS as f64;
    // Ready clients: 1,000 made and kept (their stores empty: the component token only
    // was fetched).
    let fresh = platform(&server.base_url, 1_000).await?;
    warm(&fresh, 1).await?;
    let (_, fresh_memory) = heap_peak(async {
        for i in 0..1_000 {
            black_box(fresh.client(&appid(i)));
        }
    })
    .await;
    let client_bytes = fresh_memory.heap_end_bytes as f64 / 1_000.0;
    drop((idle, fresh));

    // Per call: rotating over warm authorizers, against the single-account client.
    let platform = platform(
        &server.base_url,
        wx_kefu_api::platform::DEFAULT_CLIENT_CAPACITY,
    )
    .await?;
    warm(&platform, WARM).await?;
    let appids = Arc::new((0..WARM).map(appid).collect::<Vec<_>>());
    let (platform_side, single_side) = calls::alternate_sides(
        runs,
        calls,
        |n| platform_sends(&platform, &appids, n),
        |n| calls::sdk_sends(single, n),
    )
    .await;
    let instructions = match instructions {
        false => None,
        true => {
            eprintln!("platform: instructions per call, single account and platform …");
            let single = crate::instructions::side_per_call("sdk-send@1", 2_000, 20_000, &[])?;
            let platform =
                crate::instructions::side_per_call("platform-send@1", 2_000, 20_000, &[])?;
            Some((single, platform, platform / single))
        }
    };
    let redis_keys_per_authorizer = redis_keys(&server.base_url).await?;
    Ok(PlatformResult {
        authorizers: AUTHORIZERS,
        calls_per_run: calls,
        single_cpu_us: calls::cpu_per_call(&single_side),
        platform_cpu_us: calls::cpu_per_call(&platform_side),
        cpu_ratio: calls::cpu_ratios(&platform_side, &single_side),
        instructions,
        idle_bytes_per_authorizer: idle_bytes,
        durable_bytes_per_authorizer: durable_bytes,
        client_bytes,
        redis_keys_per_authorizer,
    })
}

fn black_box<T>(value: T) -> T {
    std::hint::black_box(value)
}

/// Keys per authorizer with the Redis stores, after 1,000 authorizers' tokens.
async fn redis_keys(server_url: &str) -> Result<Option<f64>, String> {
    let Some(redis) = RedisServer::start("the bench's platform section") else {
        return Ok(None);
    };
    let connection = wx_kefu_api::redis::Client::open(redis.url().as_str())
        .map_err(|e| e.to_string())?
        .get_connection_manager()
        .await
        .map_err(|e| e.to_string())?;
    let durable =
        RedisAuthorizations::new(connection.clone(), None, COMPONENT).map_err(|e| e.to_string())?;
    authorizations(&durable).await?;
    let tokens =
        RedisPlatformTokens::new(connection.clone(), None, COMPONENT).map_err(|e| e.to_string())?;
    let platform = Platform::builder()
        .component_app_id(COMPONENT)
        .component_secret("bench-component-secret")
        .base_url(server_url)
        .authorization_store(durable)
        .token_cache(tokens)
        .build()
        .map_err(|e| e.to_string())?;
    let warmed = 1_000;
    warm(&platform, warmed).await?;
    let mut connection = connection;
    let keys: u64 = wx_kefu_api::redis::cmd("DBSIZE")
        .query_async(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    // The ticket, the authorizations, the component token: shared by every authorizer.
    let shared = 3;
    Ok(Some((keys.saturating_sub(shared)) as f64 / warmed as f64))
}

/// The section as Markdown.
pub fn markdown(result: &PlatformResult) -> String {
    let s = |s: &Summary| format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max);
    let instructions = match result.instructions {
        Some((single, platform, ratio)) => format!(
            "{single:.0} → {platform:.0} instructions per call: **{ratio:.3}×** (goal ≤ 1.10)"
        ),
        None => "instructions: run with `--instructions`".into(),
    };
    let keys = match result.redis_keys_per_authorizer {
        Some(keys) => {
            format!("**{keys:.2}** (goal 1: its token; the lock is deleted after each fetch)")
        }
        None => "skipped: `redis-server` is not on PATH".into(),
    };
    format!(
        "### Many accounts (the third-party platform, {} authorizers)\n\n\
         | what | single account | platform | platform / single |\n\
         |---|---|---|---|\n\
         | CPU µs per `send_custom_message`, {} calls (the platform's rotate over {WARM} warm authorizers, `platform.client(appid)` each call) | {} | {} | {} |\n\n\
         Per call: {instructions}.\n\n\
         Memory: **{:.0} bytes** per idle authorizer (token cached, no client kept; bound {:.0}), \
         {:.0} bytes per durable record in the memory store, {:.0} bytes per ready client (at most \
         `client_capacity`, default 1,024, are kept). Redis keys per authorizer: {keys}.\n",
        result.authorizers,
        result.calls_per_run,
        s(&result.single_cpu_us),
        s(&result.platform_cpu_us),
        s(&result.cpu_ratio),
        result.idle_bytes_per_authorizer,
        IDLE_BOUND_BYTES,
        result.durable_bytes_per_authorizer,
        result.client_bytes,
    )
}
