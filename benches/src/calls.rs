//! Calls through the SDK against the same requests made with bare reqwest: the per-call
//! cost, the decoding of a 10,000-record page, and the token herd.
//!
//! The floor is what a hand-written client needs at least: a pre-parsed URL with the token
//! in it, a pre-serialised body, the answer read and decoded by `serde_json` into minimal
//! structs of its own with the same fields (plain `i64` and `String`, the code checked in
//! the same pass). The SDK builds the request value, validates it, serialises it, takes the
//! token from its store, builds the URL, sends, and decodes through the runtime's decode
//! path into the generated types.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wx_kefu_api::{Client, GetMsgList, KefuApi, MsgList, SendCustomMessage, Text};

use crate::bodies;
use crate::measure::{Summary, cpu_time};
use crate::server::{MsgListMode, Server};

/// One timed run: how many calls, how long, how much CPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    calls: usize,
    wall: Duration,
    cpu: Duration,
}

impl Sample {
    fn wall_per_call(self) -> f64 {
        self.wall.as_secs_f64() / self.calls as f64
    }

    fn calls_per_sec(self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64()
    }

    pub fn cpu_us_per_call(self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.calls as f64
    }
}

impl std::ops::AddAssign for Sample {
    fn add_assign(&mut self, other: Sample) {
        self.calls += other.calls;
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// Blocks each run is cut into, the SDK's and the floor's alternating, so that both
/// sides of a run see the same machine (the load of a shared machine drifts).
const BLOCKS: usize = 10;

/// `runs` runs of `calls` calls per side, each run alternating [`BLOCKS`] blocks of the two.
async fn alternate<A, FA, B, FB>(
    runs: usize,
    calls: usize,
    mut sdk: A,
    mut floor: B,
) -> (Vec<Sample>, Vec<Sample>)
where
    A: FnMut(usize) -> FA,
    FA: Future<Output = Sample>,
    B: FnMut(usize) -> FB,
    FB: Future<Output = Sample>,
{
    let block = calls.div_ceil(BLOCKS);
    sdk(block).await;
    floor(block).await;
    let (mut sdk_runs, mut floor_runs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (mut s, mut f) = (Sample::default(), Sample::default());
        for b in 0..BLOCKS {
            if (run + b) % 2 == 0 {
                s += sdk(block).await;
                f += floor(block).await;
            } else {
                f += floor(block).await;
                s += sdk(block).await;
            }
        }
        sdk_runs.push(s);
        floor_runs.push(f);
    }
    (sdk_runs, floor_runs)
}

/// The per-run ratios SDK/floor of a measure (above 1: the SDK costs more).
fn ratios(sdk: &[Sample], floor: &[Sample], measure: fn(Sample) -> f64) -> Summary {
    let ratios: Vec<f64> = sdk
        .iter()
        .zip(floor)
        .map(|(s, f)| measure(*s) / measure(*f))
        .collect();
    Summary::of(&ratios)
}

/// Makes `calls` calls from `concurrency` tasks and measures the wall and CPU time.
async fn drive<F, Fut>(concurrency: usize, calls: usize, call: F) -> Sample
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = cpu_time();
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, next) = (call.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                while next.fetch_add(1, Relaxed) < calls {
                    call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a bench task panicked");
    }
    Sample {
        calls,
        wall: started.elapsed(),
        cpu: cpu_time() - cpu,
    }
}

/// The SDK's and the floor's runs of one scenario, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Calls per second (wall clock).
    pub calls_per_sec: Summary,
    /// CPU time of this process per call, in microseconds.
    pub cpu_us_per_call: Summary,
}

impl Side {
    fn of(samples: &[Sample]) -> Side {
        let collect = |f: fn(Sample) -> f64| samples.iter().copied().map(f).collect::<Vec<_>>();
        Side {
            calls_per_sec: Summary::of(&collect(Sample::calls_per_sec)),
            cpu_us_per_call: Summary::of(&collect(Sample::cpu_us_per_call)),
        }
    }
}

