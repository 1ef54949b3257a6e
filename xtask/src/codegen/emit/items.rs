//! One module per spec file: pattern statics, request types with their `Endpoint` impls,
//! and the named types (structs, enums, unions).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::super::model::{
    Endpoint, Enum, EnumKind, Field, FileKind, FileLimit, FileRules, HttpMethod, Kind, LimitsBy,
    Location, Model, Module, Response, Rules, Struct, TypeModel, TypeRef, Union, UnionShape,
};
use super::{doc, ident, inner_doc, int, param_converts, param_type, rust_type};

pub fn module_file(model: &Model, module: &Module) -> TokenStream {
    let title = module
        .title
        .as_ref()
        .map(|t| format!("{} — {}.", t.zh, t.en))
        .unwrap_or_else(|| "Types shared by the endpoints.".into());
    let header = inner_doc(&[
        title,
        String::new(),
        format!("Generated from `{}`.", module.file),
    ]);
    let patterns = module.patterns.iter().map(|p| {
        let name = format_ident!("{}", p.ident);
        let (source, hint) = (&p.source, &p.hint);
        let docs = doc(&[p.doc.clone(), String::new(), format!("Accepts: {hint}.")]);
        quote! {
            #docs
            pub static #name: ::wx_kefu_runtime::validate::Pattern = ::wx_kefu_runtime::validate::Pattern::new(#source, #hint);
        }
    });
    let endpoints = module
        .endpoints
        .iter()
        .map(|ep| endpoint(model, module, ep));
    let types = module.types.iter().map(|t| match t {
        TypeModel::Struct(s) => structure(&module.name, s, None),
        TypeModel::Enum(e) => enumeration(e),
        TypeModel::Union(u) => union(&module.name, u),
    });
    // The endpoints' metadata is written against `meta::…`.
    let uses = (!module.endpoints.is_empty()).then(|| {
        quote!(
            use ::wx_kefu_runtime::meta;
        )
    });
    quote! {
        #header
        #uses
        #(#patterns)*
        #(#endpoints)*
        #(#types)*
    }
}

fn field_doc(field: &Field) -> Vec<String> {
    let mut lines = match &field.doc {
        Some(t) if t.zh == t.en => vec![t.en.clone()],
        Some(t) => vec![t.zh.clone(), String::new(), t.en.clone()],
        None => Vec::new(),
    };
    let limits = limits(field);
    if !limits.is_empty() {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.push(format!("Limits: {limits}."));
    }
    lines
}

/// The rules of a field in words, for doc comments.
pub fn limits(field: &Field) -> String {
    let r = &field.rules;
    let mut parts = Vec::new();
    match (r.min_chars, r.max_chars) {
        (Some(a), Some(b)) => parts.push(format!("{a}–{b} characters")),
        (Some(a), None) => parts.push(format!(
            "at least {a} character{}",
            if a == 1 { "" } else { "s" }
        )),
        (None, Some(b)) => parts.push(format!("at most {b} characters")),
        (None, None) => {}
    }
    if let (TypeRef::String, Some(max)) = (&field.ty, r.max_bytes) {
        parts.push(format!("at most {max} bytes of UTF-8"));
    }
    if let Some(pattern) = &r.pattern {
        parts.push(pattern.hint.clone());
    }
    match (r.min, r.max) {
        (Some(a), Some(b)) => parts.push(format!("{a}–{b}")),
        (Some(a), None) => parts.push(format!("at least {a}")),
        (None, Some(b)) => parts.push(format!("at most {b}")),
        (None, None) => {}
    }
    match (r.min_items, r.max_items) {
        (Some(a), Some(b)) if a == b => {
            parts.push(format!("exactly {a} item{}", if a == 1 { "" } else { "s" }))
        }
        (Some(a), Some(b)) => parts.push(format!("{a}–{b} items")),
        (Some(a), None) => parts.push(format!(
            "at least {a} item{}",
            if a == 1 { "" } else { "s" }
        )),
        (None, Some(b)) => parts.push(format!("at most {b} items")),
        (None, None) => {}
    }
    if let Some(when) = &field.required_when {
        parts.push(format!(
            "required when `{}` is `{}`",
            when.field, when.value.wire
        ));
    }
    match &field.file {
        Some(FileRules {
            by: Some(LimitsBy { field: by, .. }),
            limits,
            ..
        }) => {
            let each: Vec<String> = limits
                .iter()
                .map(|l| {
                    let value = l.variant.as_ref().map_or("", |case| case.wire.as_str());
                    format!("{value}: at most {} bytes, {}", l.max_bytes, l.expected())
                })
                .collect();
            parts.push(format!("by `{by}`: {}", each.join("; ")));
        }
        Some(FileRules { limits, .. }) => {
            for l in limits {
                if l.max_bytes < u64::MAX {
                    parts.push(format!("at most {} bytes", l.max_bytes));
                }
                if !l.kinds.contains(&FileKind::Any) {
                    parts.push(format!("a {} file", l.expected()));
                }
            }
        }
        None => {}
    }
    if !field.key_rules.is_empty() {
        let each: Vec<String> = field
            .key_rules
            .iter()
            .map(|rule| format!("`{}…` {}", rule.kind, rule.words))
            .collect();
        parts.push(format!(
            "each entry's `value` by its key: {}",
            each.join(", ")
        ));
    }
    parts.join("; ")
}

