//! Static descriptions of endpoints and their fields, emitted from `api-spec/` by the generator.
//!
//! The SDK does not need these to make calls; they exist so that tools built on the SDK
//! (the emulator's request checking, the CLI's arguments and help) read the same spec
//! as the generated calls and cannot drift from them.

use crate::endpoint::Method;

/// One endpoint of the API as the spec describes it.
#[derive(Debug)]
pub struct EndpointMeta {
    /// The Rust name of the call, e.g. `add_kf_account`.
    pub name: &'static str,
    /// The summary in Chinese, as on WeChat's page.
    pub summary_zh: &'static str,
    /// The summary in English.
    pub summary_en: &'static str,
    /// The official documentation page.
    pub doc_url: &'static str,
    /// The spec group (file) the endpoint belongs to, e.g. `accounts`.
    pub group: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path below the base URL, e.g. `/customservice/kfaccount/add`.
    pub path: &'static str,
    /// Whether repeating the call is harmless (reads), so it may be retried.
    pub idempotent: bool,
    /// Whether the call carries `?access_token=` (false only for the token calls).
    pub auth: bool,
    /// The request's fields, top level, in spec order.
    pub fields: &'static [FieldMeta],
    /// Cross-field rules.
    pub spans: &'static [SpanRule],
    /// Errcodes WeChat answers when a field breaks its rule, by field path.
    pub errcodes: &'static [(&'static str, i64)],
}

impl EndpointMeta {
    /// The field with this wire name, if any.
    pub fn field(&self, wire: &str) -> Option<&'static FieldMeta> {
        self.fields.iter().find(|f| f.wire == wire)
    }

    /// The errcode WeChat answers when the field at `path` breaks its rule.
    pub fn errcode_for(&self, path: &str) -> Option<i64> {
        self.errcodes
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, c)| *c)
    }
}

/// A group of endpoints (one spec file), e.g. `accounts`, with its title.
#[derive(Debug)]
#[non_exhaustive]
pub struct GroupMeta {
    /// The spec group, as in [`EndpointMeta::group`].
    pub name: &'static str,
    /// The title in Chinese, e.g. `客服管理`.
    pub title_zh: &'static str,
    /// The title in English, e.g. `Agent accounts`.
    pub title_en: &'static str,
}

impl GroupMeta {
    /// A group; used by generated code.
    pub const fn new(name: &'static str, title_zh: &'static str, title_en: &'static str) -> Self {
        GroupMeta {
            name,
            title_zh,
            title_en,
        }
    }
}

/// Where a request field travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the query string.
    Query,
    /// In the JSON body.
    Body,
    /// In the JSON body and, with the same value, in the query string.
    BodyAndQuery,
    /// As a file in a `multipart/form-data` body.
    Multipart,
}

/// The wire type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A JSON integer.
    Integer,
    /// A JSON boolean.
    Bool,
    /// A string or a number, decoded as a string.
    StringOrNumber,
    /// One of fixed string values.
    Enum(&'static [&'static str]),
    /// An object with fields of its own.
    Object,
    /// An array.
    Array,
    /// A union tagged by a sibling field; the payload sits under the tag's name.
    Union {
        /// The tag field's wire name, e.g. `msgtype`.
        tag: &'static str,
        /// The accepted tag values.
        variants: &'static [&'static str],
    },
    /// A file upload.
    File,
}

/// One request field.
#[derive(Debug)]
pub struct FieldMeta {
    /// The name on the wire.
    pub wire: &'static str,
    /// The Rust name (differs for keywords and flattened unions).
    pub rust: &'static str,
    /// Where the field travels.
    pub location: Location,
    /// The wire type.
    pub ty: FieldType,
    /// Whether the field must be present.
    pub required: bool,
    /// The validation rules of the field.
    pub rules: Rules,
    /// The English description from the spec.
    pub doc: &'static str,
}

/// The validation rules of one field; unset rules are `None`.
#[derive(Debug, Default)]
pub struct Rules {
    /// Fewest characters (Unicode scalar values, not bytes).
    pub min_chars: Option<u32>,
    /// Most characters.
    pub max_chars: Option<u32>,
    /// A regular expression the whole value must match (the spec's source text).
    pub pattern: Option<&'static str>,
    /// Smallest integer.
    pub min: Option<i64>,
    /// Largest integer.
    pub max: Option<i64>,
    /// Fewest array items.
    pub min_items: Option<u32>,
    /// Most array items.
    pub max_items: Option<u32>,
    /// Largest file in bytes.
    pub max_bytes: Option<u64>,
}

impl Rules {
    /// No rules at all.
    pub const NONE: Rules = Rules {
        min_chars: None,
        max_chars: None,
        pattern: None,
        min: None,
        max: None,
        min_items: None,
        max_items: None,
        max_bytes: None,
    };
}

/// A cross-field rule: `0 <= end - start <= max`.
#[derive(Debug)]
pub struct SpanRule {
    /// The wire name of the start field.
    pub start: &'static str,
    /// The wire name of the end field.
    pub end: &'static str,
    /// The largest allowed difference.
    pub max: i64,
}
