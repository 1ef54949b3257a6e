//! Access tokens: where they come from, how they are cached, and how a rejected one is replaced.
//!
//! The client asks a [`TokenStore`] for a token before each call, handing it a
//! [`TokenFetcher`] that performs the HTTP request for a new one. A store decides when to
//! call it; the default [`MemoryTokenStore`] caches the token with a safety margin and
//! lets one caller fetch while all others wait for that fetch (single flight).
//! A shared store (e.g. Redis, `RedisTokenStore` with the `redis` feature) implements the
//! same trait and holds a distributed lock around `fetch`.
//!
//! When WeChat rejects a token (40001, 40014, 42001) the client calls
//! [`TokenStore::invalidate`] with the token it used; the store forgets it only if it is
//! still the cached one, so a herd of rejected calls causes one refresh, not one each.
//!
//! With [`ClientBuilder::token_provider`](crate::ClientBuilder::token_provider) the SDK
//! never fetches a token: a [`TokenProvider`] (a central token service) supplies them.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::secret::AccessToken;

/// The boxed future the token traits return (re-exported so implementors need no extra dependency).
pub use futures_util::future::BoxFuture;

/// The path of the stable token call (`getStableAccessToken`), the default source.
pub const STABLE_TOKEN_PATH: &str = "/cgi-bin/stable_token";

/// The path of the classic token call (`getAccessToken`).
pub const CLASSIC_TOKEN_PATH: &str = "/cgi-bin/token";

/// The least time a fetched token is cached, whatever `expires_in` says.
pub const MIN_CACHE_LIFETIME: Duration = Duration::from_secs(1);

/// The default safety margin: a token is refreshed this long before WeChat expires it.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(300);

/// Which WeChat call supplies access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenMode {
    /// `POST /cgi-bin/stable_token` in normal mode: WeChat returns the same token while it
    /// is valid, so several processes can share an account without invalidating each other.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: every fetch issues a new token and retires the previous one.
    Classic,
}

/// A token as WeChat issued it.
#[derive(Debug, Clone)]
pub struct FetchedToken {
    /// The token.
    pub token: AccessToken,
    /// How long WeChat says it is valid (`expires_in`; zero when it said zero or less).
    pub expires_in: Duration,
}

/// Performs the HTTP request for a new token; given to a [`TokenStore`] by the client.
pub trait TokenFetcher: Send + Sync {
    /// Fetches a token. `force_refresh` asks the stable token call for a new token,
    /// retiring the current one (WeChat allows this 20 times a day, 30 s apart).
    fn fetch(&self, force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>>;

    /// Which WeChat call [`fetch`](TokenFetcher::fetch) makes, when known (the client's
    /// fetcher always says). A shared store uses it to never fetch a classic token
    /// without holding its lock. `None` by default.
    fn mode(&self) -> Option<TokenMode> {
        None
    }
}

/// Where a client keeps its access token.
///
/// Implementations must make concurrent [`get`](TokenStore::get)s on a cold or expired
/// store share one fetch, and must make [`invalidate`](TokenStore::invalidate) a
/// compare-and-invalidate.
pub trait TokenStore: Send + Sync {
    /// A valid token: the cached one, or a new one from `fetcher`.
    fn get<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>>;

    /// WeChat rejected `failed`: forget it, but only if it is still the cached token.
    fn invalidate<'a>(&'a self, failed: &'a AccessToken) -> BoxFuture<'a, ()>;

    /// Fetches a new token with `force_refresh` and caches it (an explicit refresh).
    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>>;
}

/// A source of tokens managed outside this process (e.g. a central token service);
/// with it, the SDK never fetches a token itself.
pub trait TokenProvider: Send + Sync {
    /// The current token. It is asked for before every request, so a provider that
    /// reaches a remote service should cache the answer itself. Failures are best
    /// reported as [`Error::Token`] with the endpoint `"token_provider"`.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>>;

    /// WeChat rejected `token`; called once before the client asks for a token again
    /// and replays the call. Does nothing by default.
    fn rejected<'a>(&'a self, token: &'a AccessToken) -> BoxFuture<'a, ()> {
        let _ = token;
        Box::pin(std::future::ready(()))
    }
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn get<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        (**self).get(fetcher)
    }

    fn invalidate<'a>(&'a self, failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        (**self).invalidate(failed)
    }

    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        (**self).refresh(fetcher)
    }
}

impl<T: TokenProvider + ?Sized> TokenProvider for Arc<T> {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        (**self).token()
    }

    fn rejected<'a>(&'a self, token: &'a AccessToken) -> BoxFuture<'a, ()> {
        (**self).rejected(token)
    }
}

