//! The boundary between the generated API crate and this runtime.
//!
//! Generated code implements [`Endpoint`] for each request type and nothing else;
//! everything that happens on the wire (tokens, retries, errors, tracing) lives in the runtime.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::meta::EndpointMeta;
use crate::upload::Upload;
use crate::validate::Invalid;

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method's name as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One call of the WeChat API, described by the spec and implemented by generated code.
pub trait Endpoint {
    /// The spec's static description of this endpoint (name, path, fields, rules).
    const META: &'static EndpointMeta;
    /// The decoded response of a successful call.
    type Response: DeserializeOwned + 'static;

    /// Checks the spec's rules; called before any request leaves the process.
    fn validate(&self) -> Result<(), Invalid>;

    /// The query pairs and body of one attempt; called again for every attempt,
    /// because a multipart body cannot be cloned.
    fn parts(&self) -> RequestParts;

    /// Whether this request may be repeated after it may have reached WeChat: the
    /// endpoint's [`EndpointMeta::idempotent`], unless the request itself makes it safe
    /// (a template message with a `client_msg_id`, which WeChat sends once per id).
    fn idempotent(&self) -> bool {
        Self::META.idempotent
    }

    /// The values of the request's sensitive fields (an app secret handed to a token
    /// call), which no error of the call may quote: they are redacted like the client's
    /// own secret and token. Empty by default.
    fn sensitive(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// An endpoint whose answer is a file (a media download), called with
/// [`Client::download`](crate::Client::download); its [`Endpoint::Response`] is the JSON
/// answer WeChat gives instead of a file where it has one (a video's address).
pub trait FileAnswer: Endpoint {}

/// What one attempt sends: query pairs (without `access_token`) and a body.
#[derive(Debug, Default)]
pub struct RequestParts {
    /// Query pairs in spec order. The runtime adds `access_token` itself.
    pub query: Vec<(&'static str, String)>,
    /// The request body.
    pub body: Body,
}

/// The body of a request.
#[derive(Debug, Default)]
pub enum Body {
    /// No body (a `GET`).
    #[default]
    Empty,
    /// A serialised JSON document.
    Json(Bytes),
    /// A `multipart/form-data` upload of one file.
    Multipart(MultipartFile),
}

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

/// Serialises a request body to JSON bytes; used by generated `parts()`.
pub fn json_body<T: serde::Serialize + ?Sized>(value: &T) -> Body {
    // Serialising plain generated structs into a Vec cannot fail: no maps with
    // non-string keys and no fallible `Serialize` impls are involved.
    // Most bodies (a text message, an account) fit in 256 bytes: one allocation, no growth.
    let mut bytes = Vec::with_capacity(256);
    match serde_json::to_writer(&mut bytes, value) {
        Ok(()) => Body::Json(Bytes::from(bytes)),
        Err(error) => unreachable!("generated request types always serialise: {error}"),
    }
}

/// A form field's value as JSON text (a video's `description`); used by generated `parts()`.
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(text) => text,
        Err(error) => unreachable!("generated request types always serialise: {error}"),
    }
}

/// The response of a call that answers only `{"errcode":0,"errmsg":"ok"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ack {}

/// An endpoint for the runtime's own unit tests: `POST /numbered` with `{"number": i64}`.
#[cfg(test)]
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Numbered {
    #[expect(dead_code, reason = "only decoded")]
    pub(crate) number: i64,
}

#[cfg(test)]
impl Endpoint for Numbered {
    const META: &'static EndpointMeta =
        &EndpointMeta::new("numbered", Method::Post, "/numbered").group("test");
    type Response = Ack;
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        RequestParts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_knows_its_first_bytes_and_no_other_kinds() {
        let samples: [(FileKind, &[u8]); 9] = [
            (FileKind::Jpeg, b"\xFF\xD8\xFF\xE0\0\x10JFIF"),
            (FileKind::Png, b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"),
            (FileKind::Gif, b"GIF89a\x01\0\x01\0"),
            (FileKind::Bmp, b"BM\x36\0\0\0\0\0"),
            (FileKind::Amr, b"#!AMR\n\x3c"),
            (FileKind::Mp3, b"ID3\x04\0\0\0\0"),
            (FileKind::Wav, b"RIFF\x24\0\0\0WAVEfmt "),
            (FileKind::Wma, b"\x30\x26\xB2\x75\x8E\x66\xCF\x11\xA6\xD9"),
            (FileKind::Mp4, b"\0\0\0\x18ftypmp42"),
        ];
        for (kind, head) in samples {
            assert!(kind.matches(head), "{kind:?} refuses its own bytes");
            assert!(FileKind::Any.matches(head));
            for (other, _) in samples.iter().filter(|(other, _)| *other != kind) {
                assert!(!other.matches(head), "{other:?} takes a {kind:?}");
            }
        }
        // Near misses: a byte off is another file.
        let near: [(FileKind, &[u8]); 8] = [
            (FileKind::Jpeg, b"\xFF\xD8\xFE"),
            (FileKind::Png, b"\x89PNG\r\n\x1a\x0b"),
            (FileKind::Gif, b"GIF88a"),
            (FileKind::Bmp, b"BA\x36\0"),
            (FileKind::Amr, b"#!AMX\n"),
            (FileKind::Wav, b"RIFF\x24\0\0\0AVI "),
            (FileKind::Wma, b"\x30\x26\xB2\x75\x8E\x66\xCF\x12"),
            (FileKind::Mp4, b"ftyp\0\0\0\x18mp42"),
        ];
        for (kind, head) in near {
            assert!(!kind.matches(head), "{kind:?} takes {head:?}");
        }
        // An MP3 without a tag starts with a frame sync.
        assert!(FileKind::Mp3.matches(&[0xFF, 0xFB, 0x90, 0x00]));
        assert!(!FileKind::Mp3.matches(&[0xFF, 0x1B]));
        // Too short to tell is never a match.
        assert!(!FileKind::Mp4.matches(b"\0\0\0\x18ftyp"[..6].as_ref()));
        let limits = FileLimits::new(10, &[FileKind::Png, FileKind::Gif], "PNG or GIF");
        assert!(limits.accepts(b"GIF87a"));
        assert!(!limits.accepts(b"\xFF\xD8\xFF"));
    }
}
