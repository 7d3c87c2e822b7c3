//! Aligned columns that fit the terminal: when a listing is wider than the screen the
//! cells that can lose text (each column says where: its end, or its start for a
//! domain) are cut with `…`, least important column first, widest first, never below
//! a floor; numbers, ids and times stay whole. With no width (piped, `--wide`) every
//! cell is whole and the layout is exactly the unfitted one.

use super::{columns, cut};

/// Where a cell too long for its column loses text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Never cut (ids, counts, times).
    Never,
    /// Keep the start: `transfer.stat…`.
    End,
    /// Keep the end, for domains and paths: `…ng-name.example.com`.
    Start,
}

/// One column: its header, alignment, how it may be cut and how far.
#[derive(Debug, Clone)]
pub struct Column {
    title: &'static str,
    right: bool,
    cut: Cut,
    /// Padded to at least this width when there is room (a layout people know).
    pad: usize,
    /// Never cut below this width (nor below the header).
    floor: usize,
    /// Columns of a lower rank give up their text first.
    rank: u8,
}

impl Column {
    /// A left-aligned column that is never cut.
    pub fn left(title: &'static str) -> Column {
        Column {
            title,
            right: false,
            cut: Cut::Never,
            pad: 0,
            floor: 0,
            rank: 0,
        }
    }

    /// A right-aligned column (numbers), never cut.
    pub fn right(title: &'static str) -> Column {
        Column {
            right: true,
            ..Column::left(title)
        }
    }

    /// May be cut, down to `floor` columns, when the table is too wide; `rank` 0 gives
    /// up its text first.
    pub fn cut(self, how: Cut, floor: usize, rank: u8) -> Column {
        Column {
            cut: how,
            floor,
            rank,
            ..self
        }
    }

    /// Padded to at least `width`, as the listing always was.
    pub fn pad(self, width: usize) -> Column {
        Column { pad: width, ..self }
    }
}

/// Columns, with or without a header line, separated by `gap` spaces.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    header: bool,
    gap: usize,
}

