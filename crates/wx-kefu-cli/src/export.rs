//! `wx-kefu records export`: every chat record between two instants, as JSON lines,
//! resumable when written to a file.
//!
//! The range is cut into the same ≤ 24-hour windows as the SDK's record export, and each
//! window is streamed through [`wx_kefu_api::export_records`] (which pages it by `msgid`).
//! With `--out FILE`, a sidecar `FILE.checkpoint` records, after each completed window, the
//! window to continue from and the length of `FILE` at that point; the data is flushed to
//! disk before the checkpoint is replaced. Re-running the same command after an
//! interruption cuts `FILE` back to that length — dropping the records of the unfinished
//! window — and continues with that window: no record is lost or written twice. The
//! checkpoint is removed when the export completes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use wx_kefu_api::{Client, export_records};

use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::time;

/// The long help of `records export`.
pub const LONG_ABOUT: &str = "\
导出聊天记录 — Export every chat record between two instants as JSON lines.

The range is [--since, --until): --since included, --until excluded, so consecutive
exports (--until of one = --since of the next) neither overlap nor leave a gap.
Dates and local times are read in --tz (default: the system's time zone).

WeChat answers at most 24 hours per request; the range is cut into windows of at most
24 hours and each window is paged by msgid, however long the range.

With --out FILE the export is resumable: FILE.checkpoint notes each completed window.
After an interruption (network, Ctrl-C, a crash), run the same command again: FILE is
cut back to the last completed window and the export continues there, so no record is
lost or duplicated. The checkpoint is removed when the export completes.

A progress bar (windows, records, rate) is drawn on stderr when it is a terminal.

Each line: {\"openid\":…,\"opercode\":2002|2003|…,\"text\":…,\"time\":unix seconds,\"worker\":…}";

/// Arguments of `records export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The start of the range, included: a date (2026-11-01), a local time
    /// (2026-11-01T08:30), an RFC 3339 instant or unix seconds.
    #[arg(long, value_name = "WHEN")]
    pub since: String,
    /// The end of the range, excluded (same forms as --since).
    #[arg(long, value_name = "WHEN")]
    pub until: String,
    /// Write the JSON lines to FILE (resumable) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Start FILE over even if it holds a finished export or a checkpoint of another range.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// What `FILE.checkpoint` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    /// The format of this file.
    version: u32,
    /// The range's first second (included).
    since: i64,
    /// The range's end (excluded).
    until: i64,
    /// Where the next window starts.
    next_start: i64,
    /// The length of the output file after the last completed window.
    bytes: u64,
    /// The records written so far.
    records: u64,
    /// The windows completed so far.
    windows_done: u64,
}

const CHECKPOINT_VERSION: u32 = 1;

/// Runs `records export`.
pub async fn run(context: &Context, args: &ExportArgs) -> CliResult {
    let tz = &context.printer.tz;
    let since = time::parse_instant(&args.since, tz)
        .map_err(|e| CliError::usage(format!("--since: {e}")))?;
    let until = time::parse_instant(&args.until, tz)
        .map_err(|e| CliError::usage(format!("--until: {e}")))?;
    if since < 0 {
        return Err(CliError::usage("--since must not be before 1970"));
    }
    if until <= since {
        return Err(CliError::usage(format!(
            "--until ({}) must be after --since ({})",
            time::format_local(until, tz),
            time::format_local(since, tz)
        )));
    }
    // The SDK's own windows, so a checkpoint names exactly what the export reads.
    let all: Vec<(i64, i64)> = wx_kefu_api::export::windows(since..=until - 1).collect();
    let client = context.client()?;
    match &args.out {
        None => {
            let mut sink = Sink {
                out: BufWriter::new(Box::new(io::stdout()) as Box<dyn Write>),
                bytes: 0,
                records: 0,
            };
            let mut progress = Progress::new(all.len(), 0, 0);
            for window in &all {
                match export_window(&client, *window, &mut sink, &mut progress).await {
                    Ok(()) => progress.window_done(sink.records),
                    Err(WindowError::Closed) => return Ok(()),
                    Err(WindowError::Cli(error)) => return Err(error),
                }
                match flush(&mut sink) {
                    Ok(()) => {}
                    // The reader went away (`| head`): nobody wants the rest.
                    Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(error) => {
                        return Err(CliError::local(format!("cannot write to stdout: {error}")));
                    }
                }
            }
            progress.finish(&format!("exported {} records", sink.records));
            Ok(())
        }
        Some(path) => to_file(&client, since, until, &all, path, args.force).await,
    }
}

/// The export into a file, resuming from its checkpoint.
async fn to_file(
    client: &Client,
    since: i64,
    until: i64,
    all: &[(i64, i64)],
    path: &Path,
    force: bool,
) -> CliResult {
    let checkpoint_path = checkpoint_path(path);
    let found = read_checkpoint(&checkpoint_path)?;
    let checkpoint = match found {
        Some(found) if !force && (found.since, found.until) == (since, until) => found,
        Some(found) if !force => {
            return Err(CliError::usage(format!(
                "{} belongs to an unfinished export of another range ({} .. {})",
                checkpoint_path.display(),
                time::format_rfc3339(found.since),
                time::format_rfc3339(found.until),
            ))
            .hint("re-run that export to finish it, choose another --out, or pass --force to start over"));
        }
        _ => {
            let existing = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if existing > 0 && !force {
                return Err(CliError::usage(format!(
                    "{} exists and holds no unfinished export (it may be a finished one)",
                    path.display()
                ))
                .hint("choose another --out, or pass --force to overwrite it"));
            }
            let fresh = Checkpoint {
                version: CHECKPOINT_VERSION,
                since,
                until,
                next_start: since,
                bytes: 0,
                records: 0,
                windows_done: 0,
            };
            write_checkpoint(&checkpoint_path, &fresh)?;
            fresh
        }
    };
    let file = open_at(path, checkpoint.bytes)?;
    let mut sink = Sink {
        out: BufWriter::new(Box::new(file.try_clone().map_err(|e| io_error(path, &e))?)),
        bytes: checkpoint.bytes,
        records: checkpoint.records,
    };
    let mut state = checkpoint;
    let todo: Vec<(i64, i64)> = all
        .iter()
        .copied()
        .filter(|(start, _)| *start >= state.next_start)
        .collect();
    let mut progress = Progress::new(all.len(), all.len() - todo.len(), state.records);
    for window in todo {
        match export_window(client, window, &mut sink, &mut progress).await {
            Ok(()) => {}
            Err(error) => {
                // Leave only complete windows behind; the next run would cut it anyway.
                drop(sink);
                let _ = file.set_len(state.bytes);
                progress.abandon();
                let error = match error {
                    WindowError::Cli(error) => error,
                    WindowError::Closed => {
                        CliError::local(format!("cannot write {}", path.display()))
                    }
                };
                return Err(error.hint(format!(
                    "{} records of {} complete window(s) are saved in {}; run the same command again to resume from {}",
                    state.records,
                    state.windows_done,
                    path.display(),
                    time::format_rfc3339(state.next_start),
                )));
            }
        }
        flush(&mut sink).map_err(|e| io_error(path, &e))?;
        file.sync_data().map_err(|e| io_error(path, &e))?;
        state.next_start = window.1.saturating_add(1);
        state.bytes = sink.bytes;
        state.records = sink.records;
        state.windows_done += 1;
        write_checkpoint(&checkpoint_path, &state)?;
        progress.window_done(state.records);
    }
    fs::remove_file(&checkpoint_path).map_err(|e| io_error(&checkpoint_path, &e))?;
    progress.finish(&format!(
        "exported {} records in {} window(s) to {}",
        state.records,
        all.len(),
        path.display()
    ));
    Ok(())
}

/// Where the JSON lines go, and how much has been written.
struct Sink {
    out: BufWriter<Box<dyn Write>>,
    /// Bytes written since the start of the output file.
    bytes: u64,
    /// Records written, earlier runs included.
    records: u64,
}

fn flush(sink: &mut Sink) -> io::Result<()> {
    sink.out.flush()
}

/// Why a window did not complete.
enum WindowError {
    /// The output was closed (a closed pipe): stop quietly.
    Closed,
    /// Anything else.
    Cli(CliError),
}

/// Streams one window's records into the sink.
async fn export_window(
    client: &Client,
    (start, end): (i64, i64),
    sink: &mut Sink,
    progress: &mut Progress,
) -> Result<(), WindowError> {
    let mut records = std::pin::pin!(export_records(client, start, end));
    while let Some(record) = records.next().await {
        let record = record.map_err(|e| WindowError::Cli(e.into()))?;
        let mut line = serde_json::to_vec(&record).map_err(|e| {
            WindowError::Cli(CliError::local(format!("cannot encode a record: {e}")))
        })?;
        line.push(b'\n');
        match sink.out.write_all(&line) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                return Err(WindowError::Closed);
            }
            Err(error) => {
                return Err(WindowError::Cli(CliError::local(format!(
                    "cannot write the export: {error}"
                ))));
            }
        }
        sink.bytes += line.len() as u64;
        sink.records += 1;
        progress.record(sink.records);
    }
    Ok(())
}

fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

fn io_error(path: &Path, error: &io::Error) -> CliError {
    CliError::local(format!("{}: {error}", path.display()))
}

fn read_checkpoint(path: &Path) -> CliResult<Option<Checkpoint>> {
    let text = match crate::request::read_regular(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path, &error)),
    };
    match serde_json::from_str::<Checkpoint>(&text) {
        Ok(checkpoint) if checkpoint.version == CHECKPOINT_VERSION => Ok(Some(checkpoint)),
        _ => Err(CliError::usage(format!(
            "{} is not a checkpoint this version of wx-kefu understands",
            path.display()
        ))
        .hint("pass --force to start the export over")),
    }
}

/// Replaces the checkpoint atomically (write, sync, rename).
fn write_checkpoint(path: &Path, checkpoint: &Checkpoint) -> CliResult {
    let temp = {
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let text = serde_json::to_string(checkpoint)
        .map_err(|e| CliError::local(format!("cannot encode the checkpoint: {e}")))?;
    let write = || -> io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, path)
    };
    write().map_err(|e| io_error(path, &e))
}

/// Opens the output, cut back to `bytes` (the end of the last completed window).
fn open_at(path: &Path, bytes: u64) -> CliResult<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, &e))?;
    let len = file.metadata().map_err(|e| io_error(path, &e))?.len();
    if len < bytes {
        return Err(CliError::usage(format!(
            "{} is shorter ({len} bytes) than its checkpoint says ({bytes} bytes): it was changed since",
            path.display()
        ))
        .hint("pass --force to start the export over"));
    }
    file.set_len(bytes).map_err(|e| io_error(path, &e))?;
    Ok(file)
}

