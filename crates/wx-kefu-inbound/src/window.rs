//! Who can still be messaged: the reply windows the pushes opened.
//!
//! A customer-service message reaches a user only inside a window the user opened
//! (API.md §messages; the 2023 rule table of WeChat's announcement
//! <https://mp.weixin.qq.com/cgi-bin/announce?action=getannouncement&announce_id=116853659399Heuo>):
//!
//! | the user | window | messages |
//! |---|---|---|
//! | sends a message | 48 h | 5 |
//! | clicks a menu (click, scancode_push, scancode_waitmsg), follows, scans a QR code | 1 min | 3 |
//! | pays | 48 h | unlimited |
//!
//! A new action of the same kind starts its window anew (it resets, as the mini-program
//! page says; official accounts do not say); windows of different kinds stand side by
//! side, and a reply uses the one closing first. Unfollowing closes them all. After the
//! window WeChat answers 45015, over the count 45047.
//!
//! The webhook feeds a [`Windows`] from every new push ([`Webhook::window`](crate::Webhook::window)
//! reads it); the application tells it of each reply sent ([`Windows::replied`]) and of a
//! payment ([`Windows::opened`] with [`Action::Payment`], which arrives by no push). It is
//! advisory: nothing is refused on its word.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::Event;
use crate::push::{Content, Push};

/// What the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Sent a message: 48 h, 5 messages.
    Message,
    /// Clicked a menu that pushes an event: 1 min, 3 messages.
    MenuClick,
    /// Followed the account: 1 min, 3 messages.
    Follow,
    /// Scanned a QR code: 1 min, 3 messages.
    Scan,
    /// Paid: 48 h, unlimited.
    Payment,
}

impl Action {
    /// How long its window stays open, in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Action::Message | Action::Payment => 48 * 3600,
            Action::MenuClick | Action::Follow | Action::Scan => 60,
        }
    }

    /// How many messages it allows (`None`: unlimited).
    pub fn allowance(self) -> Option<u32> {
        match self {
            Action::Message => Some(5),
            Action::MenuClick | Action::Follow | Action::Scan => Some(3),
            Action::Payment => None,
        }
    }

    /// Its name in a shared store.
    #[cfg(feature = "redis")]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Message => "message",
            Action::MenuClick => "menu_click",
            Action::Follow => "follow",
            Action::Scan => "scan",
            Action::Payment => "payment",
        }
    }

    /// The action of a name from [`Action::name`].
    #[cfg(feature = "redis")]
    pub(crate) fn from_name(name: &str) -> Option<Action> {
        [
            Action::Message,
            Action::MenuClick,
            Action::Follow,
            Action::Scan,
            Action::Payment,
        ]
        .into_iter()
        .find(|action| action.name() == name)
    }

    /// The kind of window it opens: a menu click, a follow and a scan share one.
    pub(crate) fn class(self) -> u8 {
        match self {
            Action::Message => 0,
            Action::MenuClick | Action::Follow | Action::Scan => 1,
            Action::Payment => 2,
        }
    }

    /// The action a push reports, if it opens a window; `Err(())` for an unfollow.
    pub(crate) fn of(push: &Push) -> Option<Result<Action, ()>> {
        match &push.content {
            Content::Message { .. } => Some(Ok(Action::Message)),
            Content::Event(Event::Unknown(kind)) => match kind.to_ascii_lowercase().as_str() {
                "subscribe" => Some(Ok(Action::Follow)),
                "scan" => Some(Ok(Action::Scan)),
                "click" | "scancode_push" | "scancode_waitmsg" => Some(Ok(Action::MenuClick)),
                "unsubscribe" => Some(Err(())),
                _ => None,
            },
            Content::Event(_) => None,
        }
    }
}

/// Where a user stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Window {
    /// The latest action that opened a window still open.
    pub last_action: Action,
    /// When the last open window closes (unix seconds).
    pub closes_at: i64,
    /// How many more messages may be sent (`None`: unlimited).
    pub replies_left: Option<u32>,
}

impl Window {
    /// Whether a message may be sent now (by this tracker's word).
    pub fn is_open(&self) -> bool {
        self.replies_left != Some(0)
    }
}

/// One open window: what opened it, when, when it closes, and the messages left.
#[derive(Debug, Clone)]
pub(crate) struct Open {
    pub(crate) action: Action,
    pub(crate) at: i64,
    pub(crate) closes_at: i64,
    pub(crate) left: Option<u32>,
}

impl Open {
    /// The window `action` at `at` opens.
    pub(crate) fn new(action: Action, at: i64) -> Open {
        Open {
            action,
            at,
            closes_at: at.saturating_add(action.seconds()),
            left: action.allowance(),
        }
    }
}

