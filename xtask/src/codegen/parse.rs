//! YAML → a serde mirror of the spec files. Unknown keys are rejected; order is kept.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// One file of `api-spec/`.
#[derive(Debug)]
pub struct SpecFile {
    /// The group (Rust module) of the endpoints in this file.
    pub group: Option<String>,
    pub title: Option<Text>,
    /// The command-line command of the file's endpoints (`wx-kefu account …`); default
    /// the group in kebab case.
    pub command: Option<String>,
    /// The third-party platform's permission sets (权限集) any one of which lets a platform
    /// make the file's calls for an account, when the official pages say.
    pub permission_sets: Option<Vec<i64>>,
    pub endpoints: Vec<EndpointDef>,
    pub types: OrderedMap<TypeDef>,
    pub errors: Vec<ErrorDef>,
    /// What users send, pushed to the account's server (`MsgType` other than `event`).
    pub user_messages: Vec<PushDef>,
    /// Events pushed to the account's server (`MsgType=event`, told apart by `Event`).
    pub events: Vec<PushDef>,
}

/// A file's top level, each entry of its lists kept unread with where it starts: the
/// entries are then read one by one, so one file reports every broken entry, not only
/// the first.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outline {
    group: Option<String>,
    title: Option<Text>,
    command: Option<String>,
    permission_sets: Option<Vec<i64>>,
    #[serde(default)]
    endpoints: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    types: OrderedMap<Spanned<IgnoredAny>>,
    #[serde(default)]
    errors: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    user_messages: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    events: Vec<Spanned<IgnoredAny>>,
}

impl SpecFile {
    /// Whether the file describes pushes (it then describes nothing else).
    pub fn has_pushes(&self) -> bool {
        !self.user_messages.is_empty() || !self.events.is_empty()
    }
}

/// One kind of push: a user message (by `MsgType`) or an event (by `Event`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushDef {
    /// snake_case; the Rust names derive from it (`kf_create_session` → `KfCreateSessionEvent`).
    pub name: String,
    /// The value of `MsgType` or `Event` when it is not `name` (`SCAN`).
    pub wire: Option<String>,
    pub summary: Text,
    pub doc: String,
    #[serde(default)]
    pub notes: Vec<String>,
    /// The push's own fields by XML element name, beyond those every push has.
    #[serde(default)]
    pub fields: OrderedMap<PushFieldDef>,
}

/// A field of a push: its key is the XML element name (`Content`, `Location_X`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushFieldDef {
    /// `string`, `integer`, `float`, or an alias of `string` or `integer`.
    #[serde(rename = "type")]
    pub ty: String,
    pub required: Option<bool>,
    pub doc: Option<Text>,
    pub example: Option<PushScalar>,
}

/// An example value of a push field.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PushScalar {
    Int(i64),
    Float(f64),
    Str(String),
}

/// A text in Chinese and English.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDef {
    pub name: String,
    pub summary: Text,
    pub doc: String,
    pub method: HttpMethod,
    pub path: String,
    pub idempotent: bool,
    /// An optional body field whose presence makes the call safe to repeat (WeChat sends
    /// one message per id: a template's `client_msg_id`).
    pub idempotent_when: Option<String>,
    /// The command-line command, when not the file's (`template`).
    pub command: Option<String>,
    /// The command-line verb (`wx-kefu account list`); default the name in kebab case.
    pub verb: Option<String>,
    /// The permission sets of this call, when not the file's (`[]`: none is known).
    pub permission_sets: Option<Vec<i64>>,
    #[serde(default = "yes")]
    pub auth: bool,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub query: OrderedMap<FieldDef>,
    #[serde(default)]
    pub body: OrderedMap<FieldDef>,
    #[serde(default)]
    pub multipart: OrderedMap<FieldDef>,
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    pub response: ResponseDef,
    #[serde(default)]
    pub errors: Vec<i64>,
    pub example: Option<String>,
}

fn yes() -> bool {
    true
}

/// `ack`, the name of a struct type, an inline struct, or a file (`download:`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ResponseDef {
    Named(String),
    Inline(InlineResponse),
    Download(DownloadResponse),
}

