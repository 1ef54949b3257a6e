//! `cargo xtask` — development tasks of wx-kefu.
//!
//! - `cargo xtask codegen` regenerates the code derived from `api-spec/`.
//! - `cargo xtask codegen --check` writes nothing and fails with a diff when the committed code is stale.
//! - `cargo xtask bench [--runs N] [--quick] [--instructions]` measures the SDK against a bare HTTP client
//!   (`benches/`, see `BENCHMARKS.md`) and writes `target/bench/results.json`.

use std::process::{Command, ExitCode};

use xtask::codegen;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["bench", rest @ ..] => bench(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check]\n       cargo xtask bench [--runs N] [--quick] [--instructions] [--skip-codegen-command]"
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["run", "--release", "--package", "wx-kefu-bench", "--"])
        .args(args)
        .current_dir(codegen::workspace_root())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("the bench failed ({status})")),
    }
}
