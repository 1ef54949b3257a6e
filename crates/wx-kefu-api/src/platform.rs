//! Many accounts through the third-party platform (第三方平台, the "component"): a
//! [`Platform`] turns the verify ticket, the component token and each authorizer's refresh
//! token into an ordinary [`Client`] per account.
//!
//! ```no_run
//! # async fn demo() -> wx_kefu_api::Result<()> {
//! use wx_kefu_api::platform::Platform;
//! use wx_kefu_api::*;
//!
//! let platform = Platform::builder()
//!     .component_app_id("wxCOMPONENT")
//!     .component_secret(std::env::var("COMPONENT_SECRET").unwrap_or_default())
//!     .build()?;
//! // Every kefu and media call, as for one account, on behalf of the authorizer:
//! let client = platform.client("wxAUTHORIZER");
//! client.get_kf_list().await?;
//! # Ok(()) }
//! ```
//!
//! What it does so the application need not (official pages under
//! <https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/>):
//!
//! - **Tokens, lazily and once.** The component token comes from the latest
//!   `component_verify_ticket` in the [`AuthorizationStore`]; an authorizer's token from its
//!   refresh token, when the account is first used and again when it is due, one fetch across
//!   every caller (and with `RedisPlatformTokens` across every instance). Never all accounts
//!   on a timer.
//! - **Self-healing.** 61023, or no refresh token at all (a lost or wiped store): the refresh
//!   tokens are read anew from `api_get_authorizer_list` (WeChat's own remedy), stored, and the
//!   fetch tried once more. An account absent from the list, or WeChat's 61003, is revoked:
//!   [`Error::Revoked`], its token and stored authorization dropped. No ticket, or 61005/61006:
//!   `api_start_push_ticket`, then a bounded wait for the next push.
//! - **Authorization events** ([`Platform::ticket`], [`Platform::authorized`],
//!   [`Platform::unauthorized`], or [`Platform::apply`] with the `inbound` feature's typed
//!   [`AuthorizationEvent`](crate::inbound::platform::AuthorizationEvent)): an `authorized` or
//!   `updateauthorized` code is exchanged (`api_query_auth`) and its refresh token and permission
//!   sets kept, the account's cached token dropped; an `unauthorized` purges the account.
//!
//! The component calls carry the component token as `access_token`, as the current openApi
//! pages do (the older pages call it `component_access_token`; WeChat takes both).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use wx_kefu_runtime::platform::{
    Authorization, AuthorizationStore, MemoryAuthorizations, MemoryPlatformTokens,
    PlatformTokenCache, Ticket,
};
use wx_kefu_runtime::secret::Credential;
use wx_kefu_runtime::token::{BoxFuture, TokenFetcher, TokenMode};
use wx_kefu_runtime::{
    AccessToken, AppSecret, Client, ErrCode, Error, FetchedToken, Result, RetryPolicy,
    TokenProvider, TokenStore, reqwest,
};

use crate::{
    GetAuthorizerList, GetAuthorizerToken, GetComponentAccessToken, QueryAuth, StartPushTicket,
};

/// How long a token fetch waits for a pushed ticket after restarting the pushes.
pub const DEFAULT_TICKET_WAIT: Duration = Duration::from_secs(10);

/// How many authorizers' clients a platform keeps ready (each holds a connection pool
/// handle, its hosts and its finished URLs); others are made again when used.
pub const DEFAULT_CLIENT_CAPACITY: usize = 1024;

/// `api_get_authorizer_list`'s largest page.
const LIST_PAGE: i64 = 500;

/// The hint of an error about the verify ticket.
const TICKET_HINT: &str = "check that the platform's 授权事件接收URL reaches this service and that it \
     hands each push to the platform (Platform::apply, or Platform::ticket)";

/// Settings for a [`Platform`]; made by [`Platform::builder`].
pub struct PlatformBuilder {
    appid: Option<String>,
    secret: Option<AppSecret>,
    hosts: Vec<String>,
    http: Option<reqwest::Client>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    tokens: Option<Arc<dyn PlatformTokenCache>>,
    authorizations: Option<Arc<dyn AuthorizationStore>>,
    ticket_wait: Duration,
    capacity: usize,
}