/// The per-call cost of one call at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct PerCall {
    /// The SDK call measured.
    pub call: &'static str,
    /// Tasks calling at once.
    pub concurrency: usize,
    /// Calls in each timed run.
    pub calls_per_run: usize,
    /// Through the SDK.
    pub sdk: Side,
    /// Bare reqwest with a pre-serialised body.
    pub floor: Side,
    /// SDK CPU per call over floor CPU per call, run by run.
    pub cpu_ratio: Summary,
    /// Floor calls/s over SDK calls/s, run by run (above 1: the SDK is slower).
    pub throughput_ratio: Summary,
}

/// What the per-call runs need: the server, a warm SDK client and a bare client.
pub struct Clients {
    /// The SDK client, its token fetched before any timing.
    pub sdk: Client,
    /// Bare reqwest, default settings.
    pub floor: reqwest::Client,
    base_url: String,
}

impl Clients {
    /// A warm SDK client (one token fetch, not timed) and a bare client.
    pub async fn new(server: &Server) -> Result<Clients, String> {
        let redis = std::env::var(REDIS_ENV).ok();
        Clients::warm(server, sdk_client_on(&server.base_url, redis.as_deref())?).await
    }

    async fn warm(server: &Server, sdk: Client) -> Result<Clients, String> {
        sdk.access_token()
            .await
            .map_err(|e| format!("pre-warming the token: {e}"))?;
        Ok(Clients {
            sdk,
            floor: reqwest::Client::new(),
            base_url: server.base_url.clone(),
        })
    }

    /// A warm SDK client whose token is in a `RedisTokenStore` on `redis_url`.
    pub async fn with_token_store(server: &Server, redis_url: &str) -> Result<Clients, String> {
        Clients::warm(server, sdk_client_on(&server.base_url, Some(redis_url))?).await
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let url = format!(
            "{}{path}?access_token={}",
            self.base_url,
            bodies::ACCESS_TOKEN
        );
        reqwest::Url::parse(&url).expect("the bench's URLs parse")
    }
}

/// A client of the SDK with its defaults (a memory token store, stable tokens); with a
/// Redis URL (the scale section, or [`REDIS_ENV`] in a `--profile` child), a
/// [`wx_kefu_api::RedisTokenStore`] there instead.
fn sdk_client_on(base_url: &str, redis: Option<&str>) -> Result<Client, String> {
    let builder = Client::builder()
        .app_id(APPID)
        .app_secret("bench-secret")
        .base_url(base_url);
    let builder = match redis {
        Some(url) => builder.token_store(
            wx_kefu_api::RedisTokenStore::builder()
                .url(url)
                .app_id(APPID)
                .build()
                .map_err(|e| format!("the Redis token store: {e}"))?,
        ),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| format!("building the SDK client: {e}"))
}

/// The bench's appid.
pub const APPID: &str = "wx0123456789abcdef";

/// Set to a Redis URL, the SDK client keeps its token in a `RedisTokenStore` there.
pub const REDIS_ENV: &str = "WX_KEFU_BENCH_REDIS";

/// A timed run of `calls` sends through the SDK client of `clients` (for the scale
/// section's comparison of two token stores).
pub async fn sdk_sends(clients: &Clients, calls: usize) -> Sample {
    sdk_run(clients, Call::Send, 1, calls).await
}

/// Runs `a` and `b` alternately (`runs` times each, after a warm-up): their samples.
pub async fn alternate_sides<A, FA, B, FB>(
    runs: usize,
    calls: usize,
    a: A,
    b: B,
) -> (Vec<Sample>, Vec<Sample>)
where
    A: FnMut(usize) -> FA,
    FA: Future<Output = Sample>,
    B: FnMut(usize) -> FB,
    FB: Future<Output = Sample>,
{
    alternate(runs, calls, a, b).await
}

/// `a`'s CPU per call over `b`'s, run by run.
pub fn cpu_ratios(a: &[Sample], b: &[Sample]) -> Summary {
    ratios(a, b, Sample::cpu_us_per_call)
}

