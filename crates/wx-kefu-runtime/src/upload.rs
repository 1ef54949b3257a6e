//! Files for multipart uploads: from a path, from bytes in memory, or from an async reader.

use std::fmt;
use std::path::PathBuf;

use std::io::SeekFrom;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use crate::error::{Error, Result};
use crate::validate::{Invalid, Rule};

/// A file sent as one field of a `multipart/form-data` body, with the form's text fields.
#[derive(Debug, Clone)]
pub struct MultipartFile {
    /// The form field name (WeChat's uploads use `media`).
    pub field: &'static str,
    /// The file itself.
    pub file: Upload,
    /// What the file may be: checked before anything is sent.
    pub limits: FileLimits,
    /// Text fields sent beside the file (a video's `description`, as JSON text).
    pub text: Vec<(&'static str, String)>,
}

/// What a file may be: its largest size and the kinds accepted, recognised by their
/// first bytes. Uploads whose limits depend on another field (the media `type`) get
/// the limits of that field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileLimits {
    /// The largest accepted size in bytes.
    pub max_bytes: u64,
    /// The accepted kinds; [`FileKind::Any`] accepts every file.
    pub kinds: &'static [FileKind],
    /// The kinds in words, for errors: `JPEG, PNG or GIF`.
    pub expected: &'static str,
}

impl FileLimits {
    /// Limits of `max_bytes` and `kinds`, described as `expected` in errors.
    pub const fn new(max_bytes: u64, kinds: &'static [FileKind], expected: &'static str) -> Self {
        FileLimits {
            max_bytes,
            kinds,
            expected,
        }
    }

    /// Whether `head` (the first bytes of a file, at least 16 when the file has them)
    /// is of one of the accepted kinds.
    pub fn accepts(&self, head: &[u8]) -> bool {
        self.kinds.iter().any(|kind| kind.matches(head))
    }
}

/// A kind of file recognised by its first bytes (its "magic number").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A JPEG image (`FF D8 FF`).
    Jpeg,
    /// A PNG image (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// A GIF image (`GIF87a` or `GIF89a`).
    Gif,
    /// A BMP image (`BM`).
    Bmp,
    /// An AMR recording (`#!AMR`).
    Amr,
    /// An MP3 recording (an `ID3` tag or an MPEG audio frame sync).
    Mp3,
    /// A WAV recording (`RIFF` … `WAVE`).
    Wav,
    /// A WMA recording (the ASF header GUID).
    Wma,
    /// An MP4 video (an `ftyp` box first).
    Mp4,
    /// Any file.
    Any,
}

impl FileKind {
    /// Whether `head` (the first bytes of a file) matches this kind.
    pub fn matches(self, head: &[u8]) -> bool {
        match self {
            FileKind::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            FileKind::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            FileKind::Gif => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
            FileKind::Bmp => head.starts_with(b"BM"),
            FileKind::Amr => head.starts_with(b"#!AMR"),
            FileKind::Mp3 => {
                head.starts_with(b"ID3")
                    || matches!(head, [0xFF, second, ..] if second & 0xE0 == 0xE0)
            }
            FileKind::Wav => head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE"),
            FileKind::Wma => head.starts_with(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]),
            FileKind::Mp4 => head.get(4..8) == Some(b"ftyp"),
            FileKind::Any => true,
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            FileKind::Jpeg => "JPEG",
            FileKind::Png => "PNG",
            FileKind::Gif => "GIF",
            FileKind::Bmp => "BMP",
            FileKind::Amr => "AMR",
            FileKind::Mp3 => "MP3",
            FileKind::Wav => "WAV",
            FileKind::Wma => "WMA",
            FileKind::Mp4 => "MP4",
            FileKind::Any => "any",
        }
    }
}

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

    /// The size of an upload made from bytes; `None` for a path, which is read when sent.
    pub fn size(&self) -> Option<u64> {
        match &self.source {
            Source::Bytes(bytes) => Some(bytes.len() as u64),
            Source::Path(_) => None,
        }
    }

    /// The bytes of an upload made from bytes; `None` for a path.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.source {
            Source::Bytes(bytes) => Some(bytes),
            Source::Path(_) => None,
        }
    }

    /// The content type sent with the part.
    pub fn mime_type(&self) -> &str {
        &self.content_type
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
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else if lower.ends_with(".bmp") {
        "image/bmp"
    } else if lower.ends_with(".amr") {
        "audio/amr"
    } else if lower.ends_with(".mp3") {
        "audio/mpeg"
    } else if lower.ends_with(".wav") {
        "audio/wav"
    } else if lower.ends_with(".wma") {
        "audio/x-ms-wma"
    } else if lower.ends_with(".mp4") {
        "video/mp4"
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
/// The `multipart/form-data` body of one attempt: the file's size and kind are checked
/// (by its first bytes) before anything is sent; a path is streamed, not read into memory.
pub(crate) async fn multipart(endpoint: &'static str, file: MultipartFile) -> Result<Form> {
    let MultipartFile {
        field,
        file: upload,
        limits,
        text,
    } = file;
    let invalid = |rule| Error::Invalid {
        endpoint,
        source: Invalid {
            field: field.to_owned(),
            rule,
        },
    };
    let check = |len: u64, head: &[u8]| {
        if len == 0 {
            Err(invalid(Rule::FileEmpty))
        } else if len > limits.max_bytes {
            Err(invalid(Rule::FileTooLarge {
                max: limits.max_bytes,
                actual: len,
            }))
        } else if !limits.accepts(head) {
            Err(invalid(Rule::FileType {
                expected: limits.expected,
            }))
        } else {
            Ok(())
        }
    };
    let part = match upload.source {
        Source::Bytes(bytes) => {
            let len = bytes.len() as u64;
            check(len, &bytes)?;
            Part::stream_with_length(reqwest::Body::from(bytes), len)
        }
        Source::Path(path) => {
            let io = |error: std::io::Error| Error::Upload {
                endpoint,
                source: Arc::new(std::io::Error::new(
                    error.kind(),
                    format!("{}: {error}", path.display()),
                )),
            };
            // Only a regular file (or a link to one): opening a FIFO or a device would wait
            // for a writer, or read for ever.
            let kind = tokio::fs::metadata(&path).await.map_err(io)?.file_type();
            if !kind.is_file() {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a regular file",
                )));
            }
            let mut reader = tokio::fs::File::open(&path).await.map_err(io)?;
            let len = reader.metadata().await.map_err(io)?.len();
            let mut head = [0_u8; 16];
            let mut filled = 0;
            while filled < head.len() {
                match reader.read(&mut head[filled..]).await.map_err(io)? {
                    0 => break,
                    n => filled += n,
                }
            }
            check(len, &head[..filled])?;
            reader.seek(SeekFrom::Start(0)).await.map_err(io)?;
            let stream = tokio_util::io::ReaderStream::new(reader.take(len));
            Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
        }
    };
    let content_type = upload.content_type;
    let part = part
        .file_name(upload.filename)
        .mime_str(&content_type)
        .map_err(|_| {
            Error::config(format!(
                "{endpoint}: `{content_type}` is not a valid content type"
            ))
        })?;
    let form = text
        .into_iter()
        .fold(Form::new(), |form, (name, value)| form.text(name, value));
    Ok(form.part(field, part))
}
