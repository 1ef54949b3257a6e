//! The module index (`generated/mod.rs`, with `ENDPOINTS`) and the `KefuApi` trait: one call per endpoint.

use proc_macro2::TokenStream;
use quote::quote;

use super::super::model::{
    Endpoint, Enum, EnumValue, Field, Model, Response, Rules, TypeModel, TypeRef,
};
use super::super::parse::Scalar;
use super::items::limits;
use super::{doc, ident, inner_doc, param_type, rust_type};

pub fn module_index(model: &Model) -> TokenStream {
    let header = inner_doc(&[
        "The generated API: types and calls from `api-spec/`.".into(),
        String::new(),
        "Regenerate with `cargo xtask codegen`; never edit by hand.".into(),
    ]);
    // Each module's own `//!` line says what it is; a doc here would print it twice.
    let mods = model.modules.iter().map(|m| {
        let name = ident(&m.name);
        quote!(pub mod #name;)
    });
    let groups = model
        .modules
        .iter()
        .filter(|m| !m.endpoints.is_empty())
        .map(|m| {
            let name = &m.name;
            let (zh, en) = m
                .title
                .as_ref()
                .map_or((m.name.as_str(), m.name.as_str()), |t| {
                    (t.zh.as_str(), t.en.as_str())
                });
            quote!(::wx_kefu_runtime::meta::GroupMeta::new(#name, #zh, #en))
        });
    let uses = model.modules.iter().map(|m| {
        let name = ident(&m.name);
        quote!(pub use #name::*;)
    });
    let all = model.modules.iter().flat_map(|m| {
        m.endpoints.iter().map(move |ep| {
            let module = ident(&m.name);
            let name = ident(&ep.ident);
            quote!(<#module::#name as ::wx_kefu_runtime::Endpoint>::META)
        })
    });
    quote! {
        #header
        #[rustfmt::skip]
        mod api;
        #(#mods)*
        pub use api::{KefuApi, call_json, download_json};
        #[doc(hidden)]
        pub use api::{check_json, decode_json, example_request};
        #(#uses)*
        /// Every endpoint of the spec, in spec order: for tools that read the spec at run time
        /// (the emulator's request checks, the CLI's commands and help).
        pub static ENDPOINTS: &[&::wx_kefu_runtime::meta::EndpointMeta] = &[#(#all),*];
        /// Every group of endpoints (a spec file) with its title, in spec order: for tools
        /// that present the calls by group (the CLI's commands).
        pub static GROUPS: &[::wx_kefu_runtime::meta::GroupMeta] = &[#(#groups),*];
    }
}

/// Whether the call takes its fields as arguments (all required) or a request value.
fn positional(ep: &Endpoint) -> bool {
    ep.request.fields.iter().all(|f| f.required)
}

/// A named type of the model.
fn named<'m>(model: &'m Model, module: &str, ident: &str) -> Option<&'m TypeModel> {
    model
        .modules
        .iter()
        .filter(|m| m.name == module)
        .flat_map(|m| m.types.iter())
        .find(|t| match t {
            TypeModel::Struct(s) => s.ident == ident,
            TypeModel::Enum(e) => e.ident == ident,
            TypeModel::Union(u) => u.ident == ident,
        })
}

/// An example value, chosen once from the spec's `example:`s and the types (a struct from
/// its required fields, an array of its fewest items, an enum's first value), then written
/// as Rust for the doc example or as JSON for `example_request`: both always valid.
enum Example {
    Text(String),
    /// An integer literal (the spec may write it as text).
    Integer(String),
    Bool,
    File,
    StringOrNumber(Scalar),
    Array(Vec<Example>),
    /// A map of one entry: its key and value.
    Map(String, Box<Example>),
    /// A struct's Rust name and its required fields by wire name.
    Struct {
        ident: String,
        fields: Vec<(String, Example)>,
    },
    /// An enum value: its Rust path and its wire value as JSON.
    Enum {
        path: String,
        wire: String,
    },
    /// A union's case: its Rust path, the tag field, the tag's value and the payload.
    Union {
        path: String,
        tag: String,
        wire: String,
        payload: Box<Example>,
    },
    /// A named type the model lacks (`validate` refuses such a spec).
    Unknown(String),
}

/// The enum value an example names, or the enum's first value.
fn example_value<'e>(e: &'e Enum, example: Option<&Scalar>) -> Option<&'e EnumValue> {
    example
        .and_then(|x| match x {
            Scalar::Str(w) => e.values.iter().find(|v| v.wire == *w),
            Scalar::Int(n) => e.values.iter().find(|v| v.number == Some(*n)),
        })
        .or(e.values.first())
}

impl Example {
    /// The example of a struct (or a request) with these fields.
    fn of_struct(model: &Model, ident: &str, fields: &[Field]) -> Example {
        Example::Struct {
            ident: ident.to_owned(),
            fields: fields
                .iter()
                .filter(|f| f.required)
                .map(|f| (f.wire.clone(), Example::of_field(model, f)))
                .collect(),
        }
    }

    fn of_field(model: &Model, f: &Field) -> Example {
        Example::of(model, &f.ty, f.example.as_ref(), &f.wire, &f.rules)
    }

    fn of(
        model: &Model,
        ty: &TypeRef,
        example: Option<&Scalar>,
        wire: &str,
        rules: &Rules,
    ) -> Example {
        match ty {
            TypeRef::File => Example::File,
            TypeRef::Bool => Example::Bool,
            TypeRef::Array(item) => {
                let n = rules.min_items.unwrap_or(1).max(1);
                Example::Array(
                    (0..n)
                        .map(|_| Example::of(model, item, None, wire, &Rules::default()))
                        .collect(),
                )
            }
            TypeRef::Map(item) => {
                let key = match example {
                    Some(Scalar::Str(key)) => key.clone(),
                    _ => "key1".to_owned(),
                };
                let value = Example::of(model, item, None, wire, &Rules::default());
                Example::Map(key, Box::new(value))
            }
            TypeRef::StringOrNumber => {
                Example::StringOrNumber(example.cloned().unwrap_or(Scalar::Str("1".into())))
            }
            TypeRef::Integer => Example::Integer(match example {
                Some(Scalar::Int(n)) => n.to_string(),
                Some(Scalar::Str(s)) => s.clone(),
                None => rules.min.unwrap_or(0).to_string(),
            }),
            TypeRef::String => Example::Text(match example {
                Some(Scalar::Str(s)) => s.clone(),
                Some(Scalar::Int(n)) => n.to_string(),
                None => wire.to_uppercase(),
            }),
            TypeRef::Named { module, ident, .. } => match named(model, module, ident) {
                Some(TypeModel::Enum(e)) => match example_value(e, example) {
                    Some(v) => Example::Enum {
                        path: format!("{ident}::{}", v.ident),
                        wire: v
                            .number
                            .map_or_else(|| json_string(&v.wire), |n| n.to_string()),
                    },
                    None => Example::Unknown(ident.clone()),
                },
                Some(TypeModel::Struct(s)) => Example::of_struct(model, ident, &s.fields),
                Some(TypeModel::Union(u)) => match u.variants.first() {
                    Some(v) => Example::Union {
                        path: format!("{ident}::{}", v.ident),
                        tag: u.tag.clone(),
                        wire: v.wire.clone(),
                        payload: Box::new(Example::of(
                            model,
                            &v.ty,
                            None,
                            &v.wire,
                            &Rules::default(),
                        )),
                    },
                    None => Example::Unknown(ident.clone()),
                },
                None => Example::Unknown(ident.clone()),
            },
        }
    }

    /// As Rust, the argument of a call or a constructor.
    fn rust(&self) -> String {
        match self {
            Example::Text(s) => format!("{s:?}"),
            Example::Integer(n) => n.clone(),
            Example::Bool => "false".into(),
            Example::File => "Upload::path(\"avatar.jpg\")".into(),
            Example::StringOrNumber(Scalar::Int(n)) => format!("StringOrNumber::from({n})"),
            Example::StringOrNumber(Scalar::Str(s)) => format!("StringOrNumber::from({s:?})"),
            Example::Array(items) => format!("vec![{}]", Example::rust_list(items.iter())),
            Example::Map(key, value) => format!(
                "std::collections::BTreeMap::from([({key:?}.to_owned(), {})])",
                value.rust()
            ),
            Example::Struct { ident, fields } => {
                format!(
                    "{ident}::new({})",
                    Example::rust_list(fields.iter().map(|(_, e)| e))
                )
            }
            Example::Enum { path, .. } => path.clone(),
            Example::Union { path, payload, .. } => format!("{path}({})", payload.rust()),
            Example::Unknown(ident) => format!("{ident}::default()"),
        }
    }

    fn rust_list<'a>(items: impl Iterator<Item = &'a Example>) -> String {
        items.map(Example::rust).collect::<Vec<_>>().join(", ")
    }

    /// As JSON, the wire form a dynamic call takes.
    fn json(&self) -> String {
        match self {
            Example::Text(s) => json_string(s),
            Example::Integer(n) => n.clone(),
            Example::Bool => "false".into(),
            Example::File => "\"avatar.jpg\"".into(),
            Example::StringOrNumber(Scalar::Int(n)) => n.to_string(),
            Example::StringOrNumber(Scalar::Str(s)) => json_string(s),
            Example::Array(items) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(Example::json)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
            Example::Map(key, value) => format!("{{{}:{}}}", json_string(key), value.json()),
            Example::Struct { fields, .. } => {
                let members: Vec<String> = fields
                    .iter()
                    .map(|(wire, value)| match value {
                        // A union field is flattened: its tag and payload sit beside the others.
                        Example::Union { .. } => value.union_members(),
                        _ => format!("{}:{}", json_string(wire), value.json()),
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Example::Enum { wire, .. } => wire.clone(),
            Example::Union { .. } => format!("{{{}}}", self.union_members()),
            Example::Unknown(_) => "null".into(),
        }
    }

    /// A union's `"tag":"wire","wire":{…}`.
    fn union_members(&self) -> String {
        match self {
            Example::Union {
                tag, wire, payload, ..
            } => format!(
                "{}:{},{}:{}",
                json_string(tag),
                json_string(wire),
                json_string(wire),
                payload.json()
            ),
            other => other.json(),
        }
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// (field path, its rules in words) for every field with rules reachable from `fields`:
/// nested structs (`customservice.kf_account`), array items, map entries (`data.<key>`) and
/// a union's payloads (`text.content`), as `Error::Invalid` names them.
fn nested_limits(
    model: &Model,
    fields: &[Field],
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    if depth > 4 {
        return;
    }
    for f in fields {
        let path = match (f.flatten, prefix.is_empty()) {
            (true, _) => prefix.to_owned(),
            (false, true) => f.wire.clone(),
            (false, false) => format!("{prefix}.{}", f.wire),
        };
        let l = limits(f);
        if !l.is_empty() {
            out.push((path.clone(), l));
        }
        let (inner, entry) = match &f.ty {
            TypeRef::Named { module, ident, .. } => (named(model, module, ident), path.clone()),
            TypeRef::Array(item) => match &**item {
                TypeRef::Named { module, ident, .. } => (named(model, module, ident), path.clone()),
                _ => (None, path.clone()),
            },
            TypeRef::Map(item) => match &**item {
                TypeRef::Named { module, ident, .. } => {
                    (named(model, module, ident), format!("{path}.<key>"))
                }
                _ => (None, path.clone()),
            },
            _ => (None, path.clone()),
        };
        match inner {
            Some(TypeModel::Struct(s)) => nested_limits(model, &s.fields, &entry, depth + 1, out),
            Some(TypeModel::Union(u)) => {
                for v in &u.variants {
                    if let TypeRef::Named { module, ident, .. } = &v.ty
                        && let Some(TypeModel::Struct(s)) = named(model, module, ident)
                    {
                        let at = match entry.is_empty() {
                            true => v.wire.clone(),
                            false => format!("{entry}.{}", v.wire),
                        };
                        nested_limits(model, &s.fields, &at, depth + 1, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn call_doc(model: &Model, ep: &Endpoint) -> Vec<String> {
    let mut lines = vec![
        format!("{} — {}.", ep.summary.zh, ep.summary.en),
        String::new(),
    ];
    let retry = match (ep.idempotent, &ep.idempotent_when) {
        (true, _) => {
            "Idempotent: retried on connection errors, timeouts, HTTP 5xx and errcode -1.".into()
        }
        (false, Some(field)) => format!(
            "Retried like a read when `{field}` is given (WeChat then sends it once); \
             otherwise never retried once the request may have reached WeChat."
        ),
        (false, None) => {
            "Not idempotent: never retried once the request may have reached WeChat.".into()
        }
    };
    lines.push(format!("`{} {}` · {retry}", ep.method, ep.path));
    if !ep.notes.is_empty() {
        lines.push(String::new());
        lines.extend(ep.notes.iter().map(|n| format!("- {n}")));
    }
    if !ep.permission_sets.is_empty() {
        let sets: Vec<String> = ep.permission_sets.iter().map(u32::to_string).collect();
        lines.push(String::new());
        lines.push(format!(
            "Through a third-party platform, the account must have granted one of the permission \
             sets (权限集) {}: a `Platform`'s client refuses the call before sending otherwise.",
            sets.join(", ")
        ));
    }
    let mut checked = Vec::new();
    nested_limits(model, &ep.request.fields, "", 0, &mut checked);
    let limited: Vec<String> = checked
        .into_iter()
        .map(|(path, l)| format!("- `{path}`: {l}"))
        .chain(
            ep.spans
                .iter()
                .map(|s| format!("- `{}` − `{}`: 0–{} seconds", s.end, s.start, s.max)),
        )
        .collect();
    if !limited.is_empty() {
        lines.push(String::new());
        lines.push("Checked before sending (a violation is [`Error::Invalid`](::wx_kefu_runtime::Error::Invalid)):".into());
        lines.extend(limited);
    }
    if !ep.errors.is_empty() {
        lines.push(String::new());
        lines.push("Errors WeChat documents for this call:".into());
        for code in &ep.errors {
            if let Some(e) = model.errors.iter().find(|e| e.code == *code) {
                lines.push(format!(
                    "- {code} [`ErrCode::{}`](::wx_kefu_runtime::ErrCode::{}): {}",
                    e.ident, e.ident, e.en
                ));
            }
        }
    }
    lines.push(String::new());
    lines.push(format!("Official documentation: <{}>", ep.doc_url));
    lines.push(String::new());
    lines.push("# Example".into());
    lines.push("```no_run".into());
    lines.push(
        "# async fn example(client: wx_kefu_api::Client) -> Result<(), wx_kefu_api::Error> {"
            .into(),
    );
    lines.push("use wx_kefu_api::*;".into());
    match &ep.example {
        Some(example) => lines.extend(example.lines().map(str::to_owned)),
        None => {
            let request = Example::of_struct(model, &ep.ident, &ep.request.fields);
            let args = match (&request, positional(ep)) {
                (Example::Struct { fields, .. }, true) => {
                    Example::rust_list(fields.iter().map(|(_, e)| e))
                }
                _ => request.rust(),
            };
            match &ep.response {
                Response::Ack => lines.push(format!("client.{}({args}).await?;", ep.name)),
                Response::Type(_) => {
                    lines.push(format!("let answer = client.{}({args}).await?;", ep.name));
                    lines.push("println!(\"{answer:?}\");".into());
                }
                Response::Download(_) => {
                    lines.push(format!("match client.{}({args}).await? {{", ep.name));
                    lines.push(
                        "    Download::File(file) => { file.save(\"media.bin\").await?; }".into(),
                    );
                    lines.push("    other => println!(\"{other:?}\"),".into());
                    lines.push("}".into());
                }
            }
        }
    }
    lines.push("# Ok(())".into());
    lines.push("# }".into());
    lines.push("```".into());
    lines
}

pub fn trait_file(model: &Model) -> TokenStream {
    let header =
        inner_doc(&["[`KefuApi`]: every call of the API as a method of the client.".into()]);
    let mut decls = Vec::new();
    let mut impls = Vec::new();
    let mut arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut check_arms = Vec::new();
    let mut download_arms = Vec::new();
    let mut example_arms = Vec::new();
    for module in &model.modules {
        let m = ident(&module.name);
        for ep in &module.endpoints {
            let name = ident(&ep.name);
            let req = ident(&ep.ident);
            // Seen from module `api`, other modules' types are `super::<module>::<Type>`.
            let (response, method) = match &ep.response {
                Response::Ack => (quote!(::wx_kefu_runtime::Ack), quote!(call)),
                Response::Type(t) => (rust_type(t, "api"), quote!(call)),
                Response::Download(t) => {
                    let t = rust_type(t, "api");
                    (quote!(::wx_kefu_runtime::Download<#t>), quote!(download))
                }
            };
            let (params, build) = if positional(ep) {
                let fields = &ep.request.fields;
                let params = fields.iter().map(|f| {
                    let (p, t) = (ident(&f.wire), param_type(&f.ty, "api"));
                    quote!(#p: #t)
                });
                let args = fields.iter().map(|f| ident(&f.wire));
                (
                    params.collect::<Vec<_>>(),
                    quote!(super::#m::#req::new(#(#args),*)),
                )
            } else {
                (vec![quote!(request: super::#m::#req)], quote!(request))
            };
            let d = doc(&call_doc(model, ep));
            let ret = quote!(impl ::std::future::Future<Output = ::std::result::Result<#response, ::wx_kefu_runtime::Error>> + Send);
            decls.push(quote! {
                #d
                fn #name(&self, #(#params),*) -> #ret;
            });
            impls.push(quote! {
                // Inline: each program compiles the calls it makes, not all of them.
                #[inline]
                fn #name(&self, #(#params),*) -> #ret {
                    self.#method(#build)
                }
            });
            let wire_name = &ep.name;
            match ep.response {
                Response::Download(_) => {
                    download_arms.push(
                        quote!(#wire_name => download_value::<super::#req>(client, request).await,),
                    );
                    arms.push(quote!(#wire_name => Err(::wx_kefu_runtime::dynamic::DynamicError::FileAnswer(#wire_name)),));
                }
                _ => {
                    arms.push(
                        quote!(#wire_name => call_value::<super::#req>(client, request).await,),
                    );
                    download_arms.push(quote!(#wire_name => Err(::wx_kefu_runtime::dynamic::DynamicError::NotAFile(#wire_name)),));
                }
            }
            decode_arms.push(quote!(#wire_name => decode_value::<super::#req>(status, body),));
            check_arms.push(quote!(#wire_name => check_value::<super::#req>(request),));
            let example = Example::of_struct(model, &ep.ident, &ep.request.fields).json();
            example_arms.push(quote!((#wire_name, #example),));
        }
    }
    quote! {
        #header
        use ::wx_kefu_runtime::support::{call_value, check_value, decode_value, download_value};
        /// Every call of the customer-service API, implemented for [`Client`](::wx_kefu_runtime::Client).
        ///
        /// Bring it into scope with `use wx_kefu_api::KefuApi;` (or `use wx_kefu_api::*;`).
        /// Each call checks its request before sending (see [`Error::Invalid`](::wx_kefu_runtime::Error::Invalid)),
        /// then runs through the client's token cache and retry policy.
        pub trait KefuApi {
            #(#decls)*
        }
        impl KefuApi for ::wx_kefu_runtime::Client {
            #(#impls)*
        }
        /// Calls the endpoint named `name` (its spec name, e.g. `get_kf_list`) with a JSON request,
        /// answering JSON: for tools that choose the call at run time, such as the CLI.
        ///
        /// The request is decoded into the endpoint's type, so it is checked exactly as a typed call is;
        /// a file field is a path.
        #[inline]
        pub async fn call_json(
            client: &::wx_kefu_runtime::Client,
            name: &str,
            request: ::serde_json::Value,
        ) -> ::std::result::Result<::serde_json::Value, ::wx_kefu_runtime::dynamic::DynamicError> {
            match name {
                #(#arms)*
                other => Err(::wx_kefu_runtime::dynamic::DynamicError::UnknownEndpoint(other.to_owned())),
            }
        }
        /// Downloads with the endpoint named `name` (one whose answer is a file, such as
        /// `get_temp_media`) and a JSON request: the file, or WeChat's JSON answer instead
        /// of one as JSON. For tools that choose the call at run time, such as the CLI.
        #[inline]
        pub async fn download_json(
            client: &::wx_kefu_runtime::Client,
            name: &str,
            request: ::serde_json::Value,
        ) -> ::std::result::Result<::wx_kefu_runtime::Download<::serde_json::Value>, ::wx_kefu_runtime::dynamic::DynamicError> {
            match name {
                #(#download_arms)*
                other => Err(::wx_kefu_runtime::dynamic::DynamicError::UnknownEndpoint(other.to_owned())),
            }
        }
        /// Decodes `body`, answered with HTTP `status` to the endpoint named `name`, exactly as
        /// a call decodes its answer, and encodes the result as JSON: for the fuzz harness
        /// (`cargo xtask fuzz`). `None` when no endpoint has that name.
        #[doc(hidden)]
        #[inline]
        pub fn decode_json(
            name: &str,
            status: u16,
            body: &[u8],
        ) -> Option<::std::result::Result<::serde_json::Value, ::wx_kefu_runtime::Error>> {
            Some(match name {
                #(#decode_arms)*
                _ => return None,
            })
        }
        /// Checks a JSON request of the endpoint named `name` as a typed call checks it (its
        /// type, then every rule of the spec), without sending anything: for the emulator,
        /// which answers a request that breaks the spec's rules as WeChat would even for an
        /// endpoint it has no behaviour for. `None` when no endpoint has that name.
        #[doc(hidden)]
        pub fn check_json(
            name: &str,
            request: ::serde_json::Value,
        ) -> Option<::std::result::Result<(), ::wx_kefu_runtime::dynamic::RequestProblem>> {
            Some(match name {
                #(#check_arms)*
                _ => return None,
            })
        }
        /// Every endpoint's example request, built from the spec's examples as the JSON
        /// [`call_json`] takes: valid by the spec's rules.
        static EXAMPLE_REQUESTS: &[(&str, &str)] = &[#(#example_arms)*];
        /// A request of the endpoint named `name` that passes its checks, for tools and tests
        /// that need a request of any endpoint. `None` when no endpoint has that name.
        #[doc(hidden)]
        pub fn example_request(name: &str) -> Option<&'static str> {
            EXAMPLE_REQUESTS.iter().find(|(n, _)| *n == name).map(|(_, example)| *example)
        }
    }
}
