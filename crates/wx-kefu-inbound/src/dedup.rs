//! WeChat retries a push up to 3 times when no answer comes within 5 s. This small bounded
//! cache remembers the pushes seen recently (by [`DedupKey`]) and the reply each got, so a
//! retry is answered the same way without being processed again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::push::{DedupKey, KeyRef};
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
    /// The push's key itself: a fingerprint shared by two keys never makes one the
    /// other's repeat.
    key: StoredKey,
    /// The account the push came to, when the webhook serves several (a platform's): a
    /// push of one account is never another's repeat. Empty for a webhook of one account.
    scope: Box<str>,
    /// When it came (unix seconds, on the webhook's clock).
    at: i64,
    reply: Option<Reply>,
}

/// A [`DedupKey`] as an entry keeps it: an event's sender and kind in one allocation.
#[derive(Debug)]
enum StoredKey {
    Message(i64),
    Event {
        /// The sender, then the kind.
        text: Box<str>,
        /// Where the kind starts in `text`.
        split: usize,
        create_time: i64,
    },
}

impl StoredKey {
    fn new(key: KeyRef<'_>) -> StoredKey {
        match key {
            KeyRef::Message(id) => StoredKey::Message(id),
            KeyRef::Event {
                from,
                create_time,
                kind,
            } => {
                let mut text = String::with_capacity(from.len() + kind.len());
                text.push_str(from);
                text.push_str(kind);
                StoredKey::Event {
                    text: text.into_boxed_str(),
                    split: from.len(),
                    create_time,
                }
            }
        }
    }

    fn borrowed(&self) -> KeyRef<'_> {
        match self {
            StoredKey::Message(id) => KeyRef::Message(*id),
            StoredKey::Event {
                text,
                split,
                create_time,
            } => {
                let (from, kind) = text.split_at(*split);
                KeyRef::Event {
                    from,
                    create_time: *create_time,
                    kind,
                }
            }
        }
    }
}

/// The entries by the keyed fingerprint of their key, and the fingerprints in the order
/// they came (with when), for expiry and eviction: the key is stored once, the queue stays
/// small.
#[derive(Debug)]
struct Inner {
    hash: KeyedHash,
    entries: HashMap<u64, Entry, Fingerprint>,
    order: VecDeque<(u64, i64)>,
}

/// The table's own hash of a fingerprint, which is already mixed and keyed.
#[derive(Debug, Clone, Copy, Default)]
struct Fingerprint;

impl std::hash::BuildHasher for Fingerprint {
    type Hasher = Passthrough;

    fn build_hasher(&self) -> Passthrough {
        Passthrough(0)
    }
}

/// See [`Fingerprint`].
#[derive(Debug, Clone, Copy)]
struct Passthrough(u64);

impl std::hash::Hasher for Passthrough {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; anything else is folded in all the same.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The tables' hash: a multiply–rotate mix of each word, keyed per cache with a random
/// seed (from std's randomly keyed hasher). Keys come from pushes whose signature was
/// checked, so SipHash's defence against chosen collisions buys little here, and it is
/// several times slower on these short keys.
#[derive(Clone, Copy)]
struct KeyedHash {
    seed: u64,
}

/// Never the seed: knowing it would let a sender choose colliding keys.
impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash(***)")
    }
}

impl KeyedHash {
    fn random() -> KeyedHash {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        KeyedHash {
            seed: hasher.finish(),
        }
    }
}

impl std::hash::BuildHasher for KeyedHash {
    type Hasher = MixHasher;

    fn build_hasher(&self) -> MixHasher {
        MixHasher(self.seed)
    }
}

/// See [`KeyedHash`] (no `Debug`: its state starts as the seed).
#[derive(Clone, Copy)]
struct MixHasher(u64);

