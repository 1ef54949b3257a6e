//! File-shaped answers: a media download is a body that is a file, not JSON.
//!
//! [`Client::download`](crate::Client::download) sends the request as every call is sent
//! (access token, retries of reads, one replay after a rejected token) and looks at the
//! answer's `Content-Type`: a JSON-like type (`application/json`, `text/plain`) is read,
//! at most [`MAX_JSON_ANSWER`] bytes, and decoded as every answer is, so an error is an
//! [`Error::Api`] and a video's address the endpoint's JSON answer; anything else is the
//! file, handed over unread as a [`MediaFile`] whose body is streamed, never held whole
//! unless asked for ([`MediaFile::bytes`]). An answer without a `Content-Type` is told
//! apart by its first bytes: JSON starts with `{`, a file does not.
//!
//! A file's body is bounded in size (the client's
//! [`max_answer_bytes`](crate::ClientBuilder::max_answer_bytes) unless
//! [`MediaFile::max_bytes`] says otherwise; `Content-Length` is a hint only) and in time
//! (each wait by the client's timeout, the whole by its
//! [`download_deadline`](crate::ClientBuilder::download_deadline)).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// The largest JSON answer a download reads (an error or a video's address is a few
/// hundred bytes): a larger "JSON" body is not WeChat's answer.
pub const MAX_JSON_ANSWER: usize = 64 * 1024;

/// The answer of a download: the file, or the JSON answer WeChat gives instead of one
/// (for a video, its address: `J` is the endpoint's JSON answer type).
#[derive(Debug)]
#[non_exhaustive]
pub enum Download<J> {
    /// The file, its body not yet read.
    File(MediaFile),
    /// A JSON answer that is not an error: a video's download address.
    Json(J),
}

impl<J> Download<J> {
    /// The file, if the answer is one.
    pub fn into_file(self) -> Option<MediaFile> {
        match self {
            Download::File(file) => Some(file),
            Download::Json(_) => None,
        }
    }

    /// The JSON answer, if the answer is not a file.
    pub fn json(&self) -> Option<&J> {
        match self {
            Download::File(_) => None,
            Download::Json(json) => Some(json),
        }
    }
}

/// A downloaded file: its content type and name from the answer's headers, and its body,
/// read chunk by chunk ([`chunk`](MediaFile::chunk)), streamed to a file or writer
/// ([`save`](MediaFile::save), [`write_to`](MediaFile::write_to)) or read whole
/// ([`bytes`](MediaFile::bytes)). Each read waits at most the client's timeout for data.
///
/// Once handed over, the body is not retried: a connection that breaks mid-file is an
/// [`Error::Transport`] of kind [`Interrupted`](crate::TransportKind::Interrupted);
/// download again.
pub struct MediaFile {
    endpoint: &'static str,
    // Boxed: a `Download` is mostly passed around before it is read.
    response: Box<reqwest::Response>,
    content_type: String,
    filename: Option<String>,
    length: Option<u64>,
    /// A chunk read to tell the file from JSON, not yet handed out.
    first: Option<Bytes>,
    /// Bytes handed out so far.
    read: u64,
    limits: Limits,
    /// When the whole download must be over.
    deadline: Instant,
}

/// How much a download may read, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The longest wait for the next piece of the answer.
    pub(crate) idle: Duration,
    /// The longest the whole download may take.
    pub(crate) total: Duration,
    /// The most bytes the file may have.
    pub(crate) max_bytes: u64,
}

