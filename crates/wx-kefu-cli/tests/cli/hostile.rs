//! What issue 21 found in the CLI's handling of files and JSON (items 9–11): downloads that
//! overwrote files or followed planted links, a FIFO that held a send past its timeout,
//! and unknown JSON keys dropped without a word.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Emu, USAGE};

const SEND: &str = "/cgi-bin/message/custom/send";

#[test]
fn a_download_never_replaces_a_file_or_follows_a_link_unless_forced() {
    let emu = Emu::start();
    let id = emu.upload_image("a.jpg", 2_000)["media_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let work = emu.path("work");
    std::fs::create_dir(&work).unwrap();
    let get = |extra: &[&str]| {
        let mut args = vec!["--json", "media", "get", id.as_str()];
        args.extend_from_slice(extra);
        let mut command = emu.command(&args);
        command.current_dir(&work);
        emu.output(command)
    };
    // The name WeChat gives it; then a project's own file of that name is kept.
    let first = get(&[]);
    let name = first.ok().json()["saved"].as_str().unwrap().to_owned();
    assert!(name.ends_with(".jpg") && name.len() > 10, "{name}");
    let target = work.join(&name);
    std::fs::write(&target, "all: build\n").unwrap();
    let refused = get(&[]);
    refused.code(1);
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "all: build\n");

    // A planted link is not written through, forced or not.
    std::fs::remove_file(&target).unwrap();
    let victim = emu.path("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::os::unix::fs::symlink(&victim, &target).unwrap();
    get(&[]).code(1);
    let forced = get(&["--force"]);
    forced.ok();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert_eq!(std::fs::read(&target).unwrap().len(), 2_000);

    // Nothing but the downloads is left in the folder (no temporary files).
    let mut names: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [name]);
}

#[test]
fn a_fifo_is_refused_before_anything_is_sent() {
    let emu = Emu::start();
    emu.mock.user_message("o_user", "图呢");
    let fifo = emu.path("pipe.jpg");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let started = Instant::now();
    let sent = emu.run(&[
        "--timeout",
        "2",
        "message",
        "send",
        "image",
        "o_user",
        "--file",
        fifo.to_str().unwrap(),
    ]);
    sent.code(USAGE);
    assert!(sent.stderr.contains("not a file"), "{sent:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(emu.request_count(), 0);

    // A payload file that is a FIFO, too.
    let payload = format!("@{}", fifo.display());
    let started = Instant::now();
    let sent = emu.run(&["message", "send", "text", "o_user", "--payload", &payload]);
    sent.code(USAGE);
    assert!(sent.stderr.contains("not a regular file"), "{sent:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn an_unknown_json_key_is_refused_naming_it_and_the_accepted_ones() {
    let emu = Emu::start();
    emu.mock.user_message("o_user", "你好");
    let sent = emu.run(&[
        "message",
        "send",
        "text",
        "o_user",
        "--payload",
        r#"{"content":"hi","colour":"red"}"#,
    ]);
    sent.code(USAGE);
    assert!(sent.stderr.contains("`text.colour`"), "{sent:?}");
    assert!(sent.stderr.contains("accepted there: content"), "{sent:?}");
    assert!(emu.mock.requests_to(SEND).is_empty());

    // Deeper: a news article's misspelt key.
    let sent = emu.run(&[
        "message",
        "send",
        "news",
        "o_user",
        "--field",
        r#"articles:=[{"title":"t","description":"d","titel":"x","url":"https://example.com","picurl":"https://example.com/p.jpg"}]"#,
    ]);
    sent.code(USAGE);
    assert!(sent.stderr.contains("`news.articles[0].titel`"), "{sent:?}");
    assert!(
        sent.stderr
            .contains("accepted there: title, description, url, picurl"),
        "{sent:?}"
    );

    // A well-formed message still goes out.
    emu.run(&["message", "send", "text", "o_user", "--field", "content=hi"])
        .ok();
    assert_eq!(emu.mock.requests_to(SEND).len(), 1);
}
