//! The lowered model: what the emitters need, with Rust names computed and wire names kept.
//! Built only from a validated spec.

use std::collections::BTreeSet;

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

use super::parse::{
    EndpointDef, FieldDef, PushDef, PushScalar, Repr, ResponseDef, Scalar, SpecFile, Text, TypeDef,
    UnionDef,
};
pub use super::parse::{FileKind, HttpMethod};
use super::validate::TypeTable;

pub struct Model {
    pub modules: Vec<Module>,
    pub errors: Vec<ErrorCode>,
    /// One per spec file with pushes, for the inbound crate.
    pub pushes: Vec<PushModule>,
}

/// The pushes of one spec file: a module of the inbound crate.
pub struct PushModule {
    /// The Rust module name (the file's stem).
    pub name: String,
    pub file: String,
    pub title: Option<Text>,
    pub messages: Vec<PushKind>,
    pub events: Vec<PushKind>,
}

/// One kind of push.
pub struct PushKind {
    /// The value of `MsgType` (messages) or `Event` (events).
    pub wire: String,
    /// The variant of `UserMessage` or `Event` (`KfCreateSession`).
    pub variant: String,
    /// The struct (`KfCreateSessionEvent`).
    pub ident: String,
    pub summary: Text,
    pub doc_url: String,
    pub notes: Vec<String>,
    pub fields: Vec<PushField>,
}

pub struct PushField {
    /// The XML element name.
    pub wire: String,
    /// The Rust field name.
    pub rust: String,
    pub ty: PushType,
    pub required: bool,
    pub doc: Option<Text>,
    /// The value in the generated sample push.
    pub example: String,
}

#[derive(Clone, Copy, PartialEq)]
pub enum PushType {
    String,
    Integer,
    Float,
}

pub struct Module {
    /// The Rust module name (the file's stem).
    pub name: String,
    pub file: String,
    pub title: Option<Text>,
    pub endpoints: Vec<Endpoint>,
    pub types: Vec<TypeModel>,
    pub patterns: Vec<PatternDef>,
}

pub struct PatternDef {
    pub ident: String,
    pub source: String,
    pub hint: String,
    pub doc: String,
}

pub struct Endpoint {
    pub name: String,
    pub ident: String,
    pub summary: Text,
    pub doc_url: String,
    pub method: HttpMethod,
    pub path: String,
    pub idempotent: bool,
    /// The optional body field whose presence makes the call safe to repeat.
    pub idempotent_when: Option<String>,
    /// Where the command line puts it: `wx-kefu <command> <verb>`.
    pub command: String,
    pub verb: String,
    /// The platform's permission sets any one of which allows the call (empty: unknown).
    pub permission_sets: Vec<u32>,
    pub auth: bool,
    pub notes: Vec<String>,
    pub request: Struct,
    pub spans: Vec<Span>,
    pub response: Response,
    pub errors: Vec<i64>,
    pub example: Option<String>,
}

pub struct Span {
    pub start: String,
    pub end: String,
    pub max: i64,
    pub errcode: Option<i64>,
    /// The errcode for an end before the start, when it is not `errcode`.
    pub order_errcode: Option<i64>,
}

pub enum Response {
    Ack,
    Type(TypeRef),
    /// A file; the type is the JSON answer WeChat gives instead of one.
    Download(TypeRef),
}

pub enum TypeModel {
    Struct(Struct),
    Enum(Enum),
    Union(Union),
}

#[derive(Clone)]
pub struct Struct {
    pub ident: String,
    pub doc: Vec<String>,
    pub fields: Vec<Field>,
    /// Sent in a request, so it gets `Validate`.
    pub request: bool,
    /// An endpoint's whole answer: its required arrays must be present (an answer
    /// without them is not this endpoint's answer), where nested ones may be left out.
    pub answer: bool,
}

impl Struct {
    pub fn has_file(&self) -> bool {
        self.fields.iter().any(|f| matches!(f.ty, TypeRef::File))
    }
}

pub struct Enum {
    pub ident: String,
    pub doc: Vec<String>,
    pub kind: EnumKind,
    pub values: Vec<EnumValue>,
}