impl fmt::Debug for PlatformBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformBuilder")
            .field("component_appid", &self.appid)
            .field("component_secret", &self.secret)
            .field("ticket_wait", &self.ticket_wait)
            .field("client_capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl PlatformBuilder {
    /// The platform's AppID (the component appid).
    pub fn component_app_id(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// The platform's AppSecret (never printed).
    pub fn component_secret(mut self, secret: impl Into<AppSecret>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// WeChat's API host (default `https://api.weixin.qq.com`); the emulator's in tests.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.hosts = vec![base_url.into()];
        self
    }

    /// Several hosts, the first preferred (see [`ClientBuilder::hosts`](crate::ClientBuilder::hosts)).
    pub fn hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// The HTTP client every account's calls share (one connection pool).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Each attempt's timeout, as [`ClientBuilder::timeout`](crate::ClientBuilder::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry policy of every client.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Where the component and authorizer tokens are cached (default: this process's
    /// memory; `RedisPlatformTokens` to share them among instances).
    pub fn token_cache(mut self, cache: impl PlatformTokenCache + 'static) -> Self {
        self.tokens = Some(Arc::new(cache));
        self
    }

    /// Where the ticket, the refresh tokens and the permission sets are kept: a durable
    /// store (default: this process's memory, which forgets them with the process).
    pub fn authorization_store(mut self, store: impl AuthorizationStore + 'static) -> Self {
        self.authorizations = Some(Arc::new(store));
        self
    }

    /// How long a token fetch waits for a pushed ticket after restarting the pushes
    /// (default [`DEFAULT_TICKET_WAIT`]).
    pub fn ticket_wait(mut self, wait: Duration) -> Self {
        self.ticket_wait = wait;
        self
    }

    /// How many authorizers' clients are kept ready (default [`DEFAULT_CLIENT_CAPACITY`]).
    pub fn client_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Builds the platform. Fails with [`Error::Config`] without the component appid or
    /// secret, or with a base URL that is not http(s).
    pub fn build(self) -> Result<Platform> {
        let appid = self
            .appid
            .filter(|appid| !appid.is_empty())
            .ok_or_else(|| config("the component appid is missing"))?;
        let secret = self
            .secret
            .filter(|secret| !secret.expose().is_empty())
            .ok_or_else(|| config("the component secret is missing"))?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| config(format!("could not build the HTTP client: {e}")))?,
        };
        let settings = Settings {
            hosts: self.hosts,
            http,
            timeout: self.timeout,
            retry: self.retry,
        };
        // The component calls that carry no token (the token call itself, restarting the
        // pushes) go through a client whose provider is never asked.
        let bare = settings.client(NoToken, None)?;
        let core = Arc::new(Core {
            appid,
            secret,
            tokens: self
                .tokens
                .unwrap_or_else(|| Arc::new(MemoryPlatformTokens::new())),
            authorizations: self
                .authorizations
                .unwrap_or_else(|| Arc::new(MemoryAuthorizations::new())),
            bare,
            ticket_wait: self.ticket_wait,
            recovery: tokio::sync::Mutex::new(()),
            recoveries: AtomicU64::new(0),
            revoked: Mutex::new(HashSet::new()),
        });
        let component = settings.client(ComponentTokens(core.clone()), None)?;
        Ok(Platform {
            inner: Arc::new(Inner {
                core,
                component,
                settings,
                clients: Mutex::new(HashMap::new()),
                capacity: self.capacity,
                original_ids: Mutex::new(HashMap::new()),
            }),
        })
    }
}

fn config(message: impl Into<String>) -> Error {
    Error::Config {
        message: format!("platform: {}", message.into()),
    }
}

