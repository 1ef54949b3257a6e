//! Test helpers shared by wx-kefu's crates (a dev-dependency only, never published):
//!
//! - [`RedisServer`]: a real `redis-server` of one test, on a free loopback port, killed
//!   on drop. Without `redis-server` on PATH a test is reported skipped and passes, unless
//!   `WX_KEFU_REQUIRE_REDIS=1` (CI sets it), in which case it fails.
//! - [`spawn_child`] and [`finish`]: the test binary re-run as a separate process (an
//!   instance of a service), with a role in an environment variable, and its bounded end.
//! - [`init_tracing`] and [`logs`]: every log line of a test binary, kept for the leak
//!   checks (no secret or token in any of them).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// A `redis-server` of this test, on a free loopback port; killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts a server, or `None` (after saying so, once, naming `what` is skipped) when
    /// `redis-server` is not installed and `WX_KEFU_REQUIRE_REDIS` is not `1`.
    pub fn start(what: &str) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            if std::env::var("WX_KEFU_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("redis-server is not on PATH, and WX_KEFU_REQUIRE_REDIS=1 requires it");
            }
            // Written to the process's stderr, past the test harness's capture, once.
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: {what}: redis-server is not on PATH \
                     (install it, e.g. apt-get install redis-server, to run them)"
                );
            });
            return None;
        }
        // A free port can be taken by someone else before the server binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("bind a loopback port")
                .local_addr()
                .expect("its address")
                .port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if ping(port) {
                    return Some(RedisServer { child, port });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on a free loopback port");
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends a signal (`STOP`, `CONT`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Kills it (a later [`RedisServer::start`] gives a new one).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A stopped (SIGSTOP) server cannot die of SIGKILL until continued on every system.
    fn signal_quietly(&self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.signal_quietly();
        self.stop();
    }
}

/// Whether a Redis server answers `PING` on the loopback port.
pub fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// Re-runs this test binary as a child running only the test `test_name`, with
/// `role_var=role` and `vars` in its environment, its output piped.
pub fn spawn_child(test_name: &str, role_var: &str, role: &str, vars: &[(&str, &str)]) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(role_var, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    command.spawn().expect("re-run the test binary as a child")
}

/// Waits (bounded) for a child and returns whether it succeeded, and its output; kills it
/// past the limit.
pub fn finish(mut child: Child, limit: Duration) -> (bool, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return (status.success(), output(&mut child));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = output(&mut child);
            return (false, format!("(killed: it did not finish in time)\n{out}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a finished (or killed) child wrote, stdout then stderr.
pub fn output(child: &mut Child) -> String {
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut out);
    }
    out
}

/// Where the log lines of this test binary go.
#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Default::default)
}

/// Captures every tracing event of this test binary (and `log` records, such as
/// reqwest's), with span fields, at TRACE level; once per binary.
pub fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        use tracing_subscriber::util::SubscriberInitExt;
        let buffer = buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(move || Capture(buffer.clone()))
            .finish()
            .try_init();
    });
}

/// Everything logged so far in this test binary.
pub fn logs() -> String {
    String::from_utf8_lossy(&buffer().lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}
