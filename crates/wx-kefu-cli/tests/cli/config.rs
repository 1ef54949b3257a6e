//! `wx-kefu config path|show|set` and credentials from the config file.

use std::io::Write;
use std::process::Stdio;

use crate::support::{Emu, USAGE};

#[test]
fn the_config_file_is_written_private_and_used() {
    let emu = Emu::start();
    emu.mock.add_account("test1@gh_test", "客服").unwrap();
    let set = emu.run(&["config", "set"]);
    set.ok();
    assert!(set.stdout.contains("appid, secret, base_url"), "{set:?}");
    let path = emu.config_path();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["appid"], emu.mock.appid());
    assert_eq!(saved["base_url"], emu.mock.base_url());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // Nothing in the environment but the config file's location.
    let mut bare = emu.bare(&["--json", "account", "list"]);
    bare.env("WX_KEFU_CONFIG", &path);
    let list = emu.output(bare);
    assert_eq!(
        list.ok().json()["kf_list"][0]["kf_account"],
        "test1@gh_test"
    );

    let mut show = emu.bare(&["config", "show"]);
    show.env("WX_KEFU_CONFIG", &path);
    let show = emu.output(show);
    show.ok();
    assert!(
        show.stdout.contains("secret        *** (config file)"),
        "{show:?}"
    );
    assert!(
        show.stdout
            .contains(&format!("appid         {} (config file)", emu.mock.appid())),
        "{show:?}"
    );

    let mut json = emu.bare(&["config", "show", "--json", "--appid", "wx_from_flag"]);
    json.env("WX_KEFU_CONFIG", &path);
    let json = emu.output(json).ok().json();
    assert_eq!(json["appid"], "wx_from_flag");
    assert_eq!(json["appid_source"], "flag");
    assert_eq!(json["secret_set"], true);
    assert_eq!(json["secret_source"], "config file");
    assert!(json.get("secret").is_none());

    // A later `set` keeps what it is not given.
    let mut clear = emu.bare(&["config", "set", "--clear-base-url"]);
    clear.env("WX_KEFU_CONFIG", &path);
    emu.output(clear).ok();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["appid"], emu.mock.appid());
    assert!(saved.get("base_url").is_none(), "{saved}");
}

#[test]
fn the_default_location_is_the_users_config_directory() {
    let emu = Emu::start();
    let path = emu.output(emu.bare(&["config", "path"]));
    let expected = emu.path("xdg").join("wx-kefu").join("config.json");
    assert_eq!(path.ok().stdout.trim_end(), expected.to_str().unwrap());

    // The secret from stdin, into the default location, created with its directory.
    let mut set = emu.bare(&["config", "set", "--appid", "wx_test", "--secret-stdin"]);
    set.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = set.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cr3t-from-stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));
    let saved = std::fs::read_to_string(&expected).unwrap();
    assert!(saved.contains("s3cr3t-from-stdin"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = expected.parent().unwrap();
        assert_eq!(
            std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(&expected).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let show = emu.output(emu.bare(&["config", "show"]));
    assert!(!show.ok().stdout.contains("s3cr3t"), "{show:?}");

    let nothing = emu.output(emu.bare(&["config", "set"]));
    nothing.code(USAGE);

    std::fs::write(&expected, "appid = 'toml?'").unwrap();
    let broken = emu.output(emu.bare(&["account", "list"]));
    broken.code(USAGE);
    assert!(broken.stderr.contains("is not valid"), "{broken:?}");
    let path = emu.output(emu.bare(&["--json", "config", "path"]));
    assert_eq!(path.ok().json()["config_file"], expected.to_str().unwrap());
}