/// How every client of the platform is built.
struct Settings {
    hosts: Vec<String>,
    http: reqwest::Client,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl Settings {
    fn client(
        &self,
        tokens: impl TokenProvider + 'static,
        guard: Option<Granted>,
    ) -> Result<Client> {
        let mut builder = Client::builder()
            .http_client(self.http.clone())
            .token_provider(tokens);
        if let Some(guard) = guard {
            builder = builder.call_guard(guard);
        }
        if !self.hosts.is_empty() {
            builder = builder.hosts(self.hosts.iter().cloned());
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(retry) = &self.retry {
            builder = builder.retry_policy(retry.clone());
        }
        builder.build()
    }
}

/// A third-party platform serving any number of authorizers; cheap to clone.
/// See the [module documentation](self).
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    /// Carries the component token: for the calls on the platform's own behalf.
    component: Client,
    settings: Settings,
    /// The authorizers' clients kept ready, at most `capacity`.
    clients: Mutex<HashMap<String, Client>>,
    capacity: usize,
    /// Each authorizer's original id (`gh_…`), as its details said.
    original_ids: Mutex<HashMap<String, String>>,
}

/// What the token sources share: the credentials, the two stores, and a client for the
/// calls without a token.
struct Core {
    appid: String,
    secret: AppSecret,
    tokens: Arc<dyn PlatformTokenCache>,
    authorizations: Arc<dyn AuthorizationStore>,
    bare: Client,
    ticket_wait: Duration,
    /// Held by the one recovery from the authorizer list in progress.
    recovery: tokio::sync::Mutex<()>,
    /// Counts finished recoveries, so that callers that waited on one do not start another.
    recoveries: AtomicU64,
    /// Accounts found revoked by this process: their calls fail at once, without reading
    /// the authorizer list again, until they authorize the platform anew.
    revoked: Mutex<HashSet<String>>,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("component_appid", &self.inner.core.appid)
            .field("component_secret", &self.inner.core.secret)
            .field("clients", &self.clients().len())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Settings for a platform.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder {
            appid: None,
            secret: None,
            hosts: Vec::new(),
            http: None,
            timeout: None,
            retry: None,
            tokens: None,
            authorizations: None,
            ticket_wait: DEFAULT_TICKET_WAIT,
            capacity: DEFAULT_CLIENT_CAPACITY,
        }
    }

    /// The platform's AppID.
    pub fn component_app_id(&self) -> &str {
        &self.inner.core.appid
    }

    /// The client of the platform itself: its calls carry the component token
    /// (`create_pre_auth_code`, `get_authorizer_info`, …).
    pub fn component(&self) -> &Client {
        &self.inner.component
    }

    /// The durable store of the ticket and the authorizations.
    pub fn authorizations(&self) -> &Arc<dyn AuthorizationStore> {
        &self.inner.core.authorizations
    }

    /// The token cache.
    pub fn tokens(&self) -> &Arc<dyn PlatformTokenCache> {
        &self.inner.core.tokens
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        lock(&self.inner.clients)
    }

    /// A client that acts as `authorizer`: every kefu and media call, with the
    /// authorizer's token (fetched when first needed, replayed after 40001), retries and
    /// errors as for one account. Clients of recently used authorizers are kept (at most
    /// the [client capacity](PlatformBuilder::client_capacity)); the rest cost nothing
    /// until used.
    pub fn client(&self, authorizer: &str) -> Client {
        if let Some(client) = self.clients().get(authorizer) {
            return client.clone();
        }
        let tokens = AuthorizerTokens {
            core: self.inner.core.clone(),
            component: self.inner.component.clone(),
            store: self.inner.core.tokens.authorizer(authorizer),
            authorizer: authorizer.into(),
        };
        let guard = Granted {
            core: self.inner.core.clone(),
            authorizer: authorizer.into(),
            known: Mutex::new(None),
        };
        let client = match self.inner.settings.client(tokens, Some(guard)) {
            Ok(client) => client,
            // The settings built the component's client already, so they build this one.
            Err(_) => self.inner.component.clone(),
        };
        let mut clients = self.clients();
        if clients.len() >= self.inner.capacity
            && let Some(evicted) = clients.keys().next().cloned()
        {
            clients.remove(&evicted);
        }
        clients.insert(authorizer.to_owned(), client.clone());
        client
    }

    /// A component_verify_ticket WeChat pushed (`InfoType` `component_verify_ticket`),
    /// issued at `issued_at` (the push's `CreateTime`): kept unless a later one is.
    pub async fn ticket(&self, ticket: &str, issued_at: i64) -> Result<()> {
        self.inner
            .core
            .authorizations
            .put_ticket(&Ticket {
                value: Credential::new(ticket),
                issued_at,
            })
            .await
    }

    /// An account authorized the platform, or updated its authorization (`authorized`,
    /// `updateauthorized`, or the code on the redirect after the scan page): the code is
    /// exchanged, its refresh token and permission sets kept, and the account's cached
    /// token dropped (the exchange retired it). Returns the authorizer's appid.
    pub async fn authorized(&self, authorization_code: &str, at: i64) -> Result<String> {
        let core = &self.inner.core;
        let answer = self
            .inner
            .component
            .call(QueryAuth::new(core.appid.as_str(), authorization_code))
            .await?;
        let info = answer.authorization_info;
        let Some(refresh_token) = info.authorizer_refresh_token else {
            return Err(Error::Config {
                message: format!(
                    "platform: the authorization of {} carries no refresh token \
                     (the account has no API rights to grant)",
                    info.authorizer_appid
                ),
            });
        };
        let func_info = info
            .func_info
            .unwrap_or_default()
            .iter()
            .filter_map(|scope| u32::try_from(scope.funcscope_category.id).ok())
            .collect();
        core.authorizations
            .put_authorization(
                &info.authorizer_appid,
                &Authorization {
                    refresh_token: Credential::new(refresh_token),
                    func_info,
                    authorized_at: at,
                },
            )
            .await?;
        core.tokens.purge(&info.authorizer_appid).await?;
        lock(&core.revoked).remove(&info.authorizer_appid);
        self.clients().remove(&info.authorizer_appid);
        Ok(info.authorizer_appid)
    }

