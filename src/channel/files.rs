//! Messages from the file system for `mailroom import`: `.eml` files, directories of
//! them, Maildir folders (cur/ and new/), mbox files, and `-` for standard input.
//! Everything streams: one message in memory at a time, whatever the input size.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::extract::MAX_MESSAGE_BYTES;
use crate::source::{Incoming, Source};

/// One thing named on the command line, recognised by what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Eml(PathBuf),
    EmlDir(PathBuf),
    Maildir(PathBuf),
    Mbox(PathBuf),
    Stdin,
}

impl Input {
    /// Recognises `path`: `-`, a Maildir (has cur/ or new/), a directory of `.eml`
    /// files, an mbox (starts with `From `), or a single message.
    pub fn recognise(path: &Path) -> io::Result<Input> {
        if path.as_os_str() == "-" {
            return Ok(Input::Stdin);
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let path = std::fs::canonicalize(path)?;
        if meta.is_dir() {
            return Ok(if is_maildir(&path) {
                Input::Maildir(path)
            } else {
                Input::EmlDir(path)
            });
        }
        let mut head = [0u8; 5];
        let n = File::open(&path)?.read(&mut head)?;
        Ok(if &head[..n] == b"From " {
            Input::Mbox(path)
        } else {
            Input::Eml(path)
        })
    }

    /// Bytes this input will read (for the progress bar); 0 when unknown.
    pub fn size(&self) -> u64 {
        let file_size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        match self {
            Input::Eml(p) | Input::Mbox(p) => file_size(p),
            Input::EmlDir(p) => eml_files(p).iter().map(|f| file_size(f)).sum(),
            Input::Maildir(p) => maildir_files(p).iter().map(|(f, _)| file_size(f)).sum(),
            Input::Stdin => 0,
        }
    }

    /// Reads every message, calling `each` with it and the bytes consumed so far.
    /// Stops early when `each` returns false. A file that cannot be read is reported
    /// to `failed` and skipped; the rest is still read.
    pub fn read(
        &self,
        each: &mut dyn FnMut(Incoming, u64) -> bool,
        failed: &mut dyn FnMut(String),
    ) -> io::Result<()> {
        let mut done = 0u64;
        let mut one = |path: &Path, source: Source, done: &mut u64| -> bool {
            match read_capped(path) {
                Ok(raw) => {
                    *done += raw.len() as u64;
                    each(Incoming { raw, source }, *done)
                }
                Err(e) => {
                    failed(format!("{}: {e}", path.display()));
                    true
                }
            }
        };
        match self {
            Input::Stdin => {
                let mut raw = Vec::new();
                io::stdin()
                    .lock()
                    .take(MAX_MESSAGE_BYTES as u64 + 1)
                    .read_to_end(&mut raw)?;
                let n = raw.len() as u64;
                each(
                    Incoming {
                        raw,
                        source: Source::Stdin,
                    },
                    n,
                );
            }
            Input::Eml(p) => {
                one(p, Source::File { path: display(p) }, &mut done);
            }
            Input::EmlDir(dir) => {
                for f in eml_files(dir) {
                    if !one(&f, Source::File { path: display(&f) }, &mut done) {
                        break;
                    }
                }
            }
            Input::Maildir(dir) => {
                let d = display(dir);
                for (sub, file) in maildir_names(dir) {
                    let source = Source::Maildir {
                        dir: d.clone(),
                        name: unique_name(&file).to_string(),
                    };
                    if !one(&dir.join(sub).join(&*file), source, &mut done) {
                        break;
                    }
                }
            }
            Input::Mbox(p) => {
                let path = display(p);
                let mut index = 0u64;
                let mut mbox = Mbox::new(BufReader::with_capacity(1 << 16, File::open(p)?));
                while let Some(raw) = mbox.next_message()? {
                    let source = Source::Mbox {
                        path: path.clone(),
                        index,
                    };
                    index += 1;
                    if !each(Incoming { raw, source }, mbox.consumed) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Reads a file, keeping at most one byte more than the largest message accepted (so
/// an oversized file is recognised without holding all of it).
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    File::open(path)?
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut raw)?;
    Ok(raw)
}

pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// `.eml` files below `dir`, recursively, in name order.
pub fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A Maildir message's unique name: its file name up to the `:2,` flags, so a message
/// keeps its identity when moved or flagged.
fn unique_name(file: &str) -> &str {
    file.split(':').next().unwrap_or(file)
}

/// The file names of a Maildir's messages (new/ then cur/, each in unique-name order)
/// with the folder each is in: compact, for folders of a million messages.
fn maildir_names(dir: &Path) -> Vec<(&'static str, Box<str>)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut files: Vec<(&'static str, Box<str>)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (!name.starts_with('.')).then(|| (sub, name.into_boxed_str()))
            })
            .collect();
        files.sort_by(|a, b| unique_name(&a.1).cmp(unique_name(&b.1)));
        out.extend(files);
    }
    out
}

/// The messages of a Maildir (new/ then cur/), each with its unique name: the file
/// name up to the `:2,` flags, so a message keeps its identity when moved or flagged.
pub fn maildir_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut files: Vec<(PathBuf, String)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    return None;
                }
                let unique = name.split(':').next().unwrap_or(&name).to_string();
                Some((e.path(), unique))
            })
            .collect();
        files.sort_by(|a, b| a.1.cmp(&b.1));
        out.extend(files);
    }
    out
}

