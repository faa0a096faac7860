//! An allocator for programs whose large buffers are touched once: the system allocator, with
//! every block of 4 MB or more marked for transparent huge pages.
//!
//! Fresh memory is mapped page by page on first touch. A job that generates, multiplies and
//! receives 8 MB matrices once each pays about 2 000 page faults per matrix with 4 KB pages
//! (several milliseconds on a virtual machine, a tenth of a 1000² product), and the product
//! kernel's own packing buffers pay the same. With huge pages the same matrix costs a handful.
//! Only the advice is given (`madvise(MADV_HUGEPAGE)` on the block's 2 MB-aligned interior):
//! where transparent huge pages are off, nothing changes, and the contents are never touched.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// Blocks from this size on get the advice.
const FROM_BYTES: usize = 4 << 20;
/// The huge page size the advice is aligned to (x86-64 and most aarch64 kernels).
const HUGE: usize = 2 << 20;

/// `#[global_allocator] static A: spmdkit::kernels::LargePages = spmdkit::kernels::LargePages;`
/// in a program (the `spmdkit` binaries use it). Set `SPMDKIT_HUGE_PAGES=0` in the environment
/// to give no advice (ordinary pages, as with the system allocator).
pub struct LargePages;

/// 0: not looked up yet, 1: advise, 2: do not.
static ENABLED: AtomicU8 = AtomicU8::new(0);

fn enabled() -> bool {
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

fn advise(ptr: *mut u8, size: usize) {
    if ptr.is_null() || size < FROM_BYTES || !enabled() {
        return;
    }
    let at = ptr as usize;
    let (start, end) = (at.next_multiple_of(HUGE), (at + size) / HUGE * HUGE);
    if end > start {
        // SAFETY: [start, end) lies inside the block just allocated; MADV_HUGEPAGE is advice on
        // how to back those pages and changes no contents. Its failure is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

// SAFETY: every call is forwarded to the system allocator with the same arguments; the advice
// afterwards neither moves nor frees nor writes the block.
unsafe impl GlobalAlloc for LargePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds alloc's contract.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for alloc.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System with this layout (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for dealloc; the caller upholds realloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_the_system_allocator_s_with_their_contents() {
        let a = LargePages;
        for size in [8, 4096, FROM_BYTES, FROM_BYTES + 12345] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero layout; the block is written within its size and freed once.
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                p.write_bytes(7, size);
                let q = a.realloc(p, layout, size * 2);
                assert!(std::slice::from_raw_parts(q, size).iter().all(|&b| b == 7));
                a.dealloc(q, Layout::from_size_align(size * 2, 8).unwrap());
            }
        }
    }
}
