//! `wx-kefu mock`: the emulator as a command, used by another `wx-kefu`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::support::Emu;

/// Kills the emulator process even when the test fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_emulator_prints_what_to_point_commands_at() {
    // The in-process emulator is not used here: only the scratch directory.
    let emu = Emu::start();
    let mut command = emu.bare(&["mock", "--port", "0", "--demo", "--json"]);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = Killed(command.spawn().expect("the emulator starts"));
    let stdout = child.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the first line");
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let base_url = info["base_url"].as_str().expect("base_url");
    assert!(base_url.starts_with("http://127.0.0.1:"), "{info}");
    let (appid, secret) = (
        info["appid"].as_str().expect("appid"),
        info["secret"].as_str().expect("secret"),
    );

    let mut list = emu.bare(&["--json", "account", "list"]);
    list.env("WX_BASE_URL", base_url)
        .env("WX_APPID", appid)
        .env("WX_SECRET", secret)
        .env("WX_KEFU_CONFIG", emu.config_path());
    let list = emu.output(list);
    assert_eq!(
        list.ok().json()["kf_list"][0]["kf_account"],
        "agent1@gh_demo"
    );

    let mut waiting = emu.bare(&["--json", "session", "waiting"]);
    waiting
        .env("WX_BASE_URL", base_url)
        .env("WX_APPID", appid)
        .env("WX_SECRET", secret)
        .env("WX_KEFU_CONFIG", emu.config_path());
    let waiting = emu.output(waiting).ok().json();
    assert_eq!(waiting["count"], 1);
    drop(child);
}

#[test]
fn the_emulator_reports_a_port_it_cannot_bind() {
    let emu = Emu::start();
    let port = emu.mock.addr().port().to_string();
    let taken = emu.output(emu.bare(&["mock", "--port", &port]));
    taken.code(1);
    assert!(taken.stderr.contains("cannot listen"), "{taken:?}");
}
