//! What `spmdkit run` runs: one shell command a line from a tasks file, or a template expanded
//! over a table of parameters. Every command gets its id (1, 2, …, the `{#}` of the template) and
//! the line of the file it came from.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::jobs::text::quote;
pub use crate::jobs::text::{MAX_INPUT_BYTES, MAX_LINE_BYTES};

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id, from 1: `{#}`, `SPMDKIT_TASK_ID`, the journal's `task`.
    pub id: u64,
    /// The line of the tasks file (or of the parameter table) it came from, from 1.
    pub line: usize,
    /// The command, run with `/bin/sh -c`.
    pub command: String,
}

/// The input cannot be used; the message names the file, the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl From<InputError> for spmdkit::Error {
    fn from(e: InputError) -> Self {
        spmdkit::Error::bad_input(e.0)
    }
}

fn read_lines(path: &Path, what: &str) -> Result<Vec<(usize, String)>, InputError> {
    crate::jobs::text::read_lines(path, what).map_err(InputError)
}

/// Reads a tasks file: one shell command a line; blank lines and lines whose first non-blank
/// character is `#` are skipped.
///
/// # Errors
/// A file that cannot be read or is not text, or that holds no command.
pub fn read_tasks_file(path: &Path) -> Result<Vec<Task>, InputError> {
    let tasks: Vec<Task> = read_lines(path, "tasks file")?
        .into_iter()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .enumerate()
        .map(|(i, (line, command))| Task {
            id: i as u64 + 1,
            line,
            command: command.trim().to_string(),
        })
        .collect();
    if tasks.is_empty() {
        return Err(InputError(format!(
            "tasks file '{}' holds no command (only blank lines and # comments)",
            path.display()
        )));
    }
    Ok(tasks)
}

/// Splits one CSV line into fields: commas separate, double quotes enclose a field that may hold
/// commas, and `""` inside quotes is one quote.
fn csv_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed");
    }
    fields.push(field);
    Ok(fields.into_iter().map(|f| f.trim().to_string()).collect())
}

/// The placeholders of a template: `{name}` and `{#}`; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Column(String),
    Id,
}