    /// An account revoked the platform (`unauthorized`): its tokens and its stored
    /// authorization are dropped; its calls fail with [`Error::Revoked`].
    pub async fn unauthorized(&self, authorizer: &str) -> Result<()> {
        self.clients().remove(authorizer);
        self.inner.core.purge(authorizer).await
    }

    /// The permission sets `authorizer` granted (`func_info`), as the durable store has
    /// them; `None` for an account the store does not know.
    pub async fn permission_sets(&self, authorizer: &str) -> Result<Option<Vec<u32>>> {
        Ok(self
            .inner
            .core
            .authorizations
            .authorization(authorizer)
            .await?
            .map(|authorization| authorization.func_info))
    }

    /// Reads every authorizer's current refresh token from `api_get_authorizer_list` into
    /// the durable store (what the platform does by itself after 61023). Returns how many
    /// accounts the list holds.
    pub async fn recover_refresh_tokens(&self) -> Result<usize> {
        self.inner
            .core
            .recover(&self.inner.component, None)
            .await
            .map(|(count, _)| count)
    }

    /// How many authorizers' clients are kept ready now.
    pub fn ready_clients(&self) -> usize {
        self.clients().len()
    }

    /// Whether `original_id` (a push's `ToUserName`, `gh_…`) is the account `authorizer`,
    /// by its details (`api_get_authorizer_info`, asked once per account and process).
    /// An account whose details cannot be read now is given the benefit of the doubt (the
    /// push is signed by WeChat either way), with a warning.
    pub async fn is_account(&self, authorizer: &str, original_id: &str) -> bool {
        if let Some(known) = lock(&self.inner.original_ids).get(authorizer) {
            return known == original_id;
        }
        let details = self
            .inner
            .component
            .call(crate::GetAuthorizerInfo::new(
                self.component_app_id(),
                authorizer,
            ))
            .await;
        match details.map(|details| details.authorizer_info.user_name) {
            Ok(Some(user_name)) => {
                let mut known = lock(&self.inner.original_ids);
                // Bounded like the clients: forgotten ones are asked again.
                if known.len() >= self.inner.capacity {
                    known.clear();
                }
                known.insert(authorizer.to_owned(), user_name.clone());
                user_name == original_id
            }
            Ok(None) => true,
            Err(error) => {
                tracing::warn!(%error, authorizer, "could not read the account's original id; the push is handled");
                true
            }
        }
    }
}

impl Core {
    /// Drops an authorizer: its token (everywhere the cache reaches) and its authorization.
    async fn purge(&self, authorizer: &str) -> Result<()> {
        self.tokens.purge(authorizer).await?;
        self.authorizations.remove_authorization(authorizer).await
    }

    /// The component token, fetched from the latest ticket.
    async fn fetch_component(&self) -> Result<FetchedToken> {
        let mut restarted = false;
        loop {
            let ticket = match self.authorizations.ticket().await? {
                Some(ticket) => ticket,
                None if !restarted => {
                    self.restart_pushes(None).await?;
                    restarted = true;
                    continue;
                }
                None => return Err(no_ticket("no component_verify_ticket is stored")),
            };
            let request = GetComponentAccessToken::new(
                self.appid.as_str(),
                self.secret.expose(),
                ticket.value.expose(),
            );
            match self.bare.call(request).await {
                Ok(answer) => {
                    return Ok(FetchedToken {
                        token: AccessToken::new(answer.component_access_token),
                        expires_in: seconds(answer.expires_in),
                    });
                }
                Err(error)
                    if !restarted
                        && matches!(
                            error.code(),
                            Some(ErrCode::ComponentTicketExpired | ErrCode::ComponentTicketInvalid)
                        ) =>
                {
                    self.restart_pushes(Some(ticket.issued_at)).await?;
                    restarted = true;
                }
                Err(error) => return Err(token_error(error)),
            }
        }
    }

