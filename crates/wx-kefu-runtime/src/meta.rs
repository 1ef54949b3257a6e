//! Static descriptions of endpoints and their fields, emitted from `api-spec/` by the generator.
//!
//! The SDK does not need these to make calls; they exist so that tools built on the SDK
//! (the emulator's request checking, the CLI's arguments and help) read the same spec
//! as the generated calls and cannot drift from them.

/// One endpoint of the API as the spec describes it.
///
/// Generated code builds it with [`EndpointMeta::new`] and the setters, in a `const`;
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

/// new fields may come in any release, so it cannot be built field by field.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
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
    /// Where the command line puts it: `wx-kefu <command> <verb>` (`account`, `list`).
    pub command: &'static str,
    /// See [`EndpointMeta::command`].
    pub verb: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path below the base URL, e.g. `/customservice/kfaccount/add`.
    pub path: &'static str,
    /// Whether repeating the call is harmless (reads), so it may be retried.
    pub idempotent: bool,
    /// An optional field whose presence makes a request of this call harmless to repeat
    /// (a template message's `client_msg_id`: WeChat sends one message per id).
    pub idempotent_when: Option<&'static str>,
    /// The third-party platform's permission sets (权限集) any one of which an account must
    /// have granted a platform for it to make this call on the account's behalf; empty when
    /// the official pages do not say (then nothing is checked before sending).
    pub permission_sets: &'static [u32],
    /// Whether an answer needs `errcode` 0 to be a success because it requires no field of
    /// its own (an acknowledgement): the generator knows it from the answer's type; `None`
    /// (a hand-written endpoint) lets the runtime find out from the type itself.
    pub answer_needs_errcode: Option<bool>,
    /// Whether the call carries `?access_token=` (false only for the token calls).
    pub auth: bool,
    /// Whether the answer is a file, not JSON (a media download; see [`crate::FileAnswer`]).
    pub downloads: bool,
    /// The request's fields, top level, in spec order.
    pub fields: &'static [FieldMeta],
    /// Cross-field rules.
    pub spans: &'static [SpanRule],
    /// Errcodes WeChat answers when a field breaks its rule, by field path.
    pub errcodes: &'static [(&'static str, i64)],
}

impl EndpointMeta {
    /// An endpoint: not idempotent, authenticated, no fields, no summary or group yet.
    pub const fn new(name: &'static str, method: Method, path: &'static str) -> Self {
        EndpointMeta {
            name,
            summary_zh: "",
            summary_en: "",
            doc_url: "",
            group: "",
            command: "",
            verb: "",
            method,
            path,
            idempotent: false,
            idempotent_when: None,
            permission_sets: &[],
            answer_needs_errcode: None,
            auth: true,
            downloads: false,
            fields: &[],
            spans: &[],
            errcodes: &[],
        }
    }

    /// Sets the summaries.
    pub const fn summary(mut self, zh: &'static str, en: &'static str) -> Self {
        self.summary_zh = zh;
        self.summary_en = en;
        self
    }

    /// Sets the official documentation page.
    pub const fn doc_url(mut self, doc_url: &'static str) -> Self {
        self.doc_url = doc_url;
        self
    }

    /// Sets the spec group.
    pub const fn group(mut self, group: &'static str) -> Self {
        self.group = group;
        self
    }

    /// Sets the command-line command and verb.
    pub const fn cli(mut self, command: &'static str, verb: &'static str) -> Self {
        self.command = command;
        self.verb = verb;
        self
    }

    /// Sets whether repeating the call is harmless.
    pub const fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Sets the permission sets any one of which allows a platform the call.
    pub const fn permission_sets(mut self, sets: &'static [u32]) -> Self {
        self.permission_sets = sets;
        self
    }

    /// Sets the field whose presence makes a request harmless to repeat.
    pub const fn idempotent_when(mut self, field: &'static str) -> Self {
        self.idempotent_when = Some(field);
        self
    }

