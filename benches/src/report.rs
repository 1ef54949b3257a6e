//! The results: one JSON document (`target/bench/results.json`) and Markdown tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::calls::{Decode, Herd, PerCall};
use crate::codegen::Codegen;
use crate::export::ExportMemory;
use crate::inbound::InboundResult;
use crate::instructions::Instructions;
use crate::measure::{Memory, Summary};

/// The target for the per-call ratio.
pub const PER_CALL_TARGET: f64 = 1.10;

/// The target for the decode ratio.
pub const DECODE_TARGET: f64 = 1.10;

/// The target for the inbound ratio.
pub const INBOUND_TARGET: f64 = 1.20;

/// Everything one run of the bench found.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Where and how it ran.
    pub setup: Setup,
    /// Per-call cost, SDK against floor.
    pub per_call: Vec<PerCall>,
    /// Instructions per call under callgrind, with `--instructions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Vec<Instructions>>,
    /// Decoding a 10,000-record page.
    pub decode: Vec<Decode>,
    /// The inbound hot path: `Webhook::handle` against a hand-written floor.
    pub inbound: Vec<InboundResult>,
    /// Several instances: the Redis token and dedup stores (none without `redis-server`).
    pub scale: Option<crate::scale::ScaleResult>,
    /// Many accounts: the third-party platform.
    pub platform: Option<crate::platform::PlatformResult>,
    /// The record export's memory.
    pub export: ExportMemory,
    /// Concurrent calls on a cold client.
    pub token_herd: Herd,
    /// The code generator.
    pub codegen: Codegen,
}

/// The conditions of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Timed runs per figure (medians are over these).
    pub runs: usize,
    /// CPUs the machine has.
    pub cpus: usize,
    /// `/proc/loadavg` when the bench started.
    pub loadavg_at_start: String,
    /// How the SDK client gets its token.
    pub token: &'static str,
    /// Where the server runs.
    pub server: &'static str,
}

fn summary(s: &Summary, digits: usize) -> String {
    format!(
        "{:.digits$} ({:.digits$}–{:.digits$})",
        s.median, s.min, s.max
    )
}

fn verdict(ratio: f64, target: f64) -> &'static str {
    match ratio <= target {
        true => "met",
        false => "**missed**",
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn memory_row(out: &mut String, what: &str, memory: &Memory) {
    let rss = memory
        .rss_peak_growth_bytes
        .map_or_else(|| "n/a".to_owned(), mib);
    let _ = writeln!(out, "| {what} | {} | {rss} |", mib(memory.heap_peak_bytes));
}

impl Results {
    /// The results as Markdown tables: median (min–max) over the runs.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let setup = &self.setup;
        let _ = writeln!(
            out,
            "Medians (min–max) of {} runs; {} CPUs; load average at start {}.\n\
             Token: {}. Server: {}.\n",
            setup.runs, setup.cpus, setup.loadavg_at_start, setup.token, setup.server
        );
        if !self.per_call.is_empty() {
            let _ = writeln!(
                out,
                "### Per call: SDK against bare reqwest (target ratio ≤ {PER_CALL_TARGET:.2})\n\n\
                 | call | tasks | SDK calls/s | floor calls/s | SDK CPU µs/call | floor CPU µs/call | CPU ratio | calls/s ratio | target |\n\
                 |---|--:|--:|--:|--:|--:|--:|--:|---|"
            );
            for row in &self.per_call {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    row.call,
                    row.concurrency,
                    summary(&row.sdk.calls_per_sec, 0),
                    summary(&row.floor.calls_per_sec, 0),
                    summary(&row.sdk.cpu_us_per_call, 1),
                    summary(&row.floor.cpu_us_per_call, 1),
                    summary(&row.cpu_ratio, 2),
                    summary(&row.throughput_ratio, 2),
                    verdict(row.cpu_ratio.median, PER_CALL_TARGET),
                );
            }
            out.push('\n');
        }
        if !self.inbound.is_empty() {
            out.push_str(&inbound_markdown(&self.inbound));
        }
        out.push_str(&crate::scale::markdown(&self.scale));
        if let Some(platform) = &self.platform {
            out.push('\n');
            out.push_str(&crate::platform::markdown(platform));
        }
        out.push('\n');
        if let Some(rows) = &self.instructions {
            let _ = writeln!(
                out,
                "### Per call: instructions (callgrind, the client process; target ratio ≤ {PER_CALL_TARGET:.2})\n\n\
                 | call | tasks | SDK instructions/call | floor instructions/call | ratio | target |\n\
                 |---|--:|--:|--:|--:|---|"
            );
            for row in rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.0} | {:.3} | {} |",
                    row.call,
                    row.concurrency,
                    row.sdk_per_call,
                    row.floor_per_call,
                    row.ratio,
                    verdict(row.ratio, PER_CALL_TARGET),
                );
            }
            out.push('\n');
        }
        out.push_str(&decode_markdown(&self.decode));
        {
            let export = &self.export;
            let _ = writeln!(
                out,
                "### Record export memory ({} records in {} pages)\n\n\
                 | what | live-heap peak | peak-RSS growth |\n|---|--:|--:|",
                export.records, export.pages
            );
            memory_row(
                &mut out,
                "one `get_msg_list` page (10,000 records)",
                &export.one_page,
            );
            memory_row(
                &mut out,
                "`export_records`, 100,000 records streamed",
                &export.export_streamed,
            );
            memory_row(
                &mut out,
                "the same 100,000 records collected into a `Vec`",
                &export.export_collected,
            );
            let bounded = export.streamed_over_one_page <= 1.5;
            let _ = writeln!(
                out,
                "\nStreamed export / one page = {:.2}: {}.\n",
                export.streamed_over_one_page,
                match bounded {
                    true => "bounded by one page",
                    false => "**not bounded by one page**",
                }
            );
        }
        {
            let herd = &self.token_herd;
            let _ = writeln!(
                out,
                "### Token herd\n\n\
                 {} concurrent `get_kf_list` calls on a cold client ({} succeeded, {:.0} ms, token answer held {} ms): \
                 **{} token request(s)**.\n",
                herd.calls, herd.succeeded, herd.wall_ms, herd.token_delay_ms, herd.token_requests
            );
        }
        {
            let codegen = &self.codegen;
            let command = codegen.command_ms.as_ref().map_or_else(
                || "not run".to_owned(),
                |ms| {
                    let ok = match codegen.command_ok {
                        true => "passed",
                        false => "failed",
                    };
                    format!("{} ms ({ok})", summary(ms, 0))
                },
            );
            let _ = writeln!(
                out,
                "### Code generation\n\n\
                 | measure | value |\n|---|--:|\n\
                 | `generate()` + `check()` in process, release | {} ms |\n\
                 | `cargo xtask codegen --check`, warm, wall | {command} |\n\
                 | generated files | {} |\n\
                 | generated lines | {} |\n\
                 | committed code fresh | {} |",
                summary(&codegen.in_process_ms, 1),
                codegen.files,
                codegen.lines,
                codegen.fresh,
            );
        }
        out
    }
}

