//! The CSV files of `spmdkit-bench`: `#` comment lines with the parameters, one header line that
//! names the columns, then one line a row. Readers find columns by name, so a file may carry more
//! columns than a reader needs.

use super::error::BenchError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A CSV file read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    columns: Vec<String>,
    /// Each row's fields, with the line number it came from.
    rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// Parses `text`, requiring the `needed` columns.
    ///
    /// # Errors
    /// No header, a missing column, or a row with another number of fields (with its line).
    pub fn parse(text: &str, needed: &[&str]) -> Result<Table, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err("no header line (is it an spmdkit-bench CSV?)".into());
        };
        let columns: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
        if let Some(missing) = needed.iter().find(|n| !columns.iter().any(|c| c == *n)) {
            return Err(format!(
                "the header '{header}' has no column '{missing}' (is it the right kind of CSV?)"
            ));
        }
        let mut rows = Vec::new();
        for (i, line) in lines {
            let fields: Vec<String> = line.split(',').map(|f| f.trim().to_string()).collect();
            if fields.len() != columns.len() {
                return Err(format!(
                    "line {}: '{line}' has {} fields, the header {}",
                    i + 1,
                    fields.len(),
                    columns.len()
                ));
            }
            rows.push((i + 1, fields));
        }
        Ok(Table { columns, rows })
    }

    /// Reads and parses a CSV file.
    #[cfg(test)]
    pub fn read(path: &Path, needed: &[&str]) -> Result<Table, BenchError> {
        let text = read_text(path)?;
        Table::parse(&text, needed)
            .map_err(|e| BenchError::Input(format!("'{}': {e}", path.display())))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text in row `row`, column `column` (which [`Table::parse`] was told is needed).
    ///
    /// # Panics
    /// When the column was not required: a programming error.
    pub fn text(&self, row: usize, column: &str) -> &str {
        let c = self
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("column '{column}' was not asked for"));
        &self.rows[row].1[c]
    }

    /// The value in row `row`, column `column`, parsed.
    ///
    /// # Errors
    /// A field that is not such a value, with its line.
    pub fn value<T: std::str::FromStr>(&self, row: usize, column: &str) -> Result<T, String> {
        let text = self.text(row, column);
        text.parse().map_err(|_| {
            format!(
                "line {}: '{text}' in column '{column}' is not a {}",
                self.rows[row].0,
                std::any::type_name::<T>()
            )
        })
    }
}

fn read_text(path: &Path) -> Result<String, BenchError> {
    std::fs::read_to_string(path)
        .map_err(|e| BenchError::Input(format!("cannot read '{}': {e}", path.display())))
}

/// The rows of all `files`, each read with `parse`; errors name the file.
///
/// # Errors
/// An unreadable file, or what `parse` says of one.
pub fn read_rows<T>(
    files: &[PathBuf],
    parse: fn(&str) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, BenchError> {
    let mut rows = Vec::new();
    for f in files {
        let text = read_text(f)?;
        rows.extend(
            parse(&text).map_err(|e| BenchError::Input(format!("'{}': {e}", f.display())))?,
        );
    }
    Ok(rows)
}

/// Writes a CSV: a title comment, a comment with the parameters, the header and the lines.
///
/// # Errors
/// When the file cannot be written, naming it.
pub fn write(
    path: &Path,
    title: &str,
    parameters: &[(&str, String)],
    header: &str,
    lines: impl IntoIterator<Item = String>,
) -> Result<(), BenchError> {
    let mut text = format!("# {title}\n#");
    for (k, v) in parameters {
        let _ = write!(text, " {k}={v}");
    }
    let _ = writeln!(text, "\n{header}");
    for line in lines {
        let _ = writeln!(text, "{line}");
    }
    std::fs::write(path, text)
        .map_err(|e| BenchError::Output(format!("cannot write '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_and_bad_rows_are_named() {
        let t = Table::parse(
            "# title\n# a=1\nx,y,z\n1,2.5,name\n\n3,4,other\n",
            &["z", "x"],
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.value::<usize>(1, "x").unwrap(), 3);
        assert_eq!(t.value::<f64>(0, "y").unwrap(), 2.5);
        assert_eq!(t.text(1, "z"), "other");
        let e = t.value::<f64>(0, "z").unwrap_err();
        assert!(e.contains("line 4") && e.contains("'name'"), "{e}");
        let e = Table::parse("x,y\n1\n", &[]).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = Table::parse("x,y\n", &["w"]).unwrap_err();
        assert!(e.contains("no column 'w'"), "{e}");
        assert!(Table::parse("# only comments\n", &[]).is_err());
    }

    #[test]
    fn what_is_written_reads_back() {
        let dir = std::env::temp_dir().join(format!("spmdkit-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        write(
            &path,
            "spmdkit-bench test",
            &[("ranks", "3".into())],
            "a,b",
            ["1,x".to_string(), "2,y".to_string()],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# spmdkit-bench test\n# ranks=3\na,b\n"),
            "{text}"
        );
        let t = Table::read(&path, &["b"]).unwrap();
        assert_eq!((t.len(), t.text(1, "b")), (2, "y"));
        std::fs::remove_dir_all(&dir).unwrap();
        let e = Table::read(&path, &[]).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e = write(&dir.join("no/such/dir.csv"), "t", &[], "a", []).unwrap_err();
        assert_eq!(e.exit_code(), 1, "{e}");
    }
}
