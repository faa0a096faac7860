//! An allocator for programs whose large buffers are touched once: the system allocator for
//! small blocks, and blocks of 4 MB or more mapped on their own, on transparent huge pages.
//!
//! Fresh memory is mapped page by page on first touch. A job that generates, multiplies and
//! receives 8 MB matrices once each pays about 2 000 page faults per matrix with 4 KB pages
//! (several milliseconds on a virtual machine, a tenth of a 1000² product), and the product
//! kernel's own packing buffers pay the same. With huge pages the same matrix costs 4.
//!
//! A large block is an anonymous mapping of its own (as glibc's `malloc` gives such sizes at
//! first), aligned to 2 MB and rounded up to a multiple of it, so that all of it can be backed by
//! huge pages, and advised so (`madvise(MADV_HUGEPAGE)`). The kernel hands it out zero-filled: a
//! zeroed allocation is not written by the allocator (the system allocator would write every
//! byte of an aligned one), so each page is first touched by the program, where it is used.
//! Freeing unmaps it; growing it moves its pages (`mremap`), not its bytes (a block aligned to
//! more than a page is copied into a new one instead). Where transparent
//! huge pages are off, only the advice is lost.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// Blocks from this size on are mapped on their own.
const FROM_BYTES: usize = 4 << 20;
/// The huge page size blocks are aligned to (x86-64 and most aarch64 kernels).
const HUGE: usize = 2 << 20;
/// The smallest page size of the platforms spmdkit runs on: mremap keeps at least this alignment.
const PAGE: usize = 4096;

/// `#[global_allocator] static A: spmdkit_apps::kernels::LargePages = spmdkit_apps::kernels::LargePages;`
/// in a program (the `spmdkit` binaries use it). Set `SPMDKIT_HUGE_PAGES=0` in the environment
/// to give no advice (ordinary pages, as with the system allocator).
pub struct LargePages;

/// 0: not looked up yet, 1: advise, 2: do not.
static ENABLED: AtomicU8 = AtomicU8::new(0);

pub(crate) fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // getenv does not allocate (this runs inside the allocator).
            // SAFETY: the name is a NUL-terminated C string; the result is only read.
            let off = unsafe {
                let v = libc::getenv(c"SPMDKIT_HUGE_PAGES".as_ptr());
                !v.is_null() && *v == b'0' as libc::c_char
            };
            ENABLED.store(if off { 2 } else { 1 }, Ordering::Relaxed);
            !off
        }
    }
}

/// The mapping a large block gets: its size rounded up to whole huge pages (a 1000² matrix of
/// f64, 8 000 000 bytes, is 4 huge pages). `None`: the system allocator's block (small, huge pages
/// turned off, or an alignment above a huge page's).
fn mapping(layout: Layout) -> Option<usize> {
    (layout.size() >= FROM_BYTES && layout.align() <= HUGE && enabled())
        .then(|| layout.size().checked_next_multiple_of(HUGE))
        .flatten()
}

fn advise(at: *mut u8, len: usize) {
    // SAFETY: [at, at + len) is a mapping of ours; MADV_HUGEPAGE is advice on how to back its
    // pages and changes no contents. Its failure is harmless.
    unsafe {
        libc::madvise(at.cast(), len, libc::MADV_HUGEPAGE);
    }
}

/// A fresh zero-filled mapping of `len` bytes (a multiple of HUGE) starting on a huge page, or
/// null.
fn map(len: usize) -> *mut u8 {
    let Some(room) = len.checked_add(HUGE) else {
        return std::ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing; only the
    // parts of it outside [start, start + len), all within it, are unmapped again.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            room,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return std::ptr::null_mut();
        }
        let at = p as usize;
        let start = at.next_multiple_of(HUGE);
        if start > at {
            libc::munmap(p, start - at);
        }
        let end = start + len;
        if at + room > end {
            libc::munmap(end as *mut libc::c_void, at + room - end);
        }
        advise(start as *mut u8, len);
        start as *mut u8
    }
}

