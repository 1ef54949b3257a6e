//! A 10 MB download streamed to a file holds a bounded amount of memory, whatever the
//! file's size: measured with a counting allocator (the most bytes allocated at once while
//! the download runs, above what was allocated before), not with a clock. Reading the same
//! file whole is measured too, to show the allocator sees a 10 MB body when one is held.
//!
//! One test in this binary, so that nothing else allocates meanwhile.

use wx_kefu_tests as common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Env, jpeg};
use wx_kefu_api::*;

/// The system allocator, counting the bytes live now and the most live since a reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes live at once while `work` ran, above those live when it started.
async fn peak_above_baseline<T>(work: impl Future<Output = T>) -> (T, usize) {
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let value = work.await;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    (value, peak)
}

const SIZE: usize = 10 * 1024 * 1024;
/// What a streamed download may hold at once, whatever the file's size: the HTTP client's
/// read buffer (which grows to a few hundred KB), a chunk in flight and the file's write
/// buffer (tokio copies each chunk once), and the emulator serving it in this process.
const STREAMED_BOUND: usize = 3 * 1024 * 1024;

/// Streams the media `id` to a file; the bytes written and the peak above baseline.
async fn streamed(env: &Env, id: &str, path: &std::path::Path) -> (u64, usize) {
    peak_above_baseline(async {
        let Download::File(file) = env.client.get_temp_media(id).await.unwrap() else {
            panic!("an image is a file");
        };
        // The same path twice: the second download replaces the first.
        file.save_over(path).await.unwrap()
    })
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn a_10_mb_download_streamed_to_a_file_holds_bounded_memory() {
    let env = Env::start().await;
    let id = env.mock.user_media("image", jpeg(SIZE));
    let id_40 = env.mock.user_media("image", jpeg(4 * SIZE));
    env.client.access_token().await.unwrap();
    let path = std::env::temp_dir().join(format!("wx-kefu-10mb-{}.jpg", std::process::id()));

    let (written, peak) = streamed(&env, &id, &path).await;
    assert_eq!(written, SIZE as u64);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), SIZE as u64);
    let (written, peak_40) = streamed(&env, &id_40, &path).await;
    assert_eq!(written, 4 * SIZE as u64);
    std::fs::remove_file(&path).unwrap();

    let (bytes, whole) = peak_above_baseline(async {
        let Download::File(file) = env.client.get_temp_media(&id).await.unwrap() else {
            panic!("an image is a file");
        };
        file.bytes(SIZE as u64).await.unwrap()
    })
    .await;
    assert_eq!(bytes.len(), SIZE);
    drop(bytes);

    eprintln!(
        "download memory: 10 MB streamed to a file: peak {peak} bytes; 40 MB: {peak_40} bytes; 10 MB read whole: {whole} bytes"
    );
    assert!(
        whole >= SIZE,
        "reading whole must hold the 10 MB (the counter sees it): {whole}"
    );
    assert!(
        peak <= STREAMED_BOUND,
        "a streamed 10 MB download held {peak} bytes at once (bound {STREAMED_BOUND})"
    );
    assert!(
        peak_40 <= STREAMED_BOUND,
        "a streamed 40 MB download held {peak_40} bytes at once: memory grows with the file"
    );
    env.finish().await;
}
