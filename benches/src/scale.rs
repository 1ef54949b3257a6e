//! Several instances: what sharing state through Redis costs (needs `redis-server` on
//! PATH; without it the section says so and is skipped).
//!
//! - **The token, per call.** `send_custom_message` through a client whose token is in a
//!   `RedisTokenStore`, against the same client with the default memory store: the Redis
//!   commands per call in steady state (from `INFO stats`, the bench's own `INFO` taken
//!   out), the CPU per call of each, and (with `--instructions`) instructions per call.
//!   Goal: 0 commands, instructions within 1.05× the memory store's.
//! - **The dedup, per push.** `Webhook::process` of new plain-mode text pushes with the
//!   shared `RedisInbound` dedup store against the in-memory `Dedup`: Redis commands per
//!   push (goal: at most two) and the CPU per push of each (this process's CPU only; the
//!   Redis server's work is its own).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use wx_kefu_api::inbound::redis::RedisInbound;
use wx_kefu_api::inbound::{Query, Reply, Webhook};
use wx_kefu_test_support::RedisServer;

use crate::calls::{self, Clients, Sample};
use crate::measure::{Summary, cpu_time};
use crate::server::Server;

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    /// The token read per call.
    pub token: TokenRow,
    /// The dedup per push.
    pub dedup: DedupRow,
}

/// The token store, per call.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    /// Calls per timed run.
    pub calls_per_run: usize,
    /// Redis commands sent per call in steady state.
    pub redis_commands_per_call: f64,
    /// Commands Redis ran per call (inside scripts too).
    pub redis_executed_per_call: f64,
    /// CPU per call with the memory store, µs.
    pub memory_cpu_us: Summary,
    /// CPU per call with the Redis store, µs.
    pub redis_cpu_us: Summary,
    /// Redis over memory, run by run.
    pub cpu_ratio: Summary,
    /// Instructions per call (memory, Redis, ratio), with `--instructions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<(f64, f64, f64)>,
}

/// The dedup store, per push.
#[derive(Debug, Clone, Serialize)]
pub struct DedupRow {
    /// Pushes per timed run.
    pub pushes_per_run: usize,
    /// Redis commands sent per push with the shared store (round trips).
    pub redis_commands_per_push: f64,
    /// Commands Redis ran per push, those inside the scripts included.
    pub redis_executed_per_push: f64,
    /// CPU per push with the in-memory dedup, µs.
    pub memory_cpu_us: Summary,
    /// CPU per push with the Redis dedup, µs.
    pub redis_cpu_us: Summary,
    /// Redis over memory, run by run.
    pub cpu_ratio: Summary,
}

/// Commands Redis has processed so far, the ones scripts call included (the `INFO`
/// asking counts once).
async fn commands(connection: &mut wx_kefu_api::redis::aio::MultiplexedConnection) -> u64 {
    let info: String = wx_kefu_api::redis::cmd("INFO")
        .arg("stats")
        .query_async(connection)
        .await
        .expect("INFO stats");
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_commands_processed in INFO stats")
}

/// Runs `work` while `redis-cli monitor` watches: the commands clients sent (each a round
/// trip), the ones scripts ran inside Redis left out (`[0 lua]`).
async fn sent_during<F: std::future::Future>(
    port: u16,
    work: F,
) -> Result<(F::Output, u64), String> {
    use std::io::{BufRead, BufReader};
    let mut monitor = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "monitor"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-cli monitor: {e}"))?;
    let stdout = monitor.stdout.take().ok_or("redis-cli's output")?;
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let ok = lines.next();
        let sent = lines
            .map_while(Result::ok)
            .filter(|line| line.contains(" [0 127.0.0.1:") && !line.contains("\"PING\""))
            .count() as u64;
        (ok, sent)
    });
    // MONITOR is on once it answered OK: a ping from another connection shows up after.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let output = work.await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = monitor.kill();
    let _ = monitor.wait();
    let (_, sent) = reader.join().map_err(|_| "the monitor's reader failed")?;
    Ok((output, sent))
}

/// Redis commands per operation while `work` makes `n` of them: those clients sent, and
/// those Redis ran (inside scripts too).
async fn commands_per<F: std::future::Future>(
    redis: &RedisServer,
    connection: &mut wx_kefu_api::redis::aio::MultiplexedConnection,
    n: usize,
    work: F,
) -> Result<(f64, f64), String> {
    let before = commands(connection).await;
    let (_, sent) = sent_during(redis.port(), work).await?;
    let after = commands(connection).await;
    let ran = after.saturating_sub(before + 1);
    Ok((sent as f64 / n as f64, ran as f64 / n as f64))
}