impl Table {
    /// A table with a header line and two spaces between columns.
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            header: true,
            gap: 2,
        }
    }

    /// Without the header line (listings that never had one).
    pub fn headless(self) -> Table {
        Table {
            header: false,
            ..self
        }
    }

    pub fn gap(self, gap: usize) -> Table {
        Table { gap, ..self }
    }

    /// The lines to print: the header (if any), then one per row, none wider than
    /// `width` when given.
    pub fn render(&self, rows: &[Vec<String>], width: Option<usize>) -> Vec<String> {
        let (widths, gap) = self.widths(rows, width);
        let mut out = Vec::with_capacity(rows.len() + 1);
        if self.header {
            let titles: Vec<String> = self.columns.iter().map(|c| c.title.to_string()).collect();
            out.push(self.line(&titles, &widths, gap, width));
        }
        out.extend(rows.iter().map(|r| self.line(r, &widths, gap, width)));
        out
    }

    /// Each column's width: as wide as its widest cell (or its pad), then narrowed to
    /// fit `width`; and the gap between columns, one space when room is short (before
    /// any cell loses text).
    fn widths(&self, rows: &[Vec<String>], width: Option<usize>) -> (Vec<usize>, usize) {
        // What the cells need (never under a header), and that padded.
        let mut content: Vec<usize> = self
            .columns
            .iter()
            .map(|c| if self.header { columns(c.title) } else { 0 })
            .collect();
        for row in rows {
            for (w, cell) in content.iter_mut().zip(row) {
                *w = (*w).max(columns(cell));
            }
        }
        let mut widths: Vec<usize> = content
            .iter()
            .zip(&self.columns)
            .map(|(w, c)| (*w).max(c.pad))
            .collect();
        let Some(room) = width else {
            return (widths, self.gap);
        };
        let total = |gap: usize| widths.iter().sum::<usize>() + gap * (widths.len().max(1) - 1);
        let gap = if total(self.gap) > room {
            self.gap.min(1)
        } else {
            self.gap
        };
        let mut over = total(gap).saturating_sub(room);
        // Padding goes before any text does, from the right: the first columns, where
        // the eye starts, stay where they always were.
        for (w, need) in widths.iter_mut().zip(&content).rev() {
            let spare = (*w - need).min(over);
            *w -= spare;
            over -= spare;
        }
        // The floor a column keeps: its own, never under its header.
        let floor = |c: &Column| c.floor.max(if self.header { columns(c.title) } else { 0 });
        while over > 0 {
            // The least important column that can still give, its widest first.
            let victim = self
                .columns
                .iter()
                .zip(&widths)
                .enumerate()
                .filter(|(_, (c, w))| c.cut != Cut::Never && **w > floor(c))
                .min_by_key(|(_, (c, w))| (c.rank, std::cmp::Reverse(**w)))
                .map(|(i, _)| i);
            let Some(i) = victim else { break };
            widths[i] -= 1;
            over -= 1;
        }
        (widths, gap)
    }

    fn line(&self, cells: &[String], widths: &[usize], gap: usize, room: Option<usize>) -> String {
        let mut out = String::new();
        let last = cells.len().min(widths.len()).saturating_sub(1);
        for (i, (cell, (c, &w))) in cells
            .iter()
            .zip(self.columns.iter().zip(widths))
            .enumerate()
        {
            if i > 0 {
                out.extend(std::iter::repeat_n(' ', gap));
            }
            let text = cut(cell, w, c.cut);
            let pad = w.saturating_sub(columns(&text));
            if c.right {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&text);
            } else {
                out.push_str(&text);
                if i < last {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        let out = out.trim_end();
        // Columns that may not be cut can still outgrow a very narrow screen: the line
        // itself is cut then, so none is ever wider than the screen.
        match room {
            Some(room) => cut(out, room, Cut::End).into_owned(),
            None => out.to_string(),
        }
    }
}

/// One line of text pieces (no gaps), the cuttable ones cut to fit `width`: a
/// message's sender and subject, a path in a sentence.
pub fn line(parts: &[(&str, Cut)], width: Option<usize>) -> String {
    let columns = parts
        .iter()
        .enumerate()
        .map(|(i, (_, how))| {
            let c = Column::left("");
            match how {
                Cut::Never => c,
                // Later pieces (the reason after a subject) give up their text first.
                _ => c.cut(*how, 8, u8::try_from(parts.len() - i).unwrap_or(u8::MAX)),
            }
        })
        .collect();
    let row = vec![parts.iter().map(|(s, _)| s.to_string()).collect()];
    let table = Table::new(columns).headless().gap(0);
    table.render(&row, width).remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec![
                "1".into(),
                "a-very-long-registration-name.example.com".into(),
                "transfer.status".into(),
            ],
            vec!["22".into(), "x.de".into(), "domain.created".into()],
        ]
    }

    fn table() -> Table {
        Table::new(vec![
            Column::right("id"),
            Column::left("domain").cut(Cut::Start, 10, 1),
            Column::left("topic").cut(Cut::End, 6, 0),
        ])
    }

    #[test]
    fn unlimited_width_keeps_every_cell_and_aligns_columns() {
        let lines = table().render(&rows(), None);
        assert_eq!(
            lines,
            [
                "id  domain                                     topic",
                " 1  a-very-long-registration-name.example.com  transfer.status",
                "22  x.de                                       domain.created",
            ]
        );
    }

    #[test]
    fn a_narrow_screen_cuts_the_least_important_column_first_and_keeps_domain_ends() {
        let lines = table().render(&rows(), Some(40));
        assert!(lines.iter().all(|l| columns(l) <= 40), "{lines:#?}");
        // One space between columns first; then the topic went down to its floor
        // before the domain gave anything.
        assert_eq!(lines[1], " 1 …registration-name.example.com trans…");
        let lines = table().render(&rows(), Some(24));
        assert!(lines.iter().all(|l| columns(l) <= 24), "{lines:#?}");
        assert_eq!(lines[1], " 1 …e.example.com trans…");
    }

    #[test]
    fn a_line_cuts_its_pieces_and_never_exceeds_the_width() {
        let parts = [
            ("#1 from ", Cut::Never),
            ("someone@a-long-sender.example", Cut::End),
            (": ", Cut::Never),
            ("a reason that is long and goes on", Cut::End),
        ];
        let whole = line(&parts, None);
        assert_eq!(
            whole,
            "#1 from someone@a-long-sender.example: a reason that is long and goes on"
        );
        let fitted = line(&parts, Some(50));
        assert!(columns(&fitted) <= 50, "{fitted}");
        assert!(fitted.starts_with("#1 from someone@"), "{fitted}");
        assert_eq!(columns(&line(&parts, Some(10))), 10);
    }
}