fn parse_template(template: &str) -> Result<Vec<Piece>, InputError> {
    let bad = |why: String| InputError(format!("--command '{}': {why}", quote(template)));
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if name.is_empty() {
                    return Err(bad(
                        "an empty placeholder {}; write {{}} for literal braces".into(),
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(if name == "#" {
                    Piece::Id
                } else {
                    Piece::Column(name)
                });
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Expands `template` over the rows of the CSV table `params`: one task per row, `{column}`
/// replaced by the row's value, `{#}` by the task id. Blank lines and `#` lines are skipped.
///
/// # Errors
/// A placeholder that names no column, a row with another number of fields than the header, a
/// table without rows, or a file that cannot be read.
pub fn expand_template(template: &str, params: &Path) -> Result<Vec<Task>, InputError> {
    let pieces = parse_template(template)?;
    let lines: Vec<(usize, String)> = read_lines(params, "parameter table")?
        .into_iter()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let bad = |line: usize, why: String| {
        InputError(format!(
            "parameter table '{}' line {line}: {why}",
            params.display()
        ))
    };
    let Some(((header_line, header), rows)) = lines.split_first() else {
        return Err(InputError(format!(
            "parameter table '{}' is empty: it needs a header line and at least one row",
            params.display()
        )));
    };
    let names = csv_fields(header).map_err(|e| bad(*header_line, e.into()))?;
    for piece in &pieces {
        if let Piece::Column(name) = piece {
            if !names.contains(name) {
                return Err(bad(
                    *header_line,
                    format!(
                        "the template uses {{{name}}} but the header has no column '{name}' \
                         (columns: {})",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    if rows.is_empty() {
        return Err(bad(*header_line, "the header is followed by no row".into()));
    }
    rows.iter()
        .enumerate()
        .map(|(i, (line, row))| {
            let fields = csv_fields(row).map_err(|e| bad(*line, e.into()))?;
            if fields.len() != names.len() {
                return Err(bad(
                    *line,
                    format!(
                        "{} fields where the header has {} ('{}')",
                        fields.len(),
                        names.len(),
                        quote(row)
                    ),
                ));
            }
            let id = i as u64 + 1;
            let command = pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.clone(),
                    Piece::Id => id.to_string(),
                    Piece::Column(name) => {
                        let at = names.iter().position(|n| n == name).expect("checked above");
                        fields[at].clone()
                    }
                })
                .collect();
            Ok(Task {
                id,
                line: *line,
                command,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);
    impl Dir {
        fn new(name: &str) -> Self {
            let d =
                std::env::temp_dir().join(format!("spmdkit-input-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
        fn file(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_tasks_file_skips_blanks_and_comments_and_accepts_crlf_and_a_bom() {
        let d = Dir::new("tasks");
        let f = d.file(
            "t.txt",
            b"\xEF\xBB\xBFecho a\r\n\r\n  # note\r\necho 'b # not a comment'\r\n",
        );
        let tasks = read_tasks_file(&f).unwrap();
        assert_eq!(
            tasks,
            vec![
                Task {
                    id: 1,
                    line: 1,
                    command: "echo a".into()
                },
                Task {
                    id: 2,
                    line: 4,
                    command: "echo 'b # not a comment'".into()
                },
            ]
        );
        let empty = d.file("e.txt", b"# only\n\n");
        assert!(read_tasks_file(&empty)
            .unwrap_err()
            .0
            .contains("holds no command"));
        let nul = d.file("n.txt", b"echo a\nec\0ho\n");
        assert!(read_tasks_file(&nul)
            .unwrap_err()
            .0
            .contains("line 2 holds a NUL"));
        let e = read_tasks_file(&d.0).unwrap_err().0;
        assert!(e.contains("directory"), "{e}");
        let e = read_tasks_file(Path::new("/dev/zero")).unwrap_err().0;
        assert!(e.contains("it is a device"), "{e}");
        let long = d.file("l.txt", &vec![b'x'; MAX_LINE_BYTES + 1]);
        let e = read_tasks_file(&long).unwrap_err().0;
        assert!(
            e.contains("line 1 has 1048577 bytes") && e.len() < 200,
            "{e}"
        );
    }

    #[test]
    fn a_template_expands_over_the_table() {
        let d = Dir::new("template");
        let p = d.file("p.csv", b"seed,n\n1,10\n# skipped\n2,\"2,0\"\n");
        let tasks = expand_template("sim --seed {seed} --n {n} > out/{#}.txt {{x}}", &p).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].command, "sim --seed 1 --n 10 > out/1.txt {x}");
        assert_eq!(tasks[1].command, "sim --seed 2 --n 2,0 > out/2.txt {x}");
        assert_eq!((tasks[1].id, tasks[1].line), (2, 4));
    }

    #[test]
    fn template_mistakes_name_the_line() {
        let d = Dir::new("bad");
        let p = d.file("p.csv", b"seed,n\n1,10\n2\n");
        let e = expand_template("sim {seed}", &p).unwrap_err().0;
        assert!(e.contains("line 3: 1 fields where the header has 2"), "{e}");
        let e = expand_template("sim {speed}", &p).unwrap_err().0;
        assert!(
            e.contains("line 1") && e.contains("{speed}") && e.contains("seed, n"),
            "{e}"
        );
        let e = expand_template("sim {}", &p).unwrap_err().0;
        assert!(e.contains("empty placeholder"), "{e}");
        let h = d.file("h.csv", b"seed\n");
        assert!(expand_template("x {seed}", &h)
            .unwrap_err()
            .0
            .contains("no row"));
        let q = d.file("q.csv", b"a\n\"open\n");
        assert!(expand_template("x {a}", &q)
            .unwrap_err()
            .0
            .contains("not closed"));
    }
}