    /// `api_start_push_ticket`, then waits (bounded) for a ticket later than `after`.
    async fn restart_pushes(&self, after: Option<i64>) -> Result<()> {
        tracing::warn!(
            component_appid = %self.appid,
            "no usable component_verify_ticket; restarting the ticket pushes"
        );
        self.bare
            .call(StartPushTicket::new(
                self.appid.as_str(),
                self.secret.expose(),
            ))
            .await
            .map_err(token_error)?;
        let deadline = tokio::time::Instant::now() + self.ticket_wait;
        loop {
            if let Some(ticket) = self.authorizations.ticket().await?
                && after.is_none_or(|after| ticket.issued_at > after)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(no_ticket(&format!(
                    "no new component_verify_ticket arrived within {:?} of restarting the pushes",
                    self.ticket_wait
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An authorizer's token, from its refresh token; recovers the refresh tokens once.
    async fn fetch_authorizer(&self, component: &Client, authorizer: &str) -> Result<FetchedToken> {
        if lock(&self.revoked).contains(authorizer) {
            return Err(Error::Revoked {
                authorizer: authorizer.to_owned(),
            });
        }
        let mut recovered = false;
        loop {
            let authorization = match self.authorizations.authorization(authorizer).await? {
                Some(authorization) => authorization,
                None if !recovered => {
                    self.recover_for(component, authorizer).await?;
                    recovered = true;
                    continue;
                }
                None => return Err(self.revoked(authorizer).await),
            };
            let request = GetAuthorizerToken::new(
                self.appid.as_str(),
                authorizer,
                authorization.refresh_token.expose(),
            );
            match component.call(request).await {
                Ok(answer) => {
                    if let Some(refresh_token) = answer.authorizer_refresh_token
                        && refresh_token != authorization.refresh_token.expose()
                    {
                        let renewed = Authorization {
                            refresh_token: Credential::new(refresh_token),
                            ..authorization
                        };
                        self.authorizations
                            .put_authorization(authorizer, &renewed)
                            .await?;
                    }
                    return Ok(FetchedToken {
                        token: AccessToken::new(answer.authorizer_access_token),
                        expires_in: seconds(answer.expires_in),
                    });
                }
                Err(error) if error.code() == Some(ErrCode::ComponentNotAuthorized) => {
                    return Err(self.revoked(authorizer).await);
                }
                Err(error) if !recovered && error.code() == Some(ErrCode::RefreshTokenInvalid) => {
                    tracing::warn!(
                        authorizer,
                        "the refresh token was refused (61023); reading the authorizer list"
                    );
                    self.recover_for(component, authorizer).await?;
                    recovered = true;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Purges `authorizer` and says it is revoked.
    async fn revoked(&self, authorizer: &str) -> Error {
        lock(&self.revoked).insert(authorizer.to_owned());
        if let Err(error) = self.purge(authorizer).await {
            return error;
        }
        Error::Revoked {
            authorizer: authorizer.to_owned(),
        }
    }

    /// Recovers the refresh tokens; an `authorizer` absent from the list is revoked.
    async fn recover_for(&self, component: &Client, authorizer: &str) -> Result<()> {
        match self.recover(component, Some(authorizer)).await? {
            (_, false) => Err(self.revoked(authorizer).await),
            (_, true) => Ok(()),
        }
    }

    /// Reads `api_get_authorizer_list` to its end and stores every refresh token (keeping
    /// the permission sets already known). One recovery at a time per process: a caller
    /// that waited on another's uses its result. Returns how many accounts the list holds
    /// and whether `wanted` is one of them.
    async fn recover(&self, component: &Client, wanted: Option<&str>) -> Result<(usize, bool)> {
        let seen = self.recoveries.load(Ordering::Acquire);
        let _recovering = self.recovery.lock().await;
        if self.recoveries.load(Ordering::Acquire) != seen
            && let Some(wanted) = wanted
            && self.authorizations.authorization(wanted).await?.is_some()
        {
            return Ok((0, true));
        }
        let mut offset = 0;
        let mut count = 0;
        let mut found = false;
        loop {
            let page = component
                .call(GetAuthorizerList::new(
                    self.appid.as_str(),
                    offset,
                    LIST_PAGE,
                ))
                .await?;
            let entries = page.list.len();
            for entry in page.list {
                found |= wanted == Some(entry.authorizer_appid.as_str());
                let known = self
                    .authorizations
                    .authorization(&entry.authorizer_appid)
                    .await?;
                let authorization = Authorization {
                    refresh_token: Credential::new(entry.refresh_token),
                    func_info: known
                        .as_ref()
                        .map(|known| known.func_info.clone())
                        .unwrap_or_default(),
                    authorized_at: entry.auth_time,
                };
                if known.as_ref() != Some(&authorization) {
                    self.authorizations
                        .put_authorization(&entry.authorizer_appid, &authorization)
                        .await?;
                }
                count += 1;
            }
            offset += LIST_PAGE;
            if entries == 0 || offset >= page.total_count {
                break;
            }
        }
        self.recoveries.fetch_add(1, Ordering::Release);
        Ok((count, found))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data updated in one step: a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn seconds(expires_in: i64) -> Duration {
    Duration::from_secs(u64::try_from(expires_in).unwrap_or(0))
}

fn no_ticket(message: &str) -> Error {
    Error::Token {
        endpoint: "get_component_access_token",
        code: None,
        message: message.to_owned(),
        rid: None,
        hint: TICKET_HINT,
    }
}

/// A component token call WeChat refused, with what to do about it (61004: the IP
/// allow-list; 45009: the quota and its reset; 61005/61006: the ticket).
fn token_error(error: Error) -> Error {
    match error {
        Error::Api {
            endpoint,
            code,
            message,
            rid,
        } => Error::Token {
            endpoint,
            code: Some(code),
            message,
            rid,
            hint: code
                .token_fetch_hint()
                .unwrap_or("check the component appid and secret"),
        },
        other => other,
    }
}

/// How long a client trusts the permission sets it read from the durable store (another
/// instance may have applied an `updateauthorized` meanwhile).
const GRANTS_FRESH: Duration = Duration::from_secs(60);

/// An authorizer client's guard: a call whose endpoint names permission sets goes only if
/// the account granted one of them (WeChat's 61007 otherwise). An account whose sets are
/// unknown (recovered from the authorizer list, which does not say them) is not checked.
struct Granted {
    core: Arc<Core>,
    authorizer: Arc<str>,
    known: Mutex<Option<(Vec<u32>, tokio::time::Instant)>>,
}

impl wx_kefu_runtime::CallGuard for Granted {
    fn check<'a>(
        &'a self,
        endpoint: &'static wx_kefu_runtime::meta::EndpointMeta,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let needs = endpoint.permission_sets;
            if needs.is_empty() {
                return Ok(());
            }
            let cached = lock(&self.known)
                .as_ref()
                .filter(|(_, at)| at.elapsed() < GRANTS_FRESH)
                .map(|(sets, _)| sets.clone());
            let granted = match cached {
                Some(granted) => granted,
                None => {
                    let granted = self
                        .core
                        .authorizations
                        .authorization(&self.authorizer)
                        .await?
                        .map(|authorization| authorization.func_info)
                        .unwrap_or_default();
                    *lock(&self.known) = Some((granted.clone(), tokio::time::Instant::now()));
                    granted
                }
            };
            if granted.is_empty() || needs.iter().any(|set| granted.contains(set)) {
                return Ok(());
            }
            Err(Error::NotGranted {
                endpoint: endpoint.name,
                authorizer: self.authorizer.to_string(),
                needs,
                granted,
            })
        })
    }
}

/// The provider of the client for calls without a token: never asked.
struct NoToken;

impl TokenProvider for NoToken {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(std::future::ready(Err(config(
            "a component call without a token asked for one",
        ))))
    }
}

/// The component token: the platform's cache, filled from the ticket.
struct ComponentTokens(Arc<Core>);

struct ComponentFetcher<'a>(&'a Core);

impl TokenFetcher for ComponentFetcher<'_> {
    fn fetch(&self, _force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        Box::pin(self.0.fetch_component())
    }

    fn mode(&self) -> Option<TokenMode> {
        // A new component token retires the old one.
        Some(TokenMode::Classic)
    }
}

impl TokenProvider for ComponentTokens {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async move {
            let store = self.0.tokens.component();
            store.get(&ComponentFetcher(&self.0)).await
        })
    }

    fn rejected<'a>(&'a self, token: &'a AccessToken) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.0.tokens.component().invalidate(token).await })
    }
}

/// One authorizer's token: its store in the cache, filled from its refresh token.
struct AuthorizerTokens {
    core: Arc<Core>,
    component: Client,
    store: Arc<dyn TokenStore>,
    authorizer: Arc<str>,
}

struct AuthorizerFetcher<'a>(&'a AuthorizerTokens);

impl TokenFetcher for AuthorizerFetcher<'_> {
    fn fetch(&self, _force_refresh: bool) -> BoxFuture<'_, Result<FetchedToken>> {
        let tokens = self.0;
        Box::pin(
            tokens
                .core
                .fetch_authorizer(&tokens.component, &tokens.authorizer),
        )
    }

    fn mode(&self) -> Option<TokenMode> {
        // A new authorizer token retires the old one.
        Some(TokenMode::Classic)
    }
}

