//! `wx-kefu records export`: JSON lines over many 24-hour windows, and a resume after an
//! interruption that neither loses nor duplicates a record.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use wx_kefu_mock::Fault;

use crate::support::{Emu, Run, TRANSPORT, USAGE};

const RECORDS: &str = "/customservice/msgrecord/getmsglist";

/// Records in four windows (three each, 25 hours apart) and an empty fifth window.
/// Returns `(since, until)` for the export.
fn seed(emu: &Emu) -> (i64, i64) {
    let since = emu.mock.now() - 100;
    for window in 0..4 {
        for n in 0..3 {
            emu.mock
                .user_message(&format!("o_user_{window}"), &format!("w{window} m{n}"));
        }
        emu.mock.advance(Duration::from_secs(25 * 3600));
    }
    (since, emu.mock.now() + 100)
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON record"))
        .collect()
}

fn texts(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["text"].as_str().expect("text").to_owned())
        .collect()
}

fn expected() -> Vec<String> {
    (0..4)
        .flat_map(|w| (0..3).map(move |n| format!("w{w} m{n}")))
        .collect()
}

fn export(emu: &Emu, since: i64, until: i64, out: Option<&str>) -> Run {
    let (since, until) = (since.to_string(), until.to_string());
    let mut args = vec!["records", "export", "--since", &since, "--until", &until];
    if let Some(out) = out {
        args.extend(["--out", out]);
    }
    emu.run(&args)
}

#[test]
fn records_stream_as_json_lines_across_windows() {
    let emu = Emu::start();
    let (since, until) = seed(&emu);
    let run = export(&emu, since, until, None);
    run.ok();
    let records = lines(&run.stdout);
    assert_eq!(texts(&records), expected());
    let first = records[0].as_object().expect("an object");
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys, ["openid", "opercode", "text", "time", "worker"]);
    assert_eq!(records[0]["opercode"], 2003);
    assert!(
        records
            .iter()
            .all(|r| (since..until).contains(&r["time"].as_i64().unwrap()))
    );
    // No progress bar when stderr is not a terminal: only the summary.
    assert_eq!(run.stderr, "exported 12 records\n");

    // Five windows of at most 24 hours, each paged until an empty page.
    let windows: BTreeMap<i64, i64> = emu
        .mock
        .requests_to(RECORDS)
        .iter()
        .map(|r| {
            let body = r.json().expect("JSON");
            (
                body["starttime"].as_i64().unwrap(),
                body["endtime"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(windows.len(), 5, "{windows:?}");
    assert!(windows.iter().all(|(start, end)| end - start <= 86_400));
    assert_eq!(windows.keys().next(), Some(&since));
    assert_eq!(windows.values().last(), Some(&(until - 1)));

    // Dates are read in --tz; --json changes nothing for an export.
    let run = emu.run(&[
        "--json",
        "--tz",
        "Asia/Shanghai",
        "records",
        "export",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-01T00:00:01+08:00",
    ]);
    assert_eq!(run.ok().stdout, "");
    let body = emu
        .mock
        .requests_to(RECORDS)
        .last()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["starttime"], 1_793_462_400);
    assert_eq!(body["endtime"], 1_793_462_400);
}

#[test]
fn an_interrupted_export_resumes_without_loss_or_duplicates() {
    let emu = Emu::start();
    let (since, until) = seed(&emu);
    let out = emu.path("records.jsonl");
    let out_arg = out.to_str().unwrap();
    let checkpoint = emu.path("records.jsonl.checkpoint");

    // The first record request is answered (window 1: its three records, a short page that
    // ends the window); every later one loses its connection, retries included.
    emu.mock.inject(
        Fault::delay(Duration::from_millis(1))
            .times(1)
            .on_path(RECORDS),
    );
    emu.mock
        .inject(Fault::drop_connection().times(100).on_path(RECORDS));
    let first = export(&emu, since, until, Some(out_arg));
    first.code(TRANSPORT);
    assert!(
        first
            .stderr
            .contains("3 records of 1 complete window(s) are saved"),
        "{first:?}"
    );
    assert!(
        first
            .stderr
            .contains("run the same command again to resume")
    );
    // Window 1's records were written; window 2 failed before any of its records came.
    let saved = std::fs::read_to_string(&out).unwrap();
    assert_eq!(texts(&lines(&saved)), expected()[..3]);
    assert!(checkpoint.exists());
    emu.mock.clear_faults();
    emu.mock.clear_requests();

    // Another range may not continue this file.
    let other = export(&emu, since, until + 1, Some(out_arg));
    other.code(USAGE);
    assert!(other.stderr.contains("another range"), "{other:?}");
    assert_eq!(emu.request_count(), 0);

    // A crash in the middle of a window leaves partial lines behind: the resume cuts them.
    let mut file = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    std::io::Write::write_all(&mut file, b"{\"text\":\"partial window\"}\n{\"tex").unwrap();
    drop(file);

    let resumed = export(&emu, since, until, Some(out_arg));
    resumed.ok();
    assert!(
        resumed
            .stderr
            .contains("exported 12 records in 5 window(s)"),
        "{resumed:?}"
    );
    let all = std::fs::read_to_string(&out).unwrap();
    assert_eq!(texts(&lines(&all)), expected(), "exactly once, in order");
    assert!(!checkpoint.exists());
    // The completed window was not fetched again.
    let first_request = emu.mock.requests_to(RECORDS)[0].json().unwrap();
    assert_eq!(first_request["starttime"], since + 86_401);

    // A finished export is not appended to or overwritten by accident.
    let again = export(&emu, since, until, Some(out_arg));
    again.code(USAGE);
    assert!(again.stderr.contains("--force"), "{again:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), all);
    let (s, u) = (since.to_string(), until.to_string());
    let forced = emu.run(&[
        "records", "export", "--since", &s, "--until", &u, "--out", out_arg, "--force",
    ]);
    forced.ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), all);
}

#[test]
fn bad_ranges_are_refused_before_any_request() {
    let emu = Emu::start();
    let refuse = |since: &str, until: &str, needle: &str| {
        let run = emu.run(&["records", "export", "--since", since, "--until", until]);
        run.code(USAGE);
        assert!(run.stderr.contains(needle), "{needle}: {run:?}");
    };
    refuse("2026-11-02", "2026-11-01", "must be after --since");
    refuse("2026-11-01", "2026-11-01", "must be after --since");
    refuse(
        "last tuesday",
        "2026-11-01",
        "--since: `last tuesday` is not an instant",
    );
    refuse("2026-11-01", "2026-02-30", "--until");
    let force = emu.run(&[
        "records", "export", "--since", "1", "--until", "2", "--force",
    ]);
    force.code(USAGE);
    assert_eq!(emu.request_count(), 0);
}