/// An answer that is a file; `download` names the struct of the JSON answer WeChat gives
/// instead of a file where it has one (a video's address).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadResponse {
    pub download: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineResponse {
    pub name: Option<String>,
    pub fields: OrderedMap<FieldDef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    #[serde(rename = "type")]
    pub ty: String,
    pub items: Option<String>,
    pub required: Option<bool>,
    pub doc: Option<Text>,
    pub min_chars: Option<u32>,
    pub max_chars: Option<u32>,
    pub pattern: Option<String>,
    pub hint: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub min_items: Option<u32>,
    pub max_items: Option<u32>,
    pub max_bytes: Option<u64>,
    pub file_kind: Option<Vec<FileKind>>,
    pub errcode: Option<i64>,
    /// A file's errcode for being too large, when it is not `errcode`.
    pub size_errcode: Option<i64>,
    /// A string's errcode for being empty, when it is not `errcode` (which is then the
    /// other rules', such as "too long").
    pub empty_errcode: Option<i64>,
    /// An errcode per rule of this field, where WeChat answers one rule differently from
    /// the others: `{ max_chars: 45002, pattern: 40003 }` (keys: the rules' own names).
    #[serde(default)]
    pub rule_errcodes: OrderedMap<i64>,
    /// A file's limits depend on this query field (an enum): `limits` gives them per value.
    pub limits_by: Option<String>,
    #[serde(default)]
    pub limits: OrderedMap<FileLimitDef>,
    /// An optional field required when another field (a closed enum) has a value:
    /// `{ type: video }`.
    #[serde(default)]
    pub required_when: OrderedMap<String>,
    /// Other names the field has on the wire (answers only).
    #[serde(default)]
    pub alias: Vec<String>,
    pub example: Option<Scalar>,
    #[serde(default)]
    pub also_in_query: bool,
    #[serde(default)]
    pub flatten: bool,
    #[serde(default)]
    pub sensitive: bool,
    /// A map's rule for each entry's `value`, by the kind of its key (the key less its
    /// trailing digits: `thing1` → `thing`).
    #[serde(default)]
    pub key_rules: OrderedMap<KeyRuleDef>,
}

/// The rule of a map entry's `value` for one kind of key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRuleDef {
    pub max_chars: Option<u32>,
    pub pattern: Option<String>,
    pub hint: Option<String>,
}

/// An endpoint's HTTP method. Anything else is a parse error naming the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits of a file for one value of its `limits_by` field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimitDef {
    pub max_bytes: u64,
    pub file_kind: Vec<FileKind>,
}

/// A file field's kind, checked by its first bytes, or not at all (`any`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Jpeg,
    Png,
    Gif,
    Bmp,
    Amr,
    Mp3,
    Wav,
    Wma,
    Mp4,
    Any,
}

impl FileKind {
    /// The runtime's variant name and the kind in words.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            FileKind::Jpeg => ("Jpeg", "JPEG"),
            FileKind::Png => ("Png", "PNG"),
            FileKind::Gif => ("Gif", "GIF"),
            FileKind::Bmp => ("Bmp", "BMP"),
            FileKind::Amr => ("Amr", "AMR"),
            FileKind::Mp3 => ("Mp3", "MP3"),
            FileKind::Wav => ("Wav", "WAV"),
            FileKind::Wma => ("Wma", "WMA"),
            FileKind::Mp4 => ("Mp4", "MP4"),
            FileKind::Any => ("Any", "any"),
        }
    }
}

/// The kind of a named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeKind {
    Alias,
    Struct,
    Enum,
    OpenEnum,
    Union,
}

/// How an open enum travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repr {
    Integer,
    String,
}

/// An example value.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Str(String),
}

/// A named type, typed by its `kind`: each kind has the keys that apply to it and no
/// other, so the parser refuses a key of another kind at its line.
#[derive(Debug)]
pub enum TypeDef {
    Alias(AliasDef),
    Struct(StructDef),
    Enum(EnumDef),
    OpenEnum(OpenEnumDef),
    Union(UnionDef),
}

impl TypeDef {
    pub fn kind(&self) -> TypeKind {
        match self {
            TypeDef::Alias(_) => TypeKind::Alias,
            TypeDef::Struct(_) => TypeKind::Struct,
            TypeDef::Enum(_) => TypeKind::Enum,
            TypeDef::OpenEnum(_) => TypeKind::OpenEnum,
            TypeDef::Union(_) => TypeKind::Union,
        }
    }