/// What an enum does with a value it does not know, and how its values travel.
#[derive(Clone, Copy, PartialEq)]
pub enum EnumKind {
    /// A closed enum of strings: an unknown value is a decode error.
    Closed,
    /// Strings on the wire; an unknown one is kept as `Unknown(String)`.
    OpenString,
    /// Integers on the wire; an unknown one is kept as `Unknown(i64)`.
    OpenInteger,
}

pub struct EnumValue {
    pub ident: String,
    pub wire: String,
    pub number: Option<i64>,
    pub doc: Text,
}

pub struct Union {
    pub ident: String,
    pub doc: Vec<String>,
    pub tag: String,
    pub variants: Vec<Variant>,
    pub request: bool,
    /// What WeChat answers a tag that names no variant.
    pub errcode: Option<i64>,
    /// Tags WeChat knows but refuses here, with their errcodes.
    pub refused: Vec<RefusedTag>,
}

/// A union's tag that WeChat knows but refuses here.
pub struct RefusedTag {
    pub tag: String,
    pub errcode: i64,
}

pub struct Variant {
    pub wire: String,
    pub ident: String,
    pub ty: TypeRef,
    pub doc: Option<Text>,
}

#[derive(Clone, PartialEq)]
pub enum TypeRef {
    String,
    Integer,
    Bool,
    StringOrNumber,
    File,
    Array(Box<TypeRef>),
    /// A JSON object from string keys to values of one type.
    Map(Box<TypeRef>),
    Named {
        module: String,
        ident: String,
        kind: Kind,
    },
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Struct,
    Enum,
    OpenEnum,
    Union,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Location {
    Query,
    Body,
    BodyAndQuery,
    Multipart,
}

#[derive(Clone)]
pub struct Field {
    pub wire: String,
    pub ty: TypeRef,
    pub location: Location,
    pub required: bool,
    pub doc: Option<Text>,
    pub rules: Rules,
    pub errcode: Option<i64>,
    /// The errcode for an empty string, when it is not `errcode`.
    pub empty_errcode: Option<i64>,
    /// An errcode per rule (`max_chars`, `pattern` …), where one differs from `errcode`.
    pub rule_errcodes: Vec<(String, i64)>,
    pub example: Option<Scalar>,
    pub flatten: bool,
    pub sensitive: bool,
    /// The values of a closed enum field, for the metadata.
    pub enum_values: Vec<String>,
    /// Tag and variant names of a union field, for the metadata.
    pub union: Option<UnionShape>,
    /// Other wire names of an answer's field.
    pub alias: Vec<String>,
    /// A file's limits.
    pub file: Option<FileRules>,
    /// Required when this enum field has this value.
    pub required_when: Option<RequiredWhen>,
    /// A map's rules for its entries' `value`, by the kind of their key.
    pub key_rules: Vec<KeyRule>,
}

/// A union field's tag and the tags of its variants, for the metadata.
#[derive(Clone, Default)]
pub struct UnionShape {
    pub tag: String,
    pub variants: Vec<String>,
}

/// An optional field required when an enum field of the request has one value.
#[derive(Clone)]
pub struct RequiredWhen {
    /// The enum field, and its type.
    pub field: String,
    pub ty: TypeRef,
    /// The value, as the enum's variant and on the wire.
    pub value: EnumCase,
}

/// One value of an enum: its Rust variant and its wire form.
#[derive(Clone)]
pub struct EnumCase {
    pub variant: String,
    pub wire: String,
}

/// A pattern a field follows: the static of the module that holds it, its source and hint.
#[derive(Clone)]
pub struct PatternRef {
    pub module: String,
    pub ident: String,
    pub source: String,
    pub hint: String,
}

/// The rule of a map entry's `value` for keys of one kind (`thing1`, `thing2` → `thing`).
#[derive(Clone)]
pub struct KeyRule {
    pub kind: String,
    pub max_chars: Option<u32>,
    pub pattern: Option<PatternRef>,
    /// The rule in words, for the doc comment.
    pub words: String,
}

/// What a file may be: one set of limits, or one per value of an enum field.
#[derive(Clone)]
pub struct FileRules {
    /// The errcode for a file too large, when it is not the field's.
    pub size_errcode: Option<i64>,
    /// The enum field the limits depend on: its wire name and type.
    pub by: Option<LimitsBy>,
    /// (the enum value's Rust variant, the value on the wire, max bytes, kinds); one
    /// entry with no variant when the limits do not depend on a field.
    pub limits: Vec<FileLimit>,
}

/// The enum field a file's limits depend on.
#[derive(Clone)]
pub struct LimitsBy {
    pub field: String,
    pub ty: TypeRef,
}

#[derive(Clone)]
pub struct FileLimit {
    /// The value of the `by` field these limits are for (none when they do not depend).
    pub variant: Option<EnumCase>,
    pub max_bytes: u64,
    pub kinds: Vec<FileKind>,
}

impl FileLimit {
    /// The kinds in words: `JPEG, PNG or GIF`.
    pub fn expected(&self) -> String {
        let names: Vec<&str> = self.kinds.iter().map(|k| k.names().1).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => "any".to_owned(),
        }
    }
}

