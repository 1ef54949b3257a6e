//! Files for multipart uploads: from a path, from bytes in memory, or from an async reader.

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A file to upload, with its file name and content type.
///
/// A path is opened again for every attempt and streamed; bytes are shared, not copied.
/// An async reader is read once, up to `limit` bytes, when the `Upload` is made, so that
/// size and type are checked before anything is sent and a retry can send it again.
#[derive(Clone)]
pub struct Upload {
    pub(crate) source: Source,
    pub(crate) filename: String,
    pub(crate) content_type: String,
}

#[derive(Clone)]
pub(crate) enum Source {
    Path(PathBuf),
    Bytes(Bytes),
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Upload");
        match &self.source {
            Source::Path(path) => s.field("path", path),
            Source::Bytes(bytes) => s.field("bytes", &bytes.len()),
        };
        s.field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .finish()
    }
}

impl Upload {
    /// A file on disk; the file name is taken from the path, the type from its extension.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".to_owned());
        let content_type = content_type_for(&filename).to_owned();
        Upload {
            source: Source::Path(path),
            filename,
            content_type,
        }
    }

    /// Bytes in memory, with a file name.
    pub fn bytes(bytes: impl Into<Bytes>, filename: impl Into<String>) -> Self {
        let filename = filename.into();
        let content_type = content_type_for(&filename).to_owned();
        Upload {
            source: Source::Bytes(bytes.into()),
            filename,
            content_type,
        }
    }

    /// Reads an async reader to its end, refusing more than `limit` bytes
    /// (the error comes back as [`std::io::ErrorKind::FileTooLarge`]).
    pub async fn reader<R: AsyncRead + Unpin>(
        mut reader: R,
        filename: impl Into<String>,
        limit: u64,
    ) -> std::io::Result<Self> {
        let mut buf = Vec::new();
        (&mut reader)
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .await?;
        if buf.len() as u64 > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("the file is larger than {limit} bytes"),
            ));
        }
        Ok(Upload::bytes(buf, filename))
    }

    /// Overrides the content type.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// The file name sent with the part.
    pub fn filename(&self) -> &str {
        &self.filename
    }
}

fn content_type_for(filename: &str) -> &'static str {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        "image/jpeg"
    } else if lower.ends_with(".png") {
        "image/png"
    } else {
        "application/octet-stream"
    }
}

/// An upload named in data (a CLI argument, a JSON request) is a path to a file.
impl<'de> serde::Deserialize<'de> for Upload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = String::deserialize(deserializer)?;
        Ok(Upload::path(path))
    }
}
