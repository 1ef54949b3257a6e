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
        pub use api::{KefuApi, call_json};
        #[doc(hidden)]
        pub use api::{decode_json, example_request};
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

/// An example value of a field as Rust code for the doc example: its `example:` where the
/// spec gives one, otherwise one built from its type (a struct from its required fields,
/// an array of one item, an enum's first value), so the example always compiles.
fn example_rust(model: &Model, field: &Field) -> String {
    example_rust_of(
        model,
        &field.ty,
        field.example.as_ref(),
        &field.wire,
        &field.rules,
    )
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

fn example_rust_of(
    model: &Model,
    ty: &TypeRef,
    example: Option<&Scalar>,
    wire: &str,
    rules: &Rules,
) -> String {
    match ty {
        TypeRef::File => "Upload::path(\"avatar.jpg\")".into(),
        TypeRef::Array(item) => {
            let one = example_rust_of(model, item, None, wire, &Rules::default());
            let n = rules.min_items.unwrap_or(1).max(1);
            format!("vec![{}]", vec![one; n as usize].join(", "))
        }
        TypeRef::Named { module, ident, .. } => match named(model, module, ident) {
            Some(TypeModel::Enum(e)) => {
                let value = example_value(e, example);
                value.map_or_else(
                    || format!("{ident}::default()"),
                    |v| format!("{ident}::{}", v.ident),
                )
            }
            Some(TypeModel::Struct(s)) => {
                let args: Vec<String> = s
                    .fields
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| example_rust(model, f))
                    .collect();
                format!("{ident}::new({})", args.join(", "))
            }
            Some(TypeModel::Union(u)) => match u.variants.first() {
                Some(v) => format!(
                    "{ident}::{}({})",
                    v.ident,
                    example_rust_of(model, &v.ty, None, &v.wire, &Rules::default())
                ),
                None => format!("{ident}::default()"),
            },
            None => format!("{ident}::default()"),
        },
        TypeRef::StringOrNumber => match example {
            Some(Scalar::Int(n)) => format!("StringOrNumber::from({n})"),
            Some(Scalar::Str(s)) => format!("StringOrNumber::from({s:?})"),
            None => "StringOrNumber::from(\"1\")".into(),
        },
        TypeRef::Integer => match example {
            Some(Scalar::Int(n)) => n.to_string(),
            Some(Scalar::Str(s)) => s.clone(),
            None => rules.min.unwrap_or(0).to_string(),
        },
        TypeRef::Bool => "false".into(),
        TypeRef::String => match example {
            Some(Scalar::Str(s)) => format!("{s:?}"),
            Some(Scalar::Int(n)) => format!("\"{n}\""),
            None => format!("{:?}", wire.to_uppercase()),
        },
    }
}

/// The same example as JSON, the request a dynamic call takes: for tools and tests that
/// need a valid request of any endpoint (the fault matrix), through `example_request`.
fn example_json(
    model: &Model,
    ty: &TypeRef,
    example: Option<&Scalar>,
    wire: &str,
    rules: &Rules,
) -> String {
    match ty {
        TypeRef::File => "\"avatar.jpg\"".into(),
        TypeRef::Array(item) => {
            let one = example_json(model, item, None, wire, &Rules::default());
            let n = rules.min_items.unwrap_or(1).max(1);
            format!("[{}]", vec![one; n as usize].join(","))
        }
        TypeRef::Named { module, ident, .. } => match named(model, module, ident) {
            Some(TypeModel::Enum(e)) => {
                let value = example_value(e, example);
                match value {
                    Some(v) => v
                        .number
                        .map_or_else(|| json_string(&v.wire), |n| n.to_string()),
                    None => "null".into(),
                }
            }
            Some(TypeModel::Struct(s)) => object_json(model, &s.fields),
            Some(TypeModel::Union(u)) => match u.variants.first() {
                Some(v) => format!(
                    "{{{}:{},{}:{}}}",
                    json_string(&u.tag),
                    json_string(&v.wire),
                    json_string(&v.wire),
                    example_json(model, &v.ty, None, &v.wire, &Rules::default())
                ),
                None => "null".into(),
            },
            None => "null".into(),
        },
        TypeRef::StringOrNumber => match example {
            Some(Scalar::Int(n)) => n.to_string(),
            Some(Scalar::Str(s)) => json_string(s),
            None => "\"1\"".into(),
        },
        TypeRef::Integer => match example {
            Some(Scalar::Int(n)) => n.to_string(),
            Some(Scalar::Str(s)) => s.clone(),
            None => rules.min.unwrap_or(0).to_string(),
        },
        TypeRef::Bool => "false".into(),
        TypeRef::String => match example {
            Some(Scalar::Str(s)) => json_string(s),
            Some(Scalar::Int(n)) => format!("\"{n}\""),
            None => json_string(&wire.to_uppercase()),
        },
    }
}

