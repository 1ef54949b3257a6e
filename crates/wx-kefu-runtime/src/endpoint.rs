//! The boundary between the generated API crate and this runtime.
//!
//! Generated code implements [`Endpoint`] for each request type and nothing else;
//! everything that happens on the wire (tokens, retries, errors, tracing) lives in the runtime.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::meta::EndpointMeta;
pub use crate::meta::Method;
pub use crate::upload::{FileKind, FileLimits, MultipartFile};
use crate::validate::Invalid;

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