/// The progress bar on stderr, drawn only when stderr is a terminal.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    /// Records written before this run.
    before: u64,
    last_draw: Instant,
}

impl Progress {
    fn new(windows: usize, done: usize, records: u64) -> Progress {
        let bar = match io::stderr().is_terminal() {
            true => {
                let bar = ProgressBar::new(windows as u64);
                let style = ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} windows · {msg}",
                )
                .map(|style| style.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            }
            false => ProgressBar::hidden(),
        };
        bar.set_position(done as u64);
        let now = Instant::now();
        let progress = Progress {
            bar,
            started: now,
            before: records,
            last_draw: now,
        };
        progress.draw(records);
        progress
    }

    fn record(&mut self, records: u64) {
        if self.last_draw.elapsed() >= Duration::from_millis(100) {
            self.last_draw = Instant::now();
            self.draw(records);
        }
    }

    fn draw(&self, records: u64) {
        if self.bar.is_hidden() {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (records - self.before.min(records)) as f64 / secs;
        self.bar
            .set_message(format!("{records} records · {rate:.0}/s"));
    }

    fn window_done(&mut self, records: u64) {
        self.bar.inc(1);
        self.draw(records);
    }

    fn abandon(&self) {
        self.bar.abandon();
    }

    fn finish(&self, summary: &str) {
        self.bar.finish_and_clear();
        eprintln!("{summary}");
    }
}