/// Never the response (its URL holds the access token).
impl fmt::Debug for MediaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaFile")
            .field("endpoint", &self.endpoint)
            .field("content_type", &self.content_type)
            .field("filename", &self.filename)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl MediaFile {
    /// The `Content-Type` WeChat gave the file (`image/jpeg`, `audio/amr`, …).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The file name from `Content-Disposition` (quoted or not, `filename*=UTF-8''…`
    /// decoded), as sent: it names a file on WeChat's side, so take only its last
    /// component before using it as a local path.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The size announced by `Content-Length`, if any: a hint, never trusted for memory
    /// or for the limit (the bytes that come are counted).
    pub fn len(&self) -> Option<u64> {
        self.length
    }

    /// Whether the answer announced an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The most bytes this file may have (default: the client's
    /// [`max_answer_bytes`](crate::ClientBuilder::max_answer_bytes)); more is
    /// [`Error::TooLarge`]. The CLI sets the spec's largest file of the kind.
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.limits.max_bytes = max;
        self
    }

    /// How long, from now, the rest of the download may take (default: the client's
    /// [`download_deadline`](crate::ClientBuilder::download_deadline) from the request).
    pub fn deadline(mut self, within: Duration) -> Self {
        self.limits.total = within;
        self.deadline = Instant::now() + within;
        self
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        let chunk = match self.first.take() {
            Some(first) => Some(first),
            None => self.next_from_wire().await?,
        };
        if let Some(chunk) = &chunk {
            self.read += chunk.len() as u64;
            if self.read > self.limits.max_bytes {
                return Err(Error::too_large(self.endpoint, self.limits.max_bytes));
            }
        }
        Ok(chunk)
    }

    /// The next chunk as it comes, within the idle timeout and the deadline.
    async fn next_from_wire(&mut self) -> Result<Option<Bytes>> {
        let endpoint = self.endpoint;
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::timed_out(endpoint, self.limits.total));
        }
        let (wait, shown) = match left < self.limits.idle {
            true => (left, self.limits.total),
            false => (self.limits.idle, self.limits.idle),
        };
        match tokio::time::timeout(wait, self.response.chunk()).await {
            Ok(chunk) => chunk.map_err(|e| Error::from_body(endpoint, e)),
            Err(_) => Err(Error::timed_out(endpoint, shown)),
        }
    }

    /// Writes the body to `writer` as it arrives; the number of bytes written.
    /// Memory stays at one chunk, whatever the file's size.
    pub async fn write_to<W: AsyncWrite + Unpin>(mut self, writer: &mut W) -> Result<u64> {
        let mut written = 0_u64;
        while let Some(chunk) = self.chunk().await? {
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| self.io_error(e))?;
            written += chunk.len() as u64;
        }
        writer.flush().await.map_err(|e| self.io_error(e))?;
        Ok(written)
    }

    /// Streams the body into a new file at `path`; the number of bytes written.
    ///
    /// The body goes to a temporary file beside `path` first, which takes the name only
    /// once the whole body is there: a failed download leaves nothing at `path`. An
    /// existing file (or a symbolic link, followed or dangling) at `path` is never
    /// replaced: that is [`Error::Save`] of kind `AlreadyExists`, before anything is
    /// read. [`save_over`](MediaFile::save_over) replaces it.
    pub async fn save(self, path: impl AsRef<Path>) -> Result<u64> {
        self.save_as(path.as_ref(), false).await
    }

    /// As [`save`](MediaFile::save), replacing a file at `path`. A symbolic link there is
    /// replaced itself, never written through.
    pub async fn save_over(self, path: impl AsRef<Path>) -> Result<u64> {
        self.save_as(path.as_ref(), true).await
    }

    async fn save_as(self, path: &Path, replace: bool) -> Result<u64> {
        let endpoint = self.endpoint;
        let io = |error: std::io::Error| save_error(endpoint, path, error);
        if !replace && tokio::fs::symlink_metadata(path).await.is_ok() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file is there already (not replaced)",
            )));
        }
        let (temporary, mut file) = temporary_beside(path).await.map_err(io)?;
        // Removed on every way out but the rename.
        let mut cleanup = RemoveOnDrop(Some(temporary.clone()));
        let written = self.write_to(&mut file).await?;
        file.sync_all().await.map_err(io)?;
        drop(file);
        if replace {
            // rename(2) replaces a link at `path` itself; it never follows it.
            tokio::fs::rename(&temporary, path).await.map_err(io)?;
        } else {
            // link(2) fails when anything, a dangling link included, took the name
            // meanwhile: nothing is replaced.
            tokio::fs::hard_link(&temporary, path).await.map_err(io)?;
        }
        if replace {
            cleanup.0 = None;
        }
        Ok(written)
    }

    /// Reads the whole body into memory, refusing more than `limit` bytes (or the file's
    /// [`max_bytes`](MediaFile::max_bytes)) with [`Error::TooLarge`]. Memory grows with
    /// what came, never with what `Content-Length` announced.
    pub async fn bytes(mut self, limit: u64) -> Result<Bytes> {
        let limit = limit.min(self.limits.max_bytes);
        if let Some(len) = self.len()
            && len > limit
        {
            return Err(Error::too_large(self.endpoint, limit));
        }
        // A hint only: at most 64 KiB reserved on its word.
        let capacity = self.len().unwrap_or(0).min(limit).min(64 * 1024);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = self.chunk().await? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(Error::too_large(self.endpoint, limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes>> + Send {
        futures_util::stream::unfold(self, |mut file| async move {
            match file.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), file)),
                Ok(None) => None,
                Err(error) => Some((Err(error), file)),
            }
        })
    }

    fn io_error(&self, error: std::io::Error) -> Error {
        Error::Save {
            endpoint: self.endpoint,
            source: Arc::new(error),
        }
    }
}

