//! A report on stderr when the process dies of a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE),
//! naming who died and where, so a crash in a job leaves a backtrace in its output.
//!
//! The kernel names every process of a job `spmdkit` (ranks, the farm's guardian, a command's
//! child before it execs the shell), and a launcher only says that "a task" died. So the report
//! starts with this process's role (`rank 2`, `guardian of rank 2`), its host, pid and the
//! thread's id and name, then the faulting address and the frames:
//! - the program counter, and, when it points at no code (a call through a null function
//!   pointer), the return address on top of the stack: the caller;
//! - the return addresses found on the faulting thread's stack, each as `module+offset`.
//!
//! Unwinding from inside a signal handler cannot start from a program counter of 0, so the
//! frames come from a scan of the stack: the words that point just after a call instruction in
//! an executable mapping. A scan may show a stale frame or two; it never misses the caller. The
//! offsets are then named with `addr2line` (binutils) when it is installed and the binary has
//! debug information, in a child process bounded to a few seconds.
//!
//! Everything in the handler is async-signal-safe: `open`/`read` of `/proc/self/maps` into a
//! static buffer, `write` to stderr, `vfork`-free `fork` + `execve` for `addr2line`. After the
//! report the previous handler (Rust's stack-overflow detection) is put back and the fault
//! happens again, so the process still dies of its signal and dumps core where that is enabled.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// The signals reported.
const FATAL: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers that were there before, one per signal of `FATAL`, restored before the fault
/// happens again.
static mut PREVIOUS: [std::mem::MaybeUninit<libc::sigaction>; 4] =
    [const { std::mem::MaybeUninit::zeroed() }; 4];
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Who this process is, as text (a leaked string; never freed once set).
static WHO: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static WHO_LEN: AtomicUsize = AtomicUsize::new(0);
/// The program's name, for the first word of the report.
static NAME: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);

/// Words of the stack scanned for return addresses.
const SCAN_WORDS: usize = 4096;
/// Frames reported at most.
const MAX_FRAMES: usize = 24;
/// Bytes of `/proc/self/maps` read (a rank with MPI loaded has about 400 mappings).
const MAPS_BYTES: usize = 256 * 1024;
/// The buffer `/proc/self/maps` is read into by the handler (which must not allocate).
struct MapsBuffer(std::cell::UnsafeCell<[u8; MAPS_BYTES]>);
// SAFETY: only the handler uses it, once per process (see `read_maps`).
unsafe impl Sync for MapsBuffer {}
static MAPS: MapsBuffer = MapsBuffer(std::cell::UnsafeCell::new([0; MAPS_BYTES]));

/// Installs the report for the fatal signals, once per process; later calls do nothing. `name`
/// starts every line (the program's file name).
pub(crate) fn install(name: &str) {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    set_text(&NAME, &NAME_LEN, name);
    // The first backtrace loads libgcc's unwinder (dlopen, malloc): done now, not in the handler.
    let mut warm = [std::ptr::null_mut::<libc::c_void>(); 4];
    // SAFETY: the buffer holds 4 entries.
    unsafe { backtrace(warm.as_mut_ptr(), 4) };
    set_text(&WHO, &WHO_LEN, &format!("pid {}", std::process::id()));
    for (i, &signal) in FATAL.iter().enumerate() {
        // SAFETY: the sigaction structs are fully initialised (zeroed, then set) before use;
        // PREVIOUS is written here, before the handler can run (it is installed by this very
        // call), and only read afterwards.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = report as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = (&raw mut PREVIOUS[i]).cast::<libc::sigaction>();
            libc::sigaction(signal, &action, previous);
        }
    }
}

/// Says who this process is, for the report: `rank 2 (host h)`; the pid is added.
pub(crate) fn identify(who: &str) {
    set_text(
        &WHO,
        &WHO_LEN,
        &format!("{who}, pid {}", std::process::id()),
    );
}

fn set_text(ptr: &AtomicPtr<u8>, len: &AtomicUsize, text: &str) {
    let leaked: &'static mut str = Box::leak(text.to_string().into_boxed_str());
    // Length first, then the pointer: a reader that sees the new pointer sees its length
    // (a stale length with the old pointer only shortens the old text).
    len.store(0, Ordering::SeqCst);
    ptr.store(leaked.as_mut_ptr(), Ordering::SeqCst);
    len.store(leaked.len(), Ordering::SeqCst);
}

