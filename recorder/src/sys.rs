//! Everything the recorder needs from the operating system that Rust's
//! standard library does not offer safely: the shared mapping seen as
//! atomic words, thread ids, resource usage, disk reservation and a hook
//! inside `exit`.
//!
//! This is the crate's only module with `unsafe`; each block names the
//! invariant it relies on.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;

use memmap2::MmapRaw;

/// A shared, writable mapping of a whole ring file, seen as atomic words.
///
/// Every access to the mapped memory goes through `AtomicU64`, so that
/// concurrent writers in this and other processes never race on plain
/// memory.
#[derive(Debug)]
pub struct Mapping {
    map: MmapRaw,
    words: usize,
}

impl Mapping {
    /// Maps `file` shared and writable; its length must be a multiple of 8.
    /// The mapping is guarded: see [`guard`].
    pub fn new(file: &File) -> io::Result<Mapping> {
        let map = MmapRaw::map_raw(file)?;
        if map.len() % 8 != 0 || !(map.as_ptr() as usize).is_multiple_of(8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "mapping not word-aligned",
            ));
        }
        guard::watch(map.as_ptr() as usize, map.len());
        Ok(Mapping {
            words: map.len() / 8,
            map,
        })
    }

    /// Whether the file was cut under the mapping, which then went on in
    /// memory alone (see [`guard`]).
    pub fn lost(&self) -> bool {
        guard::lost(self.map.as_ptr() as usize)
    }

    /// The mapping as words.
    #[inline(always)]
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned (checked 8-aligned above), spans
        // `words * 8` bytes, stays mapped as long as `self` lives (the borrow
        // ties the slice to it), and is only ever accessed through atomics.
        unsafe { std::slice::from_raw_parts(self.map.as_mut_ptr().cast::<AtomicU64>(), self.words) }
    }
}

/// The user this process acts as (its effective user id).
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        guard::forget(self.map.as_ptr() as usize);
    }
}

/// Keeps a ring that another process truncates from killing the host.
///
/// A store into a page of a shared file mapping past the file's end
/// raises SIGBUS. The handler installed here looks at the faulting
/// address: inside a ring's mapping, it maps anonymous memory over the
/// whole mapping (same address, same length) and returns, so the store
/// is retried into memory that is the process's own — recording goes on,
/// into nothing, and [`Mapping::lost`] says so. Any other SIGBUS goes to
/// the handler that was there before, or kills the process as it would
/// have.
pub mod guard {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Once;

    /// Mappings watched: (start, length, lost), start 0 for a free entry.
    const WATCHED: usize = 16;
    static STARTS: [AtomicUsize; WATCHED] = [const { AtomicUsize::new(0) }; WATCHED];
    static LENS: [AtomicUsize; WATCHED] = [const { AtomicUsize::new(0) }; WATCHED];
    static LOST: [AtomicUsize; WATCHED] = [const { AtomicUsize::new(0) }; WATCHED];
    /// An entry being filled in.
    const TAKING: usize = usize::MAX;

    /// The handler that was installed before ours.
    static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

