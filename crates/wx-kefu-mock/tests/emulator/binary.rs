//! The `wx-kefu-mock` binary prints where it listens and serves there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn the_binary_prints_its_base_url_appid_and_secret() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wx-kefu-mock"))
        .args([
            "--port",
            "0",
            "--appid",
            "wxbinarytest",
            "--secret",
            "s3cret",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(4)
        .map(Result::unwrap)
        .collect();
    let value = |key: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(key).map(|rest| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
    };
    let base_url = value("base_url");
    assert_eq!(value("appid"), "wxbinarytest");
    assert_eq!(value("secret"), "s3cret");
    let body = serde_json::json!({ "grant_type": "client_credential", "appid": "wxbinarytest", "secret": "s3cret" });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base_url}/cgi-bin/stable_token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answer["expires_in"], 7200, "{answer}");
}