/// CPU per call of each run, in µs.
pub fn cpu_per_call(samples: &[Sample]) -> Summary {
    Summary::of(
        &samples
            .iter()
            .copied()
            .map(Sample::cpu_us_per_call)
            .collect::<Vec<_>>(),
    )
}

/// A sample of `calls` made in `wall` with `cpu` of this process.
pub fn sample(calls: usize, wall: Duration, cpu: Duration) -> Sample {
    Sample { calls, wall, cpu }
}

#[derive(Deserialize)]
struct MinAck {
    #[serde(default)]
    errcode: i64,
}

#[derive(Deserialize)]
struct MinKfList {
    #[serde(default)]
    errcode: i64,
    kf_list: Vec<MinKf>,
}

#[derive(Deserialize)]
struct MinKf {
    kf_account: String,
    kf_nick: Option<String>,
    kf_id: serde_json::Value,
    kf_headimgurl: Option<String>,
    kf_wx: Option<String>,
    invite_wx: Option<String>,
    invite_expire_time: Option<i64>,
    invite_status: Option<String>,
    kf_openid: Option<String>,
}

impl MinKf {
    fn digest(&self) -> usize {
        let optional = [
            &self.kf_nick,
            &self.kf_headimgurl,
            &self.kf_wx,
            &self.invite_wx,
            &self.invite_status,
            &self.kf_openid,
        ];
        self.kf_account.len()
            + self.kf_id.to_string().len()
            + optional
                .iter()
                .flat_map(|o| o.as_ref())
                .map(String::len)
                .sum::<usize>()
            + usize::from(self.invite_expire_time.is_some())
    }
}

/// A page decoded by a hand-written client: its own plain struct.
#[derive(Deserialize)]
pub struct MinPage {
    #[serde(default)]
    errcode: i64,
    recordlist: Vec<MinRecord>,
    #[serde(default)]
    number: Option<i64>,
    #[serde(default)]
    msgid: Option<i64>,
}

#[derive(Deserialize)]
struct MinRecord {
    openid: String,
    opercode: i64,
    text: Option<String>,
    time: i64,
    worker: Option<String>,
}

impl MinPage {
    /// A digest of every field, to check both decoders read the same data.
    pub fn digest(&self) -> i64 {
        let records: i64 = self
            .recordlist
            .iter()
            .map(|r| {
                let lengths = r.openid.len()
                    + r.text.as_ref().map_or(0, String::len)
                    + r.worker.as_ref().map_or(0, String::len);
                i64::try_from(lengths).unwrap_or(0) + r.opercode + r.time
            })
            .sum();
        records + self.number.unwrap_or(0) + self.msgid.unwrap_or(0) + self.errcode
    }
}

/// The same digest over the SDK's typed page.
pub fn digest(page: &MsgList) -> i64 {
    let records: i64 = page
        .recordlist
        .iter()
        .map(|r| {
            let lengths = r.openid.len()
                + r.text.as_ref().map_or(0, String::len)
                + r.worker.as_ref().map_or(0, String::len);
            i64::try_from(lengths).unwrap_or(0) + i64::from(r.opercode) + r.time
        })
        .sum();
    records + page.number.unwrap_or(0) + page.msgid.unwrap_or(0)
}

/// A call the per-call bench measures.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    /// `send_custom_message` with a text.
    Send,
    /// `get_kf_list` (three agents).
    KfList,
}

impl Call {
    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Call::Send => "send_custom_message (text)",
            Call::KfList => "get_kf_list",
        }
    }

    /// The name in `--profile` sides (`sdk-send`, `floor-kflist`, …).
    pub fn profile_name(self) -> &'static str {
        match self {
            Call::Send => "send",
            Call::KfList => "kflist",
        }
    }
}