/// How long to cache a token WeChat says is valid for `expires_in`: `margin` less, but
/// never less than half of `expires_in`, and never less than [`MIN_CACHE_LIFETIME`].
pub fn cache_lifetime(expires_in: Duration, margin: Duration) -> Duration {
    let margin = margin.min(expires_in / 2);
    expires_in.saturating_sub(margin).max(MIN_CACHE_LIFETIME)
}

/// The default [`TokenStore`]: one token in memory, refreshed before it expires,
/// fetched once for all concurrent callers.
#[derive(Debug)]
pub struct MemoryTokenStore {
    /// Read on every call, written only when a fetch ends or a token is rejected.
    state: RwLock<State>,
    /// Held by the one caller fetching; the others queue on it.
    fetching: tokio::sync::Mutex<()>,
    margin: Duration,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    /// Counts finished fetches, so a waiter can tell that the fetch it waited on failed.
    fetches: u64,
    /// The failure of the last fetch, handed to the callers that waited on it.
    failure: Option<Error>,
}

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        MemoryTokenStore::new()
    }
}

impl MemoryTokenStore {
    /// A store with the default safety margin ([`DEFAULT_MARGIN`]).
    pub fn new() -> Self {
        MemoryTokenStore::with_margin(DEFAULT_MARGIN)
    }

    /// A store that refreshes `margin` before a token expires (see [`cache_lifetime`]).
    pub fn with_margin(margin: Duration) -> Self {
        MemoryTokenStore {
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            margin,
        }
    }

    // The lock guards plain data updated in one step, so a poisoned lock is still consistent.
    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token, while it is fresh: what a call takes without waiting.
    pub(crate) fn at_hand(&self) -> Option<AccessToken> {
        Self::fresh(&self.state())
    }

    fn fresh(state: &State) -> Option<AccessToken> {
        state
            .cached
            .as_ref()
            .filter(|cached| Instant::now() < cached.refresh_at)
            .map(|cached| cached.token.clone())
    }

    fn finish(&self, fetched: Result<FetchedToken>) -> Result<AccessToken> {
        let mut state = self.state_mut();
        state.fetches += 1;
        match fetched {
            Ok(FetchedToken { token, expires_in }) => {
                let refresh_at = Instant::now() + cache_lifetime(expires_in, self.margin);
                state.cached = Some(Cached {
                    token: token.clone(),
                    refresh_at,
                });
                state.failure = None;
                Ok(token)
            }
            Err(error) => {
                state.failure = Some(error.clone());
                Err(error)
            }
        }
    }
}

impl TokenStore for MemoryTokenStore {
    fn get<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let seen = {
                let state = self.state();
                if let Some(token) = Self::fresh(&state) {
                    return Ok(token);
                }
                state.fetches
            };
            let _fetching = self.fetching.lock().await;
            {
                let state = self.state();
                if let Some(token) = Self::fresh(&state) {
                    return Ok(token);
                }
                if state.fetches != seen
                    && let Some(error) = &state.failure
                {
                    // The fetch this caller waited on failed: share its failure
                    // instead of trying again, so a herd does not become a loop.
                    return Err(error.clone());
                }
            }
            let fetched = fetcher.fetch(false).await;
            self.finish(fetched)
        })
    }

    fn invalidate<'a>(&'a self, failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.state_mut();
            if state
                .cached
                .as_ref()
                .is_some_and(|cached| cached.token == *failed)
            {
                state.cached = None;
            }
        })
    }

    fn refresh<'a>(&'a self, fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let _fetching = self.fetching.lock().await;
            let fetched = fetcher.fetch(true).await;
            self.finish(fetched)
        })
    }
}

/// A client's token store. The default memory store is kept as itself, so a call takes
/// a fresh token from it directly ([`MemoryTokenStore::at_hand`]) instead of through
/// [`TokenStore::get`]'s boxed future; any other store is asked through the trait.
pub(crate) enum Store {
    Memory(MemoryTokenStore),
    Other(Box<dyn TokenStore>),
}

impl Store {
    /// `store`, kept as itself when it is a [`MemoryTokenStore`].
    pub(crate) fn new<S: TokenStore + 'static>(store: S) -> Store {
        // A safe downcast by value: the store is moved out of an `Option` seen as `Any`.
        let mut slot = Some(store);
        let memory = (&mut slot as &mut dyn std::any::Any)
            .downcast_mut::<Option<MemoryTokenStore>>()
            .and_then(Option::take);
        match (memory, slot) {
            (Some(memory), _) => Store::Memory(memory),
            (None, Some(store)) => Store::Other(Box::new(store)),
            // Taken only when it was a memory store, which the first arm returned.
            (None, None) => Store::Memory(MemoryTokenStore::new()),
        }
    }

    /// A fresh token of the memory store, without waiting; `None` for other stores.
    pub(crate) fn at_hand(&self) -> Option<AccessToken> {
        match self {
            Store::Memory(memory) => memory.at_hand(),
            Store::Other(_) => None,
        }
    }

    /// The store, for the trait's calls.
    pub(crate) fn as_dyn(&self) -> &dyn TokenStore {
        match self {
            Store::Memory(memory) => memory,
            Store::Other(store) => &**store,
        }
    }
}