#[derive(Clone, Default)]
pub struct Rules {
    pub min_chars: Option<u32>,
    pub max_chars: Option<u32>,
    pub pattern: Option<PatternRef>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub min_items: Option<u32>,
    pub max_items: Option<u32>,
    pub max_bytes: Option<u64>,
    pub file_kind: Option<Vec<FileKind>>,
}

impl Rules {
    /// Whether no rule is set: the field is checked for its type alone.
    pub fn is_empty(&self) -> bool {
        let Rules {
            min_chars,
            max_chars,
            pattern,
            min,
            max,
            min_items,
            max_items,
            max_bytes,
            file_kind,
        } = self;
        min_chars.is_none()
            && max_chars.is_none()
            && pattern.is_none()
            && min.is_none()
            && max.is_none()
            && min_items.is_none()
            && max_items.is_none()
            && max_bytes.is_none()
            && file_kind.is_none()
    }
}

pub struct ErrorCode {
    pub code: i64,
    pub ident: String,
    pub zh: String,
    pub en: String,
    pub flags: Vec<String>,
    pub fix: Option<String>,
}

fn module_of(file: &str) -> String {
    file.trim_start_matches("api-spec/")
        .trim_end_matches(".yaml")
        .to_owned()
}

fn doc_lines(doc: &Option<Text>) -> Vec<String> {
    match doc {
        Some(t) => vec![t.zh.clone(), String::new(), t.en.clone()],
        None => Vec::new(),
    }
}

struct Lower<'a> {
    types: &'a TypeTable<'a>,
    request_types: BTreeSet<String>,
}

