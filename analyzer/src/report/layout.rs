//! The text layout of `report`: the width it is printed in, tables that fit
//! that width, and lines wrapped to it.
//!
//! A table leaves out its least important columns, one at a time, until it
//! fits; a text column that is still too wide (a long message) wraps.
//! Wider than needed, every column is shown.

use std::io::IsTerminal;

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table};
use unicode_width::UnicodeWidthStr;

/// The width when stdout is not a terminal and `COLUMNS` is not set.
pub const DEFAULT_WIDTH: usize = 80;

/// comfy-table's preset of a table with only a rule under its header: no
/// side borders, which would take columns from the figures. The order of
/// the characters is `comfy_table::TableComponent`'s; a space draws
/// nothing.
const RULED_HEADER: &str = "     ──            ";

/// The narrowest width laid out for: below it, lines simply run over.
const MIN_WIDTH: usize = 20;

/// The width to lay text out in: `COLUMNS` when it is a positive number
/// (so that `COLUMNS=120 caro-analyze report | less` is wide), else the
/// terminal's when stdout is one, else [`DEFAULT_WIDTH`].
pub fn output_width() -> usize {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let terminal = || {
        let stdout = std::io::stdout();
        if !stdout.is_terminal() {
            return None;
        }
        terminal_size::terminal_size_of(&stdout)
            .map(|(w, _)| usize::from(w.0))
            .filter(|&w| w > 0)
    };
    columns
        .or_else(terminal)
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// The columns a terminal draws `s` in, its ANSI colour sequences aside.
pub fn display_width(s: &str) -> usize {
    strip_ansi(s).width()
}

/// `s` without its CSI escape sequences (`\x1b[1m`, `\x1b[0m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ parameters… final byte (@ to ~).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `line` broken at spaces into lines of at most `width` columns, the
/// ones after the first indented by two spaces. A word longer than a line
/// stays whole.
pub fn wrap(line: &str, width: usize) -> String {
    const INDENT: &str = "  ";
    let mut out = String::with_capacity(line.len() + 8);
    let mut used = 0;
    for word in line.split(' ') {
        let w = display_width(word);
        if used > 0 && used + 1 + w > width {
            out.push('\n');
            out.push_str(INDENT);
            used = INDENT.len();
        } else if used > 0 {
            out.push(' ');
            used += 1;
        }
        out.push_str(word);
        used += w;
    }
    out
}

/// How a column is aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A column of a [`FittedTable`].
#[derive(Clone, Debug)]
pub struct Column {
    pub header: String,
    pub align: Align,
    /// `None`: always shown. `Some(n)`: left out when the table does not
    /// fit, the lowest `n` first (of equals, the rightmost).
    pub drop_order: Option<u8>,
    /// Wraps when the table is still too wide with every droppable column
    /// left out (other columns never wrap).
    pub wraps: bool,
}

impl Column {
    /// A text column, aligned left, always shown.
    pub fn text(header: &str) -> Column {
        Column {
            header: header.to_owned(),
            align: Align::Left,
            drop_order: None,
            wraps: false,
        }
    }

    /// A number column, aligned right, always shown.
    pub fn number(header: &str) -> Column {
        Column {
            align: Align::Right,
            ..Column::text(header)
        }
    }

    /// Left out when the table does not fit, before those of a higher `n`.
    pub fn droppable(mut self, n: u8) -> Column {
        self.drop_order = Some(n);
        self
    }

    /// Wraps as a last resort.
    pub fn wrapping(mut self) -> Column {
        self.wraps = true;
        self
    }
}

/// A table that fits the width it is rendered in.
#[derive(Clone, Debug)]
pub struct FittedTable {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl FittedTable {
    pub fn new(columns: Vec<Column>) -> FittedTable {
        FittedTable {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row, a cell per column.
    pub fn add_row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The headers of the columns shown at `width`.
    pub fn shown_headers(&self, width: usize) -> Vec<&str> {
        self.shown(width)
            .into_iter()
            .map(|i| self.columns[i].header.as_str())
            .collect()
    }

    /// The indexes of the columns shown at `width`: every column, less the
    /// droppable ones, lowest drop order first, until the table fits.
    fn shown(&self, width: usize) -> Vec<usize> {
        let mut shown: Vec<usize> = (0..self.columns.len()).collect();
        while widest(&self.table(&shown)) > width {
            let next = shown
                .iter()
                .enumerate()
                .filter_map(|(at, &i)| {
                    self.columns[i]
                        .drop_order
                        .map(|n| (n, std::cmp::Reverse(at)))
                })
                .min();
            match next {
                Some((_, std::cmp::Reverse(at))) => {
                    shown.remove(at);
                }
                None => break,
            }
        }
        shown
    }

    /// The table of the columns `shown`, its natural width.
    fn table(&self, shown: &[usize]) -> Table {
        let mut t = Table::new();
        t.load_preset(RULED_HEADER)
            // Laid out for `width`, not for whatever comfy-table detects.
            .force_no_tty()
            .set_header(shown.iter().map(|&i| self.columns[i].header.clone()));
        for row in &self.rows {
            t.add_row(
                shown
                    .iter()
                    .map(|&i| row.get(i).cloned().unwrap_or_default()),
            );
        }
        for (at, &i) in shown.iter().enumerate() {
            if let Some(c) = t.column_mut(at) {
                c.set_cell_alignment(match self.columns[i].align {
                    Align::Left => CellAlignment::Left,
                    Align::Right => CellAlignment::Right,
                });
            }
        }
        t
    }

    /// The table as text at most `width` columns wide (where it can be),
    /// without trailing spaces or a trailing newline.
    pub fn render(&self, width: usize) -> String {
        let shown = self.shown(width);
        let mut t = self.table(&shown);
        if widest(&t) > width && shown.iter().any(|&i| self.columns[i].wraps) {
            for (at, &i) in shown.iter().enumerate() {
                if let Some(c) = t.column_mut(at) {
                    if !self.columns[i].wraps {
                        c.set_constraint(ColumnConstraint::ContentWidth);
                    }
                }
            }
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(u16::try_from(width).unwrap_or(u16::MAX));
        }
        t.lines()
            .map(|l| l.trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The widest line of `t` as drawn.
fn widest(t: &Table) -> usize {
    t.lines().map(|l| display_width(&l)).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FittedTable {
        let mut t = FittedTable::new(vec![
            Column::text("name"),
            Column::number("count"),
            Column::number("p99").droppable(1),
            Column::number("share").droppable(2),
            Column::text("message").wrapping(),
        ]);
        t.add_row(vec![
            "check_privilege_escalation".into(),
            "3,751".into(),
            "0.24 ms".into(),
            "80.7 %".into(),
            "a message long enough to need wrapping in a narrow table".into(),
        ]);
        t
    }

    #[test]
    fn columns_are_left_out_least_important_first_then_text_wraps() {
        let t = sample();
        let full = t.render(200);
        assert!(full.lines().all(|l| display_width(l) <= 200));
        assert_eq!(
            t.shown_headers(200),
            ["name", "count", "p99", "share", "message"]
        );
        let natural = widest(&t.table(&[0, 1, 2, 3, 4]));
        assert_eq!(
            t.shown_headers(natural - 1),
            ["name", "count", "share", "message"]
        );
        for width in [80, 60, 50] {
            let text = t.render(width);
            assert_eq!(t.shown_headers(width), ["name", "count", "message"]);
            for l in text.lines() {
                assert!(display_width(l) <= width, "{width}: {l:?}\n{text}");
            }
            assert!(text.contains("check_privilege_escalation"), "{text}");
        }
    }

    #[test]
    fn lines_wrap_at_spaces_and_colours_take_no_room() {
        assert_eq!(display_width("\x1b[1mbold\x1b[0m ≤ 10 ms"), 12);
        assert_eq!(wrap("one two three four", 9), "one two\n  three\n  four");
        assert_eq!(wrap("short", 80), "short");
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            "averyveryverylongword\n  x"
        );
    }
}