/// Adapts a [`TokenProvider`] to the store interface; it never calls the fetcher.
pub(crate) struct External(pub(crate) Box<dyn TokenProvider>);

/// The endpoint name errors of an external provider carry.
pub(crate) const EXTERNAL: &str = "token_provider";

impl TokenStore for External {
    fn get<'a>(&'a self, _fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        // A provider's token is checked like a fetched one: one that could not be put in
        // a URL fails this call with a typed error, not every call as a transport error.
        Box::pin(self.0.token().map(|token| {
            let token = token?;
            match AccessToken::check(token.expose()) {
                Ok(()) => Ok(token),
                Err(problem) => Err(Error::Token {
                    endpoint: EXTERNAL,
                    code: None,
                    message: format!("the provider's token is unusable: {problem}"),
                    rid: None,
                    hint: "check the token provider",
                }),
            }
        }))
    }

    fn invalidate<'a>(&'a self, failed: &'a AccessToken) -> BoxFuture<'a, ()> {
        self.0.rejected(failed)
    }

    fn refresh<'a>(&'a self, _fetcher: &'a dyn TokenFetcher) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(std::future::ready(Err(Error::config(format!(
            "{EXTERNAL}: tokens are managed outside this client; refresh them at their source"
        )))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetcher_says_no_token_mode_unless_it_knows_one() {
        struct Fixed;
        impl TokenFetcher for Fixed {
            fn fetch(&self, _: bool) -> BoxFuture<'_, Result<FetchedToken>> {
                Box::pin(std::future::ready(Err(Error::config("none"))))
            }
        }
        assert_eq!(TokenFetcher::mode(&Fixed), None);
    }

    /// Hands out `t1`, `t2`, … valid for two hours.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl TokenFetcher for Counting {
        fn fetch(&self, _: bool) -> BoxFuture<'_, Result<FetchedToken>> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            Box::pin(std::future::ready(Ok(FetchedToken {
                token: AccessToken::new(format!("t{n}")),
                expires_in: Duration::from_secs(7200),
            })))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_memory_store_hands_out_a_fresh_token_without_waiting() {
        // `at_hand` is the client's fast path: a fresh token, or nothing once it is due.
        let store = MemoryTokenStore::new();
        assert_eq!(store.at_hand(), None, "nothing fetched yet");
        let fetcher = Counting::default();
        let token = store.get(&fetcher).await.unwrap();
        assert_eq!(store.at_hand(), Some(token.clone()));
        store.invalidate(&token).await;
        assert_eq!(store.at_hand(), None, "a rejected token is not at hand");
        let token = store.get(&fetcher).await.unwrap();
        tokio::time::advance(Duration::from_secs(7200 - 300 - 1)).await;
        assert_eq!(store.at_hand(), Some(token));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            store.at_hand(),
            None,
            "due for refresh 5 minutes before expiry"
        );
    }

    #[test]
    fn a_memory_store_handed_to_a_client_keeps_its_fast_path() {
        let memory = Store::new(MemoryTokenStore::with_margin(Duration::from_secs(60)));
        assert!(matches!(memory, Store::Memory(ref m) if m.margin == Duration::from_secs(60)));
        // Any other store, an `Arc` of one included, is asked through the trait.
        let shared = Store::new(Arc::new(MemoryTokenStore::new()));
        assert!(matches!(shared, Store::Other(_)));
        assert_eq!(shared.at_hand(), None);
    }

    #[test]
    fn lifetimes_keep_a_margin_and_stay_positive() {
        let margin = DEFAULT_MARGIN;
        assert_eq!(
            cache_lifetime(Duration::from_secs(7200), margin),
            Duration::from_secs(6900)
        );
        assert_eq!(
            cache_lifetime(Duration::from_secs(345), margin),
            Duration::from_millis(172_500)
        );
        assert_eq!(
            cache_lifetime(Duration::from_secs(1), margin),
            MIN_CACHE_LIFETIME
        );
        assert_eq!(cache_lifetime(Duration::ZERO, margin), MIN_CACHE_LIFETIME);
        assert_eq!(
            cache_lifetime(Duration::from_secs(600), Duration::ZERO),
            Duration::from_secs(600)
        );
    }
}
