//! `wx-kefu-bench`: how close the SDK comes to a bare HTTP client, measured in one run.
//!
//! Run it with `cargo xtask bench` (which runs `cargo run --release -p wx-kefu-bench`).
//! It starts a bare hyper server on 127.0.0.1 in a child process (this same binary,
//! `wx-kefu-bench serve`), then measures and prints Markdown tables, and writes
//! `target/bench/results.json`:
//! - the per-call cost of `send_custom_message` and `get_kf_list` through the SDK against
//!   bare reqwest with a pre-serialised body, at 1 and 64 concurrent tasks;
//! - decoding a 10,000-record `get_msg_list` page through the SDK against `serde_json`
//!   into a minimal struct;
//! - the live heap of `export_records` over 100,000 records;
//! - the token herd: 1,000 concurrent calls on a cold client;
//! - several instances: Redis commands and CPU per call with `RedisTokenStore`, and per
//!   push with the `RedisInbound` dedup store (needs `redis-server`);
//! - the code generator's time on the real spec, and the lines it generates.
//!
//! Options: `--runs N` (timed runs per figure, default 5), `--quick` (short runs, to try
//! it out), `--out PATH`, `--skip-codegen-command` (do not time `cargo xtask codegen --check`),
//! `--profile SIDE[@TASKS]` (only make 200,000 calls of one side, or `--calls N`, for
//! `perf` or callgrind), `--instructions` (also count instructions per call with
//! callgrind: the deterministic view; needs valgrind), `--decode-only` (only the records page).

mod bodies;
mod build_cost;
mod calls;
mod codegen;
mod export;
mod inbound;
mod instructions;
mod measure;
mod platform;
mod report;
mod scale;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use calls::Call;
use report::{Results, Setup};
use server::{MsgListMode, Server};

#[global_allocator]
static ALLOCATOR: measure::CountingAlloc = measure::CountingAlloc;

/// The command line.
struct Options {
    runs: usize,
    quick: bool,
    out: PathBuf,
    skip_codegen_command: bool,
    /// Only make many calls of one side, for a profiler: `sdk-send`, `floor-send`,
    /// `sdk-kflist`, `floor-kflist`, each optionally with `@TASKS`.
    profile: Option<String>,
    /// Calls of a `--profile` run (default 200,000, or 20,000 with `--quick`).
    calls: Option<usize>,
    /// Also count instructions per call under callgrind.
    instructions: bool,
    /// Measure the inbound hot path only.
    inbound_only: bool,
    /// Measure the several-instances section (Redis) only.
    scale_only: bool,
    /// Measure the many-accounts section (the third-party platform) only.
    platform_only: bool,
    /// Measure the records page's decoding only.
    decode_only: bool,
    /// Measure the build a user pays for only (cold builds: minutes).
    build_cost: bool,
    /// Everything in one run: the whole bench with instructions, then the build cost.
    all: bool,
}