/// One timed run of `call` through the SDK.
async fn sdk_run(clients: &Clients, call: Call, concurrency: usize, calls: usize) -> Sample {
    let client = clients.sdk.clone();
    match call {
        Call::Send => {
            drive(concurrency, calls, move || {
                let client = client.clone();
                async move {
                    let message = SendCustomMessage::new(bodies::OPENID, Text::new(bodies::TEXT));
                    client.send_custom_message(message).await.expect("SDK send");
                }
            })
            .await
        }
        Call::KfList => {
            drive(concurrency, calls, move || {
                let client = client.clone();
                async move {
                    let list = client.get_kf_list().await.expect("SDK get_kf_list");
                    black_box(list);
                }
            })
            .await
        }
    }
}

/// A POST of a pre-serialised JSON body.
fn post_json(http: &reqwest::Client, url: reqwest::Url, body: Bytes) -> reqwest::RequestBuilder {
    http.post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
}

/// All the floor does with a request: send it, check the status, read and decode the answer.
async fn floor_answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    let response = request.send().await.expect("floor request");
    assert!(response.status().is_success(), "floor status");
    let answer = response.bytes().await.expect("floor answer");
    serde_json::from_slice(&answer).expect("floor answer decodes")
}

/// One timed run of the same requests with bare reqwest.
async fn floor_run(clients: &Clients, call: Call, concurrency: usize, calls: usize) -> Sample {
    let http = clients.floor.clone();
    match call {
        Call::Send => {
            let url = clients.url("/cgi-bin/message/custom/send");
            let body = bodies::send_body();
            drive(concurrency, calls, move || {
                let (http, url, body) = (http.clone(), url.clone(), body.clone());
                async move {
                    let ack: MinAck = floor_answer(post_json(&http, url, body)).await;
                    assert_eq!(ack.errcode, 0);
                }
            })
            .await
        }
        Call::KfList => {
            let url = clients.url("/cgi-bin/customservice/getkflist");
            drive(concurrency, calls, move || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let list: MinKfList = floor_answer(http.get(url)).await;
                    assert_eq!(list.errcode, 0);
                    black_box(list);
                }
            })
            .await
        }
    }
}

/// Makes `calls` calls of one side (`sdk-send`, `floor-send`, `sdk-kflist`, `floor-kflist`,
/// optionally with `@TASKS`, default 1), for a profiler to watch; prints the CPU per call.
pub async fn profile(clients: &Clients, side: &str, calls: usize) -> Result<(), String> {
    let (name, concurrency) = match side.split_once('@') {
        Some((name, tasks)) => (
            name,
            tasks
                .parse()
                .map_err(|_| format!("--profile: bad task count in `{side}`"))?,
        ),
        None => (side, 1),
    };
    let call = [Call::Send, Call::KfList]
        .into_iter()
        .find(|call| name.ends_with(&format!("-{}", call.profile_name())));
    let sample = match (name.split_once('-').map(|(side, _)| side), call) {
        (Some("sdk"), Some(call)) => sdk_run(clients, call, concurrency, calls).await,
        (Some("floor"), Some(call)) => floor_run(clients, call, concurrency, calls).await,
        _ => return Err(format!("--profile: unknown side `{name}`")),
    };
    println!(
        "{side}: {calls} calls, {:.0} calls/s, {:.1} µs CPU/call",
        sample.calls_per_sec(),
        sample.cpu_us_per_call()
    );
    Ok(())
}

/// Runs one scenario `runs` times after a warm-up, the two sides alternating.
pub async fn per_call(
    clients: &Clients,
    call: Call,
    concurrency: usize,
    calls: usize,
    runs: usize,
) -> PerCall {
    let (sdk, floor) = alternate(
        runs,
        calls,
        |n| sdk_run(clients, call, concurrency, n),
        |n| floor_run(clients, call, concurrency, n),
    )
    .await;
    PerCall {
        call: call.name(),
        concurrency,
        calls_per_run: calls,
        cpu_ratio: ratios(&sdk, &floor, Sample::cpu_us_per_call),
        throughput_ratio: ratios(&sdk, &floor, Sample::wall_per_call),
        sdk: Side::of(&sdk),
        floor: Side::of(&floor),
    }
}