    /// Says whether an answer needs `errcode` 0 to be a success (it requires no field of
    /// its own).
    pub const fn answer_needs_errcode(mut self, needs: bool) -> Self {
        self.answer_needs_errcode = Some(needs);
        self
    }

    /// Sets whether the call carries the access token.
    pub const fn auth(mut self, auth: bool) -> Self {
        self.auth = auth;
        self
    }

    /// Marks an endpoint whose answer is a file.
    pub const fn downloads(mut self, downloads: bool) -> Self {
        self.downloads = downloads;
        self
    }

    /// Sets the request's fields.
    pub const fn fields(mut self, fields: &'static [FieldMeta]) -> Self {
        self.fields = fields;
        self
    }

    /// Sets the cross-field rules.
    pub const fn spans(mut self, spans: &'static [SpanRule]) -> Self {
        self.spans = spans;
        self
    }

    /// Sets the errcodes of broken field rules.
    pub const fn errcodes(mut self, errcodes: &'static [(&'static str, i64)]) -> Self {
        self.errcodes = errcodes;
        self
    }

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
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
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
    /// The rules in words, exactly as the call's documentation says them (`1–16
    /// characters`, a pattern's hint rather than its regex); empty without rules.
    pub limits: &'static str,
    /// The English description from the spec.
    pub doc: &'static str,
    /// A secret (an app secret, a ticket, a refresh token): tools never show its value.
    pub sensitive: bool,
}

impl FieldMeta {
    /// A required field in the JSON body, named the same in Rust, without rules.
    pub const fn new(wire: &'static str, ty: FieldType) -> Self {
        FieldMeta {
            wire,
            rust: wire,
            location: Location::Body,
            ty,
            required: true,
            rules: Rules::NONE,
            limits: "",
            doc: "",
            sensitive: false,
        }
    }

    /// Marks the field a secret: tools never show its value.
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Sets the Rust name.
    pub const fn rust(mut self, rust: &'static str) -> Self {
        self.rust = rust;
        self
    }

    /// Sets where the field travels.
    pub const fn location(mut self, location: Location) -> Self {
        self.location = location;
        self
    }

    /// Sets whether the field must be present.
    pub const fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Sets the rules.
    pub const fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Sets the rules in words.
    pub const fn limits(mut self, limits: &'static str) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the description.
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
}

/// The validation rules of one field; unset rules are `None`. Built from [`Rules::NONE`]
/// with the setters.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
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

    /// Sets the fewest characters.
    pub const fn min_chars(mut self, n: u32) -> Self {
        self.min_chars = Some(n);
        self
    }

    /// Sets the most characters.
    pub const fn max_chars(mut self, n: u32) -> Self {
        self.max_chars = Some(n);
        self
    }

    /// Sets the pattern.
    pub const fn pattern(mut self, pattern: &'static str) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// Sets the smallest integer.
    pub const fn min(mut self, n: i64) -> Self {
        self.min = Some(n);
        self
    }

    /// Sets the largest integer.
    pub const fn max(mut self, n: i64) -> Self {
        self.max = Some(n);
        self
    }

    /// Sets the fewest items.
    pub const fn min_items(mut self, n: u32) -> Self {
        self.min_items = Some(n);
        self
    }

    /// Sets the most items.
    pub const fn max_items(mut self, n: u32) -> Self {
        self.max_items = Some(n);
        self
    }

    /// Sets the largest file.
    pub const fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = Some(n);
        self
    }
}

/// A cross-field rule: `0 <= end - start <= max`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SpanRule {
    /// The wire name of the start field.
    pub start: &'static str,
    /// The wire name of the end field.
    pub end: &'static str,
    /// The largest allowed difference.
    pub max: i64,
}

impl SpanRule {
    /// A rule `0 <= end - start <= max`.
    pub const fn new(start: &'static str, end: &'static str, max: i64) -> Self {
        SpanRule { start, end, max }
    }
}