impl MixHasher {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }

    fn write_i64(&mut self, value: i64) {
        self.mix(value as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }

    fn finish(&self) -> u64 {
        // A final avalanche, so that the low bits the table uses depend on every bit.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// A bounded, time-limited memory of recent pushes. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Dedup {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
    /// Entries pushed out by the capacity while still inside their lifetime.
    evicted_live: AtomicU64,
}

impl Default for Dedup {
    /// 4096 pushes for 60 s: WeChat's retries come within 15 s.
    fn default() -> Dedup {
        Dedup::new(4096, Duration::from_secs(60))
    }
}

impl Dedup {
    /// Remembers at most `capacity` pushes (the oldest go first), each for `ttl` (in whole
    /// seconds, rounded up; on the webhook's clock, or the system's for [`Dedup::begin`]).
    /// A capacity of 0 remembers nothing (every push is new).
    pub fn new(capacity: usize, ttl: Duration) -> Dedup {
        Dedup {
            capacity,
            ttl,
            // Sized for the capacity up front (bounded by it), so a busy server never
            // rehashes on the hot path.
            inner: Mutex::new(Inner {
                hash: KeyedHash::random(),
                entries: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), Fingerprint),
                order: VecDeque::with_capacity(capacity.min(1 << 16)),
            }),
            evicted_live: AtomicU64::new(0),
        }
    }

    /// How long a push is remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many pushes it remembers at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many pushes were forgotten before their lifetime ended, because more pushes
    /// than the capacity came within one lifetime. A retry or replay of such a push runs
    /// the application again: a count above 0 asks for a larger capacity.
    pub fn evicted_live(&self) -> u64 {
        self.evicted_live.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks the push up; a new one is marked in progress.
    pub fn begin(&self, key: &DedupKey) -> Seen {
        self.enter(key.borrowed(), system_now()).0
    }

    /// [`begin`](Dedup::begin) for a push of `account`, on a webhook that serves several
    /// accounts (a platform's): the same key of another account is another push.
    pub fn begin_for(&self, account: &str, key: &DedupKey) -> Seen {
        self.enter_in(account, key.borrowed(), system_now()).0
    }

    /// [`begin`](Dedup::begin) with the key borrowed (copied once, only when it is new),
    /// and the ticket of its entry for what follows (none when nothing is remembered).
    pub(crate) fn enter(&self, key: KeyRef<'_>, now: i64) -> (Seen, Option<Ticket>) {
        self.enter_in("", key, now)
    }

    /// [`enter`](Dedup::enter) for a push of `scope` (an account; empty for the one account).
    pub(crate) fn enter_in(
        &self,
        scope: &str,
        key: KeyRef<'_>,
        now: i64,
    ) -> (Seen, Option<Ticket>) {
        if self.capacity == 0 {
            return (Seen::New, None);
        }
        let mut inner = self.lock();
        inner.expire(now, self.ttl);
        let print = inner.fingerprint(scope, key);
        if let Some(entry) = inner.entries.get(&print)
            && entry.key.borrowed() == key
            && *entry.scope == *scope
        {
            let ticket = Ticket {
                print,
                at: entry.at,
            };
            return match &entry.reply {
                Some(reply) => (Seen::Answered(reply.clone()), Some(ticket)),
                None => (Seen::InProgress, Some(ticket)),
            };
        }
        while inner.entries.len() >= self.capacity {
            let Some((oldest, at)) = inner.order.pop_front() else {
                break;
            };
            if inner.remove_if_at(oldest, at) {
                // Expired ones went above: this one was still inside its lifetime.
                self.evicted_live.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A different key of the same fingerprint (2^-64 odds) is replaced: its retry, if
        // any, is then processed again, never answered with this push's reply.
        inner.entries.insert(
            print,
            Entry {
                key: StoredKey::new(key),
                scope: scope.into(),
                at: now,
                reply: None,
            },
        );
        inner.order.push_back((print, now));
        (Seen::New, Some(Ticket { print, at: now }))
    }

    /// The reply recorded for the entry of `ticket`, while it is remembered.
    pub(crate) fn reply_of(&self, ticket: &Ticket) -> Option<Reply> {
        self.lock()
            .ticketed(ticket)
            .and_then(|entry| entry.reply.clone())
    }

    /// Records the reply of the entry of `ticket`.
    pub(crate) fn finish_ticket(&self, ticket: &Ticket, reply: &Reply) {
        if let Some(entry) = self.lock().ticketed(ticket) {
            entry.reply = Some(reply.clone());
        }
    }

    /// Forgets the entry of `ticket` if it has no reply (its processing failed).
    pub(crate) fn forget_ticket(&self, ticket: &Ticket) {
        let mut inner = self.lock();
        if inner.ticketed(ticket).is_some_and(|e| e.reply.is_none()) {
            inner.entries.remove(&ticket.print);
            inner.order.retain(|(queued, _)| *queued != ticket.print);
        }
    }

    /// The reply a push got, once it got one.
    pub fn reply(&self, key: &DedupKey) -> Option<Reply> {
        self.reply_for("", key)
    }

    /// [`reply`](Dedup::reply) for a push of `account` (see [`begin_for`](Dedup::begin_for)).
    pub fn reply_for(&self, account: &str, key: &DedupKey) -> Option<Reply> {
        self.lock()
            .entry(account, key)
            .and_then(|entry| entry.reply.clone())
    }

    /// Records the reply a push got.
    pub fn finish(&self, key: &DedupKey, reply: &Reply) {
        self.finish_for("", key, reply);
    }

    /// [`finish`](Dedup::finish) for a push of `account` (see [`begin_for`](Dedup::begin_for)).
    pub fn finish_for(&self, account: &str, key: &DedupKey, reply: &Reply) {
        if let Some(entry) = self.lock().entry_mut(account, key) {
            entry.reply = Some(reply.clone());
        }
    }

    /// Forgets a push that was not answered (its processing failed), so a retry runs again.
    pub fn forget(&self, key: &DedupKey) {
        self.forget_for("", key);
    }

    /// [`forget`](Dedup::forget) for a push of `account` (see [`begin_for`](Dedup::begin_for)).
    pub fn forget_for(&self, account: &str, key: &DedupKey) {
        let mut inner = self.lock();
        if inner.entry(account, key).is_some_and(|e| e.reply.is_none()) {
            let print = inner.fingerprint(account, key.borrowed());
            inner.entries.remove(&print);
            inner.order.retain(|(queued, _)| *queued != print);
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

/// Which entry a push got: its fingerprint and when it was made (a later entry of the
/// same fingerprint is another).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    print: u64,
    at: i64,
}

impl Inner {
    /// The entry of `ticket`, if it is still the one the ticket was given for.
    fn ticketed(&mut self, ticket: &Ticket) -> Option<&mut Entry> {
        self.entries
            .get_mut(&ticket.print)
            .filter(|entry| entry.at == ticket.at)
    }

    fn fingerprint(&self, scope: &str, key: KeyRef<'_>) -> u64 {
        use std::hash::BuildHasher;
        // The one account's pushes hash as they always did; another scope is mixed in.
        if scope.is_empty() {
            self.hash.hash_one(key)
        } else {
            self.hash.hash_one((scope, key))
        }
    }

    /// The entry of `key` of `scope`, if it is remembered.
    fn entry(&self, scope: &str, key: &DedupKey) -> Option<&Entry> {
        let key = key.borrowed();
        self.entries
            .get(&self.fingerprint(scope, key))
            .filter(|entry| entry.key.borrowed() == key && *entry.scope == *scope)
    }

    fn entry_mut(&mut self, scope: &str, key: &DedupKey) -> Option<&mut Entry> {
        let key = key.borrowed();
        let print = self.fingerprint(scope, key);
        self.entries
            .get_mut(&print)
            .filter(|entry| entry.key.borrowed() == key && *entry.scope == *scope)
    }

    /// Drops the entries older than `ttl`.
    fn expire(&mut self, now: i64, ttl: Duration) {
        let ttl = whole_seconds(ttl);
        while let Some(&(print, at)) = self.order.front() {
            // Kept through its last second: an entry made at `at` is still there at
            // `at + ttl`.
            if now.saturating_sub(at) <= ttl {
                break;
            }
            self.order.pop_front();
            self.remove_if_at(print, at);
        }
    }

    /// Removes the entry of `print` if it is the one queued at `at` (not a later
    /// re-insertion); whether it did.
    fn remove_if_at(&mut self, print: u64, at: i64) -> bool {
        if self.entries.get(&print).is_some_and(|e| e.at == at) {
            self.entries.remove(&print);
            return true;
        }
        false
    }
}

/// A duration in whole seconds, rounded up: an entry lives at least its TTL.
fn whole_seconds(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).unwrap_or(i64::MAX)
}

/// Plain mode's `signature` covers the token, the timestamp and the nonce, not the body:
/// a query captured once would carry any body for as long as its timestamp is accepted.
/// This remembers, for each signed query, the SHA-1 digest of the body it first came
/// with (SHA-1 suffices: a forger needs a second body of the same digest as WeChat's, a
/// second preimage), for as long as the query could be replayed. WeChat's retries send
/// the same bytes, so they still pass.
#[derive(Debug)]
pub(crate) struct Bindings {
    capacity: usize,
    ttl: i64,
    inner: Mutex<BindingsInner>,
}

#[derive(Debug, Default)]
struct BindingsInner {
    bodies: HashMap<[u8; 20], ([u8; 20], i64)>,
    order: VecDeque<([u8; 20], i64)>,
}

impl Bindings {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Bindings {
        Bindings {
            capacity: capacity.max(1),
            ttl: whole_seconds(ttl),
            inner: Mutex::new(BindingsInner::default()),
        }
    }

    /// Whether `body` may come with this query: the first body it came with (now bound
    /// to it), or the same bytes again.
    pub(crate) fn bind(&self, query: [&str; 2], body: &[u8], now: i64) -> bool {
        use sha1::{Digest, Sha1};
        let mut hasher = Sha1::new();
        for part in query {
            // Length-prefixed, so no two queries share a key by moving a boundary.
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        let key: [u8; 20] = hasher.finalize().into();
        let digest: [u8; 20] = Sha1::digest(body).into();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(&(oldest, at)) = inner.order.front() {
            if now.saturating_sub(at) <= self.ttl && inner.bodies.len() < self.capacity {
                break;
            }
            inner.order.pop_front();
            if inner
                .bodies
                .get(&oldest)
                .is_some_and(|(_, since)| *since == at)
            {
                inner.bodies.remove(&oldest);
            }
        }
        match inner.bodies.get(&key) {
            Some((bound, _)) => *bound == digest,
            None => {
                inner.bodies.insert(key, (digest, now));
                inner.order.push_back((key, now));
                true
            }
        }
    }
}

/// The system's time in unix seconds, for [`Dedup::begin`] called on its own (a
/// webhook passes its own clock's).
fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
