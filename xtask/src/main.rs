//! `cargo xtask` — development tasks of wx-kefu.
//!
//! - `cargo xtask codegen` regenerates the code derived from `api-spec/`.
//! - `cargo xtask codegen --check` writes nothing and fails with a diff when the committed code is stale.
//! - `cargo xtask bench [--runs N] [--quick] [--instructions]` measures the SDK against a bare HTTP client
//!   (`benches/`, see `BENCHMARKS.md`) and writes `target/bench/results.json`.
//! - `cargo xtask fuzz [--bodies N] [--seed S]` drives mutated answers and pushes through every
//!   decoder (`fuzz/`); it fails on a panic or a body wrongly read as a success.

use std::process::{Command, ExitCode};

use xtask::codegen;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["bench", rest @ ..] => bench(rest),
        ["fuzz", rest @ ..] => release_run("wx-kefu-fuzz", "the fuzz run", rest),
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check]\n       cargo xtask bench [--runs N] [--quick] [--instructions] [--inbound-only] [--build-cost] [--all] [--skip-codegen-command]\n       cargo xtask fuzz [--bodies N] [--seed S]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Builds and runs the bench binary in release mode. It lives in its own unpublished
/// package (`benches/`, `wx-kefu-bench`), so xtask stays quick to compile and does not
/// depend on the SDK.
fn bench(args: &[&str]) -> Result<(), String> {
    release_run("wx-kefu-bench", "the bench", args)
}

/// Builds and runs an unpublished tool package of the workspace in release mode.
fn release_run(package: &str, what: &str, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["run", "--release", "--package", package, "--"])
        .args(args)
        .current_dir(codegen::workspace_root())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("{what} failed ({status})")),
    }
}
