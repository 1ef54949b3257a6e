//! The inbound crate's pushes: one module per spec file with a struct per kind (and its
//! `FromFields` impl), and the index with the two families, `UserMessage` and `Event`,
//! each an enum that keeps unknown kinds, with its `Family` impl.

use proc_macro2::TokenStream;
use quote::quote;

use super::super::model::{Model, PushField, PushKind, PushModule, PushType};
use super::{doc, ident, inner_doc};

/// Where the inbound crate's generated files go.
pub const DIR: &str = "crates/wx-kefu-inbound/src/generated";

/// The crate the doc examples use.
const CRATE: &str = "wx_kefu_inbound";

fn title(module: &PushModule) -> String {
    module
        .title
        .as_ref()
        .map(|t| format!("{} — {}.", t.zh, t.en))
        .unwrap_or_else(|| "Pushes.".into())
}

/// `generated/<file>.rs`: the structs of one spec file.
pub fn module_file(module: &PushModule) -> TokenStream {
    let header = inner_doc(&[
        title(module),
        String::new(),
        format!("Generated from `{}`.", module.file),
    ]);
    let messages = module
        .messages
        .iter()
        .map(|kind| structure(kind, Family::Message));
    let events = module
        .events
        .iter()
        .map(|kind| structure(kind, Family::Event));
    quote! {
        #header
        #(#messages)*
        #(#events)*
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Message,
    Event,
}

impl Family {
    /// The enum's name.
    fn ident(self) -> &'static str {
        match self {
            Family::Message => "UserMessage",
            Family::Event => "Event",
        }
    }

    /// The field that names the kind.
    fn tag(self) -> &'static str {
        match self {
            Family::Message => "MsgType",
            Family::Event => "Event",
        }
    }

    /// The accessor of `Push` that yields this family.
    fn accessor(self) -> &'static str {
        match self {
            Family::Message => "message",
            Family::Event => "event",
        }
    }
}

fn field_doc(field: &PushField) -> Vec<String> {
    let mut lines = match &field.doc {
        Some(t) if t.zh == t.en => vec![t.en.clone()],
        Some(t) => vec![t.zh.clone(), String::new(), t.en.clone()],
        None => Vec::new(),
    };
    if !lines.is_empty() {
        lines.push(String::new());
    }
    lines.push(format!(
        "XML: `<{}>`{}.",
        field.wire,
        if field.required { "" } else { ", optional" }
    ));
    lines
}

/// A complete sample push of this kind, as WeChat sends it.
fn sample_xml(kind: &PushKind, family: Family) -> String {
    let cdata = |text: &str| format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"));
    let mut xml = format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>1700000000</CreateTime>",
        cdata("gh_0123456789ab"),
        cdata("OPENID")
    );
    match family {
        Family::Message => xml.push_str(&format!("<MsgType>{}</MsgType>", cdata(&kind.wire))),
        Family::Event => xml.push_str(&format!(
            "<MsgType>{}</MsgType><Event>{}</Event>",
            cdata("event"),
            cdata(&kind.wire)
        )),
    }
    for field in &kind.fields {
        let value = match field.ty {
            PushType::String => cdata(&field.example),
            PushType::Integer | PushType::Float => field.example.clone(),
        };
        xml.push_str(&format!("<{0}>{value}</{0}>", field.wire));
    }
    if family == Family::Message {
        xml.push_str("<MsgId>1234567890123456</MsgId>");
    }
    xml.push_str("</xml>");
    xml
}

