//! A third-party platform's two stores on Redis (feature `redis`), shared by every instance.
//!
//! - [`RedisAuthorizations`], the durable store: a hash `<prefix>{<component>}:ticket`
//!   (`value`, `issued_at`; a script keeps the later ticket) and a hash
//!   `<prefix>{<component>}:authorizations` from authorizer appid to its refresh token,
//!   permission sets and time. **Run it on a Redis that persists** (AOF, or RDB snapshots
//!   more often than the tokens matter to you), or on its own database: a lost hash costs a
//!   recovery through `api_get_authorizer_list` and up to 10 minutes without a ticket.
//! - [`RedisPlatformTokens`], the cache: a [`RedisTokenStore`] per token, keyed
//!   `<prefix>{<component>:component}:…` and `<prefix>{<component>:<authorizer>}:…`, with its
//!   lease lock, compare-and-delete and bounded waits; classic mode, since a new component or
//!   authorizer token retires the old one. It may be flushed at any time.
//!
//! Every key is namespaced by the component appid, so two platforms share a Redis without
//! overwriting each other's tickets. No ticket, refresh token or token is in a key name.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::error::{Error, Result, StoreErrorKind};
use crate::platform::{Authorization, AuthorizationStore, PlatformTokenCache, Ticket};
use crate::redis_store::{
    DEFAULT_KEY_PREFIX, RedisTokenStore, RedisTokenStoreBuilder, bounded, store_error,
};
use crate::secret::Credential;
use crate::token::{BoxFuture, TokenMode, TokenStore};

/// How long one Redis operation of these stores may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps the ticket only if it is not older than the one held.
static PUT_TICKET: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
    Script::new(
        r"
        local held = redis.call('HGET', KEYS[1], 'issued_at')
        if held and tonumber(held) > tonumber(ARGV[2]) then return 0 end
        redis.call('HSET', KEYS[1], 'value', ARGV[1], 'issued_at', ARGV[2])
        return 1
        ",
    )
});

fn checked_component(component_appid: &str) -> Result<()> {
    if component_appid.is_empty()
        || component_appid
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '{' | '}' | ':'))
    {
        return Err(Error::config(
            "platform store: the component appid is missing or holds whitespace, braces or `:`",
        ));
    }
    Ok(())
}

/// One Redis operation of these stores, within [`TIMEOUT`].
async fn op<T>(
    what: &'static str,
    operation: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T> {
    bounded(TIMEOUT, what, operation).await
}

/// The durable [`AuthorizationStore`] on Redis (see the [module documentation](self)).
pub struct RedisAuthorizations {
    connection: ConnectionManager,
    ticket_key: String,
    authorizations_key: String,
}

impl fmt::Debug for RedisAuthorizations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAuthorizations")
            .field("ticket_key", &self.ticket_key)
            .field("authorizations_key", &self.authorizations_key)
            .finish_non_exhaustive()
    }
}

/// One authorization as kept in the hash.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    refresh_token: String,
    func_info: Vec<u32>,
    authorized_at: i64,
}

impl RedisAuthorizations {
    /// The store of `component_appid`'s authorizations, keys starting with `prefix`
    /// (`wx-kefu:` by default, as [`DEFAULT_KEY_PREFIX`]).
    ///
    /// Fails with [`Error::Config`] for an empty component appid or one with whitespace,
    /// braces or `:`.
    pub fn new(
        connection: ConnectionManager,
        prefix: Option<&str>,
        component_appid: &str,
    ) -> Result<Self> {
        checked_component(component_appid)?;
        let base = format!(
            "{}{{{component_appid}}}",
            prefix.unwrap_or(DEFAULT_KEY_PREFIX)
        );
        Ok(RedisAuthorizations {
            connection,
            ticket_key: format!("{base}:ticket"),
            authorizations_key: format!("{base}:authorizations"),
        })
    }

    /// The key of the ticket's hash.
    pub fn ticket_key(&self) -> &str {
        &self.ticket_key
    }

    /// The key of the authorizations' hash.
    pub fn authorizations_key(&self) -> &str {
        &self.authorizations_key
    }
}