/// Where a user with these windows stands at `now`.
pub(crate) fn summarize<'a>(
    windows: impl IntoIterator<Item = &'a Open>,
    now: i64,
) -> Option<Window> {
    let open: Vec<&Open> = windows.into_iter().filter(|o| o.closes_at > now).collect();
    let last = open.iter().max_by_key(|o| o.at)?;
    let replies_left = match open.iter().any(|o| o.left.is_none()) {
        true => None,
        false => Some(open.iter().filter_map(|o| o.left).sum()),
    };
    Some(Window {
        last_action: last.action,
        closes_at: open.iter().map(|o| o.closes_at).max().unwrap_or(now),
        replies_left,
    })
}

/// The windows of the users seen, in memory (at most `capacity` users; the least recently
/// active go first). Cheap to share behind the webhook.
#[derive(Debug)]
pub struct Windows {
    capacity: usize,
    users: Mutex<HashMap<String, Vec<Open>>>,
}

impl Default for Windows {
    /// 100,000 users.
    fn default() -> Windows {
        Windows::new(100_000)
    }
}

impl Windows {
    /// A tracker remembering at most `capacity` users.
    pub fn new(capacity: usize) -> Windows {
        Windows {
            capacity: capacity.max(1),
            users: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Open>>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user did `action` at `at` (unix seconds): its window opens anew.
    pub fn opened(&self, openid: &str, action: Action, at: i64) {
        let mut users = self.lock();
        if !users.contains_key(openid) && users.len() >= self.capacity {
            // The user whose latest action is oldest goes.
            let oldest = users
                .iter()
                .map(|(id, open)| (open.iter().map(|o| o.at).max().unwrap_or(i64::MIN), id))
                .min()
                .map(|(_, id)| id.clone());
            if let Some(oldest) = oldest {
                users.remove(&oldest);
            }
        }
        let open = users.entry(openid.to_owned()).or_default();
        open.retain(|o| o.action.class() != action.class());
        open.push(Open::new(action, at));
    }

    /// The user unfollowed: no window is open.
    pub fn closed(&self, openid: &str) {
        self.lock().remove(openid);
    }

    /// A message was sent to the user at `now`: it counts against the window closing
    /// first. Whether one was open (by this tracker's word).
    pub fn replied(&self, openid: &str, now: i64) -> bool {
        let mut users = self.lock();
        let Some(open) = users.get_mut(openid) else {
            return false;
        };
        open.retain(|o| o.closes_at > now);
        open.sort_by_key(|o| o.closes_at);
        match open.iter_mut().find(|o| o.left.is_none_or(|n| n > 0)) {
            Some(window) => {
                if let Some(n) = window.left.as_mut() {
                    *n -= 1;
                }
                true
            }
            None => false,
        }
    }

    /// Where the user stands at `now`; `None` when no window is open.
    pub fn window(&self, openid: &str, now: i64) -> Option<Window> {
        summarize(self.lock().get(openid)?, now)
    }

    /// Feeds one new push.
    pub(crate) fn saw(&self, push: &Push) {
        match Action::of(push) {
            Some(Ok(action)) => self.opened(&push.from_user_name, action, push.create_time),
            Some(Err(())) => self.closed(&push.from_user_name),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_opens_48_hours_and_5_replies_a_click_1_minute_and_3() {
        let windows = Windows::default();
        windows.opened("u", Action::Message, 1_000);
        let open = windows.window("u", 1_000).unwrap();
        assert_eq!(
            (open.last_action, open.closes_at, open.replies_left),
            (Action::Message, 1_000 + 172_800, Some(5))
        );
        for _ in 0..5 {
            assert!(windows.replied("u", 1_001));
        }
        assert!(!windows.replied("u", 1_002), "a sixth is over the count");
        assert!(!windows.window("u", 1_002).unwrap().is_open());
        // A click adds its own 1-minute window of 3; the message's stays used up.
        windows.opened("u", Action::MenuClick, 2_000);
        assert_eq!(windows.window("u", 2_000).unwrap().replies_left, Some(3));
        assert!(windows.replied("u", 2_010));
        assert_eq!(windows.window("u", 2_061).unwrap().replies_left, Some(0));
        // A new message resets its window (it does not add).
        windows.opened("u", Action::Message, 3_000);
        assert_eq!(windows.window("u", 3_000).unwrap().replies_left, Some(5));
        assert_eq!(
            windows.window("u", 3_000 + 172_800),
            None,
            "closed after 48 h"
        );
        // A payment: unlimited.
        windows.opened("p", Action::Payment, 0);
        for _ in 0..50 {
            assert!(windows.replied("p", 1));
        }
        assert_eq!(windows.window("p", 1).unwrap().replies_left, None);
        windows.closed("p");
        assert_eq!(windows.window("p", 1), None);
    }

    #[test]
    fn it_remembers_at_most_its_capacity() {
        let windows = Windows::new(2);
        windows.opened("a", Action::Message, 1);
        windows.opened("b", Action::Message, 2);
        windows.opened("c", Action::Message, 3);
        assert_eq!(windows.window("a", 3), None);
        assert!(windows.window("b", 3).is_some() && windows.window("c", 3).is_some());
    }
}
