//! What a third-party platform (第三方平台) keeps between calls, in two kinds of store.
//!
//! - An [`AuthorizationStore`] is **durable**: the latest `component_verify_ticket` and,
//!   per authorizer, its refresh token and the permission sets it granted. Losing it costs
//!   a recovery (the refresh tokens come back from `api_get_authorizer_list`, a ticket with
//!   the next push, up to 10 minutes), so it belongs in a database the application trusts
//!   ([`MemoryAuthorizations`] is for tests and single-process tools; the `redis` feature's
//!   `RedisAuthorizations` needs a Redis that persists).
//! - A [`PlatformTokenCache`] is a **cache**: the component token and each authorizer's
//!   token, each a [`TokenStore`] with its single flight. A restart of the cache costs one
//!   refresh per account used, never a re-authorization ([`MemoryPlatformTokens`], or
//!   `RedisPlatformTokens` shared by every instance).
//!
//! The runtime knows no endpoint: `wx_kefu_api::platform::Platform` makes the calls and
//! keeps these stores up to date. Nothing here prints a ticket, a refresh token or a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::Result;
use crate::secret::Credential;
use crate::token::{BoxFuture, MemoryTokenStore, TokenStore};

/// The latest `component_verify_ticket` WeChat pushed, and when (unix seconds, the push's
/// `CreateTime`). Valid 12 hours; WeChat pushes a new one every 10 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The ticket.
    pub value: Credential,
    /// When WeChat issued it (unix seconds).
    pub issued_at: i64,
}

/// What an account (an authorizer) granted the platform, as the durable store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The refresh token: it does not change on refresh, only with a re-authorization.
    pub refresh_token: Credential,
    /// The ids of the permission sets granted (`func_info`: 1 消息管理, 6 微信多客服 …).
    pub func_info: Vec<u32>,
    /// When the authorization was made or last updated (unix seconds).
    pub authorized_at: i64,
}

/// The durable side of a platform: the ticket and the authorizations. One store serves
/// one component appid; implementations share it among every instance.
pub trait AuthorizationStore: Send + Sync {
    /// The latest ticket, if any.
    fn ticket(&self) -> BoxFuture<'_, Result<Option<Ticket>>>;

    /// Keeps `ticket` unless the store holds a newer one (a late push never replaces the
    /// latest ticket).
    fn put_ticket<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<()>>;

    /// An authorizer's authorization, if the store has it.
    fn authorization<'a>(
        &'a self,
        authorizer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Authorization>>>;

    /// Keeps an authorizer's authorization, replacing the one it had.
    fn put_authorization<'a>(
        &'a self,
        authorizer: &'a str,
        authorization: &'a Authorization,
    ) -> BoxFuture<'a, Result<()>>;

    /// Forgets an authorizer (it revoked the platform).
    fn remove_authorization<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Every authorizer the store knows, in no particular order.
    fn authorizers(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

/// The cache side of a platform: one [`TokenStore`] for the component token and one per
/// authorizer. The stores it hands out keep their single flight (one fetch for all
/// callers of a process, and for a shared cache one across every instance).
pub trait PlatformTokenCache: Send + Sync {
    /// The component token's store.
    fn component(&self) -> Arc<dyn TokenStore>;

    /// An authorizer's token store (made on first use).
    fn authorizer(&self, authorizer: &str) -> Arc<dyn TokenStore>;

    /// Drops an authorizer's token, here and (for a shared cache) for every instance.
    fn purge<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>>;

    /// How many authorizers' stores this process holds.
    fn held(&self) -> usize;
}

impl<T: AuthorizationStore + ?Sized> AuthorizationStore for Arc<T> {
    fn ticket(&self) -> BoxFuture<'_, Result<Option<Ticket>>> {
        (**self).ticket()
    }

    fn put_ticket<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<()>> {
        (**self).put_ticket(ticket)
    }

    fn authorization<'a>(
        &'a self,
        authorizer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Authorization>>> {
        (**self).authorization(authorizer)
    }

    fn put_authorization<'a>(
        &'a self,
        authorizer: &'a str,
        authorization: &'a Authorization,
    ) -> BoxFuture<'a, Result<()>> {
        (**self).put_authorization(authorizer, authorization)
    }

    fn remove_authorization<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>> {
        (**self).remove_authorization(authorizer)
    }

    fn authorizers(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        (**self).authorizers()
    }
}

impl<T: PlatformTokenCache + ?Sized> PlatformTokenCache for Arc<T> {
    fn component(&self) -> Arc<dyn TokenStore> {
        (**self).component()
    }

    fn authorizer(&self, authorizer: &str) -> Arc<dyn TokenStore> {
        (**self).authorizer(authorizer)
    }

    fn purge<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>> {
        (**self).purge(authorizer)
    }