const USAGE: &str = "usage: wx-kefu-bench [--runs N] [--quick] [--out PATH] [--skip-codegen-command] [--instructions] [--inbound-only] [--scale-only] [--platform-only] [--decode-only] [--build-cost] [--all]\n       wx-kefu-bench [--quick] [--calls N] --profile sdk-send|floor-send|sdk-kflist|floor-kflist|platform-send[@TASKS]\n       wx-kefu-bench serve";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        runs: 5,
        quick: false,
        out: xtask::codegen::workspace_root().join("target/bench/results.json"),
        skip_codegen_command: false,
        profile: None,
        calls: None,
        instructions: false,
        inbound_only: false,
        scale_only: false,
        platform_only: false,
        decode_only: false,
        build_cost: false,
        all: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                options.runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--runs needs a positive number")?;
            }
            "--quick" => options.quick = true,
            "--out" => options.out = args.next().ok_or("--out needs a path")?.into(),
            "--skip-codegen-command" => options.skip_codegen_command = true,
            "--profile" => {
                options.profile = Some(args.next().ok_or("--profile needs a side")?.clone())
            }
            "--calls" => {
                options.calls = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0)
                        .ok_or("--calls needs a positive number")?,
                );
            }
            "--instructions" => options.instructions = true,
            "--inbound-only" => options.inbound_only = true,
            "--scale-only" => options.scale_only = true,
            "--platform-only" => options.platform_only = true,
            "--decode-only" => options.decode_only = true,
            "--build-cost" => options.build_cost = true,
            "--all" => {
                options.all = true;
                options.instructions = true;
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => server::serve(),
        Some("inbound-count") => inbound::count_mode(&args[1..]),
        _ => parse(&args).and_then(|options| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?
                .block_on(run(&options))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wx-kefu-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The inbound section: both workloads, CPU per push and, when asked, instructions.
fn inbound_section(options: &Options) -> Result<Vec<inbound::InboundResult>, String> {
    let scale = |full: usize, quick: usize| if options.quick { quick } else { full };
    let mut rows = Vec::new();
    for workload in [inbound::Workload::Text, inbound::Workload::Event] {
        let pushes = scale(20_000, 2_000);
        eprintln!(
            "inbound: {} pushes, {} runs of {pushes} …",
            workload.arg(),
            options.runs
        );
        let mut row = inbound::measure(workload, pushes, options.runs);
        if options.instructions {
            eprintln!("inbound: instructions, {} …", workload.arg());
            row.instructions = Some(inbound::instructions(workload, scale(5_000, 1_000))?);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The records page's decoding: over HTTP in WeChat's shape and with `errcode` first, then
/// in memory.
async fn decode_section(
    server: &Server,
    clients: &calls::Clients,
    plain: &bytes::Bytes,
    pages: usize,
    runs: usize,
) -> Result<Vec<calls::Decode>, String> {
    let mut decode = Vec::new();
    for mode in [MsgListMode::Plain, MsgListMode::Errcode] {
        eprintln!(
            "decode: {} page, {runs} runs of {pages} pages …",
            mode.name()
        );
        let bytes = match mode {
            MsgListMode::Errcode => bodies::with_errcode(plain).len(),
            _ => plain.len(),
        };
        decode.push(calls::decode_over_http(server, clients, mode, bytes, pages, runs).await?);
    }
    eprintln!("decode: in memory …");
    decode.push(calls::decode_in_memory(plain, pages, runs).await);

    Ok(decode)
}

/// The build a user pays for: printed, and written beside the results.
fn measure_build_cost(options: &Options) -> Result<(), String> {
    eprintln!("build cost: cold builds of two programs, 3 rounds (minutes) …");
    let cost = build_cost::build_cost()?;
    println!("{}", build_cost::markdown(&cost));
    let out = options.out.with_file_name("build-cost.json");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&cost).map_err(|e| e.to_string())?;
    std::fs::write(&out, json + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

async fn run(options: &Options) -> Result<(), String> {
    let runs = options.runs;
    let scale = |full: usize, quick: usize| if options.quick { quick } else { full };
    if options.build_cost {
        return measure_build_cost(options);
    }
    if options.inbound_only {
        let rows = inbound_section(options)?;
        println!("{}", report::inbound_markdown(&rows));
        return Ok(());
    }
    let setup = Setup {
        runs,
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        loadavg_at_start: std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        token: "pre-warmed: the default MemoryTokenStore fetched one stable token before any timing",
        server: "bare hyper (HTTP/1.1) on 127.0.0.1 in a child process, fixed prebuilt bodies; CPU is this process's only",
    };
    let server = Server::start()?;
    let control = reqwest::Client::new();
    server.reset(&control, 0, MsgListMode::Plain).await?;
    let clients = calls::Clients::new(&server).await?;
    if let Some(side) = &options.profile {
        let calls = options.calls.unwrap_or(scale(200_000, 20_000));
        if side.starts_with("platform-send") {
            return platform::profile(&server, calls).await;
        }
        return calls::profile(&clients, side, calls).await;
    }
    let platform_section = |clients| {
        eprintln!(
            "many accounts: a platform of {} authorizers …",
            platform::AUTHORIZERS
        );
        platform::measure(
            &server,
            clients,
            scale(20_000, 2_000),
            runs,
            options.instructions,
        )
    };
    if options.platform_only {
        let result = platform_section(&clients).await?;
        println!("{}", platform::markdown(&result));
        return Ok(());
    }
    let scale_section = |clients| {
        eprintln!("several instances: Redis token store and dedup store …");
        scale::measure(
            &server,
            clients,
            scale(20_000, 2_000),
            scale(5_000, 1_000),
            runs,
            options.instructions,
        )
    };
    if options.scale_only {
        let result = scale_section(&clients).await?;
        println!("{}", scale::markdown(&result));
        return Ok(());
    }
    if options.decode_only {
        let plain = server::plain_page();
        let decode = decode_section(&server, &clients, &plain, scale(40, 6), runs).await?;
        println!("{}", report::decode_markdown(&decode));
        return Ok(());
    }
    let inbound = inbound_section(options)?;
    let several = scale_section(&clients).await?;
    let many = platform_section(&clients).await?;
    let plain = server::plain_page();
    calls::check_same_data(&plain)?;

    let mut per_call = Vec::new();
    for (call, concurrency, calls) in [
        (Call::Send, 1, scale(20_000, 2_000)),
        (Call::Send, 64, scale(40_000, 4_000)),
        (Call::KfList, 1, scale(20_000, 2_000)),
        (Call::KfList, 64, scale(40_000, 4_000)),
    ] {
        eprintln!("per call: {call:?} × {concurrency} tasks, {runs} runs of {calls} calls …");
        per_call.push(calls::per_call(&clients, call, concurrency, calls, runs).await);
    }

    let decode = decode_section(&server, &clients, &plain, scale(40, 6), runs).await?;

    eprintln!("export: 100,000 records …");
    let export = export::export_memory(&server, &control, &clients.sdk).await?;
    drop(clients);

    eprintln!("token herd: 1,000 calls on a cold client …");
    let herd = calls::token_herd(&server, &control, 1_000).await?;
    drop(server);

    eprintln!("codegen: {runs} runs …");
    let codegen = codegen::codegen(runs, options.skip_codegen_command)?;

    let instructions = match options.instructions {
        true => Some(instructions::count(
            scale(2_000, 500),
            scale(10_000, 2_500),
        )?),
        false => None,
    };

    let results = Results {
        setup,
        per_call,
        instructions,
        decode,
        inbound,
        scale: several,
        platform: Some(many),
        export,
        token_herd: herd.clone(),
        codegen,
    };
    println!("{}", results.markdown());
    if let Some(dir) = options.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&options.out, json + "\n")
        .map_err(|e| format!("{}: {e}", options.out.display()))?;
    eprintln!("wrote {}", options.out.display());
    if options.all {
        measure_build_cost(options)?;
    }
    match (herd.token_requests, herd.succeeded == herd.calls) {
        (1, true) => Ok(()),
        (n, _) => Err(format!(
            "the token herd made {n} token request(s) ({} of {} calls succeeded); expected 1",
            herd.succeeded, herd.calls
        )),
    }
}