impl Lower<'_> {
    fn type_ref(&self, ty: &str, items: Option<&str>) -> TypeRef {
        match ty {
            "string" => TypeRef::String,
            "integer" => TypeRef::Integer,
            "bool" => TypeRef::Bool,
            "string_or_number" => TypeRef::StringOrNumber,
            "file" => TypeRef::File,
            // `validate` has refused what these `expect`s name: the model never guesses.
            "array" => TypeRef::Array(Box::new(
                self.type_ref(items.expect("validated: an array names its items"), None),
            )),
            "map" => TypeRef::Map(Box::new(
                self.type_ref(items.expect("validated: a map names its items"), None),
            )),
            named => match self.types.get(named) {
                Some((file, def)) => {
                    let kind = match def {
                        TypeDef::Alias(alias) => return self.type_ref(&alias.ty, None),
                        TypeDef::Struct(_) => Kind::Struct,
                        TypeDef::Enum(_) => Kind::Enum,
                        TypeDef::OpenEnum(_) => Kind::OpenEnum,
                        TypeDef::Union(_) => Kind::Union,
                    };
                    TypeRef::Named {
                        module: module_of(file),
                        ident: named.to_upper_camel_case(),
                        kind,
                    }
                }
                None => panic!("validated: `{named}` is a primitive or a named type"),
            },
        }
    }

    /// Lowers a field; an alias lends its rules, doc, errcode and example where the field has none.
    fn field(
        &self,
        module: &str,
        owner: &str,
        wire: &str,
        f: &FieldDef,
        location: Location,
        patterns: &mut Vec<PatternDef>,
    ) -> Field {
        let alias = self
            .types
            .get(f.ty.as_str())
            .and_then(|(file, d)| d.as_alias().map(|d| (*file, d)));
        let named = self.types.get(f.ty.as_str()).map(|(_, d)| *d);
        let pattern = if let Some(source) = &f.pattern {
            let ident = format!(
                "{}_{}_PATTERN",
                owner.to_shouty_snake_case(),
                wire.to_shouty_snake_case()
            );
            let hint = f.hint.clone().unwrap_or_default();
            patterns.push(PatternDef {
                ident: ident.clone(),
                source: source.clone(),
                hint: hint.clone(),
                doc: format!("The pattern of `{wire}` in `{owner}`."),
            });
            Some(PatternRef {
                module: module.to_owned(),
                ident,
                source: source.clone(),
                hint,
            })
        } else {
            alias.and_then(|(file, d)| {
                d.pattern.as_ref().map(|source| PatternRef {
                    module: module_of(file),
                    ident: format!("{}_PATTERN", f.ty.to_shouty_snake_case()),
                    source: source.clone(),
                    hint: d.hint.clone().unwrap_or_default(),
                })
            })
        };
        let rules = Rules {
            min_chars: f.min_chars.or(alias.and_then(|(_, d)| d.min_chars)),
            max_chars: f.max_chars.or(alias.and_then(|(_, d)| d.max_chars)),
            pattern,
            min: f.min,
            max: f.max,
            min_items: f.min_items,
            max_items: f.max_items,
            max_bytes: f
                .max_bytes
                .or_else(|| f.limits.iter().map(|(_, l)| l.max_bytes).max()),
            file_kind: f.file_kind.clone(),
        };
        let file = (f.ty == "file").then(|| FileRules {
            size_errcode: f.size_errcode,
            by: None,
            limits: if f.limits.is_empty() {
                vec![FileLimit {
                    variant: None,
                    max_bytes: f.max_bytes.unwrap_or(u64::MAX),
                    kinds: f.file_kind.clone().unwrap_or_else(|| vec![FileKind::Any]),
                }]
            } else {
                f.limits
                    .iter()
                    .map(|(value, l)| FileLimit {
                        variant: Some(EnumCase {
                            variant: value.to_upper_camel_case(),
                            wire: value.clone(),
                        }),
                        max_bytes: l.max_bytes,
                        kinds: l.file_kind.clone(),
                    })
                    .collect()
            },
        });
        let location = if f.also_in_query {
            Location::BodyAndQuery
        } else {
            location
        };
        Field {
            wire: wire.to_owned(),
            ty: self.type_ref(&f.ty, f.items.as_deref()),
            location,
            required: f.required.unwrap_or(true),
            doc: f
                .doc
                .clone()
                .or_else(|| named.and_then(|d| d.doc().cloned())),
            rules,
            // A union's errcode is its tag's, not the field's (see `Union::errcode`).
            errcode: f.errcode.or(named
                .filter(|d| d.as_union().is_none())
                .and_then(TypeDef::errcode)),
            empty_errcode: f.empty_errcode,
            rule_errcodes: f
                .rule_errcodes
                .iter()
                .map(|(rule, code)| (rule.clone(), *code))
                .collect(),
            example: f
                .example
                .clone()
                .or_else(|| alias.and_then(|(_, d)| d.example.clone())),
            flatten: f.flatten,
            sensitive: f.sensitive,
            enum_values: match named {
                Some(TypeDef::Enum(d)) => d.values.iter().map(|(k, _)| k.clone()).collect(),
                _ => Vec::new(),
            },
            union: named.and_then(TypeDef::as_union).map(|d| UnionShape {
                tag: d.tag.clone(),
                variants: d.variants.iter().map(|(k, _)| k.clone()).collect(),
            }),
            alias: f.alias.clone(),
            file,
            required_when: None,
            key_rules: f
                .key_rules
                .iter()
                .map(|(kind, rule)| {
                    let pattern = rule.pattern.as_ref().map(|source| {
                        let ident = format!(
                            "{}_{}_{}_PATTERN",
                            owner.to_shouty_snake_case(),
                            wire.to_shouty_snake_case(),
                            kind.to_shouty_snake_case()
                        );
                        patterns.push(PatternDef {
                            ident: ident.clone(),
                            source: source.clone(),
                            hint: rule.hint.clone().unwrap_or_default(),
                            doc: format!(
                                "The pattern of a `{kind}…` entry of `{wire}` in `{owner}`."
                            ),
                        });
                        PatternRef {
                            module: module.to_owned(),
                            ident,
                            source: source.clone(),
                            hint: rule.hint.clone().unwrap_or_default(),
                        }
                    });
                    let words = match (rule.max_chars, &rule.hint, &rule.pattern) {
                        (Some(max), None, _) => format!("at most {max} characters"),
                        (Some(max), Some(hint), _) => format!("{hint}, at most {max} characters"),
                        (None, Some(hint), _) => hint.clone(),
                        (None, None, Some(source)) => format!("matching `{source}`"),
                        (None, None, None) => String::new(),
                    };
                    KeyRule {
                        kind: kind.clone(),
                        max_chars: rule.max_chars,
                        pattern,
                        words,
                    }
                })
                .collect(),
        }
    }

    fn named_type(
        &self,
        module: &str,
        name: &str,
        def: &TypeDef,
        patterns: &mut Vec<PatternDef>,
    ) -> Option<TypeModel> {
        let ident = name.to_upper_camel_case();
        let doc = doc_lines(&def.doc().cloned());
        let (kind, values) = match def {
            TypeDef::Alias(_) => return None,
            TypeDef::Struct(def) => {
                return Some(TypeModel::Struct(Struct {
                    fields: def
                        .fields
                        .iter()
                        .map(|(w, f)| self.field(module, name, w, f, Location::Body, patterns))
                        .collect(),
                    ident,
                    doc,
                    request: self.request_types.contains(name),
                    answer: false,
                }));
            }
            TypeDef::Enum(def) => (EnumKind::Closed, &def.values),
            TypeDef::OpenEnum(def) => match def.repr {
                Repr::Integer => (EnumKind::OpenInteger, &def.values),
                Repr::String => (EnumKind::OpenString, &def.values),
            },
            TypeDef::Union(def) => return Some(self.union(name, ident, doc, def)),
        };
        Some(TypeModel::Enum(Enum {
            ident,
            doc,
            kind,
            values: values
                .iter()
                .map(|(key, v)| EnumValue {
                    ident: key.to_upper_camel_case(),
                    wire: match &v.value {
                        Some(Scalar::Str(wire)) => wire.clone(),
                        _ => key.clone(),
                    },
                    number: match v.value {
                        Some(Scalar::Int(n)) => Some(n),
                        _ => None,
                    },
                    doc: Text {
                        zh: v.zh.clone(),
                        en: v.en.clone(),
                    },
                })
                .collect(),
        }))
    }

    fn union(&self, name: &str, ident: String, doc: Vec<String>, def: &UnionDef) -> TypeModel {
        TypeModel::Union(Union {
            ident,
            doc,
            tag: def.tag.clone(),
            variants: def
                .variants
                .iter()
                .map(|(wire, v)| Variant {
                    wire: wire.clone(),
                    ident: v.ty.to_upper_camel_case(),
                    ty: self.type_ref(&v.ty, None),
                    doc: v.doc.clone(),
                })
                .collect(),
            request: self.request_types.contains(name),
            errcode: def.errcode,
            refused: def
                .refused
                .iter()
                .map(|(tag, code)| RefusedTag {
                    tag: tag.clone(),
                    errcode: *code,
                })
                .collect(),
        })
    }

    fn endpoint(
        &self,
        module: &str,
        command: &str,
        file_permission_sets: Option<&Vec<i64>>,
        ep: &EndpointDef,
        types: &mut Vec<TypeModel>,
        patterns: &mut Vec<PatternDef>,
    ) -> Endpoint {
        let mut fields = Vec::new();
        for (location, map) in [
            (Location::Query, &ep.query),
            (Location::Body, &ep.body),
            (Location::Multipart, &ep.multipart),
        ] {
            for (wire, f) in map.iter() {
                let mut field = self.field(module, &ep.name, wire, f, location, patterns);
                if let Some((when, value)) = f.required_when.iter().next() {
                    let ty = ep
                        .query
                        .iter()
                        .chain(ep.body.iter())
                        .find(|(name, _)| *name == when)
                        .map(|(_, other)| self.type_ref(&other.ty, None))
                        .expect("validated: `required_when` names a field of the request");
                    field.required_when = Some(RequiredWhen {
                        field: when.clone(),
                        ty,
                        value: EnumCase {
                            variant: value.to_upper_camel_case(),
                            wire: value.clone(),
                        },
                    });
                }
                if let (Some(rules), Some(by)) = (&mut field.file, &f.limits_by) {
                    let ty = ep
                        .query
                        .iter()
                        .find(|(name, _)| *name == by)
                        .map(|(_, by_field)| self.type_ref(&by_field.ty, None))
                        .expect("validated: `limits_by` names a query field");
                    rules.by = Some(LimitsBy {
                        field: by.clone(),
                        ty,
                    });
                }
                fields.push(field);
            }
        }
        let ident = ep.name.to_upper_camel_case();
        let response = match &ep.response {
            ResponseDef::Named(name) if name == "ack" => Response::Ack,
            ResponseDef::Named(name) => Response::Type(self.type_ref(name, None)),
            ResponseDef::Download(download) => {
                Response::Download(self.type_ref(&download.download, None))
            }
            ResponseDef::Inline(inline) => {
                let name = inline
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{}_response", ep.name));
                let fields = inline
                    .fields
                    .iter()
                    .map(|(w, f)| self.field(module, &name, w, f, Location::Body, patterns))
                    .collect();
                let ident = name.to_upper_camel_case();
                types.push(TypeModel::Struct(Struct {
                    ident: ident.clone(),
                    doc: vec![format!(
                        "The answer of [`{ident_req}`]: {} — {}",
                        ep.summary.zh,
                        ep.summary.en,
                        ident_req = ident.trim_end_matches("Response")
                    )],
                    fields,
                    request: false,
                    answer: true,
                }));
                Response::Type(TypeRef::Named {
                    module: module.to_owned(),
                    ident,
                    kind: Kind::Struct,
                })
            }
        };
        Endpoint {
            name: ep.name.clone(),
            ident: ident.clone(),
            summary: ep.summary.clone(),
            doc_url: ep.doc.clone(),
            method: ep.method,
            path: ep.path.clone(),
            idempotent: ep.idempotent,
            idempotent_when: ep.idempotent_when.clone(),
            command: ep.command.clone().unwrap_or_else(|| command.to_owned()),
            verb: ep.verb.clone().unwrap_or_else(|| ep.name.replace('_', "-")),
            permission_sets: ep
                .permission_sets
                .as_ref()
                .or(file_permission_sets)
                .map(|sets| {
                    sets.iter()
                        .filter_map(|&id| u32::try_from(id).ok())
                        .collect()
                })
                .unwrap_or_default(),
            auth: ep.auth,
            notes: ep.notes.clone(),
            request: Struct {
                ident,
                doc: Vec::new(),
                fields,
                request: true,
                answer: false,
            },
            spans: ep
                .rules
                .iter()
                .map(|r| Span {
                    start: r.span.start.clone(),
                    end: r.span.end.clone(),
                    max: r.span.max,
                    errcode: r.span.errcode,
                    order_errcode: r.span.order_errcode,
                })
                .collect(),
            response,
            errors: ep.errors.clone(),
            example: ep.example.clone(),
        }
    }
}