    fn held(&self) -> usize {
        (**self).held()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data updated in one step: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

/// An [`AuthorizationStore`] in this process's memory: for tests and tools. A restart
/// forgets every refresh token (they come back from `api_get_authorizer_list`) and the
/// ticket (it comes back with the next push).
#[derive(Debug, Default)]
pub struct MemoryAuthorizations {
    ticket: Mutex<Option<Ticket>>,
    authorizations: Mutex<HashMap<String, Authorization>>,
}

impl MemoryAuthorizations {
    /// An empty store.
    pub fn new() -> Self {
        MemoryAuthorizations::default()
    }
}

impl AuthorizationStore for MemoryAuthorizations {
    fn ticket(&self) -> BoxFuture<'_, Result<Option<Ticket>>> {
        ready(Ok(lock(&self.ticket).clone()))
    }

    fn put_ticket<'a>(&'a self, ticket: &'a Ticket) -> BoxFuture<'a, Result<()>> {
        let mut held = lock(&self.ticket);
        if held
            .as_ref()
            .is_none_or(|held| held.issued_at <= ticket.issued_at)
        {
            *held = Some(ticket.clone());
        }
        ready(Ok(()))
    }

    fn authorization<'a>(
        &'a self,
        authorizer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Authorization>>> {
        ready(Ok(lock(&self.authorizations).get(authorizer).cloned()))
    }

    fn put_authorization<'a>(
        &'a self,
        authorizer: &'a str,
        authorization: &'a Authorization,
    ) -> BoxFuture<'a, Result<()>> {
        lock(&self.authorizations).insert(authorizer.to_owned(), authorization.clone());
        ready(Ok(()))
    }

    fn remove_authorization<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>> {
        lock(&self.authorizations).remove(authorizer);
        ready(Ok(()))
    }

    fn authorizers(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        ready(Ok(lock(&self.authorizations).keys().cloned().collect()))
    }
}

/// A [`PlatformTokenCache`] in this process's memory: a [`MemoryTokenStore`] per
/// authorizer, made on first use (about 200 bytes each, plus the token).
#[derive(Debug)]
pub struct MemoryPlatformTokens {
    component: Arc<MemoryTokenStore>,
    authorizers: Mutex<HashMap<String, Arc<MemoryTokenStore>>>,
}

impl Default for MemoryPlatformTokens {
    fn default() -> Self {
        MemoryPlatformTokens::new()
    }
}

impl MemoryPlatformTokens {
    /// An empty cache.
    pub fn new() -> Self {
        MemoryPlatformTokens {
            component: Arc::new(MemoryTokenStore::new()),
            authorizers: Mutex::new(HashMap::new()),
        }
    }
}

impl PlatformTokenCache for MemoryPlatformTokens {
    fn component(&self) -> Arc<dyn TokenStore> {
        self.component.clone()
    }

    fn authorizer(&self, authorizer: &str) -> Arc<dyn TokenStore> {
        let mut held = lock(&self.authorizers);
        if let Some(store) = held.get(authorizer) {
            return store.clone();
        }
        let store = Arc::new(MemoryTokenStore::new());
        held.insert(authorizer.to_owned(), store.clone());
        store
    }

    fn purge<'a>(&'a self, authorizer: &'a str) -> BoxFuture<'a, Result<()>> {
        lock(&self.authorizers).remove(authorizer);
        ready(Ok(()))
    }

    fn held(&self) -> usize {
        lock(&self.authorizers).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(value: &str, issued_at: i64) -> Ticket {
        Ticket {
            value: Credential::new(value),
            issued_at,
        }
    }

    #[tokio::test]
    async fn a_late_ticket_never_replaces_the_latest() {
        let store = MemoryAuthorizations::new();
        store.put_ticket(&ticket("new", 600)).await.unwrap();
        store.put_ticket(&ticket("old", 0)).await.unwrap();
        assert_eq!(store.ticket().await.unwrap(), Some(ticket("new", 600)));
        store.put_ticket(&ticket("newer", 1200)).await.unwrap();
        assert_eq!(store.ticket().await.unwrap(), Some(ticket("newer", 1200)));
    }

    #[tokio::test]
    async fn a_purged_authorizer_gets_a_new_store() {
        let cache = MemoryPlatformTokens::new();
        let first = cache.authorizer("wxa");
        assert!(Arc::ptr_eq(&first, &cache.authorizer("wxa")));
        assert_eq!(cache.held(), 1);
        cache.purge("wxa").await.unwrap();
        assert_eq!(cache.held(), 0);
        assert!(!Arc::ptr_eq(&first, &cache.authorizer("wxa")));
    }

    #[test]
    fn debug_never_shows_a_credential() {
        let authorization = Authorization {
            refresh_token: Credential::new("refreshtoken@@@secret"),
            func_info: vec![1, 6],
            authorized_at: 1,
        };
        let shown = format!("{authorization:?} {:?}", ticket("ticket@@@secret", 1));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