fn text(ptr: &AtomicPtr<u8>, len: &AtomicUsize) -> &'static [u8] {
    let p = ptr.load(Ordering::SeqCst);
    let n = len.load(Ordering::SeqCst);
    if p.is_null() {
        return b"";
    }
    // SAFETY: p points at a leaked string of at least n bytes (never freed).
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// A line being written without allocating.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn new() -> Self {
        let mut line = Line {
            buf: [0; 512],
            len: 0,
        };
        line.put(text(&NAME, &NAME_LEN));
        line.put(b": ");
        line
    }

    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        let n = bytes.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    fn hex(&mut self, value: usize) -> &mut Self {
        let mut digits = [0u8; 18];
        digits[0] = b'0';
        digits[1] = b'x';
        let mut n = 2;
        let mut started = false;
        for shift in (0..16).rev() {
            let d = (value >> (shift * 4)) & 0xf;
            if d != 0 || started || shift == 0 {
                started = true;
                digits[n] = b"0123456789abcdef"[d];
                n += 1;
            }
        }
        self.put(&digits[..n])
    }

    fn dec(&mut self, value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut n = digits.len();
        let mut v = value;
        loop {
            n -= 1;
            digits[n] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[n..])
    }

    fn emit(&mut self) {
        self.buf[self.len] = b'\n';
        write_all(2, &self.buf[..=self.len]);
        self.len = 0;
        let name = text(&NAME, &NAME_LEN);
        self.put(name);
        self.put(b": ");
    }
}

fn write_all(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe `bytes`.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

fn signal_name(signal: libc::c_int) -> &'static [u8] {
    match signal {
        libc::SIGSEGV => b"SIGSEGV",
        libc::SIGBUS => b"SIGBUS",
        libc::SIGILL => b"SIGILL",
        libc::SIGFPE => b"SIGFPE",
        _ => b"a signal",
    }
}

/// One mapping of `/proc/self/maps`.
#[derive(Clone, Copy)]
struct Mapping {
    start: usize,
    end: usize,
    offset: usize,
    executable: bool,
    /// The path's bytes within MAPS.
    path: (usize, usize),
}

/// The mappings, parsed from `maps[..len]`, calling `each` for every one.
fn mappings(maps: &[u8], mut each: impl FnMut(Mapping)) {
    for (at, line) in lines(maps) {
        let mut fields = [(0usize, 0usize); 6];
        let mut n = 0;
        let mut i = 0;
        while n < 6 && i < line.len() {
            while i < line.len() && line[i] == b' ' {
                i += 1;
            }
            let from = i;
            while i < line.len() && (line[i] != b' ' || n == 5) {
                i += 1;
            }
            fields[n] = (from, i);
            n += 1;
        }
        if n < 5 {
            continue;
        }
        let field = |k: usize| &line[fields[k].0..fields[k].1];
        let range = field(0);
        let Some(dash) = range.iter().position(|&b| b == b'-') else {
            continue;
        };
        let (Some(start), Some(end), Some(offset)) = (
            parse_hex(&range[..dash]),
            parse_hex(&range[dash + 1..]),
            parse_hex(field(2)),
        ) else {
            continue;
        };
        let path = if n == 6 {
            (at + fields[5].0, at + fields[5].1)
        } else {
            (0, 0)
        };
        each(Mapping {
            start,
            end,
            offset,
            executable: field(1).get(2) == Some(&b'x'),
            path,
        });
    }
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let from = at;
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| at + p);
        at = end + 1;
        Some((from, &bytes[from..end]))
    })
}

fn parse_hex(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut v = 0usize;
    for &d in digits {
        let x = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | x as usize;
    }
    Some(v)
}

/// Reads `/proc/self/maps` into MAPS; returns its length.
///
/// # Safety
/// Only from the handler, which runs once at a time (the signal is blocked while it runs, and
/// a second fatal signal on another thread waits for the first to end the process).
unsafe fn read_maps() -> usize {
    // SAFETY: (caller) no other code uses MAPS at the same time.
    let buf = unsafe { &mut *MAPS.0.get() };
    // SAFETY: a NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return 0;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the pointer and length describe the unfilled rest of buf.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    len
}