impl AuthorizationStore for RedisAuthorizations {
    fn ticket(&self) -> BoxFuture<'_, Result<Option<Ticket>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let (value, issued_at): (Option<String>, Option<i64>) = op(
                "read the ticket",
                redis::cmd("HMGET")
                    .arg(&self.ticket_key)
                    .arg("value")
                    .arg("issued_at")
                    .query_async(&mut connection),
            )
            .await?;
            Ok(match (value, issued_at) {
                (Some(value), Some(issued_at)) => Some(Ticket {
                    value: Credential::new(value),
                    issued_at,
                }),
                _ => None,
            })
        })
    }

    fn put_ticket<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = op(
                "keep the ticket",
                PUT_TICKET
                    .key(&self.ticket_key)
                    .arg(ticket.value.expose())
                    .arg(ticket.issued_at)
                    .invoke_async(&mut connection),
            )
            .await?;
            Ok(())
        })
    }

    fn authorization<'a>(
        &'a self,
        authorizer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Authorization>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let raw: Option<String> = op(
                "read an authorization",
                redis::cmd("HGET")
                    .arg(&self.authorizations_key)
                    .arg(authorizer)
                    .query_async(&mut connection),
            )
            .await?;
            let Some(raw) = raw else { return Ok(None) };
            // The entry's text is never quoted: it holds the refresh token.
            let stored: Stored = serde_json::from_str(&raw).map_err(|_| {
                store_error(
                    StoreErrorKind::Rejected,
                    format!("the authorization of {authorizer} is not one this version wrote"),
                )
            })?;
            Ok(Some(Authorization {
                refresh_token: Credential::new(stored.refresh_token),
                func_info: stored.func_info,
                authorized_at: stored.authorized_at,
            }))
        })
    }

    fn put_authorization<'a>(
        &'a self,
        authorizer: &'a str,
        authorization: &'a Authorization,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let stored = Stored {
                refresh_token: authorization.refresh_token.expose().to_owned(),
                func_info: authorization.func_info.clone(),
                authorized_at: authorization.authorized_at,
            };
            let text = serde_json::to_string(&stored)
                .map_err(|e| Error::config(format!("platform store: {e}")))?;
            let mut connection = self.connection.clone();
            let _: i64 = op(
                "keep an authorization",
                redis::cmd("HSET")
                    .arg(&self.authorizations_key)
                    .arg(authorizer)
                    .arg(text)
                    .query_async(&mut connection),
            )
            .await?;
            Ok(())
        })
    }

    fn remove_authorization<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = op(
                "remove an authorization",
                redis::cmd("HDEL")
                    .arg(&self.authorizations_key)
                    .arg(authorizer)
                    .query_async(&mut connection),
            )
            .await?;
            Ok(())
        })
    }

    fn authorizers(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            op(
                "list the authorizations",
                redis::cmd("HKEYS")
                    .arg(&self.authorizations_key)
                    .query_async(&mut connection),
            )
            .await
        })
    }
}

/// The shared [`PlatformTokenCache`] on Redis (see the [module documentation](self)).
pub struct RedisPlatformTokens {
    connection: ConnectionManager,
    prefix: String,
    component_appid: String,
    component: Arc<RedisTokenStore>,
    authorizers: Mutex<HashMap<String, Arc<RedisTokenStore>>>,
}

impl fmt::Debug for RedisPlatformTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPlatformTokens")
            .field("prefix", &self.prefix)
            .field("component_appid", &self.component_appid)
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl RedisPlatformTokens {
    /// The token cache of `component_appid`, keys starting with `prefix` (`wx-kefu:` by
    /// default).
    ///
    /// Fails with [`Error::Config`] for an empty component appid or one with whitespace,
    /// braces or `:`.
    pub fn new(
        connection: ConnectionManager,
        prefix: Option<&str>,
        component_appid: &str,
    ) -> Result<Self> {
        checked_component(component_appid)?;
        let prefix = prefix.unwrap_or(DEFAULT_KEY_PREFIX).to_owned();
        let component = Arc::new(
            Self::store(&connection, &prefix)
                .app_id(format!("{component_appid}:component"))
                .build()?,
        );
        Ok(RedisPlatformTokens {
            connection,
            prefix,
            component_appid: component_appid.to_owned(),
            component,
            authorizers: Mutex::new(HashMap::new()),
        })
    }

    fn store(connection: &ConnectionManager, prefix: &str) -> RedisTokenStoreBuilder {
        RedisTokenStore::builder()
            .connection(connection.clone())
            .key_prefix(prefix)
            .token_mode(TokenMode::Classic)
    }

    fn held_stores(&self) -> MutexGuard<'_, HashMap<String, Arc<RedisTokenStore>>> {
        self.authorizers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The key an authorizer's token is kept under.
    pub fn token_key(&self, authorizer: &str) -> String {
        format!(
            "{}{{{}:{authorizer}}}:token",
            self.prefix, self.component_appid
        )
    }
}

impl PlatformTokenCache for RedisPlatformTokens {
    fn component(&self) -> Arc<dyn TokenStore> {
        self.component.clone()
    }

    fn authorizer(&self, authorizer: &str) -> Arc<dyn TokenStore> {
        let mut held = self.held_stores();
        if let Some(store) = held.get(authorizer) {
            return store.clone();
        }
        // The builder refuses only an empty or spaced appid or zero durations; such an
        // authorizer gets a store that fails each call with that error.
        match Self::store(&self.connection, &self.prefix)
            .app_id(format!("{}:{authorizer}", self.component_appid))
            .build()
        {
            Ok(store) => {
                let store = Arc::new(store);
                held.insert(authorizer.to_owned(), store.clone());
                store
            }
            Err(error) => Arc::new(Refusing(error)),
        }
    }

    fn purge<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.held_stores().remove(authorizer);
            let mut connection = self.connection.clone();
            let _: i64 = op(
                "drop an authorizer's token",
                redis::cmd("DEL")
                    .arg(self.token_key(authorizer))
                    .query_async(&mut connection),
            )
            .await?;
            Ok(())
        })
    }

    fn held(&self) -> usize {
        self.held_stores().len()
    }
}

/// A store for an authorizer appid no key can be made of.
struct Refusing(Error);

impl TokenStore for Refusing {
    fn get<'a>(
        &'a self,
        _: &'a dyn crate::token::TokenFetcher,
    ) -> BoxFuture<'a, Result<crate::AccessToken>> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }

    fn invalidate<'a>(&'a self, _: &'a crate::AccessToken) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }

    fn refresh<'a>(
        &'a self,
        _: &'a dyn crate::token::TokenFetcher,
    ) -> BoxFuture<'a, Result<crate::AccessToken>> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }
}