/// An [`Error::Save`] naming the path.
fn save_error(endpoint: &'static str, path: &Path, error: std::io::Error) -> Error {
    Error::Save {
        endpoint,
        source: Arc::new(std::io::Error::new(
            error.kind(),
            format!("{}: {error}", path.display()),
        )),
    }
}

/// A new, empty file beside `path` (same directory, so the rename stays on one file
/// system), made with `O_EXCL`: never an existing file, never through a link.
async fn temporary_beside(path: &Path) -> std::io::Result<(PathBuf, tokio::fs::File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = path
        .file_name()
        .map(|name| name.to_string_lossy().chars().take(32).collect::<String>())
        .unwrap_or_default();
    let mut last = None;
    for _ in 0..16 {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            ".{stem}.{}-{}-{unique:08x}.part",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let candidate = directory.join(name);
        match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
            .await
        {
            Ok(file) => return Ok((candidate, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary file name was free")))
}

/// Removes a temporary file when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Best effort: the file may never have been written.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What a download attempt received: a JSON answer to decode, or the file.
pub(crate) enum Fetched {
    Json(u16, Bytes),
    File(MediaFile),
}

/// Whether a `Content-Type` is one WeChat's JSON answers come with (it labels them
/// `application/json` or `text/plain`). A missing one is told by the body ([`fetch`]).
fn is_json_like(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json" | "text/json" | "text/plain" | "text/html"
    )
}

/// `filename` of a `Content-Disposition` (`attachment; filename="a;b.jpg"`): parameters
/// split on `;` outside quotes, a quoted value unescaped (RFC 6266), and `filename*`
/// (`UTF-8''%E5%9B%BE.jpg`, RFC 5987) preferred when present.
fn disposition_filename(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    let mut rest = value;
    while !rest.is_empty() {
        let (param, after) = next_param(rest);
        rest = after;
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("filename") {
            plain = Some(unquote(value.trim()));
        } else if key.eq_ignore_ascii_case("filename*") {
            extended = decode_ext_value(value.trim());
        }
    }
    extended.or(plain).filter(|name| !name.is_empty())
}

/// The text up to the first `;` outside a quoted string, and what follows it.
fn next_param(text: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return (&text[..at], &text[at + 1..]),
            _ => {}
        }
    }
    (text, "")
}

/// A quoted string's content with its `\x` escapes undone; a token as it is.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_owned();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            other => out.push(other),
        }
    }
    out
}

