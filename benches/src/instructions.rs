//! Instructions per call, counted by callgrind: the per-call cost without the noise of a
//! shared machine.
//!
//! Each side runs in a child process under `valgrind --tool=callgrind` (`--profile
//! SIDE@TASKS --calls N`, the server child untraced) twice, with a few calls and with
//! many; the difference of the two totals over the difference of the call counts is the
//! cost of one call, without the start-up both runs share (runtime, clients, server,
//! the token fetch).

use std::process::Command;

use serde::Serialize;

use crate::calls::Call;

/// One call at one concurrency, counted on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Instructions {
    /// The SDK call measured.
    pub call: &'static str,
    /// Tasks calling at once.
    pub concurrency: usize,
    /// Instructions per call through the SDK.
    pub sdk_per_call: f64,
    /// Instructions per call of bare reqwest with a pre-serialised body.
    pub floor_per_call: f64,
    /// SDK over floor.
    pub ratio: f64,
}

/// Whether valgrind is there, or what to install.
fn need_valgrind() -> Result<(), String> {
    let version = Command::new("valgrind").arg("--version").output();
    if !version.is_ok_and(|v| v.status.success()) {
        return Err("--instructions needs valgrind (e.g. `apt-get install valgrind`)".into());
    }
    Ok(())
}

/// Instructions per call of one `--profile` side, from runs of `few` and `many` calls
/// (with `env` set for the child).
pub fn side_per_call(
    side: &str,
    few: usize,
    many: usize,
    env: &[(&str, &str)],
) -> Result<f64, String> {
    need_valgrind()?;
    let exe = std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))?;
    let collected = |calls: usize| -> Result<u64, String> {
        let output = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["--profile", side, "--calls", &calls.to_string()])
            .envs(env.iter().copied())
            .output()
            .map_err(|e| format!("running valgrind: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("callgrind of `{side}` failed:\n{stderr}"));
        }
        collected_instructions(&stderr)
            .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))
    };
    let (low, high) = (collected(few)?, collected(many)?);
    Ok(high.saturating_sub(low) as f64 / (many - few) as f64)
}

/// Counts every per-call scenario; `few` and `many` calls per side.
pub fn count(few: usize, many: usize) -> Result<Vec<Instructions>, String> {
    need_valgrind()?;
    let mut rows = Vec::new();
    for (call, concurrency) in [
        (Call::Send, 1),
        (Call::Send, 64),
        (Call::KfList, 1),
        (Call::KfList, 64),
    ] {
        eprintln!(
            "instructions: {call:?} × {concurrency} tasks, {few} and {many} calls per side …"
        );
        let sdk = side_per_call(
            &format!("sdk-{}@{concurrency}", call.profile_name()),
            few,
            many,
            &[],
        )?;
        let floor = side_per_call(
            &format!("floor-{}@{concurrency}", call.profile_name()),
            few,
            many,
            &[],
        )?;
        rows.push(Instructions {
            call: call.name(),
            concurrency,
            sdk_per_call: sdk,
            floor_per_call: floor,
            ratio: sdk / floor,
        });
    }
    Ok(rows)
}

/// The total of `==PID== Collected : N` in callgrind's report.
fn collected_instructions(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, count) = line.split_once("Collected :")?;
        count.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrinds_total() {
        let stderr = "==31362== Callgrind, a call-graph generating cache profiler\n\
                      ==31362== Events    : Ir\n\
                      ==31362== Collected : 1790106330\n\
                      ==31362== \n\
                      ==31362== I   refs:      1,790,106,330\n";
        assert_eq!(collected_instructions(stderr), Some(1_790_106_330));
        assert_eq!(collected_instructions("==1== I   refs: 12\n"), None);
    }
}