    pub fn doc(&self) -> Option<&Text> {
        match self {
            TypeDef::Alias(def) => def.doc.as_ref(),
            TypeDef::Struct(def) => def.doc.as_ref(),
            TypeDef::Enum(def) => def.doc.as_ref(),
            TypeDef::OpenEnum(def) => def.doc.as_ref(),
            TypeDef::Union(def) => def.doc.as_ref(),
        }
    }

    /// The errcode WeChat answers for a bad value of this type, where the spec gives one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            TypeDef::Alias(def) => def.errcode,
            TypeDef::Struct(def) => def.errcode,
            TypeDef::Enum(def) => def.errcode,
            TypeDef::OpenEnum(def) => def.errcode,
            TypeDef::Union(def) => def.errcode,
        }
    }

    pub fn as_alias(&self) -> Option<&AliasDef> {
        match self {
            TypeDef::Alias(def) => Some(def),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&StructDef> {
        match self {
            TypeDef::Struct(def) => Some(def),
            _ => None,
        }
    }

    pub fn as_union(&self) -> Option<&UnionDef> {
        match self {
            TypeDef::Union(def) => Some(def),
            _ => None,
        }
    }
}

/// Only a type's `kind`, read first to choose the shape of the rest.
#[derive(Deserialize)]
struct KindOf {
    kind: TypeKind,
}

/// `kind: alias`: a string or integer with rules of its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasDef {
    #[serde(rename = "kind")]
    _kind: TypeKind,
    pub doc: Option<Text>,
    /// `string` or `integer`.
    #[serde(rename = "type")]
    pub ty: String,
    pub pattern: Option<String>,
    pub hint: Option<String>,
    pub min_chars: Option<u32>,
    pub max_chars: Option<u32>,
    pub errcode: Option<i64>,
    pub example: Option<Scalar>,
}

/// `kind: struct`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructDef {
    #[serde(rename = "kind")]
    _kind: TypeKind,
    pub doc: Option<Text>,
    pub errcode: Option<i64>,
    #[serde(default)]
    pub fields: OrderedMap<FieldDef>,
}

/// `kind: enum`: a closed set of strings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumDef {
    #[serde(rename = "kind")]
    _kind: TypeKind,
    pub doc: Option<Text>,
    pub errcode: Option<i64>,
    pub values: OrderedMap<EnumValueDef>,
}

/// `kind: open_enum`: known values, and any other kept as it came.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenEnumDef {
    #[serde(rename = "kind")]
    _kind: TypeKind,
    pub doc: Option<Text>,
    pub errcode: Option<i64>,
    /// How the value travels: `integer` or `string`.
    pub repr: Repr,
    pub values: OrderedMap<EnumValueDef>,
}

/// `kind: union`: one of several structs, named by the `tag` field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnionDef {
    #[serde(rename = "kind")]
    _kind: TypeKind,
    pub doc: Option<Text>,
    pub errcode: Option<i64>,
    /// The field naming the case.
    pub tag: String,
    pub variants: OrderedMap<VariantDef>,
    /// Tags that WeChat knows but refuses here, with the errcode it answers.
    #[serde(default)]
    pub refused: OrderedMap<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumValueDef {
    /// The wire value: an integer for `repr: integer`; for string enums the key itself
    /// unless a string is given here (then the key is only the Rust name).
    pub value: Option<Scalar>,
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantDef {
    #[serde(rename = "type")]
    pub ty: String,
    pub doc: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub span: SpanDef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanDef {
    pub start: String,
    pub end: String,
    pub max: i64,
    pub errcode: Option<i64>,
    /// The errcode for an end before the start, when it is not `errcode` (which is then
    /// the one for too wide a span).
    pub order_errcode: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDef {
    pub code: i64,
    pub name: String,
    pub zh: String,
    pub en: String,
    #[serde(default)]
    pub flags: Vec<String>,
    pub fix: Option<String>,
}

/// A YAML mapping that keeps document order (the parser itself refuses a duplicate key,
/// naming the file and the line).
#[derive(Debug, Clone)]
pub struct OrderedMap<T> {
    pub entries: Vec<(String, T)>,
}

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
        }
    }
}

impl<T> OrderedMap<T> {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    entries.push((k, v));
                }
                Ok(OrderedMap { entries })
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap::default())
            }
        }
        deserializer.deserialize_map(V(PhantomData))
    }
}