/// The inbound table: CPU per push, and instructions per push when counted.
pub fn inbound_markdown(rows: &[InboundResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Inbound: `Webhook::handle` against a hand-written floor (safe mode; target ratio ≤ {INBOUND_TARGET:.2})\n\n\
         | workload | pushes/run | SDK CPU µs/push | floor CPU µs/push | CPU ratio | SDK instructions/push | floor instructions/push | instruction ratio | target |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    for row in rows {
        let (sdk, floor, ratio, judged) = match row.instructions {
            Some((sdk, floor, ratio)) => (
                format!("{sdk:.0}"),
                format!("{floor:.0}"),
                format!("{ratio:.3}"),
                ratio,
            ),
            None => ("—".into(), "—".into(), "—".into(), row.ratio.median),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {sdk} | {floor} | {ratio} | {} |",
            row.workload,
            row.pushes,
            summary(&row.sdk_us, 2),
            summary(&row.floor_us, 2),
            summary(&row.ratio, 2),
            verdict(judged, INBOUND_TARGET),
        );
    }
    out.push_str(
        "\nThe verdict reads the instruction ratio when counted (`--instructions`), else the CPU ratio.\n\n",
    );
    out
}

/// The decode table, or nothing without rows.
pub fn decode_markdown(decode: &[Decode]) -> String {
    let mut out = String::new();
    if decode.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "### Decoding a 10,000-record `get_msg_list` page (target ratio ≤ {DECODE_TARGET:.2})\n\n\
             | path | body | bytes | SDK MB/s | floor MB/s | SDK CPU ms/page | floor CPU ms/page | CPU ratio | target |\n\
             |---|---|--:|--:|--:|--:|--:|--:|---|"
    );
    for row in decode {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.path,
            row.body,
            row.bytes,
            summary(&row.sdk_mb_per_sec, 0),
            summary(&row.floor_mb_per_sec, 0),
            summary(&row.sdk_cpu_ms_per_page, 2),
            summary(&row.floor_cpu_ms_per_page, 2),
            summary(&row.ratio, 2),
            verdict(row.ratio.median, DECODE_TARGET),
        );
    }
    out.push('\n');
    out
}