/// `at` (inside `m`) as an address of its ELF file, as `addr2line` takes it: relative to where
/// the file's first mapping starts for a position-independent file, as it is otherwise.
fn address_in_file(maps: &[u8], at: usize, m: &Mapping) -> usize {
    let path = &maps[m.path.0..m.path.1];
    let mut base = None;
    mappings(maps, |other| {
        if base.is_none() && other.offset == 0 && &maps[other.path.0..other.path.1] == path {
            base = Some(other.start);
        }
    });
    let Some(base) = base else {
        return at - m.start + m.offset;
    };
    // SAFETY: the first mapping of an ELF file starts with its header (64 bytes, readable);
    // e_type is the 16-bit field at byte 16.
    let e_type = unsafe { std::ptr::read_unaligned((base + 16) as *const u16) };
    const ET_DYN: u16 = 3;
    if e_type == ET_DYN {
        at - base
    } else {
        at
    }
}

/// Whether the bytes just before `ret` (inside `map`) end with a call instruction: `e8 rel32`,
/// or `ff /2` with a register or memory operand of 2 to 7 bytes. Reading them is safe: they are
/// in the same executable (and readable) mapping.
fn after_call(ret: usize, map: &Mapping) -> bool {
    if !cfg!(target_arch = "x86_64") {
        return true;
    }
    if ret < map.start + 7 || ret > map.end {
        return false;
    }
    // SAFETY: [ret - 7, ret) lies inside `map`, an executable mapping that is readable (an
    // execute-only mapping does not exist on x86_64 Linux without protection keys).
    let code = unsafe { std::slice::from_raw_parts((ret - 7) as *const u8, 7) };
    if code[2] == 0xe8 {
        return true;
    }
    // `ff` at 7 - len, its ModRM byte (reg field 2) right after.
    (2..=7).any(|len| code[7 - len] == 0xff && (code[8 - len] >> 3) & 7 == 2)
}

extern "C" {
    /// glibc's `backtrace(3)`.
    fn backtrace(buffer: *mut *mut libc::c_void, size: libc::c_int) -> libc::c_int;
}