/// The doc example: the sample push decodes to this kind, with the sample's values.
fn example(kind: &PushKind, family: Family) -> Vec<String> {
    let enum_name = family.ident();
    let variant = &kind.variant;
    let mut lines = vec![
        "```".to_owned(),
        format!("use {CRATE}::{{Push, {enum_name}}};"),
        String::new(),
        format!("let push = Push::parse({:?})?;", sample_xml(kind, family)),
    ];
    if kind.fields.is_empty() {
        lines.push(format!(
            "assert!(matches!(push.{}(), Some({enum_name}::{variant}(_))));",
            family.accessor()
        ));
    } else {
        lines.extend([
            format!(
                "let Some({enum_name}::{variant}(pushed)) = push.{}() else {{",
                family.accessor()
            ),
            format!("    panic!(\"expected {enum_name}::{variant}\");"),
            "};".to_owned(),
        ]);
    }
    for field in &kind.fields {
        let rust = ident(&field.rust);
        let expected = match field.ty {
            PushType::String => format!("{:?}", field.example),
            PushType::Integer => field.example.clone(),
            PushType::Float => format!("{:?}", field.example.parse::<f64>().unwrap_or(0.0)),
        };
        lines.push(if field.required {
            format!("assert_eq!(pushed.{rust}, {expected});")
        } else if field.ty == PushType::String {
            format!("assert_eq!(pushed.{rust}.as_deref(), Some({expected}));")
        } else {
            format!("assert_eq!(pushed.{rust}, Some({expected}));")
        });
    }
    lines.push(format!("# Ok::<(), {CRATE}::Error>(())"));
    lines.push("```".to_owned());
    lines
}