/// Runs the section, or says why it cannot.
pub async fn measure(
    server: &Server,
    memory: &Clients,
    calls: usize,
    pushes: usize,
    runs: usize,
    instructions: bool,
) -> Result<Option<ScaleResult>, String> {
    let Some(redis) = RedisServer::start("the bench's several-instances section") else {
        return Ok(None);
    };
    let url = redis.url();
    let with_redis = Clients::with_token_store(server, &url).await?;
    let mut connection = wx_kefu_api::redis::Client::open(url.as_str())
        .map_err(|e| e.to_string())?
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;

    // The token: commands over steady calls, then CPU side by side.
    let (token_sent, token_commands) = commands_per(
        &redis,
        &mut connection,
        calls,
        calls::sdk_sends(&with_redis, calls),
    )
    .await?;
    let (redis_side, memory_side) = calls::alternate_sides(
        runs,
        calls,
        |n| calls::sdk_sends(&with_redis, n),
        |n| calls::sdk_sends(memory, n),
    )
    .await;
    let instructions = match instructions {
        false => None,
        true => {
            eprintln!("scale: instructions per call, memory and Redis token stores …");
            let memory = crate::instructions::side_per_call("sdk-send@1", 2_000, 20_000, &[])?;
            let redis = crate::instructions::side_per_call(
                "sdk-send@1",
                2_000,
                20_000,
                &[(calls::REDIS_ENV, &url)],
            )?;
            Some((memory, redis, redis / memory))
        }
    };
    let token = TokenRow {
        calls_per_run: calls,
        redis_commands_per_call: token_sent,
        redis_executed_per_call: token_commands,
        memory_cpu_us: calls::cpu_per_call(&memory_side),
        redis_cpu_us: calls::cpu_per_call(&redis_side),
        cpu_ratio: calls::cpu_ratios(&redis_side, &memory_side),
        instructions,
    };

    // The dedup: one warm-up batch, commands over a batch, then CPU side by side.
    let store = Arc::new(
        RedisInbound::builder()
            .url(url.as_str())
            .build()
            .map_err(|e| e.to_string())?,
    );
    let shared = webhook(Some(store));
    let local = webhook(None);
    let next = std::sync::atomic::AtomicI64::new(1);
    let batch = |webhook: &Webhook, n: usize| {
        let first = next.fetch_add(n as i64, std::sync::atomic::Ordering::Relaxed);
        push_batch(webhook.clone(), first, n)
    };
    batch(&shared, pushes.min(1_000)).await;
    let (push_sent, push_commands) =
        commands_per(&redis, &mut connection, pushes, batch(&shared, pushes)).await?;
    let (redis_side, memory_side) =
        calls::alternate_sides(runs, pushes, |n| batch(&shared, n), |n| batch(&local, n)).await;
    let dedup = DedupRow {
        pushes_per_run: pushes,
        redis_commands_per_push: push_sent,
        redis_executed_per_push: push_commands,
        memory_cpu_us: calls::cpu_per_call(&memory_side),
        redis_cpu_us: calls::cpu_per_call(&redis_side),
        cpu_ratio: calls::cpu_ratios(&redis_side, &memory_side),
    };
    drop(redis);
    Ok(Some(ScaleResult { token, dedup }))
}

const TOKEN: &str = "bench-token";
const NOW: i64 = 1_700_000_000;

fn webhook(store: Option<Arc<RedisInbound>>) -> Webhook {
    let builder = Webhook::builder()
        .token(TOKEN)
        .app_id(calls::APPID)
        .plain_mode()
        .clock(|| NOW);
    match store {
        Some(store) => builder.dedup_store(store),
        None => builder,
    }
    .build()
    .expect("the bench's webhook")
}

/// `n` new text pushes (MsgIds from `first`), each processed to its answer.
async fn push_batch(webhook: Webhook, first: i64, n: usize) -> Sample {
    let timestamp = NOW.to_string();
    let queries: Vec<String> = (0..n)
        .map(|i| {
            let nonce = (first + i as i64).to_string();
            let signature = wx_kefu_api::inbound::signature::sign(&[TOKEN, &timestamp, &nonce]);
            format!("signature={signature}&timestamp={timestamp}&nonce={nonce}")
        })
        .collect();
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oBENCH]]></FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>{}</MsgId></xml>",
                first + i as i64
            )
        })
        .collect();
    let cpu = cpu_time();
    let started = Instant::now();
    for (query, body) in queries.iter().zip(&bodies) {
        let answer = webhook
            .process(&Query::parse(query), body.as_bytes(), |_| async {
                Reply::text("ok")
            })
            .await
            .expect("a bench push");
        std::hint::black_box(answer);
    }
    calls::sample(n, started.elapsed(), cpu_time() - cpu)
}

/// The section as Markdown.
pub fn markdown(result: &Option<ScaleResult>) -> String {
    let Some(result) = result else {
        return "### Several instances\n\nSkipped: `redis-server` is not on PATH.\n".into();
    };
    let s = |s: &Summary| format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max);
    let token = &result.token;
    let dedup = &result.dedup;
    let instructions = match token.instructions {
        Some((memory, redis, ratio)) => {
            format!("{memory:.0} → {redis:.0} instructions per call: **{ratio:.3}×** (goal ≤ 1.05)")
        }
        None => "instructions: run with `--instructions`".into(),
    };
    format!(
        "### Several instances (Redis)\n\n\
         | what | Redis commands sent (run inside Redis) | CPU µs, memory | CPU µs, Redis | Redis / memory |\n\
         |---|---|---|---|---|\n\
         | a call's token (`RedisTokenStore`), steady, {} calls | **{:.3}** per call ({:.3}; goal 0) | {} | {} | {} |\n\
         | a push's dedup (`RedisInbound`), {} new pushes | **{:.2}** per push ({:.2}; goal ≤ 2 sent) | {} | {} | {} |\n\n\
         Token store: {instructions}.\n",
        token.calls_per_run,
        token.redis_commands_per_call,
        token.redis_executed_per_call,
        s(&token.memory_cpu_us),
        s(&token.redis_cpu_us),
        s(&token.cpu_ratio),
        dedup.pushes_per_run,
        dedup.redis_commands_per_push,
        dedup.redis_executed_per_push,
        s(&dedup.memory_cpu_us),
        s(&dedup.redis_cpu_us),
        s(&dedup.cpu_ratio),
    )
}
