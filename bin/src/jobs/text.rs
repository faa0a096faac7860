//! Reading users' text inputs (task lists, parameter tables) within limits, and quoting what is
//! wrong with them in messages.
//!
//! An input is a regular file or a pipe (`--tasks-file <(generate)`), never a device: `/dev/zero`
//! would otherwise be read until memory runs out. It is read line by line: at most
//! [`MAX_INPUT_BYTES`] in all and [`MAX_LINE_BYTES`] a line, UTF-8 with an optional byte-order
//! mark, CRLF line ends accepted. A bad line is named by its number and quoted by a short prefix.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Longest line accepted in a text input, in bytes (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Largest text input accepted, in bytes (1 GiB).
pub const MAX_INPUT_BYTES: u64 = 1 << 30;
/// Characters of a bad value shown in a message.
const QUOTED_CHARS: usize = 60;

/// Task ids for a message: `1, 5, 9`, the first 20 and how many more.
pub(crate) fn ids(ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(20).map(u64::to_string).collect();
    match ids.len() {
        n if n > 20 => format!("{} and {} more", shown.join(", "), n - 20),
        _ => shown.join(", "),
    }
}

/// At most 60 characters of `text`, control and invisible characters shown as escapes, and `…`
/// when cut.
pub(crate) fn quote(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(QUOTED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > QUOTED_CHARS {
        shown.push('…');
    }
    shown
}

/// Reads the text input `path` (`what` names it in messages: "tasks file") and returns its lines
/// with their numbers, from 1.
///
/// # Errors
/// A message naming the input: it cannot be opened, is a directory or device, is too large, or a
/// line is too long, holds a NUL byte or is not UTF-8.
pub(crate) fn read_lines(path: &Path, what: &str) -> Result<Vec<(usize, String)>, String> {
    let bad = |why: String| format!("{what} '{}': {why}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    let kind = meta.file_type();
    if meta.is_dir() {
        return Err(bad("it is a directory, not a file".into()));
    }
    if !meta.is_file() && !kind.is_fifo() {
        let which = if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "a socket"
        };
        return Err(bad(format!(
            "it is {which}; give a regular file (or a pipe)"
        )));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(bad(too_large(meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    lines_of(file, MAX_INPUT_BYTES, MAX_LINE_BYTES).map_err(bad)
}

fn too_large(bytes: u64) -> String {
    format!("it has more than {MAX_INPUT_BYTES} bytes ({bytes} or more); that is the limit")
}

/// The lines of `input`, within `max_total` bytes and `max_line` bytes a line.
fn lines_of(
    input: impl Read,
    max_total: u64,
    max_line: usize,
) -> Result<Vec<(usize, String)>, String> {
    // One byte beyond the limit tells that the limit was passed.
    let mut reader = BufReader::with_capacity(1 << 16, input.take(max_total + 1));
    let mut lines = Vec::new();
    let mut total: u64 = 0;
    let mut number = 0;
    loop {
        let mut line = Vec::new();
        let mut length = 0usize;
        let mut ended = false;
        // Collects at most `max_line` + 1 bytes of the line, counting the rest.
        loop {
            let chunk = reader.fill_buf().map_err(|e| e.to_string())?;
            if chunk.is_empty() {
                break;
            }
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (chunk.len(), false),
            };
            let keep = take.min((max_line + 2).saturating_sub(line.len()));
            line.extend_from_slice(&chunk[..keep]);
            length += take;
            reader.consume(take);
            if found {
                ended = true;
                break;
            }
        }
        if length == 0 {
            break;
        }
        number += 1;
        total += length as u64;
        if total > max_total {
            return Err(too_large(total));
        }
        if ended {
            length -= 1;
            // The newline is in `line` unless the line was cut (then it is too long anyway).
            if line.len() == length + 1 {
                line.pop();
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
            length -= 1;
        }
        if number == 1 && line.starts_with(b"\xEF\xBB\xBF") {
            line.drain(..3);
            length -= 3;
        }
        if length > max_line {
            let start = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
            return Err(format!(
                "line {number} has {length} bytes; lines are limited to {max_line} (it starts \
                 '{}')",
                quote(&start)
            ));
        }
        if line.contains(&0) {
            return Err(format!("line {number} holds a NUL byte: it is not text"));
        }
        let text =
            String::from_utf8(line).map_err(|_| format!("line {number} is not UTF-8 text"))?;
        lines.push((number, text));
        if !ended {
            break;
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Result<Vec<(usize, String)>, String> {
        lines_of(input, 100, 10)
    }

    #[test]
    fn lines_are_numbered_with_crlf_and_a_bom_removed() {
        let got = lines(b"\xEF\xBB\xBFa\r\nb\n\nc").unwrap();
        let want = [(1, "a"), (2, "b"), (3, ""), (4, "c")];
        assert_eq!(got, want.map(|(n, s)| (n, s.to_string())));
        assert_eq!(lines(b"x\n").unwrap(), vec![(1, "x".to_string())]);
        assert!(lines(b"").unwrap().is_empty());
        // A BOM only counts at the very start.
        assert_eq!(lines(b"a\n\xEF\xBB\xBFb").unwrap()[1].1, "\u{feff}b");
    }

    #[test]
    fn limits_are_kept_and_named() {
        let e = lines(b"short\n0123456789abcdef\n").unwrap_err();
        assert!(
            e.starts_with("line 2 has 16 bytes; lines are limited to 10"),
            "{e}"
        );
        assert!(e.contains("'0123456789ab"), "{e}");
        assert!(lines(b"0123456789\n").is_ok());
        let e = lines(&[b'1'; 150]).unwrap_err();
        assert!(e.contains("limit"), "{e}");
        let e = lines_of(&b"1\n".repeat(60)[..], 100, 10).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        let e = lines(b"a\nb\0\n").unwrap_err();
        assert_eq!(e, "line 2 holds a NUL byte: it is not text");
        let e = lines(b"\xff\n").unwrap_err();
        assert_eq!(e, "line 1 is not UTF-8 text");
    }

    #[test]
    fn a_huge_line_is_never_held_whole() {
        // 48 MB of one line: refused, and the message stays short.
        let e = lines_of(std::io::repeat(b'7').take(48 << 20), 1 << 30, 1 << 20).unwrap_err();
        assert!(e.len() < 200, "{} bytes of message", e.len());
        assert!(e.contains("50331648 bytes"), "{e}");
    }

    #[test]
    fn quotes_are_short_and_show_control_characters() {
        assert_eq!(quote("a\tb\u{1b}[31m"), "a\\tb\\u{1b}[31m");
        let long = "x".repeat(100);
        assert_eq!(quote(&long).chars().count(), 61);
    }

    #[test]
    fn devices_and_directories_are_refused_and_pipes_read() {
        let e = read_lines(Path::new("/dev/zero"), "tasks file").unwrap_err();
        assert!(e.contains("it is a device"), "{e}");
        let e = read_lines(Path::new("/"), "tasks file").unwrap_err();
        assert!(e.contains("directory"), "{e}");
        let dir = std::env::temp_dir().join(format!("spmdkit-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, b"1\n2\n").unwrap())
        };
        let got = read_lines(&fifo, "tasks file").unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
