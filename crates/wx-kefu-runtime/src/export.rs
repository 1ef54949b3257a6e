//! Exporting every record between two instants from an endpoint paged by `msgid`
//! (WeChat's chat records, `get_msg_list`), whatever the length of the range.
//!
//! WeChat answers at most 24 hours per request and pages by a `msgid` cursor, and its
//! records carry no id of their own. [`export`] therefore splits the range into windows
//! of at most [`MAX_WINDOW_SECS`], pages through each window by the returned `msgid`
//! until a page comes back shorter than the page size ([`page_ends_window`]), keeps at
//! most one page in memory, and stops with [`Error::PagingStalled`] — instead of
//! looping — when a full page's cursor fails to advance.
//!
//! The module knows no endpoint: the caller supplies a function that builds the request
//! for a window and cursor, and the response type implements [`MsgIdPage`].

use std::ops::RangeInclusive;

use futures_util::Stream;

use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// The longest window one request may cover: `endtime - starttime` at most 24 hours.
pub const MAX_WINDOW_SECS: i64 = 86_400;

/// The first cursor value of a window.
pub const FIRST_MSGID: i64 = 1;

/// One page of an answer paged by `msgid`.
pub trait MsgIdPage {
    /// One record.
    type Item;

    /// The page's records and the cursor to send for the next page.
    fn into_page(self) -> (Vec<Self::Item>, i64);
}

/// The windows of at most [`MAX_WINDOW_SECS`] covering `range`, both ends included and
/// without overlap: `[s, s + 86400]`, then `[s + 86401, …]`, the last one ending at the
/// range's end. [`export()`] reads them in this order; tools that checkpoint an export
/// (the CLI) cut the same windows with it.
pub fn windows(range: RangeInclusive<i64>) -> Windows {
    Windows {
        next: Some(*range.start()).filter(|start| start <= range.end()),
        end: *range.end(),
    }
}

/// The iterator of [`windows()`]: `(starttime, endtime)` pairs.
#[derive(Debug, Clone)]
pub struct Windows {
    next: Option<i64>,
    end: i64,
}

impl Iterator for Windows {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        let start = self.next?;
        let end = start.saturating_add(MAX_WINDOW_SECS).min(self.end);
        self.next = end.checked_add(1).filter(|next| *next <= self.end);
        Some((start, end))
    }
}

/// Every record with a time in `range` (unix seconds, both ends included), as a stream.
///
/// `build(starttime, endtime, msgid, page_size)` makes the request for one page.
/// The windows are those of [`windows()`]. The stream ends after the first error.
///
/// `wx_kefu_api::export_records` wires it to `get_msg_list`:
/// `export(client, start..=end, 10_000, |s, e, msgid, number| GetMsgList::new(s, e, msgid, number.into()))`.
pub fn export<E, F>(
    client: &Client,
    range: RangeInclusive<i64>,
    page_size: u32,
    build: F,
) -> impl Stream<Item = Result<<E::Response as MsgIdPage>::Item>> + Send + 'static
where
    E: Endpoint + Send + Sync + 'static,
    E::Response: MsgIdPage + Send,
    <E::Response as MsgIdPage>::Item: Send + 'static,
    F: Fn(i64, i64, i64, u32) -> E + Send + Sync + 'static,
{
    let state = Export {
        client: client.clone(),
        build,
        window: None,
        windows: windows(range),
        msgid: FIRST_MSGID,
        page_size,
        page: Vec::new().into_iter(),
        pending: None,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    })
}

struct Export<F, T> {
    client: Client,
    build: F,
    /// The window being read; `None` before the first and once the stream is finished.
    window: Option<(i64, i64)>,
    /// The windows still to read.
    windows: Windows,
    msgid: i64,
    page_size: u32,
    /// The current page: the only records held.
    page: std::vec::IntoIter<T>,
    /// An error to yield once the current page is drained.
    pending: Option<Error>,
}

impl<F, T> Export<F, T> {
    /// Ends the stream after what it still holds.
    fn finish(&mut self) {
        self.window = None;
        self.windows = Windows { next: None, end: 0 };
    }

    async fn next<E>(&mut self) -> Option<Result<T>>
    where
        E: Endpoint + Send + Sync,
        E::Response: MsgIdPage<Item = T>,
        F: Fn(i64, i64, i64, u32) -> E,
    {
        loop {
            if let Some(item) = self.page.next() {
                return Some(Ok(item));
            }
            if let Some(error) = self.pending.take() {
                return Some(Err(error));
            }
            if self.window.is_none() {
                self.window = Some(self.windows.next()?);
            }
            let (start, end) = self.window?;
            // Free the drained page before the next one arrives, so that at most one is held.
            self.page = Vec::new().into_iter();
            let request = (self.build)(start, end, self.msgid, self.page_size);
            let (items, next) = match self.client.call(request).await {
                Ok(response) => response.into_page(),
                Err(error) => {
                    self.finish();
                    return Some(Err(error));
                }
            };
            if page_ends_window(items.len(), self.page_size) {
                self.window = None;
                self.msgid = FIRST_MSGID;
            } else if next <= self.msgid {
                self.pending = Some(Error::PagingStalled {
                    endpoint: E::META.name,
                    starttime: start,
                    endtime: end,
                    msgid: self.msgid,
                });
                self.finish();
            } else {
                self.msgid = next;
            }
            self.page = items.into_iter();
        }
    }
}

/// Whether a page of `len` records, asked for `page_size`, is the last of its window:
/// a page shorter than asked for ends the window (WeChat fills every page but the last;
/// WxJava relies on the same), so a window costs no extra call for an empty page.
/// Only a full page is followed, and only a full page can stall the cursor.
pub fn page_ends_window(len: usize, page_size: u32) -> bool {
    usize::try_from(page_size).is_ok_and(|size| len < size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_without_overlap() {
        let cut = |first: i64, last: i64| windows(first..=last).collect::<Vec<_>>();
        assert_eq!(cut(0, 86_400), vec![(0, 86_400)]);
        assert_eq!(
            cut(100, 200_000),
            vec![(100, 86_500), (86_501, 172_901), (172_902, 200_000)]
        );
        assert_eq!(cut(5, 5), vec![(5, 5)]);
        assert!(cut(6, 5).is_empty());
        assert_eq!(cut(i64::MAX - 1, i64::MAX), vec![(i64::MAX - 1, i64::MAX)]);
    }
}