impl TokenProvider for AuthorizerTokens {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async move { self.store.get(&AuthorizerFetcher(self)).await })
    }

    fn rejected<'a>(&'a self, token: &'a AccessToken) -> BoxFuture<'a, ()> {
        self.store.invalidate(token)
    }
}

/// The platform's pushes (feature `inbound`): the authorization events applied to the
/// stores, and WeChat's go-live test answered.
#[cfg(feature = "inbound")]
impl Platform {
    /// Applies a push of the 授权事件接收URL (from
    /// [`Webhook::receive_authorization_event`](crate::inbound::Webhook::receive_authorization_event),
    /// a webhook built with the platform's Token, EncodingAESKey and component appid): the
    /// ticket kept, an `authorized`/`updateauthorized` code exchanged and its refresh token
    /// kept (the account's cached token dropped), an `unauthorized` account purged. Returns
    /// the authorizer the event was about. Answer WeChat `success` once it returns `Ok`;
    /// on an error answer nothing (WeChat pushes again).
    ///
    /// A repeated `authorized` push (its code already used: 61009) is taken as applied when
    /// the store holds an authorization at least as recent.
    pub async fn apply(
        &self,
        event: &crate::inbound::platform::AuthorizationEvent,
    ) -> Result<Option<String>> {
        use crate::inbound::platform::AuthorizationEvent as E;
        match event {
            E::VerifyTicket {
                ticket,
                create_time,
            } => self.ticket(ticket, *create_time).await.map(|()| None),
            E::Authorized(granted) | E::UpdateAuthorized(granted) => {
                match self
                    .authorized(&granted.authorization_code, granted.create_time)
                    .await
                {
                    Ok(appid) => Ok(Some(appid)),
                    Err(error) if error.code() == Some(ErrCode::AuthorizationCodeInvalid) => {
                        let known = self
                            .inner
                            .core
                            .authorizations
                            .authorization(&granted.authorizer_appid)
                            .await?;
                        match known {
                            Some(known) if known.authorized_at >= granted.create_time => {
                                Ok(Some(granted.authorizer_appid.clone()))
                            }
                            _ => Err(error),
                        }
                    }
                    Err(error) => Err(error),
                }
            }
            E::Unauthorized {
                authorizer_appid, ..
            } => {
                self.unauthorized(authorizer_appid).await?;
                Ok(Some(authorizer_appid.clone()))
            }
            _ => Ok(None),
        }
    }

