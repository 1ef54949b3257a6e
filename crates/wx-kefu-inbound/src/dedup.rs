//! WeChat retries a push up to 3 times when no answer comes within 5 s. This small bounded
//! cache remembers the pushes seen recently (by [`DedupKey`]) and the reply each got, so a
//! retry is answered the same way without being processed again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::push::DedupKey;
use crate::reply::Reply;

/// Where a push stands in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Seen {
    /// Not seen (or forgotten): it is now marked in progress; process it.
    New,
    /// Seen, still being processed (WeChat gave up waiting for that answer).
    InProgress,
    /// Seen and answered with this reply.
    Answered(Reply),
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    reply: Option<Reply>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<DedupKey, Entry>,
    order: VecDeque<(DedupKey, Instant)>,
}

/// A bounded, time-limited memory of recent pushes. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Dedup {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl Default for Dedup {
    /// 4096 pushes for 60 s: WeChat's retries come within 15 s.
    fn default() -> Dedup {
        Dedup::new(4096, Duration::from_secs(60))
    }
}

impl Dedup {
    /// Remembers at most `capacity` pushes (the oldest go first), each for `ttl`.
    /// A capacity of 0 remembers nothing (every push is new).
    pub fn new(capacity: usize, ttl: Duration) -> Dedup {
        Dedup {
            capacity,
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks the push up; a new one is marked in progress.
    pub fn begin(&self, key: &DedupKey) -> Seen {
        if self.capacity == 0 {
            return Seen::New;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now, self.ttl);
        if let Some(entry) = inner.entries.get(key) {
            return match &entry.reply {
                Some(reply) => Seen::Answered(reply.clone()),
                None => Seen::InProgress,
            };
        }
        while inner.entries.len() >= self.capacity {
            let Some((oldest, at)) = inner.order.pop_front() else {
                break;
            };
            inner.remove_if_at(&oldest, at);
        }
        inner.entries.insert(
            key.clone(),
            Entry {
                at: now,
                reply: None,
            },
        );
        inner.order.push_back((key.clone(), now));
        Seen::New
    }

    /// The reply a push got, once it got one.
    pub fn reply(&self, key: &DedupKey) -> Option<Reply> {
        self.lock()
            .entries
            .get(key)
            .and_then(|entry| entry.reply.clone())
    }

    /// Records the reply a push got.
    pub fn finish(&self, key: &DedupKey, reply: &Reply) {
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.reply = Some(reply.clone());
        }
    }

    /// Forgets a push that was not answered (its processing failed), so a retry runs again.
    pub fn forget(&self, key: &DedupKey) {
        let mut inner = self.lock();
        if inner.entries.get(key).is_some_and(|e| e.reply.is_none()) {
            inner.entries.remove(key);
            inner.order.retain(|(queued, _)| queued != key);
        }
    }

    /// How many pushes are remembered now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Drops the entries older than `ttl`.
    fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some((_, at)) = self.order.front() {
            if now.duration_since(*at) < ttl {
                break;
            }
            if let Some((key, at)) = self.order.pop_front() {
                self.remove_if_at(&key, at);
            }
        }
    }

    /// Removes `key` if its entry is the one queued at `at` (not a later re-insertion).
    fn remove_if_at(&mut self, key: &DedupKey, at: Instant) {
        if self.entries.get(key).is_some_and(|e| e.at == at) {
            self.entries.remove(key);
        }
    }
}