/// Names of the types reachable from request fields (they are sent, so they validate).
fn request_types(files: &[(String, SpecFile)], types: &TypeTable) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<String> = Vec::new();
    for (_, spec) in files {
        for ep in &spec.endpoints {
            for map in [&ep.query, &ep.body, &ep.multipart] {
                for (_, f) in map.iter() {
                    stack.push(f.ty.clone());
                    stack.extend(f.items.clone());
                }
            }
        }
    }
    while let Some(name) = stack.pop() {
        let Some((_, def)) = types.get(name.as_str()) else {
            continue;
        };
        if !out.insert(name) {
            continue;
        }
        for (_, f) in def.as_struct().iter().flat_map(|d| d.fields.iter()) {
            stack.push(f.ty.clone());
            stack.extend(f.items.clone());
        }
        for (_, v) in def.as_union().iter().flat_map(|d| d.variants.iter()) {
            stack.push(v.ty.clone());
        }
    }
    out
}

fn push_kind(types: &TypeTable, push: &PushDef, suffix: &str) -> PushKind {
    let variant = push.name.to_upper_camel_case();
    PushKind {
        wire: push.wire.clone().unwrap_or_else(|| push.name.clone()),
        ident: format!("{variant}{suffix}"),
        variant,
        summary: push.summary.clone(),
        doc_url: push.doc.clone(),
        notes: push.notes.clone(),
        fields: push
            .fields
            .iter()
            .map(|(wire, f)| {
                let alias = types.get(f.ty.as_str()).and_then(|(_, d)| d.as_alias());
                let base = alias.map_or(f.ty.as_str(), |d| d.ty.as_str());
                let ty = match base {
                    "integer" => PushType::Integer,
                    "float" => PushType::Float,
                    _ => PushType::String,
                };
                let example = match &f.example {
                    Some(PushScalar::Int(n)) => n.to_string(),
                    Some(PushScalar::Float(x)) => x.to_string(),
                    Some(PushScalar::Str(s)) => s.clone(),
                    None => match alias.and_then(|d| d.example.as_ref()) {
                        Some(Scalar::Int(n)) => n.to_string(),
                        Some(Scalar::Str(s)) => s.clone(),
                        None => match ty {
                            PushType::Integer => "1".into(),
                            PushType::Float => "1.5".into(),
                            PushType::String => wire.to_uppercase(),
                        },
                    },
                };
                PushField {
                    wire: wire.clone(),
                    rust: wire.to_snake_case(),
                    ty,
                    required: f.required.unwrap_or(true),
                    doc: f.doc.clone().or_else(|| alias.and_then(|d| d.doc.clone())),
                    example,
                }
            })
            .collect(),
    }
}

