//! Printing answers: a readable table by default, one JSON document with `--json`.
//!
//! Tables are derived from the shape of the answer, not from the endpoint: the scalar
//! fields become `key  value` lines, each list of objects becomes a table whose columns
//! are its keys. Fields named `…time` holding unix seconds are shown as local times in
//! tables (JSON keeps WeChat's numbers).

use std::io::{self, Write};

use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use unicode_width::UnicodeWidthStr;

use crate::error::{CliError, CliResult};
use crate::time;

/// Where and how answers are printed.
#[derive(Debug, Clone)]
pub struct Printer {
    /// Print JSON instead of tables.
    pub json: bool,
    /// The time zone of times in tables.
    pub tz: TimeZone,
}

impl Printer {
    /// Prints an answer of WeChat: the JSON document, or tables.
    ///
    /// An answer with no fields (a bare success) prints `{"ok":true}` or `ok`.
    pub fn answer(&self, value: &Value) -> CliResult {
        let empty = value.as_object().is_some_and(Map::is_empty);
        if self.json {
            let value = match empty {
                true => serde_json::json!({ "ok": true }),
                false => value.clone(),
            };
            return self.json(&value);
        }
        let text = match (empty, value) {
            (true, _) => "ok\n".to_owned(),
            (false, Value::Object(map)) => self.render_object(map),
            (false, other) => format!("{}\n", self.cell("", other)),
        };
        write_stdout(text.as_bytes())
    }

    /// Prints one JSON document (pretty) on stdout.
    pub fn json(&self, value: &Value) -> CliResult {
        let mut text = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::local(format!("cannot encode the answer: {e}")))?;
        text.push('\n');
        write_stdout(text.as_bytes())
    }

    /// Prints `key  value` lines, aligned.
    pub fn pairs(&self, pairs: &[(&str, String)]) -> CliResult {
        write_stdout(pairs_text(pairs).as_bytes())
    }

    fn render_object(&self, map: &Map<String, Value>) -> String {
        let mut scalars = Vec::new();
        let mut out = String::new();
        for (key, value) in map {
            match value {
                Value::Array(items) if items.iter().all(Value::is_object) => {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    if items.is_empty() {
                        out.push_str(&format!("({key}: none)\n"));
                    } else {
                        out.push_str(&self.render_table(items));
                    }
                }
                other => scalars.push((key.as_str(), self.cell(key, other))),
            }
        }
        let head = pairs_text(&scalars);
        match (head.is_empty(), out.is_empty()) {
            (_, true) => head,
            (true, false) => out,
            (false, false) => format!("{head}\n{out}"),
        }
    }

    fn render_table(&self, items: &[Value]) -> String {
        let mut columns: Vec<&str> = Vec::new();
        for item in items {
            if let Value::Object(map) = item {
                for key in map.keys() {
                    if !columns.contains(&key.as_str()) {
                        columns.push(key);
                    }
                }
            }
        }
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|item| {
                columns
                    .iter()
                    .map(|column| match item.get(column) {
                        Some(value) => self.cell(column, value),
                        None => "-".to_owned(),
                    })
                    .collect()
            })
            .collect();
        let header: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        table(&header, &rows)
    }

    /// One value as table text.
    fn cell(&self, key: &str, value: &Value) -> String {
        match value {
            Value::String(text) if text.is_empty() => "-".to_owned(),
            Value::String(text) => printable(text),
            Value::Null => "-".to_owned(),
            Value::Number(number) => match number.as_i64() {
                Some(seconds) if key.ends_with("time") && seconds > 0 => {
                    time::format_local(seconds, &self.tz)
                }
                _ => number.to_string(),
            },
            other => printable(&other.to_string()),
        }
    }
}

/// Text safe for a terminal: control characters (escape sequences, newlines) become spaces.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn pad(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(text.width());
    format!("{text}{}", " ".repeat(fill))
}

fn pairs_text(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(key, _)| key.width()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(key, value)| format!("{}  {value}\n", pad(key, width)))
        .collect()
}

/// A table with a header, columns aligned by display width (CJK characters count two).
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width());
        }
    }
    let line = |cells: &[String]| {
        let mut text = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| pad(cell, *width))
            .collect::<Vec<_>>()
            .join("  ");
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly.
pub fn write_stdout(bytes: &[u8]) -> CliResult {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(CliError::local(format!("cannot write to stdout: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn printer() -> Printer {
        Printer {
            json: false,
            tz: TimeZone::UTC,
        }
    }

    fn render(value: &Value) -> String {
        match value {
            Value::Object(map) => printer().render_object(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn lists_become_tables_aligned_by_display_width() {
        let text = render(&json!({
            "kf_list": [
                {"kf_account": "a@gh", "kf_nick": "客服一号", "kf_id": 1001},
                {"kf_account": "bb@gh", "kf_nick": "x", "kf_id": "1002", "kf_wx": "w"},
            ]
        }));
        assert_eq!(
            text,
            "kf_account  kf_id  kf_nick   kf_wx\n\
             a@gh        1001   客服一号  -\n\
             bb@gh       1002   x         w\n"
        );
    }

    #[test]
    fn scalars_times_and_empty_lists() {
        let text = render(&json!({
            "count": 2,
            "createtime": 1_793_491_200,
            "kf_account": "",
            "waitcaselist": [],
        }));
        assert_eq!(
            text,
            "count       2\ncreatetime  2026-11-01 00:00:00\nkf_account  -\n\n(waitcaselist: none)\n"
        );
        assert_eq!(printable("a\u{1b}[31mb\nc"), "a [31mb c");
    }
}
