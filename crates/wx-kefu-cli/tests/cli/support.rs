//! The test harness: an emulator on its own runtime, and runs of the binary against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;
use wx_kefu_mock::MockServer;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wx-kefu");

/// Exit statuses, as `wx-kefu --help` documents them.
pub const USAGE: i32 = 2;
pub const API: i32 = 3;
pub const TRANSPORT: i32 = 4;

/// Environment variables the binary reads: cleared so that the developer's own never leak in.
const CLEARED: &[&str] = &[
    "WX_APPID",
    "WX_SECRET",
    "WX_ACCESS_TOKEN",
    "WX_BASE_URL",
    "WX_KEFU_CONFIG",
    "WX_KEFU_TZ",
    "WX_AUTHORIZER",
    "WX_COMPONENT_APPID",
    "WX_COMPONENT_SECRET",
    "WX_PLATFORM_REDIS",
];

/// A running emulator (on a runtime of its own, so that tests can block on the binary)
/// and a scratch directory that holds the config file and outputs.
pub struct Emu {
    /// The emulator's handle.
    pub mock: MockServer,
    /// Scratch space, removed at the end of the test.
    pub dir: TempDir,
    // Dropped after the emulator, which shuts down on it.
    _runtime: tokio::runtime::Runtime,
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// Stderr parsed as one JSON document (errors with --json).
    pub fn error_json(&self) -> Value {
        serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}): {self:?}"))
    }

    /// Asserts the exit status.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "unexpected exit status: {self:#?}");
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.code(0)
    }
}

impl Emu {
    /// Starts an emulator.
    pub fn start() -> Emu {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mock = runtime.block_on(MockServer::start());
        Emu {
            mock,
            dir: tempfile::tempdir().expect("a temporary directory"),
            _runtime: runtime,
        }
    }

    /// Runs `work` on the emulator's runtime (to set up what a test needs).
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        self._runtime.block_on(work)
    }

    /// The path of a file in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The config file the binary uses (through `WX_KEFU_CONFIG`).
    pub fn config_path(&self) -> PathBuf {
        self.path("config.json")
    }

    /// A command with nothing set: no credentials, no base URL; the config directory
    /// (XDG_CONFIG_HOME) and HOME point into the scratch directory.
    pub fn bare(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args);
        for name in CLEARED {
            command.env_remove(name);
        }
        command
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("TZ", "Asia/Shanghai")
            .stdin(Stdio::null());
        command
    }

    /// A command pointed at the emulator with its appid and secret in the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.bare(args);
        command
            .env("WX_BASE_URL", self.mock.base_url())
            .env("WX_APPID", self.mock.appid())
            .env("WX_SECRET", self.mock.secret())
            .env("WX_KEFU_CONFIG", self.config_path());
        command
    }

    /// Runs `wx-kefu args…` against the emulator.
    pub fn run(&self, args: &[&str]) -> Run {
        self.output(self.command(args))
    }

    /// Runs a prepared command; checks that the secret stayed out of its output.
    pub fn output(&self, mut command: Command) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("the binary runs");
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
        };
        let secret = self.mock.secret();
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the app secret was printed: {run:#?}"
        );
        run
    }

    /// Writes a JPEG of `len` bytes named `name` in the scratch directory and uploads it
    /// with `wx-kefu media upload image`; the command's JSON answer.
    pub fn upload_image(&self, name: &str, len: u64) -> Value {
        let picture = self.path(name);
        jpeg(&picture, len);
        let uploaded = self.run(&[
            "--json",
            "media",
            "upload",
            "image",
            picture.to_str().unwrap(),
        ]);
        uploaded.ok().json()
    }

    /// How many requests the emulator received (token fetches included).
    pub fn request_count(&self) -> usize {
        self.mock.requests().len()
    }
}

/// Writes a file of `len` bytes starting like a JPEG.
pub fn jpeg(path: &Path, len: u64) {
    let mut head = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    head.resize(64, 0);
    std::fs::write(path, &head).expect("write the image");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the image");
    file.set_len(len.max(64)).expect("size the image");
}