/// `UTF-8''percent-encoded` (RFC 5987); another charset or a bad escape is ignored.
fn decode_ext_value(value: &str) -> Option<String> {
    let (charset, rest) = value.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Sends a download request and waits, within `limit`, for its headers; then reads a
/// JSON answer whole (within `limit` again) or hands the file over unread.
pub(crate) async fn fetch(
    endpoint: &'static str,
    request: reqwest::RequestBuilder,
    limits: Limits,
) -> Result<Fetched> {
    let started = Instant::now();
    let limit = limits.idle;
    let mut response = match tokio::time::timeout(limit, request.send()).await {
        Ok(response) => response.map_err(|e| Error::from_transport(endpoint, e))?,
        Err(_) => return Err(Error::timed_out(endpoint, limit)),
    };
    let status = response.status().as_u16();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header(CONTENT_TYPE);
    let filename = disposition_filename(&header(CONTENT_DISPOSITION));
    if !response.status().is_success() || is_json_like(&content_type) {
        let read = read_bounded(endpoint, response, limit, Bytes::new());
        return Ok(Fetched::Json(status, read.await?));
    }
    // No type: the first bytes tell (WeChat's JSON answers start with `{`).
    let mut first = None;
    if content_type.trim().is_empty() {
        let chunk = match tokio::time::timeout(limit, response.chunk()).await {
            Ok(chunk) => chunk.map_err(|e| Error::from_body(endpoint, e))?,
            Err(_) => return Err(Error::timed_out(endpoint, limit)),
        };
        let chunk = chunk.unwrap_or_default();
        if chunk.trim_ascii_start().starts_with(b"{") {
            let read = read_bounded(endpoint, response, limit, chunk);
            return Ok(Fetched::Json(status, read.await?));
        }
        first = Some(chunk).filter(|chunk| !chunk.is_empty());
    }
    let length = response.content_length();
    Ok(Fetched::File(MediaFile {
        endpoint,
        response: Box::new(response),
        content_type,
        filename,
        length,
        first,
        read: 0,
        limits,
        deadline: started + limits.total,
    }))
}

/// A JSON answer's body, at most [`MAX_JSON_ANSWER`] bytes (what lies beyond is not
/// read: the decoder then sees a truncated body and says so).
async fn read_bounded(
    endpoint: &'static str,
    mut response: reqwest::Response,
    limit: Duration,
    start: Bytes,
) -> Result<Bytes> {
    let read = async {
        let mut body = start[..start.len().min(MAX_JSON_ANSWER)].to_vec();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_JSON_ANSWER.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_JSON_ANSWER {
                break;
            }
        }
        Ok::<_, reqwest::Error>(Bytes::from(body))
    };
    match tokio::time::timeout(limit, read).await {
        Ok(body) => body.map_err(|e| Error::from_body(endpoint, e)),
        Err(_) => Err(Error::timed_out(endpoint, limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_are_told_from_files_by_content_type() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "TEXT/PLAIN; charset=UTF-8",
            "text/html",
        ] {
            assert!(is_json_like(json), "{json}");
        }
        for file in [
            "image/jpeg",
            "audio/amr",
            "video/mp4",
            "application/octet-stream",
            "",
        ] {
            assert!(!is_json_like(file), "{file}");
        }
    }

    #[test]
    fn the_file_name_comes_from_content_disposition() {
        assert_eq!(
            disposition_filename("attachment; filename=\"MEDIA_ID.jpg\"").as_deref(),
            Some("MEDIA_ID.jpg")
        );
        assert_eq!(
            disposition_filename("attachment;FILENAME=a.amr").as_deref(),
            Some("a.amr")
        );
        assert_eq!(disposition_filename("attachment"), None);
        // A `;` inside quotes is part of the name, an escaped quote too.
        assert_eq!(
            disposition_filename(r#"attachment; filename="a;b.jpg"; size=3"#).as_deref(),
            Some("a;b.jpg")
        );
        assert_eq!(
            disposition_filename(r#"attachment; filename="say \"hi\".jpg""#).as_deref(),
            Some(r#"say "hi".jpg"#)
        );
        assert_eq!(
            disposition_filename("attachment; filename=\"x.jpg\"; filename*=UTF-8''%E5%9B%BE.jpg")
                .as_deref(),
            Some("图.jpg")
        );
        assert_eq!(disposition_filename("attachment; filename=\"\""), None);
    }
}