// SAFETY: a block is either the system allocator's, with the caller's layout, or a mapping of
// its own of `mapping(layout)` bytes; which one, and how long, is a function of the caller's
// layout alone (the switch is read once), so dealloc and realloc find the same one. Mappings
// are aligned to HUGE, at least the caller's alignment, and zero-filled by the kernel.
unsafe impl GlobalAlloc for LargePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match mapping(layout) {
            Some(len) => map(len),
            // SAFETY: forwarded as is; the caller upholds alloc's contract.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match mapping(layout) {
            // A fresh mapping reads as zeros.
            Some(len) => map(len),
            // SAFETY: as for alloc.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match mapping(layout) {
            // SAFETY: ptr is the start of a mapping of len bytes that alloc made.
            Some(len) => unsafe {
                libc::munmap(ptr.cast(), len);
            },
            // SAFETY: ptr was allocated by System with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size, rounded up to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (mapping(layout), mapping(new_layout)) {
            // SAFETY: a block of the system allocator's with this layout, as the caller's.
            (None, None) => unsafe { System.realloc(ptr, layout, new_size) },
            (Some(old), Some(new)) if old == new => ptr,
            // mremap keeps a block page aligned, which is all most callers ask for.
            (Some(old), Some(new)) if layout.align() <= PAGE => {
                // SAFETY: ptr is a mapping of old bytes of ours; the kernel moves its pages (and
                // maps zeros past them when it grows).
                let q = unsafe { libc::mremap(ptr.cast(), old, new, libc::MREMAP_MAYMOVE) };
                if q == libc::MAP_FAILED {
                    return std::ptr::null_mut();
                }
                advise(q.cast(), new);
                q.cast()
            }
            _ => {
                // Across the threshold, or a larger alignment than a page: a new block, the bytes
                // both hold copied, the old freed.
                // SAFETY: new_layout is non-zero (realloc's contract); the blocks do not overlap
                // and the copy stays within both; the old block is freed once, with its layout.
                unsafe {
                    let q = self.alloc(new_layout);
                    if !q.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    q
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates, writes 7s, reallocates through `sizes` (checking the bytes kept and the
    /// alignment each time), frees.
    fn walk(align: usize, sizes: &[usize]) {
        let a = LargePages;
        // SAFETY: non-zero layouts; each block is written within its size, passed to realloc
        // with the layout it has, and the last one freed with its own.
        unsafe {
            let mut layout = Layout::from_size_align(sizes[0], align).unwrap();
            let mut p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            assert!(std::slice::from_raw_parts(p, layout.size())
                .iter()
                .all(|&b| b == 0));
            p.write_bytes(7, layout.size());
            for &size in &sizes[1..] {
                p = a.realloc(p, layout, size);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "{size} bytes aligned to {align}");
                let kept = layout.size().min(size);
                assert!(std::slice::from_raw_parts(p, kept).iter().all(|&b| b == 7));
                layout = Layout::from_size_align(size, align).unwrap();
                p.write_bytes(7, size);
            }
            a.dealloc(p, layout);
        }
    }

    #[test]
    fn blocks_keep_their_contents_through_growing_and_shrinking() {
        // Small to small, small to large, large within its mapping, large to larger (moved by
        // the kernel), large to small.
        let sizes = [
            8,
            4096,
            3 << 20,
            FROM_BYTES + 12345,
            FROM_BYTES + 20000,
            3 * FROM_BYTES,
        ];
        walk(8, &[&sizes[..], &[100]].concat());
        // A caller's alignment above a page is kept when the block grows (a copy, not mremap).
        walk(1 << 20, &[FROM_BYTES, 4 * FROM_BYTES, 16 * FROM_BYTES, 64]);
    }

    #[test]
    fn large_blocks_are_whole_huge_pages_of_zeros_unless_turned_off() {
        assert_eq!(
            mapping(Layout::from_size_align(FROM_BYTES - 1, 8).unwrap()),
            None
        );
        assert_eq!(
            mapping(Layout::from_size_align(FROM_BYTES, 2 * HUGE).unwrap()),
            None
        );
        let matrix = Layout::from_size_align(8_000_000, 8).unwrap();
        if !enabled() {
            assert_eq!(mapping(matrix), None);
            return;
        }
        assert_eq!(mapping(matrix), Some(4 * HUGE));
        let a = LargePages;
        // SAFETY: non-zero layouts; each block read within its size and freed once with its
        // layout.
        unsafe {
            for p in [a.alloc(matrix), a.alloc_zeroed(matrix)] {
                assert!(!p.is_null());
                assert_eq!(p as usize % HUGE, 0);
                let values = std::slice::from_raw_parts(p, matrix.size());
                assert!(values.iter().all(|&b| b == 0));
                a.dealloc(p, matrix);
            }
        }
    }
}