fn structure(kind: &PushKind, family: Family) -> TokenStream {
    let name = ident(&kind.ident);
    let mut lines = vec![
        format!("{} — {}.", kind.summary.zh, kind.summary.en),
        String::new(),
        format!(
            "The push with `{}` `{}`, as [`{}::{}`](crate::{}::{}). Official documentation: <{}>",
            family.tag(),
            kind.wire,
            family.ident(),
            kind.variant,
            family.ident(),
            kind.variant,
            kind.doc_url
        ),
    ];
    for note in &kind.notes {
        lines.push(String::new());
        lines.push(note.clone());
    }
    lines.push(String::new());
    lines.extend(example(kind, family));
    let docs = doc(&lines);
    let fields = kind.fields.iter().map(|f| {
        let fname = ident(&f.rust);
        let fdoc = doc(&field_doc(f));
        let ty = match f.ty {
            PushType::String => quote!(String),
            PushType::Integer => quote!(i64),
            PushType::Float => quote!(f64),
        };
        let ty = if f.required { ty } else { quote!(Option<#ty>) };
        quote! {
            #fdoc
            pub #fname: #ty,
        }
    });
    let reads = kind.fields.iter().map(|f| {
        let fname = ident(&f.rust);
        let wire = &f.wire;
        let method = match (f.ty, f.required) {
            (PushType::String, true) => quote!(string),
            (PushType::String, false) => quote!(opt_string),
            (PushType::Integer, true) => quote!(integer),
            (PushType::Integer, false) => quote!(opt_integer),
            (PushType::Float, true) => quote!(float),
            (PushType::Float, false) => quote!(opt_float),
        };
        quote!(#fname: fields.#method(#wire)?,)
    });
    let fields_param = if kind.fields.is_empty() {
        quote!(_fields)
    } else {
        quote!(fields)
    };
    quote! {
        #docs
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct #name {
            #(#fields)*
        }
        impl crate::FromFields for #name {
            fn from_fields(#fields_param: &crate::Fields) -> crate::Result<Self> {
                Ok(#name { #(#reads)* })
            }
        }
    }
}

/// `generated/mod.rs`: the modules and the two families.
pub fn index(model: &Model) -> TokenStream {
    let header = inner_doc(&[
        "The kinds of pushes, generated from `api-spec/`: one struct per kind, and the two families that tell them apart.".into(),
        String::new(),
        "Regenerate with `cargo xtask codegen`; never edit by hand.".into(),
    ]);
    let mods = model.pushes.iter().map(|m| {
        let name = ident(&m.name);
        let d = doc(&[title(m)]);
        quote!(#d pub mod #name;)
    });
    let uses = model.pushes.iter().map(|m| {
        let name = ident(&m.name);
        quote!(pub use #name::*;)
    });
    let messages: Vec<&PushKind> = model.pushes.iter().flat_map(|m| &m.messages).collect();
    let events: Vec<&PushKind> = model.pushes.iter().flat_map(|m| &m.events).collect();
    let user_message = family(
        Family::Message,
        &messages,
        &[
            "A message a user sent, told apart by `MsgType`.".into(),
            String::new(),
            "Hand it to the agents by answering [`Reply::transfer_customer_service`](crate::Reply::transfer_customer_service).".into(),
        ],
    );
    let event = family(
        Family::Event,
        &events,
        &["An event (`MsgType=event`), told apart by `Event`.".into()],
    );
    quote! {
        #header
        #(#mods)*
        #(#uses)*
        #user_message
        #event
    }
}

fn family(family: Family, kinds: &[&PushKind], doc_lines: &[String]) -> TokenStream {
    let name = ident(family.ident());
    let docs = doc(doc_lines);
    let tag = family.tag();
    let variants = kinds.iter().map(|k| {
        let v = ident(&k.variant);
        let s = ident(&k.ident);
        let d = doc(&[format!(
            "`{}`: {} — {}.",
            k.wire, k.summary.zh, k.summary.en
        )]);
        quote!(#d #v(#s),)
    });
    let unknown_doc = doc(&[format!(
        "A `{tag}` this version does not know, as sent; the push's fields are all in [`Push::fields`](crate::Push::fields)."
    )]);
    let wires: Vec<&String> = kinds.iter().map(|k| &k.wire).collect();
    let decode = if kinds.is_empty() {
        quote! {
            let _ = fields;
            Ok(Self::Unknown(tag.to_owned()))
        }
    } else {
        // Kinds are matched ignoring ASCII case, without lowering the tag into a new string.
        let arms = kinds.iter().map(|k| {
            let v = ident(&k.variant);
            let wire = &k.wire;
            quote!(if tag.eq_ignore_ascii_case(#wire) { return Ok(Self::#v(fields.decode()?)); })
        });
        quote! {
            #(#arms)*
            Ok(Self::Unknown(tag.to_owned()))
        }
    };
    let tag_arms = kinds.iter().map(|k| {
        let v = ident(&k.variant);
        let wire = &k.wire;
        quote!(#name::#v(_) => #wire,)
    });
    // The kinds that carry a `MediaId` (a temporary media WeChat keeps 3 days).
    let media_arms: Vec<TokenStream> = kinds
        .iter()
        .filter_map(|k| {
            let field = k.fields.iter().find(|f| f.wire == "MediaId")?;
            let (v, f) = (ident(&k.variant), ident(&field.rust));
            Some(match field.required {
                true => quote!(#name::#v(kind) => Some(&kind.#f),),
                false => quote!(#name::#v(kind) => kind.#f.as_deref(),),
            })
        })
        .collect();
    let media_id = (!media_arms.is_empty()).then(|| {
        let d = doc(&[
            "The `MediaId` of a kind that carries one (a picture, a recording, a video): the id `get_temp_media` downloads, for 3 days.".into(),
        ]);
        quote! {
            impl #name {
                #d
                pub fn media_id(&self) -> Option<&str> {
                    match self {
                        #(#media_arms)*
                        _ => None,
                    }
                }
            }
        }
    });
    quote! {
        #media_id
        #docs
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum #name {
            #(#variants)*
            #unknown_doc
            Unknown(String),
        }
        impl crate::Family for #name {
            const TAG: &'static str = #tag;
            const KINDS: &'static [&'static str] = &[#(#wires),*];
            fn decode(tag: &str, fields: &crate::Fields) -> crate::Result<Self> {
                #decode
            }
            fn tag(&self) -> &str {
                match self {
                    #(#tag_arms)*
                    #name::Unknown(tag) => tag,
                }
            }
        }
    }
}