/// Checks that the SDK's types and the floor's minimal structs read the same data.
pub fn check_same_data(plain: &Bytes) -> Result<(), String> {
    let typed: wx_kefu_api::GetKfListResponse =
        serde_json::from_slice(bodies::KF_LIST).map_err(|e| e.to_string())?;
    let minimal: MinKfList = serde_json::from_slice(bodies::KF_LIST).map_err(|e| e.to_string())?;
    let typed_digest: usize = typed
        .kf_list
        .iter()
        .map(|kf| {
            let optional = [
                &kf.kf_nick,
                &kf.kf_headimgurl,
                &kf.kf_wx,
                &kf.invite_wx,
                &kf.kf_openid,
            ];
            kf.kf_account.len()
                + serde_json::to_string(&kf.kf_id).map_or(0, |id| id.len())
                + optional
                    .iter()
                    .flat_map(|o| o.as_ref())
                    .map(String::len)
                    .sum::<usize>()
                + kf.invite_status.as_ref().map_or(0, |s| s.as_str().len())
                + usize::from(kf.invite_expire_time.is_some())
        })
        .sum();
    let minimal_digest: usize = minimal.kf_list.iter().map(MinKf::digest).sum();
    if typed_digest != minimal_digest || minimal.errcode != 0 {
        return Err(format!(
            "the kf list decoders disagree: {typed_digest} != {minimal_digest}"
        ));
    }

    let typed: MsgList = serde_json::from_slice(plain).map_err(|e| e.to_string())?;
    let minimal: MinPage = serde_json::from_slice(plain).map_err(|e| e.to_string())?;
    let with_code: MinPage =
        serde_json::from_slice(&bodies::with_errcode(plain)).map_err(|e| e.to_string())?;
    match (digest(&typed), minimal.digest(), with_code.digest()) {
        (a, b, c) if a == b && b == c => Ok(()),
        digests => Err(format!("the decoders disagree: {digests:?}")),
    }
}

/// Decoding a page: MB/s and CPU per page, SDK against floor.
#[derive(Debug, Clone, Serialize)]
pub struct Decode {
    /// Which body: `plain` (WeChat's documented shape) or `errcode` (`"errcode":0` first).
    pub body: &'static str,
    /// How it was decoded.
    pub path: &'static str,
    /// The body's size in bytes.
    pub bytes: usize,
    /// Pages decoded per timed run.
    pub pages_per_run: usize,
    /// The SDK: megabytes (10^6) of body per second, wall clock.
    pub sdk_mb_per_sec: Summary,
    /// The SDK: CPU milliseconds per page.
    pub sdk_cpu_ms_per_page: Summary,
    /// The floor: megabytes per second.
    pub floor_mb_per_sec: Summary,
    /// The floor: CPU milliseconds per page.
    pub floor_cpu_ms_per_page: Summary,
    /// SDK CPU per page over floor CPU per page, run by run.
    pub ratio: Summary,
}

impl Decode {
    fn of(
        body: &'static str,
        path: &'static str,
        bytes: usize,
        sdk: &[Sample],
        floor: &[Sample],
    ) -> Decode {
        let mb = |s: &Sample| s.calls_per_sec() * bytes as f64 / 1e6;
        let ms = |s: &Sample| s.cpu_us_per_call() / 1e3;
        let summary = |samples: &[Sample], f: &dyn Fn(&Sample) -> f64| {
            Summary::of(&samples.iter().map(f).collect::<Vec<_>>())
        };
        Decode {
            body,
            path,
            bytes,
            pages_per_run: sdk.first().map_or(0, |s| s.calls),
            sdk_mb_per_sec: summary(sdk, &mb),
            sdk_cpu_ms_per_page: summary(sdk, &ms),
            floor_mb_per_sec: summary(floor, &mb),
            floor_cpu_ms_per_page: summary(floor, &ms),
            ratio: ratios(sdk, floor, Sample::cpu_us_per_call),
        }
    }
}