/// The signal handler: writes the report, then lets the fault happen again with the previous
/// handler in place.
extern "C" fn report(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (addr, code, pc, sp) = unsafe {
        let info = &*info;
        let (pc, sp) = registers(context);
        (info.si_addr() as usize, info.si_code, pc, sp)
    };
    let mut line = Line::new();
    line.put(text(&WHO, &WHO_LEN));
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u64;
    line.put(b", thread ").dec(tid);
    let mut name = [0u8; 16];
    // SAFETY: the buffer is 16 bytes, as prctl(PR_GET_NAME) requires.
    if unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr(), 0, 0, 0) } == 0 {
        let n = name.iter().position(|&b| b == 0).unwrap_or(16);
        line.put(b" '").put(&name[..n]).put(b"'");
    }
    line.put(b": fatal ").put(signal_name(signal));
    if code > 0 {
        line.put(b" at address ").hex(addr);
    } else {
        line.put(b" sent by a process");
    }
    line.put(b", pc ").hex(pc).put(b", sp ").hex(sp);
    line.emit();
    // The general registers: with the frames below they tell what a faulting call was given
    // (on x86_64, the first arguments are in rdi, rsi, rdx, rcx).
    // SAFETY: as for `registers`.
    let regs = unsafe { general_registers(context) };
    if regs.iter().any(|(name, _)| !name.is_empty()) {
        line.put(b" ");
        for (name, value) in regs.into_iter().filter(|(name, _)| !name.is_empty()) {
            line.put(b" ").put(name.as_bytes()).put(b"=").hex(value);
        }
        line.emit();
    }
    // SAFETY: this handler is the only user of MAPS, once per process (see read_maps).
    let len = unsafe { read_maps() };
    // SAFETY: MAPS is filled up to len and not written again.
    let maps: &[u8] = unsafe { &(&*MAPS.0.get())[..len] };
    let find = |a: usize| {
        let mut found = None;
        mappings(maps, |m| {
            if found.is_none() && (m.start..m.end).contains(&a) {
                found = Some(m);
            }
        });
        found
    };
    if !find(pc).is_some_and(|m| m.executable) {
        line.put(b"  the program counter points at no code: a call through a bad (null?) pointer; the caller is the first frame");
        line.emit();
    }
    let mut frames = [0usize; MAX_FRAMES];
    let mut count = 0;
    // The unwinder's frames, from the interrupted one on, when it can start there (the pc is in
    // code it has unwind tables for).
    let mut unwound = [std::ptr::null_mut::<libc::c_void>(); 64];
    // SAFETY: the buffer holds 64 entries; libgcc was loaded at install, so nothing is loaded
    // or allocated here.
    let n = unsafe { backtrace(unwound.as_mut_ptr(), 64) }.max(0) as usize;
    if let Some(first) = unwound[..n].iter().position(|&f| f as usize == pc) {
        for &f in &unwound[first..n] {
            if count < MAX_FRAMES {
                frames[count] = f as usize;
                count += 1;
            }
        }
        line.put(b"  backtrace (unwound):");
    } else {
        line.put(b"  backtrace (return addresses found on the stack, the caller first; a stale one may be among them):");
    }
    line.emit();
    // The stack, word by word, within its mapping, when the unwinder could not start.
    if count == 0 {
        if let Some(stack) = find(sp) {
            let mut at = sp;
            let mut scanned = 0;
            while at + 8 <= stack.end && scanned < SCAN_WORDS && count < MAX_FRAMES {
                // SAFETY: at..at + 8 is inside the stack's mapping, which is readable.
                let word = unsafe { std::ptr::read_unaligned(at as *const usize) };
                if let Some(m) = find(word) {
                    if m.executable && after_call(word, &m) {
                        frames[count] = word;
                        count += 1;
                    }
                }
                at += 8;
                scanned += 1;
            }
        }
    }
    for (i, &frame) in frames[..count].iter().enumerate() {
        line.put(b"  frame ").dec(i as u64).put(b": ").hex(frame);
        if let Some(m) = find(frame) {
            let (from, to) = m.path;
            line.put(b" ").put(&maps[from..to]).put(b"+");
            line.hex(address_in_file(maps, frame, &m));
        }
        line.emit();
    }
    name_frames(maps, &frames[..count], &find);
    // SAFETY: PREVIOUS holds the handler that was installed before ours (set in install).
    unsafe {
        if let Some(i) = FATAL.iter().position(|&s| s == signal) {
            let previous = (&raw const PREVIOUS[i]).cast::<libc::sigaction>();
            libc::sigaction(signal, previous, std::ptr::null_mut());
        }
        if code <= 0 {
            // Sent, not a fault: returning would not raise it again.
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}

/// Names the frames of the executable with `addr2line`, when it is installed: one child process
/// writing to stderr, given at most 5 seconds.
fn name_frames(maps: &[u8], frames: &[usize], find: &dyn Fn(usize) -> Option<Mapping>) {
    const ADDR2LINE: &std::ffi::CStr = c"/usr/bin/addr2line";
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::access(ADDR2LINE.as_ptr(), libc::X_OK) } != 0 {
        return;
    }
    let mut exe = [0u8; 1024];
    // SAFETY: the buffer and its length; readlink does not terminate it, which is done below.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            exe.as_mut_ptr().cast(),
            exe.len() - 1,
        )
    };
    if n <= 0 {
        return;
    }
    let exe_path = &exe[..n as usize];
    // The offsets of the frames inside the executable, as text, NUL-separated.
    let mut offsets = [[0u8; 20]; MAX_FRAMES];
    let mut count = 0;
    for &frame in frames {
        let Some(m) = find(frame) else { continue };
        if &maps[m.path.0..m.path.1] != exe_path {
            continue;
        }
        let mut line = Line {
            buf: [0; 512],
            len: 0,
        };
        line.hex(address_in_file(maps, frame, &m));
        offsets[count][..line.len].copy_from_slice(&line.buf[..line.len]);
        count += 1;
    }
    if count == 0 {
        return;
    }
    let mut argv: [*const libc::c_char; MAX_FRAMES + 8] = [std::ptr::null(); MAX_FRAMES + 8];
    argv[0] = c"addr2line".as_ptr();
    argv[1] = c"-f".as_ptr();
    argv[2] = c"-C".as_ptr();
    argv[3] = c"-i".as_ptr();
    argv[4] = c"-p".as_ptr();
    argv[5] = c"-e".as_ptr();
    argv[6] = exe.as_ptr().cast();
    for (i, o) in offsets[..count].iter().enumerate() {
        argv[7 + i] = o.as_ptr().cast();
    }
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let mut line = Line::new();
    line.put(b"  the frames of ")
        .put(exe_path)
        .put(b", named by addr2line:");
    line.emit();
    // SAFETY: fork is async-signal-safe; the child only calls dup2, execve and _exit, all
    // async-signal-safe, with arguments that are NUL-terminated and live on this stack.
    unsafe {
        let pid = libc::syscall(libc::SYS_fork) as libc::pid_t;
        if pid == 0 {
            libc::dup2(2, 1);
            libc::execve(ADDR2LINE.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
        if pid < 0 {
            return;
        }
        let nap = libc::timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        for _ in 0..500 {
            let mut status = 0;
            if libc::waitpid(pid, &mut status, libc::WNOHANG) != 0 {
                return;
            }
            libc::nanosleep(&nap, std::ptr::null_mut());
        }
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// The program counter and stack pointer of the interrupted thread.
///
/// # Safety
/// `context` is the ucontext the kernel passed to an SA_SIGINFO handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn registers(context: *mut libc::c_void) -> (usize, usize) {
    // SAFETY: (caller) a valid ucontext_t.
    let gregs = unsafe { &(*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    (
        gregs[libc::REG_RIP as usize] as usize,
        gregs[libc::REG_RSP as usize] as usize,
    )
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn registers(_context: *mut libc::c_void) -> (usize, usize) {
    (0, 0)
}

/// The interrupted thread's general registers, by name.
///
/// # Safety
/// As for [`registers`].
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn general_registers(context: *mut libc::c_void) -> [(&'static str, usize); 13] {
    // SAFETY: (caller) a valid ucontext_t.
    let gregs = unsafe { &(*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    [
        ("rax", libc::REG_RAX),
        ("rbx", libc::REG_RBX),
        ("rcx", libc::REG_RCX),
        ("rdx", libc::REG_RDX),
        ("rsi", libc::REG_RSI),
        ("rdi", libc::REG_RDI),
        ("rbp", libc::REG_RBP),
        ("r8", libc::REG_R8),
        ("r9", libc::REG_R9),
        ("r12", libc::REG_R12),
        ("r13", libc::REG_R13),
        ("r14", libc::REG_R14),
        ("r15", libc::REG_R15),
    ]
    .map(|(name, r)| (name, gregs[r as usize] as usize))
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn general_registers(_context: *mut libc::c_void) -> [(&'static str, usize); 13] {
    [("", 0); 13]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_are_parsed_with_their_paths() {
        let maps = b"5555-6666 r-xp 00001000 08:01 42 /usr/bin/spmdkit\n\
                     7000-8000 rw-p 00000000 00:00 0 \n\
                     9000-a000 r-xp 00002000 08:01 43 /lib/with space/libc.so.6\n";
        let mut seen = Vec::new();
        mappings(maps, |m| {
            seen.push((
                m.start,
                m.end,
                m.offset,
                m.executable,
                String::from_utf8_lossy(&maps[m.path.0..m.path.1]).into_owned(),
            ))
        });
        assert_eq!(
            seen,
            vec![
                (0x5555, 0x6666, 0x1000, true, "/usr/bin/spmdkit".to_string()),
                (0x7000, 0x8000, 0, false, String::new()),
                (
                    0x9000,
                    0xa000,
                    0x2000,
                    true,
                    "/lib/with space/libc.so.6".to_string()
                ),
            ]
        );
        assert_eq!(parse_hex(b"ff"), Some(255));
        assert_eq!(parse_hex(b"xz"), None);
    }

    #[test]
    fn numbers_are_written_without_allocating() {
        let mut line = Line {
            buf: [0; 512],
            len: 0,
        };
        line.hex(0)
            .put(b" ")
            .hex(0x1a2b)
            .put(b" ")
            .dec(0)
            .put(b" ")
            .dec(4242);
        assert_eq!(&line.buf[..line.len], b"0x0 0x1a2b 0 4242");
    }
}