pub fn lower(files: &[(String, SpecFile)], types: &TypeTable) -> Model {
    let lower = Lower {
        types,
        request_types: request_types(files, types),
    };
    let mut modules = Vec::new();
    let mut errors = Vec::new();
    let mut pushes = Vec::new();
    for (file, spec) in files {
        if spec.has_pushes() {
            pushes.push(PushModule {
                name: module_of(file),
                file: file.clone(),
                title: spec.title.clone(),
                messages: spec
                    .user_messages
                    .iter()
                    .map(|p| push_kind(types, p, "Message"))
                    .collect(),
                events: spec
                    .events
                    .iter()
                    .map(|p| push_kind(types, p, "Event"))
                    .collect(),
            });
        }
        for e in &spec.errors {
            errors.push(ErrorCode {
                code: e.code,
                ident: e.name.to_upper_camel_case(),
                zh: e.zh.clone(),
                en: e.en.clone(),
                flags: e.flags.clone(),
                fix: e.fix.clone(),
            });
        }
        if spec.endpoints.is_empty() && spec.types.is_empty() {
            continue;
        }
        let name = module_of(file);
        let mut patterns = Vec::new();
        let mut module_types = Vec::new();
        let endpoints = spec
            .endpoints
            .iter()
            .map(|ep| {
                let command = spec
                    .command
                    .clone()
                    .unwrap_or_else(|| name.replace('_', "-"));
                lower.endpoint(
                    &name,
                    &command,
                    spec.permission_sets.as_ref(),
                    ep,
                    &mut module_types,
                    &mut patterns,
                )
            })
            .collect();
        for (type_name, def) in spec.types.iter() {
            if let TypeDef::Alias(def) = def
                && let Some(source) = &def.pattern
            {
                patterns.push(PatternDef {
                    ident: format!("{}_PATTERN", type_name.to_shouty_snake_case()),
                    source: source.clone(),
                    hint: def.hint.clone().unwrap_or_default(),
                    doc: def
                        .doc
                        .as_ref()
                        .map(|d| format!("The pattern of {}", d.en.trim_end_matches('.')))
                        .unwrap_or_default(),
                });
            }
            module_types.extend(lower.named_type(&name, type_name, def, &mut patterns));
        }
        modules.push(Module {
            name,
            file: file.clone(),
            title: spec.title.clone(),
            endpoints,
            types: module_types,
            patterns,
        });
    }
    Model {
        modules,
        errors,
        pushes,
    }
}