/// A struct with its constructor, setters, optional manual `Debug`, and `Validate` when sent.
/// `endpoint` is set for request types: their checks go into `Endpoint::validate` instead.
fn structure(module: &str, s: &Struct, endpoint: Option<&Endpoint>) -> TokenStream {
    let name = ident(&s.ident);
    let docs = doc(&s.doc);
    let has_file = s.has_file();
    let sensitive = s.fields.iter().any(|f| f.sensitive);
    let required: Vec<&Field> = s.fields.iter().filter(|f| f.required).collect();
    let mut derives = Vec::new();
    if !sensitive {
        derives.push(quote!(Debug));
    }
    derives.push(quote!(Clone));
    if !has_file {
        derives.push(quote!(PartialEq));
    }
    if required.is_empty() {
        derives.push(quote!(Default));
    }
    if !has_file {
        derives.push(quote!(::serde::Serialize));
    }
    derives.push(quote!(::serde::Deserialize));
    let fields = s.fields.iter().map(|f| {
        let fname = ident(&f.wire);
        let fdoc = doc(&field_doc(f));
        let ty = rust_type(&f.ty, module);
        let mut serde_args = Vec::new();
        if f.flatten {
            serde_args.push(quote!(flatten));
        }
        for alias in &f.alias {
            serde_args.push(quote!(alias = #alias));
        }
        if endpoint.is_some() && f.location == Location::Query {
            serde_args.push(quote!(skip_serializing));
        }
        if !f.required && endpoint.is_some() && f.location == Location::Query {
            serde_args.push(quote!(default));
        } else if !f.required {
            serde_args.push(quote!(default, skip_serializing_if = "Option::is_none"));
        } else if matches!(f.ty, TypeRef::Array(_)) && !s.request && !s.answer {
            serde_args.push(quote!(default));
        }
        let serde_attr = if serde_args.is_empty() || has_file {
            quote!()
        } else {
            quote!(#[serde(#(#serde_args),*)])
        };
        let ty = if f.required { ty } else { quote!(Option<#ty>) };
        quote! {
            #fdoc
            #serde_attr
            pub #fname: #ty,
        }
    });
    let params = required.iter().map(|f| {
        let p = ident(&f.wire);
        let t = param_type(&f.ty, module);
        quote!(#p: #t)
    });
    let inits = s.fields.iter().map(|f| {
        let p = ident(&f.wire);
        if !f.required {
            quote!(#p: None)
        } else if param_converts(&f.ty) {
            quote!(#p: #p.into())
        } else {
            quote!(#p)
        }
    });
    let new_doc = doc(&[
        "Builds the value from its required fields; optional ones start as `None`.".to_owned(),
    ]);
    let setters = s.fields.iter().filter(|f| !f.required).map(|f| {
        let p = ident(&f.wire);
        let t = param_type(&f.ty, module);
        let value = if param_converts(&f.ty) {
            quote!(#p.into())
        } else {
            quote!(#p)
        };
        let sdoc = doc(&[format!("Sets `{}`.", f.wire)]);
        quote! {
            #sdoc
            pub fn #p(mut self, #p: #t) -> Self {
                self.#p = Some(#value);
                self
            }
        }
    });
    let debug = if sensitive {
        let name_str = &s.ident;
        let entries = s.fields.iter().map(|f| {
            let p = ident(&f.wire);
            let wire = &f.wire;
            if f.sensitive {
                quote!(.field(#wire, &"***"))
            } else {
                quote!(.field(#wire, &self.#p))
            }
        });
        quote! {
            impl ::std::fmt::Debug for #name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.debug_struct(#name_str)#(#entries)*.finish_non_exhaustive()
                }
            }
        }
    } else {
        quote!()
    };
    let validate = if s.request && endpoint.is_none() {
        let checks = checks(module, &s.fields, &[]);
        quote! {
            impl ::wx_kefu_runtime::support::Validate for #name {
                fn validate(&self) -> Result<(), ::wx_kefu_runtime::Invalid> {
                    #checks
                    Ok(())
                }
            }
        }
    } else {
        quote!()
    };
    quote! {
        #docs
        #[derive(#(#derives),*)]
        #[non_exhaustive]
        pub struct #name {
            #(#fields)*
        }
        impl #name {
            #new_doc
            pub fn new(#(#params),*) -> Self {
                #name { #(#inits),* }
            }
            #(#setters)*
        }
        #debug
        #validate
    }
}

/// The validation statements of a set of fields (inside a fn returning `Result<(), Invalid>`).
fn checks(module: &str, fields: &[Field], spans: &[super::super::model::Span]) -> TokenStream {
    let mut out = Vec::new();
    for f in fields {
        let p = ident(&f.wire);
        if f.required {
            out.extend(value_checks(
                f,
                &quote!(&self.#p),
                &quote!(self.#p),
                &quote!(self.#p),
            ));
        } else {
            if let Some(required) = &f.required_when {
                let (when, ty, variant) = (
                    ident(&required.field),
                    rust_type(&required.ty, module),
                    format_ident!("{}", required.value.variant),
                );
                let wire = &f.wire;
                out.push(quote! {
                    if matches!(self.#when, #ty::#variant) {
                        ::wx_kefu_runtime::support::present(#wire, self.#p.is_some())?;
                    }
                });
            }
            let body = value_checks(f, &quote!(value), &quote!(*value), &quote!(value));
            if !body.is_empty() {
                out.push(quote! { if let Some(value) = &self.#p { #(#body)* } });
            }
        }
    }
    for span in spans {
        let (start, end, max) = (&span.start, &span.end, int(span.max));
        let (s, e) = (ident(start), ident(end));
        out.push(quote!(::wx_kefu_runtime::support::span(#start, self.#s, #end, self.#e, #max)?;));
    }
    quote!(#(#out)*)
}

fn opt<T: Into<i128>>(v: Option<T>) -> TokenStream {
    match v.map(int) {
        Some(v) => quote!(Some(#v)),
        None => quote!(None),
    }
}

/// Checks on one value (`value` is a reference to it); empty when the field has no rules.
/// `value` is a reference to the field, `copied` its value (integers), `place` an expression to call methods on.
fn value_checks(
    f: &Field,
    value: &TokenStream,
    copied: &TokenStream,
    place: &TokenStream,
) -> Vec<TokenStream> {
    let path = &f.wire;
    let r = &f.rules;
    let mut out = Vec::new();
    match &f.ty {
        TypeRef::String => {
            if r.min_chars.is_some() || r.max_chars.is_some() {
                let (a, b) = (opt(r.min_chars), opt(r.max_chars));
                out.push(quote!(::wx_kefu_runtime::support::chars(#path, #value, #a, #b)?;));
            }
            if let Some(max) = r.max_bytes.map(int) {
                out.push(quote!(::wx_kefu_runtime::support::bytes(#path, #value, #max)?;));
            }
            if let Some(pattern) = &r.pattern {
                let m = ident(&pattern.module);
                let name = format_ident!("{}", pattern.ident);
                out.push(
                    quote!(::wx_kefu_runtime::support::pattern(#path, #value, &super::#m::#name)?;),
                );
            }
        }
        TypeRef::Integer if (r.min.is_some() || r.max.is_some()) => {
            let (a, b) = (opt(r.min), opt(r.max));
            out.push(quote!(::wx_kefu_runtime::support::range(#path, #copied, #a, #b)?;));
        }
        TypeRef::Array(item) => {
            if r.min_items.is_some() || r.max_items.is_some() {
                let (a, b) = (opt(r.min_items), opt(r.max_items));
                out.push(quote!(::wx_kefu_runtime::support::items(#path, #place.len(), #a, #b)?;));
            }
            if matches!(
                **item,
                TypeRef::Named {
                    kind: Kind::Struct | Kind::Union,
                    ..
                }
            ) {
                out.push(quote! {
                    for item in #value {
                        ::wx_kefu_runtime::support::nested(#path, ::wx_kefu_runtime::support::Validate::validate(item))?;
                    }
                });
            }
        }
        TypeRef::Map(item) => {
            if r.min_items.is_some() || r.max_items.is_some() {
                let (a, b) = (opt(r.min_items), opt(r.max_items));
                out.push(quote!(::wx_kefu_runtime::support::items(#path, #place.len(), #a, #b)?;));
            }
            let nested = matches!(
                **item,
                TypeRef::Named {
                    kind: Kind::Struct | Kind::Union,
                    ..
                }
            )
            .then(|| {
                quote! {
                    ::wx_kefu_runtime::support::nested(&entry_path, ::wx_kefu_runtime::support::Validate::validate(entry))?;
                }
            });
            let arms = f.key_rules.iter().map(|rule| {
                let kind = &rule.kind;
                let mut checks = Vec::new();
                if let Some(max) = rule.max_chars.map(int) {
                    checks.push(quote!(::wx_kefu_runtime::support::chars(&value_path, &entry.value, None, Some(#max))?;));
                }
                if let Some(pattern) = &rule.pattern {
                    let m = ident(&pattern.module);
                    let name = format_ident!("{}", pattern.ident);
                    checks.push(quote!(::wx_kefu_runtime::support::pattern(&value_path, &entry.value, &super::#m::#name)?;));
                }
                quote!(#kind => { #(#checks)* })
            });
            let by_kind = (!f.key_rules.is_empty()).then(|| {
                quote! {
                    let value_path = format!("{entry_path}.value");
                    match ::wx_kefu_runtime::support::key_kind(key) {
                        #(#arms)*
                        _ => {}
                    }
                }
            });
            if nested.is_some() || by_kind.is_some() {
                let entry_format = format!("{path}.{{key}}");
                out.push(quote! {
                    for (key, entry) in #value {
                        let entry_path = format!(#entry_format);
                        #nested
                        #by_kind
                    }
                });
            }
        }
        TypeRef::Named {
            kind: Kind::Struct | Kind::Union,
            ..
        } => {
            if f.flatten {
                out.push(quote!(::wx_kefu_runtime::support::Validate::validate(#value)?;));
            } else {
                out.push(quote!(::wx_kefu_runtime::support::nested(#path, ::wx_kefu_runtime::support::Validate::validate(#value))?;));
            }
        }
        _ => {}
    }
    out
}

fn enumeration(e: &Enum) -> TokenStream {
    let name = ident(&e.ident);
    let docs = doc(&e.doc);
    match e.kind {
        EnumKind::Closed => {
            let variants = e.values.iter().map(|v| {
                let vdoc = doc(&[v.doc.zh.clone(), String::new(), v.doc.en.clone()]);
                let vi = ident(&v.ident);
                let wire = &v.wire;
                quote! { #vdoc #[serde(rename = #wire)] #vi, }
            });
            let arms = e.values.iter().map(|v| {
                let vi = ident(&v.ident);
                let wire = &v.wire;
                quote!(#name::#vi => #wire,)
            });
            quote! {
                #docs
                #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
                pub enum #name { #(#variants)* }
                impl #name {
                    /// The value on the wire.
                    pub const fn as_str(self) -> &'static str {
                        match self { #(#arms)* }
                    }
                }
            }
        }
        EnumKind::OpenString | EnumKind::OpenInteger => {
            let integer = e.kind == EnumKind::OpenInteger;
            let (repr, derive_copy) = if integer {
                (quote!(i64), quote!(Copy,))
            } else {
                (quote!(String), quote!())
            };
            let repr_str = if integer { "i64" } else { "String" };
            let variants = e.values.iter().map(|v| {
                let vi = ident(&v.ident);
                let wire = match v.number {
                    Some(n) => n.to_string(),
                    None => format!("`{}`", v.wire),
                };
                let vdoc = doc(&[
                    format!("{wire}: {}", v.doc.zh),
                    String::new(),
                    v.doc.en.clone(),
                ]);
                quote! { #vdoc #vi, }
            });
            let literal = |v: &super::super::model::EnumValue| -> TokenStream {
                match v.number {
                    Some(n) => int(n),
                    None => {
                        let w = &v.wire;
                        quote!(#w)
                    }
                }
            };
            let from_arms = e.values.iter().map(|v| {
                let vi = ident(&v.ident);
                let lit = literal(v);
                quote!(#lit => #name::#vi,)
            });
            let into_arms = e.values.iter().map(|v| {
                let vi = ident(&v.ident);
                let lit = literal(v);
                if integer {
                    quote!(#name::#vi => #lit,)
                } else {
                    quote!(#name::#vi => #lit.to_owned(),)
                }
            });
            let (from_match, unknown_binding) = if integer {
                (quote!(value), quote!(other))
            } else {
                (quote!(value.as_str()), quote!(_))
            };
            let unknown_value = if integer {
                quote!(other)
            } else {
                quote!(value)
            };
            let as_str = if integer {
                quote!()
            } else {
                let arms = e.values.iter().map(|v| {
                    let vi = ident(&v.ident);
                    let wire = &v.wire;
                    quote!(#name::#vi => #wire,)
                });
                quote! {
                    impl #name {
                        /// The value on the wire.
                        pub fn as_str(&self) -> &str {
                            match self {
                                #(#arms)*
                                #name::Unknown(other) => other,
                            }
                        }
                    }
                }
            };
            quote! {
                #docs
                #[derive(Debug, Clone, #derive_copy PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
                #[serde(from = #repr_str, into = #repr_str)]
                pub enum #name {
                    #(#variants)*
                    /// A value this version does not know, kept as sent.
                    Unknown(#repr),
                }
                impl From<#repr> for #name {
                    fn from(value: #repr) -> Self {
                        match #from_match {
                            #(#from_arms)*
                            #unknown_binding => #name::Unknown(#unknown_value),
                        }
                    }
                }
                impl From<#name> for #repr {
                    fn from(value: #name) -> Self {
                        match value {
                            #(#into_arms)*
                            #name::Unknown(other) => other,
                        }
                    }
                }
                #as_str
            }
        }
    }
}

fn union(module: &str, u: &Union) -> TokenStream {
    let name = ident(&u.ident);
    let docs = doc(&u.doc);
    let tag = &u.tag;
    let wires: Vec<&String> = u.variants.iter().map(|v| &v.wire).collect();
    let variants = u.variants.iter().map(|v| {
        let vi = ident(&v.ident);
        let ty = rust_type(&v.ty, module);
        let vdoc = match &v.doc {
            Some(t) => doc(&[
                format!("`{}`: {}", v.wire, t.zh),
                String::new(),
                t.en.clone(),
            ]),
            None => doc(&[format!("`{}`", v.wire)]),
        };
        quote! { #vdoc #vi(#ty), }
    });
    let tag_arms = u.variants.iter().map(|v| {
        let vi = ident(&v.ident);
        let wire = &v.wire;
        quote!(#name::#vi(_) => #wire,)
    });
    let ser_arms = u.variants.iter().map(|v| {
        let vi = ident(&v.ident);
        let wire = &v.wire;
        quote!(#name::#vi(payload) => ::wx_kefu_runtime::support::serialize_tagged(serializer, #tag, #wire, payload),)
    });
    let de_arms = u.variants.iter().map(|v| {
        let vi = ident(&v.ident);
        let wire = &v.wire;
        quote!(#wire => tagged.payload().map(#name::#vi),)
    });
    let froms = u.variants.iter().map(|v| {
        let vi = ident(&v.ident);
        let ty = rust_type(&v.ty, module);
        quote! {
            impl From<#ty> for #name {
                fn from(payload: #ty) -> Self {
                    #name::#vi(payload)
                }
            }
        }
    });
    let validate = if u.request {
        let arms = u.variants.iter().map(|v| {
            let vi = ident(&v.ident);
            let wire = &v.wire;
            quote!(#name::#vi(payload) => ::wx_kefu_runtime::support::nested(#wire, ::wx_kefu_runtime::support::Validate::validate(payload)),)
        });
        quote! {
            impl ::wx_kefu_runtime::support::Validate for #name {
                fn validate(&self) -> Result<(), ::wx_kefu_runtime::Invalid> {
                    match self { #(#arms)* }
                }
            }
        }
    } else {
        quote!()
    };
    let tag_doc = doc(&[format!("The value of `{tag}` for this case.")]);
    let names_doc = doc(&[format!("Every value of `{tag}`, in spec order.")]);
    quote! {
        #docs
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum #name { #(#variants)* }
        impl #name {
            #names_doc
            pub const TAGS: &'static [&'static str] = &[#(#wires),*];
            #tag_doc
            pub const fn tag(&self) -> &'static str {
                match self { #(#tag_arms)* }
            }
        }
        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self { #(#ser_arms)* }
            }
        }
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let tagged = ::wx_kefu_runtime::support::Tagged::deserialize(deserializer, #tag)?;
                match tagged.name.as_str() {
                    #(#de_arms)*
                    _ => Err(tagged.unknown(#name::TAGS)),
                }
            }
        }
        #(#froms)*
        #validate
    }
}

fn endpoint(model: &Model, module: &Module, ep: &Endpoint) -> TokenStream {
    let mut request = ep.request.clone();
    let call = &ep.name;
    request.doc = vec![
        format!("{} — {}.", ep.summary.zh, ep.summary.en),
        String::new(),
        format!(
            "The request of [`KefuApi::{call}`](super::KefuApi::{call}): `{} {}`.",
            ep.method, ep.path
        ),
        String::new(),
        format!("Official documentation: <{}>", ep.doc_url),
    ];
    let strukt = structure(&module.name, &request, Some(ep));
    let name = ident(&ep.ident);
    let response = match &ep.response {
        Response::Ack => quote!(::wx_kefu_runtime::Ack),
        Response::Type(t) | Response::Download(t) => rust_type(t, &module.name),
    };
    let file_answer = matches!(ep.response, Response::Download(_))
        .then(|| quote!(impl ::wx_kefu_runtime::FileAnswer for #name {}));
    let checks = checks(&module.name, &ep.request.fields, &ep.spans);
    let query = ep
        .request
        .fields
        .iter()
        .filter(|f| matches!(f.location, Location::Query | Location::BodyAndQuery))
        .map(|f| {
            let p = ident(&f.wire);
            let wire = &f.wire;
            let text = match f.ty {
                TypeRef::String => quote!(value.clone()),
                TypeRef::Named {
                    kind: Kind::Enum, ..
                } => quote!(value.as_str().to_owned()),
                _ => quote!(value.to_string()),
            };
            if f.required {
                quote!({ let value = &self.#p; query.push((#wire, #text)); })
            } else {
                quote!(if let Some(value) = &self.#p { query.push((#wire, #text)); })
            }
        });
    let has_query = ep
        .request
        .fields
        .iter()
        .any(|f| matches!(f.location, Location::Query | Location::BodyAndQuery));
    let file = ep
        .request
        .fields
        .iter()
        .find_map(|f| f.file.as_ref().map(|rules| (f, rules)));
    let body = if let Some((f, rules)) = file {
        let p = ident(&f.wire);
        let wire = &f.wire;
        let limits = file_limits(rules, &module.name);
        // The form's other fields are structs, sent as JSON text.
        let text = ep
            .request
            .fields
            .iter()
            .filter(|t| t.location == Location::Multipart && t.file.is_none())
            .map(|t| {
                let (tp, twire) = (ident(&t.wire), &t.wire);
                let value = quote!(::wx_kefu_runtime::support::json_text(value));
                if t.required {
                    quote!({ let value = &self.#tp; text.push((#twire, #value)); })
                } else {
                    quote!(if let Some(value) = &self.#tp { text.push((#twire, #value)); })
                }
            })
            .collect::<Vec<_>>();
        let text = if text.is_empty() {
            quote!(Vec::new())
        } else {
            quote!({ let mut text = Vec::new(); #(#text)* text })
        };
        quote!(::wx_kefu_runtime::Body::Multipart(::wx_kefu_runtime::MultipartFile {
            field: #wire,
            file: self.#p.clone(),
            limits: #limits,
            text: #text,
        }))
    } else if ep.method == HttpMethod::Get {
        quote!(::wx_kefu_runtime::Body::Empty)
    } else {
        quote!(::wx_kefu_runtime::support::json_body(self))
    };
    let parts = if has_query {
        quote! {
            let mut query = Vec::new();
            #(#query)*
            ::wx_kefu_runtime::RequestParts { query, body: #body }
        }
    } else {
        quote!(::wx_kefu_runtime::RequestParts { query: Vec::new(), body: #body })
    };
    let meta = meta(model, &module.name, ep);
    // Sensitive fields are strings (the spec's validation says so).
    let sensitive: Vec<_> = ep
        .request
        .fields
        .iter()
        .filter(|f| f.sensitive)
        .map(|f| {
            let p = ident(&f.wire);
            match f.required {
                true => quote!(Some(self.#p.as_str())),
                false => quote!(self.#p.as_deref()),
            }
        })
        .collect();
    let sensitive = if sensitive.is_empty() {
        quote!()
    } else {
        quote! {
            fn sensitive(&self) -> Vec<&str> {
                [#(#sensitive),*].into_iter().flatten().collect()
            }
        }
    };
    let idempotent = ep.idempotent_when.as_ref().map(|when| {
        let field = ident(when);
        let doc = format!(" Safe to repeat with a `{when}`: WeChat sends one message per id.");
        quote! {
            #[doc = #doc]
            fn idempotent(&self) -> bool {
                self.#field.is_some()
            }
        }
    });
    quote! {
        #strukt
        impl ::wx_kefu_runtime::Endpoint for #name {
            const META: &'static meta::EndpointMeta = &#meta;
            type Response = #response;
            fn validate(&self) -> Result<(), ::wx_kefu_runtime::Invalid> {
                #checks
                Ok(())
            }
            fn parts(&self) -> ::wx_kefu_runtime::RequestParts {
                #parts
            }
            #idempotent
            #sensitive
        }
        #file_answer
    }
}

/// Whether an answer needs `errcode` 0 to be a success: it requires no field of its own,
/// so that `{}` would decode (an acknowledgement; a struct whose fields are all optional,
/// or arrays a nested answer may leave out).
fn answer_needs_errcode(model: &Model, response: &Response) -> bool {
    let ty = match response {
        Response::Ack => return true,
        Response::Type(ty) | Response::Download(ty) => ty,
    };
    let TypeRef::Named {
        ident,
        kind: Kind::Struct,
        ..
    } = ty
    else {
        return false;
    };
    let answer = model
        .modules
        .iter()
        .flat_map(|m| m.types.iter())
        .find_map(|t| match t {
            TypeModel::Struct(s) if &s.ident == ident => Some(s),
            _ => None,
        });
    answer.is_some_and(|s| {
        s.fields
            .iter()
            .all(|f| !f.required || (matches!(f.ty, TypeRef::Array(_)) && !s.request && !s.answer))
    })
}

/// A file's limits: `FileLimits::new(…)`, or a `match` on the field they depend on.
fn file_limits(rules: &FileRules, module: &str) -> TokenStream {
    let one = |l: &FileLimit| {
        let max = l.max_bytes;
        let kinds = l.kinds.iter().map(|k| {
            let variant = format_ident!("{}", k.names().0);
            quote!(::wx_kefu_runtime::FileKind::#variant)
        });
        let expected = l.expected();
        let max = int(max);
        quote!(::wx_kefu_runtime::FileLimits::new(#max, &[#(#kinds),*], #expected))
    };
    match &rules.by {
        Some(by) => {
            let field = ident(&by.field);
            let ty = rust_type(&by.ty, module);
            let arms = rules.limits.iter().map(|l| {
                let variant = format_ident!(
                    "{}",
                    l.variant.as_ref().map_or("", |case| case.variant.as_str())
                );
                let limits = one(l);
                quote!(#ty::#variant => #limits,)
            });
            quote!(match self.#field { #(#arms)* })
        }
        None => rules.limits.first().map(one).unwrap_or_else(|| {
            quote!(::wx_kefu_runtime::FileLimits::new(
                u64::MAX,
                &[::wx_kefu_runtime::FileKind::Any],
                "any"
            ))
        }),
    }
}

/// The rules as `Rules::NONE.min_chars(1)…`: the metadata's one spelling of each rule.
fn rules_tokens(r: &Rules) -> TokenStream {
    let mut set = Vec::new();
    let mut put = |name: &str, value: Option<TokenStream>| {
        if let Some(v) = value {
            let n = format_ident!("{}", name);
            set.push(quote!(.#n(#v)));
        }
    };
    put("min_chars", r.min_chars.map(int));
    put("max_chars", r.max_chars.map(int));
    put(
        "pattern",
        r.pattern.as_ref().map(|pattern| {
            let source = &pattern.source;
            quote!(#source)
        }),
    );
    put("min", r.min.map(int));
    put("max", r.max.map(int));
    put("min_items", r.min_items.map(int));
    put("max_items", r.max_items.map(int));
    put("max_bytes", r.max_bytes.map(int));
    quote!(meta::Rules::NONE #(#set)*)
}

/// Whether the open enum `module::ident` travels as an integer (else as a string).
fn open_enum_is_integer(model: &Model, module: &str, ident: &str) -> bool {
    model
        .modules
        .iter()
        .filter(|m| m.name == module)
        .flat_map(|m| m.types.iter())
        .any(|t| matches!(t, TypeModel::Enum(e) if e.ident == ident && e.kind == EnumKind::OpenInteger))
}

fn field_type_tokens(model: &Model, f: &Field) -> TokenStream {
    let m = quote!(meta::FieldType);
    match &f.ty {
        TypeRef::String => quote!(#m::String),
        TypeRef::Integer => quote!(#m::Integer),
        TypeRef::Bool => quote!(#m::Bool),
        TypeRef::StringOrNumber => quote!(#m::StringOrNumber),
        TypeRef::File => quote!(#m::File),
        TypeRef::Array(_) => quote!(#m::Array),
        TypeRef::Map(_) => quote!(#m::Object),
        TypeRef::Named {
            kind: Kind::Struct, ..
        } => quote!(#m::Object),
        TypeRef::Named {
            kind: Kind::Enum, ..
        } => {
            let values = &f.enum_values;
            quote!(#m::Enum(&[#(#values),*]))
        }
        TypeRef::Named {
            kind: Kind::OpenEnum,
            module,
            ident,
        } => match open_enum_is_integer(model, module, ident) {
            true => quote!(#m::Integer),
            false => quote!(#m::String),
        },
        TypeRef::Named {
            kind: Kind::Union, ..
        } => {
            let UnionShape { tag, variants } = f.union.clone().unwrap_or_default();
            quote!(#m::Union { tag: #tag, variants: &[#(#variants),*] })
        }
    }
}

/// (field path, errcode) for every rule-bearing field reachable from `fields`.
fn errcodes(
    model: &Model,
    fields: &[Field],
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, i64)>,
) {
    if depth > 8 {
        return;
    }
    for f in fields {
        let path = if f.flatten {
            prefix.to_owned()
        } else if prefix.is_empty() {
            f.wire.clone()
        } else {
            format!("{prefix}.{}", f.wire)
        };
        if let Some(code) = f.errcode {
            out.push((path.clone(), code));
        }
        if let Some(code) = f.file.as_ref().and_then(|file| file.size_errcode) {
            out.push((format!("{path}/size"), code));
        }
        if let Some(code) = f.empty_errcode {
            out.push((format!("{path}/empty"), code));
        }
        for (rule, code) in &f.rule_errcodes {
            out.push((format!("{path}/{rule}"), *code));
        }
        let named = match &f.ty {
            TypeRef::Named { ident, .. } => Some(ident),
            TypeRef::Array(item) | TypeRef::Map(item) => match &**item {
                TypeRef::Named { ident, .. } => Some(ident),
                _ => None,
            },
            _ => None,
        };
        let Some(named) = named else { continue };
        for module in &model.modules {
            for t in &module.types {
                match t {
                    TypeModel::Struct(s) if &s.ident == named => {
                        errcodes(model, &s.fields, &path, depth + 1, out)
                    }
                    TypeModel::Union(u) if &u.ident == named => {
                        let tag = if path.is_empty() {
                            u.tag.clone()
                        } else {
                            format!("{path}.{}", u.tag)
                        };
                        if let Some(code) = u.errcode {
                            out.push((tag.clone(), code));
                        }
                        for refused in &u.refused {
                            out.push((format!("{tag}={}", refused.tag), refused.errcode));
                        }
                        for v in &u.variants {
                            if let TypeRef::Named { ident: vi, .. } = &v.ty {
                                for m2 in &model.modules {
                                    for t2 in &m2.types {
                                        if let TypeModel::Struct(s) = t2
                                            && &s.ident == vi
                                        {
                                            let p = if path.is_empty() {
                                                v.wire.clone()
                                            } else {
                                                format!("{path}.{}", v.wire)
                                            };
                                            errcodes(model, &s.fields, &p, depth + 1, out);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn meta(model: &Model, module: &str, ep: &Endpoint) -> TokenStream {
    let (name, zh, en, url, path) = (
        &ep.name,
        &ep.summary.zh,
        &ep.summary.en,
        &ep.doc_url,
        &ep.path,
    );
    let method = if ep.method == HttpMethod::Get {
        quote!(::wx_kefu_runtime::Method::Get)
    } else {
        quote!(::wx_kefu_runtime::Method::Post)
    };
    let (idempotent, auth) = (ep.idempotent, ep.auth);
    let fields = ep.request.fields.iter().map(|f| {
        let wire = &f.wire;
        let rust = ident(&f.wire).to_string();
        let location = match f.location {
            Location::Query => quote!(Query),
            Location::Body => quote!(Body),
            Location::BodyAndQuery => quote!(BodyAndQuery),
            Location::Multipart => quote!(Multipart),
        };
        let ty = field_type_tokens(model, f);
        let rust = (rust != *wire).then(|| quote!(.rust(#rust)));
        let location =
            (f.location != Location::Body).then(|| quote!(.location(meta::Location::#location)));
        let optional = (!f.required).then(|| quote!(.required(false)));
        let rules = (!f.rules.is_empty()).then(|| {
            let rules = rules_tokens(&f.rules);
            let text = limits(f);
            quote!(.rules(#rules).limits(#text))
        });
        let fdoc = f.doc.as_ref().map(|d| d.en.clone()).unwrap_or_default();
        let sensitive = f.sensitive.then(|| quote!(.sensitive()));
        quote!(meta::FieldMeta::new(#wire, #ty) #rust #location #optional #rules .doc(#fdoc) #sensitive)
    });
    let spans = ep.spans.iter().map(|s| {
        let (start, end, max) = (&s.start, &s.end, int(s.max));
        quote!(meta::SpanRule::new(#start, #end, #max))
    });
    let mut codes = Vec::new();
    errcodes(model, &ep.request.fields, "", 0, &mut codes);
    for s in &ep.spans {
        if let Some(code) = s.errcode {
            codes.push((s.end.clone(), code));
        }
        if let Some(code) = s.order_errcode {
            codes.push((format!("{}/order", s.end), code));
        }
    }
    let codes = codes.iter().map(|(p, c)| {
        let c = int(*c);
        quote!((#p, #c))
    });
    // What `EndpointMeta::new` sets already (not idempotent, authenticated, nothing else)
    // is not said again.
    let idempotent = idempotent.then(|| quote!(.idempotent(true)));
    let idempotent_when = ep
        .idempotent_when
        .as_ref()
        .map(|field| quote!(.idempotent_when(#field)));
    let (command, verb) = (&ep.command, &ep.verb);
    let sets: Vec<_> = ep
        .permission_sets
        .iter()
        .map(|&id| int(i64::from(id)))
        .collect();
    let permission_sets = (!sets.is_empty()).then(|| quote!(.permission_sets(&[#(#sets),*])));
    let needs_errcode = answer_needs_errcode(model, &ep.response);
    let auth = (!auth).then(|| quote!(.auth(false)));
    let downloads = matches!(ep.response, Response::Download(_)).then(|| quote!(.downloads(true)));
    let fields: Vec<_> = fields.collect();
    let fields = (!fields.is_empty()).then(|| quote!(.fields(&[#(#fields),*])));
    let spans: Vec<_> = spans.collect();
    let spans = (!spans.is_empty()).then(|| quote!(.spans(&[#(#spans),*])));
    let codes: Vec<_> = codes.collect();
    let codes = (!codes.is_empty()).then(|| quote!(.errcodes(&[#(#codes),*])));
    quote!(meta::EndpointMeta::new(#name, #method, #path)
        .summary(#zh, #en)
        .doc_url(#url)
        .group(#module)
        .cli(#command, #verb)
        .answer_needs_errcode(#needs_errcode)
        #idempotent
        #idempotent_when
        #permission_sets
        #auth
        #downloads
        #fields
        #spans
        #codes)
}
