//! What the bench measures with: the process's CPU time, its live heap (a counting global
//! allocator), its peak resident set, and the median of several runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

/// The CPU time this process has used so far, user plus system, over all its threads.
///
/// `getrusage` counts in microseconds; `/proc/self/stat`, the alternative without a
/// dependency, counts in clock ticks of 10 ms, too coarse for runs of a second.
#[expect(
    unsafe_code,
    reason = "getrusage is a libc call; it only writes the struct it is handed"
)]
pub fn cpu_time() -> Duration {
    // SAFETY: `rusage` is a plain C struct of integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, writable `rusage`, all getrusage writes to.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_SELF) failed");
    let micros = |t: libc::timeval| {
        let secs = u64::try_from(t.tv_sec).unwrap_or(0);
        let micros = u64::try_from(t.tv_usec).unwrap_or(0);
        Duration::from_secs(secs) + Duration::from_micros(micros)
    };
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// A global allocator that forwards to [`System`] and, while [`heap_peak`] runs, tracks the
/// live heap: bytes allocated minus bytes freed, and the highest value that reached.
///
/// Outside a measurement it costs one relaxed load per allocation, so the throughput runs
/// are not disturbed.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: usize) {
    if COUNTING.load(Relaxed) {
        let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
        let live = LIVE.fetch_add(bytes, Relaxed).saturating_add(bytes);
        PEAK.fetch_max(live, Relaxed);
    }
}

fn shrank(bytes: usize) {
    if COUNTING.load(Relaxed) {
        LIVE.fetch_sub(isize::try_from(bytes).unwrap_or(isize::MAX), Relaxed);
    }
}

#[expect(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one forwards every call to System"
)]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        new
    }
}

/// What a memory measurement saw.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    /// The highest growth of the live heap over its value at the start, in bytes.
    pub heap_peak_bytes: u64,
    /// The growth of the live heap at the end (what the work left held), in bytes.
    pub heap_end_bytes: u64,
    /// The growth of the peak resident set (`VmHWM`) over the resident set at the start, in
    /// bytes; `None` where `/proc/self/clear_refs` cannot reset the peak.
    pub rss_peak_growth_bytes: Option<u64>,
}

/// Runs `work` and reports how far the live heap and the resident set grew meanwhile.
/// Allocations on every thread count, so nothing else should run at the same time.
pub async fn heap_peak<T>(work: impl Future<Output = T>) -> (T, Memory) {
    let rss_start = reset_rss_peak();
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let output = work.await;
    COUNTING.store(false, Relaxed);
    let heap_peak_bytes = u64::try_from(PEAK.load(Relaxed)).unwrap_or(0);
    let heap_end_bytes = u64::try_from(LIVE.load(Relaxed)).unwrap_or(0);
    let rss_peak_growth_bytes = match (rss_start, proc_status_kib("VmHWM:")) {
        (Some(start), Some(peak)) => Some(peak.saturating_sub(start) * 1024),
        _ => None,
    };
    (
        output,
        Memory {
            heap_peak_bytes,
            heap_end_bytes,
            rss_peak_growth_bytes,
        },
    )
}

/// Resets the kernel's peak-RSS mark to the current RSS (writing `5` to
/// `/proc/self/clear_refs`) and returns the current RSS in KiB.
fn reset_rss_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The median, least and greatest of several runs' values.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The least value.
    pub min: f64,
    /// The greatest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Summary {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let Some((&min, &max)) = sorted.first().zip(sorted.last()) else {
            return Summary {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        };
        let mid = sorted.len() / 2;
        let median = match sorted.len() % 2 {
            0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
            _ => sorted[mid],
        };
        Summary { median, min, max }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]);
        assert_eq!((odd.median, odd.min, odd.max), (3.0, 1.0, 5.0));
        let even = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        assert_eq!(Summary::of(&[]).median, 0.0);
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let before = cpu_time();
        let mut x = 0_u64;
        while cpu_time() - before < Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time() > before);
    }
}
