//! WeChat's API hosts, and the one calls go to now.
//!
//! WeChat documents several hosts on its 接口域名说明 page
//! (<https://developers.weixin.qq.com/doc/service/Basic_Information/Interface_field_description.html>):
//! `api.weixin.qq.com`, the nearest access point; `api2.weixin.qq.com`, "通用异地容灾域名，当上述
//! 域名不可访问时可改访问此域名" (the disaster-recovery host, for when the first cannot be
//! reached); and the regional `sh.`, `sz.` and `hk.api.weixin.qq.com`. A client keeps an
//! ordered list (by default the first two), uses one host at a time, and moves to the next
//! only as the retry rules allow: any call when its request provably never left (a DNS,
//! connect or TLS failure), a read also after a timeout, a broken answer or an HTTP 5xx.
//! A send is never sent to two hosts. The host that worked stays in use; after a cool-down
//! the first is tried again. Every switch is logged (`tracing`, warn) with both hosts and
//! the cause.
//!
//! The docs do not say whether an access token issued through one host is accepted by
//! another. WeChat's hosts are access points of one service, so the client keeps its token
//! across a switch; should a host answer 40001 for it, that is handled as any rejected
//! token (the token is replaced and the call replayed once).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::TransportKind;
use crate::error::{Error, Result};

/// `api.weixin.qq.com`: the nearest access point (WeChat's default).
pub const PRIMARY: &str = "https://api.weixin.qq.com";
/// `api2.weixin.qq.com`: 通用异地容灾域名, the disaster-recovery host.
pub const DISASTER_RECOVERY: &str = "https://api2.weixin.qq.com";
/// `sh.api.weixin.qq.com`: the Shanghai access point.
pub const SHANGHAI: &str = "https://sh.api.weixin.qq.com";
/// `sz.api.weixin.qq.com`: the Shenzhen access point.
pub const SHENZHEN: &str = "https://sz.api.weixin.qq.com";
/// `hk.api.weixin.qq.com`: the Hong Kong access point.
pub const HONG_KONG: &str = "https://hk.api.weixin.qq.com";

/// The hosts a client uses by default, in order.
pub const DEFAULT_HOSTS: [&str; 2] = [PRIMARY, DISASTER_RECOVERY];

/// How long a client stays on a later host before it tries the first one again.
pub const DEFAULT_HOST_COOLDOWN: Duration = Duration::from_secs(300);

/// One host: its base URL as given (without a trailing `/`), parsed, and as logs and
/// `Debug` show it (a proxy's user and password masked).
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) url: String,
    pub(crate) base: reqwest::Url,
    pub(crate) shown: String,
}