    /// WeChat's go-live test (全网发布), answered as its page asks: `TESTCOMPONENT_MSG_TYPE_TEXT`
    /// gets the passive reply `TESTCOMPONENT_MSG_TYPE_TEXT_callback`; `QUERY_AUTH_CODE:<code>`
    /// gets an empty answer at once, while a task exchanges the code and sends
    /// `<code>_from_api` to the user by the customer-service API as the authorizer. `None`
    /// for any other push: handle it as usual. Call it first in the message handler of a
    /// platform that is not live yet.
    /// <https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/operation/thirdparty/releases_instructions.html>
    pub fn go_live_reply(&self, push: &crate::inbound::Push) -> Option<crate::inbound::Reply> {
        use crate::inbound::{Reply, UserMessage};
        let Some(UserMessage::Text(text)) = push.message() else {
            return None;
        };
        if text.content == "TESTCOMPONENT_MSG_TYPE_TEXT" {
            return Some(Reply::text("TESTCOMPONENT_MSG_TYPE_TEXT_callback"));
        }
        let code = text.content.strip_prefix("QUERY_AUTH_CODE:")?.to_owned();
        let platform = self.clone();
        let openid = push.from_user_name.clone();
        let create_time = push.create_time;
        tokio::spawn(async move {
            let sent = async {
                let appid = platform.authorized(&code, create_time).await?;
                let message = crate::SendCustomMessage::new(
                    openid.as_str(),
                    crate::Text::new(format!("{code}_from_api")),
                );
                platform.client(&appid).call(message).await
            };
            if let Err(error) = sent.await {
                tracing::warn!(%error, "the go-live test's QUERY_AUTH_CODE could not be answered");
            }
        });
        Some(Reply::Success)
    }
}

