//! Raw messages, compressed and kept out of the hot tables: the new messages of a batch
//! go into one zstd frame (a block, `raw_blocks`), and each message row points at its
//! slice (`raw_block`, `raw_start`, `raw_len`). Messages that look alike (registrar
//! notifications do) compress far better together than one by one. Blocks are built
//! where the batch is read (off the writer), and inserted only when a message of theirs
//! is stored. Files from before schema 8 keep their rows in `raw_messages`.

use std::io::Read;

use super::db::{Sql, args};

use super::Result;

/// zstd level: 3 is zstd's default (level 1 is barely faster here and 50 % larger).
const LEVEL: i32 = 3;

/// The bytes kept of a message: all of it up to `limit`, else its header section.
pub fn kept(raw: &[u8], limit: u64) -> (&[u8], bool) {
    if raw.len() as u64 <= limit {
        (raw, true)
    } else {
        (header_section(raw), false)
    }
}

/// The header section: everything up to the first empty line.
fn header_section(raw: &[u8]) -> &[u8] {
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| memchr::memmem::find(raw, b"\n\n").map(|i| i + 2))
        .unwrap_or(raw.len().min(64 << 10));
    &raw[..end.min(1 << 20)]
}

/// Compresses with this thread's zstd context, made once: a context per block would
/// allocate (and leave to the allocator) several MiB for each.
fn compress(plain: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(LEVEL)?);
        }
        match c.as_mut() {
            Some(z) => z.compress(plain),
            None => Err(std::io::Error::other("no zstd context")),
        }
    })
}

/// Where one message's bytes lie in its block.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub start: u32,
    pub len: u32,
    pub complete: bool,
}

/// A compressed block not yet (or already) written.
#[derive(Debug, Default)]
pub struct Block {
    data: Vec<u8>,
    parts: Vec<Part>,
    row: Option<i64>,
}

impl Block {
    /// Packs the kept bytes of each of `raws` (see [`kept`]) into one block; part `i`
    /// is `raws[i]`. Fails only when zstd cannot get the memory it needs.
    pub fn pack<'a>(raws: impl IntoIterator<Item = &'a [u8]>, limit: u64) -> Result<Block> {
        let mut plain = Vec::new();
        let mut parts = Vec::new();
        for raw in raws {
            let (bytes, complete) = kept(raw, limit);
            parts.push(Part {
                start: plain.len() as u32,
                len: bytes.len() as u32,
                complete,
            });
            plain.extend_from_slice(bytes);
        }
        let data = if plain.is_empty() {
            Vec::new()
        } else {
            compress(&plain).map_err(|e| {
                super::StoreError::File(format!(
                    "cannot compress {} bytes of raw mail: {e}",
                    plain.len()
                ))
            })?
        };
        Ok(Block {
            data,
            parts,
            row: None,
        })
    }

    pub fn part(&self, i: usize) -> Option<Part> {
        self.parts.get(i).copied()
    }

    /// The block's row, inserting it the first time.
    pub fn row(&mut self, tx: &impl Sql) -> Result<i64> {
        if let Some(r) = self.row {
            return Ok(r);
        }
        let r: i64 = tx.one(
            "INSERT INTO raw_blocks (data) VALUES (?1) RETURNING id",
            args![self.data],
        )?;
        self.row = Some(r);
        Ok(r)
    }
}

/// The raw bytes kept for a message, and whether they are the whole message.
pub fn read(conn: &impl Sql, message: i64) -> Result<Option<(Vec<u8>, bool)>> {
    type At = (Option<i64>, Option<i64>, Option<i64>, Option<bool>);
    let at: Option<At> = conn.row(
        "SELECT raw_block, raw_start, raw_len, raw_complete FROM messages WHERE id = ?1",
        args![message],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    if let Some((Some(block), Some(start), Some(len), complete)) = at {
        let data: Vec<u8> = conn.one("SELECT data FROM raw_blocks WHERE id = ?1", args![block])?;
        let raw = slice(&data, start as u64, len as u64).map_err(|e| {
            super::StoreError::File(format!(
                "the stored copy of message {message} cannot be read (block {block}): {e}"
            ))
        })?;
        return Ok(Some((raw, complete.unwrap_or(true))));
    }
    // Stored before raw blocks (schema 8).
    conn.row(
        "SELECT raw, complete FROM raw_messages WHERE message = ?1",
        args![message],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Bytes `start..start + len` of the block's content, decompressing no further.
fn slice(data: &[u8], start: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut d = zstd::stream::read::Decoder::new(data)?;
    std::io::copy(&mut (&mut d).take(start), &mut std::io::sink())?;
    let mut out = Vec::with_capacity(len as usize);
    d.take(len).read_to_end(&mut out)?;
    if out.len() as u64 != len {
        return Err(std::io::Error::other("the block ends early"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_whole_or_as_headers() {
        let a = b"Subject: a\r\n\r\nbody a".as_slice();
        let b = b"Subject: b\n\nbody b that is long".as_slice();
        let c = b"".as_slice();
        let block = Block::pack([a, b, c], 20).unwrap();
        let p = block.part(0).unwrap();
        assert!(p.complete);
        assert_eq!(slice(&block.data, p.start as u64, p.len as u64).unwrap(), a);
        let p = block.part(1).unwrap();
        assert!(!p.complete, "over the limit: headers only");
        assert_eq!(
            slice(&block.data, p.start as u64, p.len as u64).unwrap(),
            b"Subject: b\n\n"
        );
        let p = block.part(2).unwrap();
        assert_eq!(
            slice(&block.data, p.start as u64, p.len as u64).unwrap(),
            b""
        );
        assert!(
            slice(&block.data, 0, 10_000).is_err(),
            "past the end is an error"
        );
    }
}