    /// Watches the mapping at `start`, `len` bytes long. Beyond
    /// [`WATCHED`] mappings at once, a mapping goes unwatched.
    pub fn watch(start: usize, len: usize) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(install);
        for (i, s) in STARTS.iter().enumerate() {
            // Taken before it is filled, published once it is.
            if s.compare_exchange(0, TAKING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                LENS[i].store(len, Ordering::Relaxed);
                LOST[i].store(0, Ordering::Relaxed);
                s.store(start, Ordering::Release);
                return;
            }
        }
    }

    /// Stops watching the mapping at `start` (it is being unmapped).
    pub fn forget(start: usize) {
        if let Some(s) = STARTS.iter().find(|s| s.load(Ordering::Acquire) == start) {
            s.store(0, Ordering::Release);
        }
    }

    /// Whether the mapping at `start` was replaced after a fault.
    pub fn lost(start: usize) -> bool {
        STARTS
            .iter()
            .position(|s| s.load(Ordering::Acquire) == start)
            .is_some_and(|i| LOST[i].load(Ordering::Relaxed) != 0)
    }

    fn install() {
        // SAFETY: `action` is fully initialised before use; sigaction
        // writes the previous action into PREVIOUS, which nothing reads
        // before this call returns (the handler runs only after it).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(
                libc::SIGBUS,
                &action,
                (&raw mut PREVIOUS).cast::<libc::sigaction>(),
            );
        }
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO
        // handler; si_addr is the faulting address for SIGBUS.
        let addr = unsafe { (*info).si_addr() } as usize;
        for (i, s) in STARTS.iter().enumerate() {
            let start = s.load(Ordering::Acquire);
            let len = LENS[i].load(Ordering::Relaxed);
            if start != 0 && start != TAKING && addr >= start && addr - start < len {
                // SAFETY: [start, start + len) is our own mapping of the
                // ring, still mapped (forget runs before munmap); mapping
                // anonymous memory over it with MAP_FIXED replaces it in
                // one system call, after which the faulting store, retried,
                // lands in memory of this process's own.
                let p = unsafe {
                    libc::mmap(
                        start as *mut libc::c_void,
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if p != libc::MAP_FAILED {
                    LOST[i].store(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        // Not ours: what would have happened without us.
        // SAFETY: PREVIOUS was written by sigaction before this handler
        // could run; calling the previous handler with the kernel's own
        // arguments, or restoring the default action and returning (the
        // faulting instruction faults again and the process dies as it
        // would have), is what chaining handlers means.
        unsafe {
            let previous = &*(&raw const PREVIOUS).cast::<libc::sigaction>();
            let handler = previous.sa_sigaction;
            if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                f(sig);
            }
        }
    }
}

/// The calling thread's operating-system id.
pub fn thread_id() -> u32 {
    // SAFETY: gettid takes no arguments, cannot fail and touches no memory.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid as u32
}

/// Reserves `len` bytes of disk for `file`, so that writes through the
/// mapping never meet a full disk (which would raise SIGBUS in the host).
pub fn reserve(file: &File, len: u64) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is open for writing for the duration of the
    // call; posix_fallocate reads no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        // Filesystems without fallocate: fall back to growing the file,
        // written with zeros by the caller.
        libc::EOPNOTSUPP | libc::EINVAL => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// CPU time and peak memory of this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub user_us: u64,
    pub system_us: u64,
    pub peak_rss_kib: u64,
}

/// This process's resource usage so far.
pub fn usage() -> Usage {
    // SAFETY: rusage is plain old data for which all-zero bytes are valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for getrusage to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Usage::default();
    }
    let us = |tv: libc::timeval| tv.tv_sec.max(0) as u64 * 1_000_000 + tv.tv_usec.max(0) as u64;
    Usage {
        user_us: us(ru.ru_utime),
        system_us: us(ru.ru_stime),
        peak_rss_kib: ru.ru_maxrss.max(0) as u64,
    }
}

/// CLOCK_BOOTTIME in nanoseconds: one clock for every process of a boot,
/// counting time suspended, as the time-stamp counter does.
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec.max(0) as u64 * 1_000_000_000 + ts.tv_nsec.max(0) as u64
}

/// Calls `child` in the child process after every `fork`. `child` runs
/// where only async-signal-safe work is allowed: an atomic store or add.
/// Should registration fail (out of memory), children simply keep the
/// parent's thread state, as they would without it.
pub fn on_fork_in_child(child: extern "C" fn()) {
    // SAFETY: pthread_atfork only stores the function pointer, which is
    // valid for the life of the program; the contract above is the
    // caller's.
    let _ = unsafe { libc::pthread_atfork(None, None, Some(child)) };
}

/// The time-stamp counter, where the CPU has one.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn tsc() -> u64 {
    // SAFETY: rdtsc is available on every x86_64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Address ranges of the executable's read-only segments: where string
/// literals live.
#[derive(Clone, Copy, Debug, Default)]
pub struct StaticMemory {
    ranges: [(usize, usize); 8],
    len: usize,
}

