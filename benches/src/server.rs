//! The local server: bare hyper on 127.0.0.1, answering fixed, prebuilt bodies, run in a
//! child process so its work never shows in the CPU time the bench measures.
//!
//! `wx-kefu-bench serve` prints its port and serves until its stdin closes (when the bench
//! that started it drops the pipe, or dies). Besides the API paths the bench calls, it
//! answers two control paths:
//! - `/bench/reset?token_delay_ms=N&msglist=plain|errcode|paged` sets how it answers and
//!   zeroes the token counter;
//! - `/bench/stats` answers `{"token_requests":N}`.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::bodies;

/// Pages of the record export: 10 × 10,000 records.
pub const EXPORT_PAGES: usize = 10;

/// How `get_msg_list` is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgListMode {
    /// One page of 10,000 records in WeChat's documented shape, whatever the cursor.
    Plain = 0,
    /// The same page with `"errcode":0,"errmsg":"ok"` first.
    Errcode = 1,
    /// The export's history: page `k` for `msgid` `1 + k * 10000`, then an empty page.
    Paged = 2,
}

impl MsgListMode {
    /// The name used in the control path's query.
    pub fn name(self) -> &'static str {
        match self {
            MsgListMode::Plain => "plain",
            MsgListMode::Errcode => "errcode",
            MsgListMode::Paged => "paged",
        }
    }
}

struct State {
    token_requests: AtomicU64,
    token_delay_ms: AtomicU64,
    msglist: AtomicU8,
    plain: Bytes,
    errcode: Bytes,
    pages: Vec<Bytes>,
}

/// The body of one 10,000-record page in WeChat's documented shape (the decode bench's).
pub fn plain_page() -> Bytes {
    bodies::page(0, bodies::PAGE, next_msgid(0))
}

fn next_msgid(page: usize) -> i64 {
    i64::try_from((page + 1) * bodies::PAGE + 1).expect("cursors fit in i64")
}

/// Serves until stdin closes: the child process's whole life.
pub fn serve() -> Result<(), String> {
    std::thread::spawn(|| {
        // Ends with the parent: its end of the pipe closes when it drops it or dies.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("server runtime: {e}"))?;
    runtime.block_on(async {
        let plain = plain_page();
        let errcode = bodies::with_errcode(&plain);
        let mut pages: Vec<Bytes> = (0..EXPORT_PAGES)
            .map(|k| bodies::page(k * bodies::PAGE, bodies::PAGE, next_msgid(k)))
            .collect();
        pages.push(bodies::page(0, 0, next_msgid(EXPORT_PAGES - 1)));
        let state = Arc::new(State {
            token_requests: AtomicU64::new(0),
            token_delay_ms: AtomicU64::new(0),
            msglist: AtomicU8::new(MsgListMode::Plain as u8),
            plain,
            errcode,
            pages,
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{port}")
            .and_then(|()| stdout.flush())
            .map_err(|e| e.to_string())?;
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(Arc::clone(&state), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let answer = match path.as_str() {
        "/cgi-bin/message/custom/send" => Bytes::from_static(bodies::OK),
        "/cgi-bin/customservice/getkflist" => Bytes::from_static(bodies::KF_LIST),
        "/customservice/msgrecord/getmsglist" => msg_list(&state, &body),
        "/cgi-bin/stable_token" | "/cgi-bin/token" => {
            state.token_requests.fetch_add(1, Relaxed);
            let delay = state.token_delay_ms.load(Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            Bytes::from_static(bodies::TOKEN)
        }
        // The third-party platform's token calls (the platform section): every authorizer
        // gets the bench's token.
        "/cgi-bin/component/api_component_token" => {
            state.token_requests.fetch_add(1, Relaxed);
            Bytes::from_static(bodies::COMPONENT_TOKEN)
        }
        "/cgi-bin/component/api_authorizer_token" => {
            state.token_requests.fetch_add(1, Relaxed);
            Bytes::from_static(bodies::AUTHORIZER_TOKEN)
        }
        "/bench/reset" => {
            state.token_requests.store(0, Relaxed);
            for (name, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
                match (name, value) {
                    ("token_delay_ms", ms) => {
                        state.token_delay_ms.store(ms.parse().unwrap_or(0), Relaxed);
                    }
                    ("msglist", mode) => {
                        let mode = [MsgListMode::Plain, MsgListMode::Errcode, MsgListMode::Paged]
                            .into_iter()
                            .find(|m| m.name() == mode)
                            .unwrap_or(MsgListMode::Plain);
                        state.msglist.store(mode as u8, Relaxed);
                    }
                    _ => {}
                }
            }
            Bytes::from_static(b"{}")
        }
        "/bench/stats" => Bytes::from(format!(
            r#"{{"token_requests":{}}}"#,
            state.token_requests.load(Relaxed)
        )),
        _ => Bytes::from_static(br#"{"errcode":40066,"errmsg":"invalid url"}"#),
    };
    let mut response = Response::new(Full::new(answer));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Ok(response)
}

fn msg_list(state: &State, request: &[u8]) -> Bytes {
    match state.msglist.load(Relaxed) {
        m if m == MsgListMode::Errcode as u8 => state.errcode.clone(),
        m if m == MsgListMode::Paged as u8 => {
            #[derive(serde::Deserialize)]
            struct Cursor {
                msgid: i64,
            }
            let msgid = serde_json::from_slice::<Cursor>(request).map_or(1, |c| c.msgid);
            let page = usize::try_from(msgid.saturating_sub(1)).unwrap_or(0) / bodies::PAGE;
            state.pages[page.min(EXPORT_PAGES)].clone()
        }
        _ => state.plain.clone(),
    }
}

/// The server child process, killed when dropped.
pub struct Server {
    child: Child,
    /// Held open: the child exits when it closes.
    stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl Server {
    /// Starts `<this executable> serve` and waits for its port.
    pub fn start() -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the server's port: {e}"))?;
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| format!("the server did not print a port: {line:?}"))?;
        Ok(Server {
            child,
            stdin,
            base_url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Sets how the server answers and zeroes its token counter.
    pub async fn reset(
        &self,
        http: &reqwest::Client,
        token_delay_ms: u64,
        msglist: MsgListMode,
    ) -> Result<(), String> {
        let url = format!(
            "{}/bench/reset?token_delay_ms={token_delay_ms}&msglist={}",
            self.base_url,
            msglist.name()
        );
        http.get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|e| format!("resetting the server: {e}"))
    }

    /// How many token requests the server has answered since the last reset.
    pub async fn token_requests(&self, http: &reqwest::Client) -> Result<u64, String> {
        #[derive(serde::Deserialize)]
        struct Stats {
            token_requests: u64,
        }
        let stats: Stats = http
            .get(format!("{}/bench/stats", self.base_url))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        Ok(stats.token_requests)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
