//! The code generator on the real `api-spec/`: `generate()` plus `check()` in this
//! process (what `cargo xtask codegen --check` does, without cargo and process start),
//! the real command's wall time when it is already built, and the generated lines.

use std::process::Command;
use std::time::Instant;

use serde::Serialize;
use xtask::codegen;

use crate::measure::Summary;

/// The generator's timings and output size.
#[derive(Debug, Clone, Serialize)]
pub struct Codegen {
    /// `codegen::generate()` + `codegen::check()` in this (release) process, in ms.
    pub in_process_ms: Summary,
    /// Whether the committed code matched the spec.
    pub fresh: bool,
    /// Wall time of `cargo xtask codegen --check`, xtask already built, in ms; `None`
    /// when skipped or when cargo could not run it.
    pub command_ms: Option<Summary>,
    /// Whether that command succeeded (it fails on a stale tree, or when xtask does not build).
    pub command_ok: bool,
    /// Generated Rust files.
    pub files: usize,
    /// Their lines.
    pub lines: usize,
}

/// Times the generator `runs` times (after one untimed run) and, unless `skip_command`,
/// the real command as many times (after one run that builds xtask if needed).
pub fn codegen(runs: usize, skip_command: bool) -> Result<Codegen, String> {
    let files = codegen::generate()?;
    let generated: Vec<_> = files
        .iter()
        .filter(|f| {
            codegen::GENERATED_DIRS
                .iter()
                .any(|dir| f.path.starts_with(dir))
        })
        .collect();
    let lines = generated.iter().map(|f| f.text.lines().count()).sum();
    let fresh = codegen::check(&files).is_ok();
    let mut in_process = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let files = codegen::generate()?;
        let _ = std::hint::black_box(codegen::check(&files));
        in_process.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (command_ms, command_ok) = match skip_command {
        true => (None, false),
        false => command(runs).map_or((None, false), |(ms, ok)| (Some(ms), ok)),
    };
    Ok(Codegen {
        in_process_ms: Summary::of(&in_process),
        fresh,
        command_ms,
        command_ok,
        files: generated.len(),
        lines,
    })
}

/// The command's median wall time and whether its last run succeeded.
fn command(runs: usize) -> Option<(Summary, bool)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let run = || {
        let started = Instant::now();
        let status = Command::new(&cargo)
            .args(["xtask", "codegen", "--check"])
            .current_dir(codegen::workspace_root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        // A stale tree fails the check but is still timed: the work is the same.
        Some((started.elapsed().as_secs_f64() * 1e3, status.success()))
    };
    eprintln!("  building xtask if needed (the untimed first run) …");
    run()?;
    let mut times = Vec::new();
    let mut ok = true;
    for _ in 0..runs {
        let (ms, success) = run()?;
        times.push(ms);
        ok = success;
    }
    Some((Summary::of(&times), ok))
}
