//! The error-code catalogue, emitted into the runtime crate (its `Error` carries an `ErrCode`).

use proc_macro2::TokenStream;
use quote::quote;

use super::super::model::ErrorCode;
use super::{doc, ident, inner_doc, int};

pub fn index() -> TokenStream {
    let header = inner_doc(&["Code generated from `api-spec/` by `cargo xtask codegen`.".into()]);
    quote! {
        #header
        #[rustfmt::skip]
        pub mod errcode;
    }
}

pub fn file(errors: &[ErrorCode]) -> TokenStream {
    let header = inner_doc(&[
        "The error-code catalogue: every errcode the customer-service API documents.".into(),
        String::new(),
        "Generated from `api-spec/errors.yaml`.".into(),
    ]);
    let variants = errors.iter().map(|e| {
        let v = ident(&e.ident);
        let d = doc(&[format!("{}: {}", e.code, e.zh), String::new(), e.en.clone()]);
        quote!(#d #v,)
    });
    let from = errors.iter().map(|e| {
        let (v, c) = (ident(&e.ident), int(e.code));
        quote!(#c => ErrCode::#v,)
    });
    let to = errors.iter().map(|e| {
        let (v, c) = (ident(&e.ident), int(e.code));
        quote!(ErrCode::#v => #c,)
    });
    let zh = errors.iter().map(|e| {
        let (v, t) = (ident(&e.ident), &e.zh);
        quote!(ErrCode::#v => #t,)
    });
    let en = errors.iter().map(|e| {
        let (v, t) = (ident(&e.ident), &e.en);
        quote!(ErrCode::#v => #t,)
    });
    let all = errors.iter().map(|e| {
        let v = ident(&e.ident);
        quote!(ErrCode::#v)
    });
    let flag = |flag: &str| -> TokenStream {
        let vs: Vec<TokenStream> = errors
            .iter()
            .filter(|e| e.flags.iter().any(|f| f == flag))
            .map(|e| {
                let v = ident(&e.ident);
                quote!(ErrCode::#v)
            })
            .collect();
        if vs.is_empty() {
            quote!(false)
        } else {
            quote!(matches!(self, #(#vs)|*))
        }
    };
    let token_invalid = flag("token_invalid");
    let transient = flag("transient");
    let never_retry = flag("never_retry");
    let out_of_window = flag("out_of_window");
    let fixes: Vec<TokenStream> = errors
        .iter()
        .filter_map(|e| {
            e.fix.as_ref().map(|fix| {
                let v = ident(&e.ident);
                quote!(ErrCode::#v => Some(#fix),)
            })
        })
        .collect();
    let fix_body = if fixes.is_empty() {
        quote!(None)
    } else {
        quote!(match self { #(#fixes)* _ => None, })
    };
    quote! {
        #header
        /// A WeChat errcode: a named code of the catalogue, or [`ErrCode::Unknown`] for any other.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrCode {
            #(#variants)*
            /// A code the catalogue does not name, kept as sent.
            Unknown(i64),
        }
        impl ErrCode {
            /// Every named code, in catalogue order.
            pub const ALL: &'static [ErrCode] = &[#(#all),*];
            /// The code for a number (`Unknown` when the catalogue does not name it).
            pub const fn from_code(code: i64) -> Self {
                match code {
                    #(#from)*
                    other => ErrCode::Unknown(other),
                }
            }
            /// The number on the wire.
            pub const fn code(self) -> i64 {
                match self {
                    #(#to)*
                    ErrCode::Unknown(code) => code,
                }
            }
            /// The meaning in Chinese, as WeChat documents it (empty for `Unknown`).
            pub const fn zh(self) -> &'static str {
                match self {
                    #(#zh)*
                    ErrCode::Unknown(_) => "",
                }
            }
            /// The meaning in English (empty for `Unknown`).
            pub const fn en(self) -> &'static str {
                match self {
                    #(#en)*
                    ErrCode::Unknown(_) => "",
                }
            }
            /// The access token used was rejected (invalid, not the latest, or expired):
            /// refresh it and replay the call once.
            pub const fn is_token_invalid(self) -> bool {
                #token_invalid
            }
            /// A passing failure: an idempotent call may be retried.
            pub const fn is_transient(self) -> bool {
                #transient
            }
            /// Retrying cannot help (quota, reply window, permission, account state).
            pub const fn is_never_retried(self) -> bool {
                #never_retry
            }
            /// The user cannot be messaged now: outside the reply window or over its count.
            pub const fn is_out_of_window(self) -> bool {
                #out_of_window
            }
            /// What the operator must fix when fetching a token fails with this code.
            pub const fn token_fetch_hint(self) -> Option<&'static str> {
                #fix_body
            }
        }
        impl ::std::fmt::Display for ErrCode {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.en() {
                    "" => write!(f, "{}", self.code()),
                    en => write!(f, "{} ({})", self.code(), en.trim_end_matches('.')),
                }
            }
        }
    }
}
