//! File-shaped answers: a media download is a body that is a file, not JSON.
//!
//! [`Client::download`](crate::Client::download) sends the request as every call is sent
//! (access token, retries of reads, one replay after a rejected token) and looks at the
//! answer's `Content-Type`: a JSON-like type (`application/json`, `text/plain`, none) is
//! read, at most [`MAX_JSON_ANSWER`] bytes, and decoded as every answer is, so an error
//! is an [`Error::Api`] and a video's address the endpoint's JSON answer; anything else is
//! the file, handed over unread as a [`MediaFile`] whose body is streamed, never held
//! whole unless asked for ([`MediaFile::bytes`]).

use std::fmt;
use std::path::Path;
use std::time::Duration;

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
/// [`Error::Transport`]; download again.
pub struct MediaFile {
    endpoint: &'static str,
    // Boxed: a `Download` is mostly passed around before it is read.
    response: Box<reqwest::Response>,
    content_type: String,
    filename: Option<String>,
    length: Option<u64>,
    idle: Duration,
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

    /// The file name from `Content-Disposition`, as sent: it names a file on WeChat's side,
    /// so take only its last component before using it as a local path.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The size announced by `Content-Length`, if any.
    pub fn len(&self) -> Option<u64> {
        self.length
    }

    /// Whether the answer announced an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        let endpoint = self.endpoint;
        match tokio::time::timeout(self.idle, self.response.chunk()).await {
            Ok(chunk) => chunk.map_err(|e| Error::from_transport(endpoint, e)),
            Err(_) => Err(Error::timed_out(endpoint, self.idle)),
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

    /// Streams the body into a new file at `path` (replacing one there); the number of
    /// bytes written.
    pub async fn save(self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let endpoint = self.endpoint;
        let io = |error: std::io::Error| Error::Upload {
            endpoint,
            source: std::sync::Arc::new(std::io::Error::new(
                error.kind(),
                format!("{}: {error}", path.display()),
            )),
        };
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        self.write_to(&mut file).await
    }

    /// Reads the whole body into memory, refusing more than `limit` bytes
    /// (an [`Error::Transport`] of kind [`Other`](crate::TransportKind::Other)).
    pub async fn bytes(mut self, limit: u64) -> Result<Bytes> {
        if let Some(len) = self.len()
            && len > limit
        {
            return Err(self.too_large(limit));
        }
        let capacity = self.len().unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = self.chunk().await? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(self.too_large(limit));
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

    fn too_large(&self, limit: u64) -> Error {
        Error::Transport {
            endpoint: self.endpoint,
            kind: crate::TransportKind::Other,
            source: std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("the file is larger than {limit} bytes"),
            )),
        }
    }

    fn io_error(&self, error: std::io::Error) -> Error {
        Error::Upload {
            endpoint: self.endpoint,
            source: std::sync::Arc::new(error),
        }
    }
}

/// What a download attempt received: a JSON answer to decode, or the file.
pub(crate) enum Fetched {
    Json(u16, Bytes),
    File(MediaFile),
}

/// Whether a `Content-Type` is one WeChat's JSON answers come with (it labels them
/// `application/json` or `text/plain`); a missing type is read as JSON too.
fn is_json_like(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "" | "application/json" | "text/json" | "text/plain" | "text/html"
    )
}

/// `filename` of a `Content-Disposition` (`attachment; filename="a.jpg"`).
fn disposition_filename(value: &str) -> Option<String> {
    value.split(';').map(str::trim).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("filename")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|name| !name.is_empty())
    })
}

/// Sends a download request and waits, within `limit`, for its headers; then reads a
/// JSON answer whole (within `limit` again) or hands the file over unread.
pub(crate) async fn fetch(
    endpoint: &'static str,
    request: reqwest::RequestBuilder,
    limit: Duration,
) -> Result<Fetched> {
    let response = match tokio::time::timeout(limit, request.send()).await {
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
    if !response.status().is_success() || is_json_like(&content_type) {
        let read = read_bounded(endpoint, response, limit);
        return Ok(Fetched::Json(status, read.await?));
    }
    let filename = disposition_filename(&header(CONTENT_DISPOSITION));
    let length = response.content_length();
    Ok(Fetched::File(MediaFile {
        endpoint,
        response: Box::new(response),
        content_type,
        filename,
        length,
        idle: limit,
    }))
}

/// A JSON answer's body, at most [`MAX_JSON_ANSWER`] bytes (what lies beyond is not
/// read: the decoder then sees a truncated body and says so).
async fn read_bounded(
    endpoint: &'static str,
    mut response: reqwest::Response,
    limit: Duration,
) -> Result<Bytes> {
    let read = async {
        let mut body = Vec::new();
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
        Ok(body) => body.map_err(|e| Error::from_transport(endpoint, e)),
        Err(_) => Err(Error::timed_out(endpoint, limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_are_told_from_files_by_content_type() {
        for json in [
            "",
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
        assert_eq!(disposition_filename("attachment; filename=\"\""), None);
    }
}
