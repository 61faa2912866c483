//! The binary's allocator: the system's, except that an allocation the
//! system refuses ends the process with the analyzer's one-line error and
//! exit code 1 (a run-time failure, as `Error::OutOfMemory`), instead of
//! Rust's abort (exit 134 and a backtrace).
//!
//! Readers take memory for the rings they read, and a ring may be larger
//! than what this process may use (`ulimit -v`, a container's limit). The
//! library reserves its large buffers fallibly and names the file; this is
//! the net under everything else. The binary's only `unsafe` is here.

use std::alloc::{GlobalAlloc, Layout, System};

/// [`System`], with allocation failure turned into [`out_of_memory`].
pub struct OneLineOnFailure;

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds `GlobalAlloc`'s contract; a null result never returns.
unsafe impl GlobalAlloc for OneLineOnFailure {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's `layout` meets `alloc`'s requirements.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so
        // from `System`) with `layout`, and that `new_size` is valid.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so
        // from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Writes the one line and exits with 1, allocating nothing: the message
/// is assembled on the stack, written with one `write(2)`, and the process
/// leaves with `_exit` (no destructors, no buffered output to flush).
fn out_of_memory(size: usize) -> ! {
    const HEAD: &[u8] = b"caro-analyze: error: out of memory: could not take ";
    const TAIL: &[u8] = b" bytes more (the ring may be larger than this process may use)\n";
    let mut line = [0u8; 160];
    let mut digits = [0u8; 20];
    let mut n = size;
    let mut d = digits.len();
    loop {
        d -= 1;
        digits[d] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut len = 0;
    for part in [HEAD, &digits[d..], TAIL] {
        line[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    // SAFETY: `line[..len]` is initialized memory of ours; `write` reads
    // it and nothing else. `_exit` never returns and touches no memory.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::_exit(1)
    }
}