/// An mbox reader: messages start at a `From ` envelope line at the start of the file
/// or after an empty line; `>From ` lines are unquoted (mboxrd). A message larger than the limit
/// is cut at the limit (and then quarantined as too large) so memory stays bounded.
pub struct Mbox<R> {
    reader: R,
    line: Vec<u8>,
    /// The `From ` line of the next message has been read already.
    pending_start: bool,
    pub consumed: u64,
}

impl<R: BufRead> Mbox<R> {
    pub fn new(reader: R) -> Mbox<R> {
        Mbox {
            reader,
            line: Vec::new(),
            pending_start: false,
            consumed: 0,
        }
    }

    pub fn next_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut msg: Vec<u8> = Vec::new();
        let mut started = self.pending_start;
        let mut prev_blank = true;
        loop {
            let n = self.read_line()?;
            if n == 0 {
                self.pending_start = false;
                return Ok(started.then_some(msg));
            }
            self.consumed += n as u64;
            let is_from = prev_blank && is_envelope(&self.line);
            if is_from {
                if started {
                    // The empty line before `From ` separates; it is not the message's.
                    trim_one_newline(&mut msg);
                    self.pending_start = true;
                    return Ok(Some(msg));
                }
                started = true;
                prev_blank = false;
                continue;
            }
            prev_blank = self.line == b"\n" || self.line == b"\r\n";
            if !started {
                continue;
            }
            if msg.len() <= MAX_MESSAGE_BYTES {
                let line: &[u8] = if is_quoted_from(&self.line) {
                    &self.line[1..]
                } else {
                    &self.line
                };
                msg.extend_from_slice(line);
            }
        }
    }
}

impl<R: BufRead> Mbox<R> {
    /// Reads one line into `self.line`, keeping at most one byte more than the largest
    /// message (a file with no line break in it must not fill memory); returns the
    /// bytes consumed, all of the line.
    fn read_line(&mut self) -> io::Result<usize> {
        self.line.clear();
        let mut consumed = 0;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(consumed);
            }
            let (take, end) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let room = (MAX_MESSAGE_BYTES + 1).saturating_sub(self.line.len());
            self.line.extend_from_slice(&buf[..take.min(room)]);
            self.reader.consume(take);
            consumed += take;
            if end {
                return Ok(consumed);
            }
        }
    }
}

/// `From sender Mon Jan  1 00:00:00 2024`: an mbox envelope line (a body line that
/// merely starts with `From ` has no time of day in it).
fn is_envelope(line: &[u8]) -> bool {
    line.starts_with(b"From ") && line.contains(&b':') && line.iter().any(u8::is_ascii_digit)
}

fn is_quoted_from(line: &[u8]) -> bool {
    let stripped = line.iter().position(|&c| c != b'>').unwrap_or(line.len());
    stripped > 0 && line[stripped..].starts_with(b"From ")
}

fn trim_one_newline(msg: &mut Vec<u8>) {
    if msg.ends_with(b"\r\n") {
        msg.truncate(msg.len() - 2);
    } else if msg.ends_with(b"\n") {
        msg.truncate(msg.len() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_an_mbox_line_without_end_is_held_only_up_to_the_cap() {
        let head = &b"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\n"[..];
        let endless = io::repeat(b'x').take(MAX_MESSAGE_BYTES as u64 + (8 << 20));
        let mut m = Mbox::new(BufReader::new(head.chain(endless)));
        let msg = m.next_message().unwrap().unwrap();
        assert!(msg.len() <= MAX_MESSAGE_BYTES + 1 + 16, "{}", msg.len());
        assert!(m.line.capacity() <= 2 * (MAX_MESSAGE_BYTES + 1));
        assert_eq!(
            m.consumed,
            head.len() as u64 + MAX_MESSAGE_BYTES as u64 + (8 << 20)
        );
        assert!(m.next_message().unwrap().is_none());
    }

    #[test]
    fn mbox_split_and_unquote() {
        let data = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n>From here\n\nFrom c@d Mon Jan  1 00:00:01 2024\nSubject: two\n\nFrom the start\n";
        let mut m = Mbox::new(&data[..]);
        let one = m.next_message().unwrap().unwrap();
        assert_eq!(one, b"Subject: one\n\nbody\nFrom here\n");
        let two = m.next_message().unwrap().unwrap();
        assert_eq!(two, b"Subject: two\n\nFrom the start\n");
        assert!(m.next_message().unwrap().is_none());
        assert_eq!(m.consumed, data.len() as u64);
    }
}
