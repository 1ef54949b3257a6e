//! `wx-kefu-fuzz [--bodies N] [--seed S]`: run by `cargo xtask fuzz`; see the library's docs.

use std::process::ExitCode;

use wx_kefu_fuzz::{Config, TARGETS, run};

fn main() -> ExitCode {
    let mut config = Config {
        bodies: 1_000_000,
        seed: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--bodies", Some(n)) => config.bodies = n,
            ("--seed", Some(s)) => config.seed = s,
            _ => {
                eprintln!("usage: wx-kefu-fuzz [--bodies N] [--seed S]");
                return ExitCode::from(2);
            }
        }
    }
    let report = match run(&config) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("the harness could not start: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!("wx-kefu fuzz: seed {}", config.seed);
    for ((target, count), accepted) in TARGETS.iter().zip(report.per_target).zip(report.accepted) {
        println!("  {target:<14} {count:>10} bodies, {accepted:>9} accepted");
    }
    println!(
        "  {:<14} {:>10} bodies in {:.1} s, {:.0} bodies/s",
        "all",
        report.bodies,
        report.elapsed.as_secs_f64(),
        report.rate()
    );
    println!("  panics: {}", report.panics);
    println!("  false successes: {}", report.false_successes);
    for finding in &report.findings {
        println!("  - {finding}");
    }
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