/// The required fields of a struct (or a request) as a JSON object; a flattened union's
/// tag and payload sit beside the other fields.
fn object_json(model: &Model, fields: &[Field]) -> String {
    let members: Vec<String> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| {
            let value = example_json(model, &f.ty, f.example.as_ref(), &f.wire, &f.rules);
            match f.flatten {
                // `{"tag":…,"x":{…}}` without its braces.
                true => value
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .unwrap_or(&value)
                    .to_owned(),
                false => format!("{}:{value}", json_string(&f.wire)),
            }
        })
        .collect();
    format!("{{{}}}", members.join(","))
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

fn call_doc(model: &Model, ep: &Endpoint) -> Vec<String> {
    let mut lines = vec![
        format!("{} — {}.", ep.summary.zh, ep.summary.en),
        String::new(),
    ];
    let retry = if ep.idempotent {
        "Idempotent: retried on connection errors, timeouts, HTTP 5xx and errcode -1."
    } else {
        "Not idempotent: never retried once the request may have reached WeChat."
    };
    lines.push(format!("`{} {}` · {retry}", ep.method, ep.path));
    if !ep.notes.is_empty() {
        lines.push(String::new());
        lines.extend(ep.notes.iter().map(|n| format!("- {n}")));
    }
    let limited: Vec<String> = ep
        .request
        .fields
        .iter()
        .filter_map(|f| {
            let l = limits(f);
            (!l.is_empty()).then(|| format!("- `{}`: {l}", f.wire))
        })
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
            let args = if positional(ep) {
                ep.request
                    .fields
                    .iter()
                    .map(|f| example_rust(model, f))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                let required: Vec<String> = ep
                    .request
                    .fields
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| example_rust(model, f))
                    .collect();
                format!("{}::new({})", ep.ident, required.join(", "))
            };
            match &ep.response {
                Response::Ack => lines.push(format!("client.{}({args}).await?;", ep.name)),
                Response::Type(_) => {
                    lines.push(format!("let answer = client.{}({args}).await?;", ep.name));
                    lines.push("println!(\"{answer:?}\");".into());
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
    let mut example_arms = Vec::new();
    for module in &model.modules {
        let m = ident(&module.name);
        for ep in &module.endpoints {
            let name = ident(&ep.name);
            let req = ident(&ep.ident);
            // Seen from module `api`, other modules' types are `super::<module>::<Type>`.
            let response = match &ep.response {
                Response::Ack => quote!(::wx_kefu_runtime::Ack),
                Response::Type(t) => rust_type(t, "api"),
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
                fn #name(&self, #(#params),*) -> #ret {
                    self.call(#build)
                }
            });
            let wire_name = &ep.name;
            arms.push(quote!(#wire_name => call_value::<super::#req>(client, request).await,));
            decode_arms.push(quote!(#wire_name => decode_value::<super::#req>(status, body),));
            let example = object_json(model, &ep.request.fields);
            example_arms.push(quote!((#wire_name, #example),));
        }
    }
    quote! {
        #header
        use ::wx_kefu_runtime::support::{call_value, decode_value};
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
        /// Decodes `body`, answered with HTTP `status` to the endpoint named `name`, exactly as
        /// a call decodes its answer, and encodes the result as JSON: for the fuzz harness
        /// (`cargo xtask fuzz`). `None` when no endpoint has that name.
        #[doc(hidden)]
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