/// `url` as `Debug` shows it: the user name and password of a proxy URL
/// (`http://user:pass@proxy`) are masked, and text that is no URL is not shown at all.
pub(crate) fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) if parsed.username().is_empty() && parsed.password().is_none() => url.to_owned(),
        Ok(mut parsed) => {
            // Both only fail for URLs that cannot carry credentials, which these do.
            let _ = parsed.set_username("***");
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// The ordered hosts and the one in use.
#[derive(Debug)]
pub(crate) struct Hosts {
    list: Vec<Host>,
    current: AtomicUsize,
    /// When `current` was last switched to a later host, in ms after `epoch`.
    since_ms: AtomicU64,
    epoch: Instant,
    cooldown: Duration,
}

impl Hosts {
    /// The hosts of `urls`, each an `http(s)` URL without query or fragment.
    pub(crate) fn new(urls: Vec<String>, cooldown: Duration) -> Result<Hosts> {
        if urls.is_empty() {
            return Err(Error::config("at least one host is needed"));
        }
        let list = urls
            .into_iter()
            .map(|url| {
                let url = url.trim_end_matches('/').to_owned();
                match reqwest::Url::parse(&url) {
                    Ok(base)
                        if matches!(base.scheme(), "http" | "https")
                            && base.query().is_none()
                            && base.fragment().is_none() =>
                    {
                        let shown = shown_url(&url);
                        Ok(Host { url, base, shown })
                    }
                    _ => Err(Error::config(
                        "a host must be an http(s) URL without query (the base URL)",
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Hosts {
            list,
            current: AtomicUsize::new(0),
            since_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            cooldown,
        })
    }

    pub(crate) fn get(&self, index: usize) -> &Host {
        &self.list[index.min(self.list.len() - 1)]
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Host> {
        self.list.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The host to use now: the current one, or the first again once the cool-down since
    /// the switch away from it has passed.
    pub(crate) fn current(&self) -> usize {
        if self.list.len() == 1 {
            return 0;
        }
        let index = self.current.load(Ordering::Acquire);
        if index == 0 {
            return 0;
        }
        let since = self.since_ms.load(Ordering::Acquire);
        let cooldown = u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX);
        if self.now_ms().saturating_sub(since) < cooldown {
            return index;
        }
        if self
            .current
            .compare_exchange(index, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::info!(
                from = %self.list[index].shown,
                to = %self.list[0].shown,
                cooldown_s = self.cooldown.as_secs(),
                "cool-down over: trying the first WeChat host again"
            );
        }
        self.current.load(Ordering::Acquire)
    }

    /// A request to `index` failed with `cause` in a way that lets the call move on: the
    /// next host becomes current (unless another call moved already). The host to try
    /// next; `None` with a single host.
    pub(crate) fn failed(&self, index: usize, cause: &Error) -> Option<usize> {
        if self.list.len() == 1 {
            return None;
        }
        let next = (index + 1) % self.list.len();
        match self
            .current
            .compare_exchange(index, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.since_ms.store(self.now_ms(), Ordering::Release);
                tracing::warn!(
                    from = %self.list[index].shown,
                    to = %self.list[next].shown,
                    cause = %cause,
                    "WeChat host failed: switching"
                );
                Some(next)
            }
            // Another call switched already: follow it.
            Err(moved) => Some(moved),
        }
    }
}

/// Whether a failed request lets its call move to another host: a request that provably
/// never left (any call), or a read whose request may have arrived but whose host failed
/// (timeout, broken connection, HTTP 5xx). WeChat's own errcodes never move a call.
pub(crate) fn moves(error: &Error, idempotent: bool) -> bool {
    match error {
        Error::Transport {
            kind: TransportKind::Connect,
            ..
        } => true,
        Error::Transport {
            kind: TransportKind::Timeout | TransportKind::Interrupted,
            ..
        } => idempotent,
        Error::Status { status, .. } => idempotent && (500..600).contains(status),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::TimedOut;

    fn transport(kind: TransportKind) -> Error {
        Error::Transport {
            endpoint: "t",
            kind,
            source: Arc::new(TimedOut {
                limit: Duration::ZERO,
            }),
        }
    }

    #[test]
    fn only_a_request_that_never_left_moves_a_send() {
        let connect = transport(TransportKind::Connect);
        let timeout = transport(TransportKind::Timeout);
        let broken = transport(TransportKind::Interrupted);
        let status = |status| Error::Status {
            endpoint: "t",
            status,
            excerpt: String::new(),
        };
        assert!(moves(&connect, false) && moves(&connect, true));
        assert!(!moves(&timeout, false) && moves(&timeout, true));
        assert!(!moves(&broken, false) && moves(&broken, true));
        assert!(!moves(&status(503), false) && moves(&status(503), true));
        assert!(!moves(&status(404), true));
        let busy = Error::Api {
            endpoint: "t",
            code: crate::ErrCode::from_code(-1),
            message: String::new(),
            rid: None,
        };
        assert!(!moves(&busy, true));
    }

    #[test]
    fn the_host_that_worked_stays_until_the_cool_down_ends() {
        let hosts = Hosts::new(
            vec![
                "http://a.test/".into(),
                "http://b.test".into(),
                "http://c.test".into(),
            ],
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(hosts.get(0).url, "http://a.test");
        let cause = transport(TransportKind::Connect);
        assert_eq!(hosts.current(), 0);
        assert_eq!(hosts.failed(0, &cause), Some(1));
        assert_eq!(hosts.current(), 1, "sticky");
        // A late failure of the first host follows the switch already made.
        assert_eq!(hosts.failed(0, &cause), Some(1));
        assert_eq!(hosts.failed(1, &cause), Some(2));
        assert_eq!(hosts.failed(2, &cause), Some(0), "wraps around");
        assert_eq!(hosts.failed(0, &cause), Some(1));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(hosts.current(), 0, "the first again after the cool-down");
        let single = Hosts::new(vec!["http://a.test".into()], Duration::ZERO).unwrap();
        assert_eq!(single.failed(0, &cause), None);
        for refused in [
            Hosts::new(Vec::new(), Duration::ZERO),
            Hosts::new(vec!["ftp://x".into()], Duration::ZERO),
        ] {
            let error = refused.unwrap_err();
            assert!(matches!(error, Error::Config { .. }), "{error:?}");
        }
    }
}