impl StaticMemory {
    /// The executable's loaded read-only segments, as the dynamic loader
    /// reports them: what stays mapped and unchanged for the process's life
    /// (not, say, a copy of the executable mapped to read debug info).
    pub fn of_this_process() -> StaticMemory {
        unsafe extern "C" fn visit(
            info: *mut libc::dl_phdr_info,
            _size: usize,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: dl_iterate_phdr passes an `info` valid for this call,
            // and `data` is the `StaticMemory` that `of_this_process` lent it.
            let (info, mem) = unsafe { (&*info, &mut *data.cast::<StaticMemory>()) };
            if info.dlpi_phdr.is_null() {
                return 1;
            }
            // SAFETY: the loader's program headers: `dlpi_phnum` of them at
            // `dlpi_phdr`, valid for this call.
            let headers =
                unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
            for h in headers {
                if h.p_type == libc::PT_LOAD
                    && h.p_flags & libc::PF_W == 0
                    && mem.len < mem.ranges.len()
                {
                    let start = (info.dlpi_addr as usize).wrapping_add(h.p_vaddr as usize);
                    mem.ranges[mem.len] = (start, start.saturating_add(h.p_memsz as usize));
                    mem.len += 1;
                }
            }
            // The first object is the executable: stop there.
            1
        }
        let mut mem = StaticMemory::default();
        // SAFETY: `visit` matches the callback's contract and only writes
        // through `data`, which points to `mem` for the whole call.
        unsafe { libc::dl_iterate_phdr(Some(visit), (&mut mem as *mut StaticMemory).cast()) };
        mem
    }

    /// `s` with a static lifetime, when it lies in read-only program
    /// memory: then it is program text, never user data, and its address
    /// names it for the life of the process.
    #[inline(always)]
    pub fn as_static(&self, s: &str) -> Option<&'static str> {
        let (a, b) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
        if !self.ranges[..self.len]
            .iter()
            .any(|&(lo, hi)| lo <= a && b <= hi)
        {
            return None;
        }
        // SAFETY: the bytes lie inside a read-only segment the loader mapped
        // for the executable, which stays mapped and unwritten until exit.
        Some(unsafe { &*(s as *const str) })
    }
}

/// A slot holding a callsite's `&'static Metadata`, shareable across
/// threads; std has no safe atomic for a borrowed pointer.
#[derive(Debug, Default, bytemuck::Zeroable)]
pub struct MetadataCell(std::sync::atomic::AtomicPtr<tracing_core::Metadata<'static>>);

impl MetadataCell {
    pub fn set(&self, meta: &'static tracing_core::Metadata<'static>) {
        let ptr =
            meta as *const tracing_core::Metadata<'static> as *mut tracing_core::Metadata<'static>;
        self.0.store(ptr, std::sync::atomic::Ordering::Release);
    }

    pub fn get(&self) -> Option<&'static tracing_core::Metadata<'static>> {
        let ptr = self.0.load(std::sync::atomic::Ordering::Acquire);
        // SAFETY: the cell only ever holds null or a pointer made from a
        // `&'static Metadata` by `set`, which is valid for ever.
        unsafe { ptr.as_ref() }
    }
}

/// What [`on_exit`] runs.
static EXIT_HOOK: std::sync::OnceLock<fn(Option<i32>)> = std::sync::OnceLock::new();

/// Runs `hook` inside the C library's `exit`, which `std::process::exit`
/// and a return from `main` both end in, before the process ends: with
/// the exit status on glibc (`on_exit`), without it elsewhere (`atexit`).
/// The first hook of the process is the one kept.
pub fn on_exit(hook: fn(Option<i32>)) {
    if EXIT_HOOK.set(hook).is_err() {
        return;
    }
    fn run(status: Option<i32>) {
        if let Some(hook) = EXIT_HOOK.get() {
            // A panic must not cross the C library's frames.
            let _ = std::panic::catch_unwind(|| hook(status));
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn on_exit(
                function: extern "C" fn(libc::c_int, *mut libc::c_void),
                arg: *mut libc::c_void,
            ) -> libc::c_int;
        }
        extern "C" fn call(status: libc::c_int, _arg: *mut libc::c_void) {
            run(Some(status));
        }
        // SAFETY: glibc's `on_exit(3)`; `call` is a plain function that
        // lives as long as the process and ignores its argument.
        unsafe { on_exit(call, std::ptr::null_mut()) };
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        extern "C" fn call() {
            run(None);
        }
        // SAFETY: `atexit(3)`; `call` lives as long as the process.
        unsafe { libc::atexit(call) };
    }
}