/// Parses one file; every error names the file and, where the parser knows it, the line.
/// A file whose outline does not parse (broken YAML, an unknown top-level key) gives that
/// one error; otherwise every entry that does not parse gives its own.
pub fn parse_file(file: &str, text: &str) -> Result<SpecFile, Vec<String>> {
    let outline: Outline = serde_saphyr::from_str(text).map_err(|e| vec![message(file, &e)])?;
    let mut entries = Entries {
        file,
        text,
        problems: Vec::new(),
    };
    let endpoints = entries.read_all(&outline.endpoints);
    let errors = entries.read_all(&outline.errors);
    let user_messages = entries.read_all(&outline.user_messages);
    let events = entries.read_all(&outline.events);
    let types = OrderedMap {
        entries: outline
            .types
            .entries
            .iter()
            .filter_map(|(name, at)| entries.type_def(at).map(|def| (name.clone(), def)))
            .collect(),
    };
    match entries.problems.is_empty() {
        true => Ok(SpecFile {
            group: outline.group,
            title: outline.title,
            command: outline.command,
            permission_sets: outline.permission_sets,
            endpoints,
            types,
            errors,
            user_messages,
            events,
        }),
        false => {
            // In the file's order, whatever section each came from.
            entries.problems.sort_by_key(|(line, _)| *line);
            Err(entries
                .problems
                .into_iter()
                .map(|(_, problem)| problem)
                .collect())
        }
    }
}

/// The parser's message, naming `file` (the parser names its source `<input>`).
fn message(file: &str, error: &serde_saphyr::Error) -> String {
    format!("{file}: {}", error.to_string().replace("<input>", file))
}

/// Reads a file's entries one at a time, keeping every problem.
struct Entries<'a> {
    file: &'a str,
    text: &'a str,
    /// Each problem with the line it is on (0 when the parser gave none).
    problems: Vec<(u64, String)>,
}

impl Entries<'_> {
    /// Every entry that parses; a problem for each that does not.
    fn read_all<T: DeserializeOwned>(&mut self, all: &[Spanned<IgnoredAny>]) -> Vec<T> {
        all.iter().filter_map(|at| self.read(at)).collect()
    }

    fn read<T: DeserializeOwned>(&mut self, at: &Spanned<IgnoredAny>) -> Option<T> {
        let text = self.alone(at);
        match serde_saphyr::from_str(&text) {
            Ok(value) => Some(value),
            Err(error) => {
                let line = error.location().map_or(0, |at| at.line());
                self.problems.push((line, message(self.file, &error)));
                None
            }
        }
    }

    /// A type: its `kind` first, then the keys of that kind.
    fn type_def(&mut self, at: &Spanned<IgnoredAny>) -> Option<TypeDef> {
        let KindOf { kind } = self.read(at)?;
        Some(match kind {
            TypeKind::Alias => TypeDef::Alias(self.read(at)?),
            TypeKind::Struct => TypeDef::Struct(self.read(at)?),
            TypeKind::Enum => TypeDef::Enum(self.read(at)?),
            TypeKind::OpenEnum => TypeDef::OpenEnum(self.read(at)?),
            TypeKind::Union => TypeDef::Union(self.read(at)?),
        })
    }

    /// The entry at `at` as a document of its own that keeps its lines where they are:
    /// the lines before it left empty, its first line's lead-in (`- `, `key: `) turned
    /// into spaces, and its lines up to the first one indented less than it (blank and
    /// comment lines aside). The parser's lines and snippets are then the file's.
    fn alone(&self, at: &Spanned<IgnoredAny>) -> String {
        let location = at.referenced;
        let (Some(offset), Ok(line)) = (
            location.span().byte_offset(),
            usize::try_from(location.line()),
        ) else {
            return String::new();
        };
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |at| at + 1);
        let lead = self.text[line_start..offset].chars().count();
        let mut alone = "\n".repeat(line.saturating_sub(1));
        alone.push_str(&" ".repeat(lead));
        let mut lines = self.text[offset..].split_inclusive('\n');
        alone.push_str(lines.next().unwrap_or_default());
        for next in lines {
            let trimmed = next.trim_start_matches(' ');
            let inside = trimmed.trim().is_empty()
                || trimmed.starts_with('#')
                || next.len() - trimmed.len() >= lead;
            if !inside {
                break;
            }
            alone.push_str(next);
        }
        alone
    }
}
