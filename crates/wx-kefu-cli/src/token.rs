//! `wx-kefu token`: fetch an access token the way every command does and print its expiry.
//! The token itself is printed only with `--show`.
//!
//! The client's own token store is wrapped so that the `expires_in` of the fetch is seen:
//! the command exercises exactly the path calls take (stable token by default).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use wx_kefu_api::token::BoxFuture;
use wx_kefu_api::{AccessToken, FetchedToken, MemoryTokenStore, Result, TokenFetcher, TokenStore};

use crate::cli::TokenArgs;
use crate::context::Context;
use crate::error::CliResult;
use crate::time;

/// Runs `wx-kefu token`.
pub async fn run(context: &Context, args: &TokenArgs) -> CliResult {
    let printer = &context.printer;
    if let Some(token) = context.access_token() {
        if printer.json {
            let mut doc = json!({ "source": "external", "expires_in": null, "expires_at": null });
            if args.show {
                doc["access_token"] = json!(token);
            }
            return printer.json(&doc);
        }
        let mut pairs = vec![
            (
                "source",
                "external (--access-token / WX_ACCESS_TOKEN)".to_owned(),
            ),
            (
                "expires_in",
                "unknown: the token is managed elsewhere".to_owned(),
            ),
        ];
        pairs.push(("token", shown(token, args.show)));
        return printer.pairs(&pairs);
    }
    let store = Arc::new(Capturing::default());
    let client = context.builder()?.token_store(Arc::clone(&store)).build()?;
    if args.refresh {
        client.refresh_token().await?;
    }
    let token = client.access_token().await?;
    let fetched_at = time::now();
    let expires_in = store.expires_in();
    let seconds = expires_in.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let expires_at = seconds.map(|s| fetched_at.saturating_add(s));
    let appid = context.appid().0.unwrap_or_default();
    if printer.json {
        let mut doc = json!({
            "appid": appid,
            "source": "stable_token",
            "refreshed": args.refresh,
            "expires_in": seconds,
            "expires_at": expires_at.map(time::format_rfc3339),
        });
        if args.show {
            doc["access_token"] = json!(token.expose());
        }
        return printer.json(&doc);
    }
    let unknown = || "unknown".to_owned();
    printer.pairs(&[
        ("appid", appid),
        ("source", "stable_token".to_owned()),
        (
            "expires_in",
            seconds.map_or_else(unknown, |s| format!("{s} s")),
        ),
        (
            "expires_at",
            expires_at.map_or_else(unknown, |at| time::format_local(at, &printer.tz)),
        ),
        ("token", shown(token.expose(), args.show)),
    ])
}

fn shown(token: &str, show: bool) -> String {
    match show {
        true => token.to_owned(),
        false => format!(
            "(hidden, {} characters; --show prints it)",
            token.chars().count()
        ),
    }
}

/// A [`MemoryTokenStore`] that remembers the `expires_in` of the last fetch.
#[derive(Debug, Default)]
struct Capturing {
    inner: MemoryTokenStore,
    expires_in: Mutex<Option<Duration>>,
}

impl Capturing {
    fn expires_in(&self) -> Option<Duration> {
        *self
            .expires_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Passes fetches through and notes their `expires_in`.
struct Noting<'a> {
    inner: &'a dyn TokenFetcher,
    seen: &'a Mutex<Option<Duration>>,
}

impl TokenFetcher for Noting<'_> {
    fn fetch(&self, force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        Box::pin(async move {
            let fetched = self.inner.fetch(force_refresh).await?;
            *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(fetched.expires_in);
            Ok(fetched)
        })
    }
}

impl TokenStore for Capturing {
    fn get<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let noting = Noting {
                inner: fetcher,
                seen: &self.expires_in,
            };
            self.inner.get(&noting).await
        })
    }

    fn invalidate<'a>(&'a self, failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        self.inner.invalidate(failed)
    }

    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let noting = Noting {
                inner: fetcher,
                seen: &self.expires_in,
            };
            self.inner.refresh(&noting).await
        })
    }
}