/// A platform sends the webhook's deferred replies as the account each came to
/// ([`Webhook::process_as`](crate::inbound::Webhook::process_as), which
/// [`message_route`](Platform::message_route) uses, puts them in the outbox under the
/// authorizer's appid): `WebhookBuilder::defer_replies(Arc::new(platform.clone()), outbox)`.
#[cfg(feature = "inbound")]
impl crate::inbound::shared::ReplySender for Platform {
    fn send<'a>(
        &'a self,
        app_id: &'a str,
        openid: &'a str,
        reply: &'a crate::inbound::Reply,
    ) -> crate::inbound::shared::BoxFuture<
        'a,
        std::result::Result<(), crate::inbound::shared::SendFailure>,
    > {
        Box::pin(async move {
            crate::DeferredSender::new(self.client(app_id))
                .send(app_id, openid, reply)
                .await
        })
    }
}

/// The platform's two URLs as axum routes (feature `inbound-axum`).
#[cfg(feature = "inbound-axum")]
impl Platform {
    /// The 授权事件接收URL: each push checked by `webhook` (the platform's Token,
    /// EncodingAESKey and component appid), applied ([`Platform::apply`]) and answered
    /// `success`; a push that fails its checks is refused as by the account's route, and
    /// one that cannot be applied (the store is down, WeChat refused the code) is answered
    /// 503, so WeChat pushes it again.
    pub fn authorization_route(
        &self,
        webhook: crate::inbound::Webhook,
    ) -> axum::routing::MethodRouter {
        use axum::extract::RawQuery;
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        let platform = self.clone();
        axum::routing::post(move |RawQuery(query): RawQuery, body: axum::body::Bytes| {
            let (platform, webhook) = (platform.clone(), webhook.clone());
            async move {
                let query = crate::inbound::Query::parse(query.as_deref().unwrap_or_default());
                let event = match webhook.receive_authorization_event(&query, &body) {
                    Ok(event) => event,
                    Err(error) => return error.into_response(),
                };
                match platform.apply(&event).await {
                    Ok(_) => crate::inbound::Answer::success().into_response(),
                    Err(error) => {
                        tracing::warn!(%error, "a platform push could not be applied; WeChat will push it again");
                        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
                    }
                }
            }
        })
    }

    /// The 消息与事件接收URL, mounted at a path whose one parameter is the `$APPID$`
    /// WeChat fills in (`/wechat/{appid}`): each push goes through `webhook` (built with the
    /// platform's Token, EncodingAESKey and component appid, and
    /// [`many_accounts`](crate::inbound::WebhookBuilder::many_accounts)) and its
    /// [`process`](crate::inbound::Webhook::process), and `handler` gets the authorizer's
    /// appid, a [`Client`] acting as it, and the push. The go-live test's pushes are
    /// answered first ([`Platform::go_live_reply`]).
    pub fn message_route<H, F>(
        &self,
        webhook: crate::inbound::Webhook,
        handler: H,
    ) -> axum::routing::MethodRouter
    where
        H: Fn(String, Client, crate::inbound::Push) -> F + Clone + Send + Sync + 'static,
        F: std::future::Future<Output = crate::inbound::Reply> + Send + 'static,
    {
        use axum::extract::{Path, RawQuery};
        use axum::response::IntoResponse;
        let platform = self.clone();
        axum::routing::post(
            move |Path(appid): Path<String>, RawQuery(query): RawQuery, body: axum::body::Bytes| {
                let (platform, webhook, handler) =
                    (platform.clone(), webhook.clone(), handler.clone());
                async move {
                    let query = crate::inbound::Query::parse(query.as_deref().unwrap_or_default());
                    let client = platform.client(&appid);
                    let account = appid.clone();
                    let answered = webhook
                        .process_as(&account, &query, &body, move |push| async move {
                            if let Some(reply) = platform.go_live_reply(&push) {
                                return reply;
                            }
                            // The path's `$APPID$` is not signed; the push's `ToUserName` is.
                            if !platform.is_account(&appid, &push.to_user_name).await {
                                tracing::warn!(
                                    authorizer = %appid,
                                    "a push came to another account's URL; not handled"
                                );
                                return crate::inbound::Reply::Success;
                            }
                            handler(appid, client, push).await
                        })
                        .await;
                    match answered {
                        Ok(answer) => answer.into_response(),
                        Err(error) => error.into_response(),
                    }
                }
            },
        )
    }
}
