//! The command tree and its help come from the spec.

use wx_kefu_api::ENDPOINTS;
use wx_kefu_api::meta::FieldType;

use crate::support::{Emu, USAGE};

#[test]
fn every_endpoint_has_a_command_with_its_summary_as_help() {
    let emu = Emu::start();
    let root = emu.run(&["--help"]);
    root.ok();
    for needle in [
        "Exit status:",
        "2  usage error",
        "3  WeChat answered",
        "4  transport",
    ] {
        assert!(root.stdout.contains(needle), "{needle}: {}", root.stdout);
    }
    // The commands the root help lists, whatever the spec's groups are.
    let groups: Vec<&str> = root
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help")
        .collect();
    assert!(groups.contains(&"account"), "{}", root.stdout);
    // Each group of calls is presented with its title from the spec.
    for group in wx_kefu_api::GROUPS.iter().filter(|g| g.name != "tokens") {
        let title = format!("{} — {}", group.title_zh, group.title_en);
        assert!(root.stdout.contains(&title), "{title}: {}", root.stdout);
    }
    let helps: Vec<String> = groups
        .iter()
        .map(|group| {
            let run = emu.run(&[group, "--help"]);
            run.ok();
            run.stdout.clone()
        })
        .collect();
    for meta in ENDPOINTS.iter().filter(|meta| meta.auth) {
        let summary = format!("{} — {}", meta.summary_zh, meta.summary_en);
        assert!(
            helps.iter().any(|help| help.contains(&summary)),
            "no command for {}: {summary}",
            meta.name
        );
    }
    // The words people use.
    let expected = [
        (
            "account",
            &[
                "add", "update", "delete", "invite", "avatar", "list", "online",
            ][..],
        ),
        (
            "session",
            &["create", "close", "get", "list", "waiting"][..],
        ),
        ("message", &["send", "typing"][..]),
        ("records", &["export", "list"][..]),
        ("template", &["send", "list", "delete", "industry"][..]),
        ("subscribe", &["send"][..]),
    ];
    for (group, verbs) in expected {
        for verb in verbs {
            emu.run(&[group, verb, "--help"]).ok();
        }
    }
    assert_eq!(emu.request_count(), 0);
}

#[test]
fn arguments_and_their_rules_come_from_the_fields() {
    let emu = Emu::start();
    let send = emu.run(&["message", "send", "--help"]);
    let meta = ENDPOINTS
        .iter()
        .find(|meta| meta.name == "send_custom_message")
        .unwrap();
    assert!(send.ok().stdout.contains(meta.doc_url));
    for field in meta.fields {
        if let FieldType::Union { tag, variants } = field.ty {
            assert!(send.stdout.contains(&format!("<{}>", tag.to_uppercase())));
            for variant in variants {
                assert!(send.stdout.contains(variant), "{variant}");
            }
        }
    }
    assert!(send.stdout.contains("<TOUSER>"), "{}", send.stdout);
    assert!(send.stdout.contains("--customservice <JSON>"));

    let add = emu.run(&["account", "add", "--help"]);
    assert!(
        add.ok().stdout.contains("1–16 characters"),
        "{}",
        add.stdout
    );
    let avatar = emu.run(&["account", "avatar", "--help"]);
    assert!(avatar.ok().stdout.contains("at most 5242880 bytes"));

    let nothing = emu.run(&[]);
    nothing.code(USAGE);
    let version = emu.run(&["--version"]);
    assert!(version.ok().stdout.starts_with("wx-kefu "));
}

#[test]
fn a_fields_help_says_its_rules_as_the_documentation_does() {
    // One rule, one wording: the help takes the words the generator wrote for the docs
    // (the pattern's hint, "1–16 characters"), never the raw regex.
    let emu = Emu::start();
    let add = ENDPOINTS
        .iter()
        .find(|meta| meta.name == "add_kf_account")
        .unwrap();
    let help = emu.run(&["account", "add", "--help"]);
    help.ok();
    let text = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for field in add.fields {
        assert!(!field.limits.is_empty(), "{} has rules", field.wire);
        let limits = field
            .limits
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.contains(&limits), "{limits}: {text}");
        if let Some(pattern) = field.rules.pattern {
            assert!(!text.contains(pattern), "the raw pattern: {text}");
        }
    }
}
