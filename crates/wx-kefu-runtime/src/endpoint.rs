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

    /// The values of the request's sensitive fields (an app secret handed to a token
    /// call), which no error of the call may quote: they are redacted like the client's
    /// own secret and token. Empty by default.
    fn sensitive(&self) -> Vec<&str> {
        Vec::new()
    }
}

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

/// A file sent as one field of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct MultipartFile {
    /// The form field name (WeChat's avatar upload uses `media`).
    pub field: &'static str,
    /// The file itself.
    pub file: Upload,
    /// The largest accepted size in bytes.
    pub max_bytes: u64,
    /// The accepted kind of file, checked by magic bytes before sending.
    pub kind: FileKind,
}

/// A kind of file recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A JPEG image (`FF D8 FF`).
    Jpeg,
    /// Any file.
    Any,
}

impl FileKind {
    /// Whether `head` (the first bytes of a file) matches this kind.
    pub fn matches(self, head: &[u8]) -> bool {
        match self {
            FileKind::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            FileKind::Any => true,
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            FileKind::Jpeg => "JPEG",
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