/// A 10,000-record page fetched and decoded, SDK call against reqwest + `serde_json` into
/// [`MinPage`], with the server answering `mode`.
pub async fn decode_over_http(
    server: &Server,
    clients: &Clients,
    mode: MsgListMode,
    bytes: usize,
    pages: usize,
    runs: usize,
) -> Result<Decode, String> {
    server.reset(&clients.floor, 0, mode).await?;
    let client = clients.sdk.clone();
    let sdk = move || {
        let client = client.clone();
        async move {
            let page = client
                .get_msg_list(bodies::START, bodies::START + 3600, 1, 10_000)
                .await
                .expect("SDK get_msg_list");
            assert_eq!(page.recordlist.len(), bodies::PAGE);
        }
    };
    let (http, url) = (
        clients.floor.clone(),
        clients.url("/customservice/msgrecord/getmsglist"),
    );
    let request = Bytes::from(
        serde_json::to_vec(&GetMsgList::new(
            bodies::START,
            bodies::START + 3600,
            1,
            10_000,
        ))
        .expect("a request serialises"),
    );
    let floor = move || {
        let (http, url, request) = (http.clone(), url.clone(), request.clone());
        async move {
            let page: MinPage = floor_answer(post_json(&http, url, request)).await;
            assert_eq!((page.errcode, page.recordlist.len()), (0, bodies::PAGE));
        }
    };
    let (sdk_runs, floor_runs) = alternate(
        runs,
        pages,
        |n| drive(1, n, sdk.clone()),
        |n| drive(1, n, floor.clone()),
    )
    .await;
    let path = "HTTP: SDK get_msg_list vs reqwest + serde_json";
    Ok(Decode::of(mode.name(), path, bytes, &sdk_runs, &floor_runs))
}

/// The same page decoded in memory, no HTTP and no runtime: the generated `MsgList`'s
/// `Deserialize` against [`MinPage`], both with `serde_json::from_slice`. It shows what the
/// typed records themselves cost.
pub async fn decode_in_memory(body: &Bytes, pages: usize, runs: usize) -> Decode {
    let time = |decode: &dyn Fn(), pages: usize| {
        let cpu = cpu_time();
        let started = Instant::now();
        for _ in 0..pages {
            decode();
        }
        std::future::ready(Sample {
            calls: pages,
            wall: started.elapsed(),
            cpu: cpu_time() - cpu,
        })
    };
    let typed = || {
        let page: MsgList = serde_json::from_slice(black_box(body)).expect("typed page");
        black_box(page);
    };
    let minimal = || {
        let page: MinPage = serde_json::from_slice(black_box(body)).expect("minimal page");
        black_box(page);
    };
    let (sdk, floor) = alternate(runs, pages, |n| time(&typed, n), |n| time(&minimal, n)).await;
    Decode::of(
        "plain",
        "in memory: serde_json into MsgList vs into a minimal struct",
        body.len(),
        &sdk,
        &floor,
    )
}

/// The token herd: concurrent calls on a cold client.
#[derive(Debug, Clone, Serialize)]
pub struct Herd {
    /// Calls started at once.
    pub calls: usize,
    /// Calls that succeeded.
    pub succeeded: usize,
    /// Token requests the server answered.
    pub token_requests: u64,
    /// How long the token answer was held back, so that the herd gathers behind it.
    pub token_delay_ms: u64,
    /// Wall time of the whole herd.
    pub wall_ms: f64,
}

/// `calls` concurrent `get_kf_list` calls on a new client that has no token yet.
pub async fn token_herd(
    server: &Server,
    control: &reqwest::Client,
    calls: usize,
) -> Result<Herd, String> {
    let token_delay_ms = 20;
    server
        .reset(control, token_delay_ms, MsgListMode::Plain)
        .await?;
    let client = sdk_client_on(&server.base_url, None)?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get_kf_list().await.is_ok() })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        succeeded += usize::from(task.await.map_err(|e| e.to_string())?);
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let token_requests = server.token_requests(control).await?;
    server.reset(control, 0, MsgListMode::Plain).await?;
    Ok(Herd {
        calls,
        succeeded,
        token_requests,
        token_delay_ms,
        wall_ms,
    })
}
