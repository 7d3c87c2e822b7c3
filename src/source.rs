//! Where a message was found: the place every channel (`src/channel/`) names when it
//! hands raw bytes to the intake (`ingest::intake`), and the key that recognises the place across runs.

/// The place a message was found. Its [`Source::key`] identifies the place across runs,
/// so reading the same place again is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A single `.eml` file.
    File { path: String },
    /// An entry of a Maildir folder, by its unique name (flags and cur/new stripped).
    Maildir { dir: String, name: String },
    /// The `index`-th message (from 0) of an mbox file.
    Mbox { path: String, index: u64 },
    /// Standard input.
    Stdin,
    /// A message in an IMAP folder.
    Imap {
        account: String,
        folder: String,
        uidvalidity: u32,
        uid: u32,
    },
    /// A message fetched from a registrar API (`[[poll]]` `name`); `id` is the
    /// registrar's id of the message (AutoDNS) or of its events (OpenSRS).
    Poll { name: String, id: String },
    /// A body a registrar pushed to `[[push]]` `name`; `id` is a prefix of its content
    /// hash (a repeated push of the same body is the same place).
    Push { name: String, id: String },
    /// An alert mailroom raised about itself (`id`: the alert's event id).
    Alert { id: String },
}

impl Source {
    pub fn key(&self) -> String {
        match self {
            Source::File { path } => format!("file:{path}"),
            Source::Maildir { dir, name } => format!("maildir:{dir}#{name}"),
            Source::Mbox { path, index } => format!("mbox:{path}#{index}"),
            Source::Stdin => "stdin".into(),
            Source::Imap {
                account,
                folder,
                uidvalidity,
                uid,
            } => format!("imap:{account}/{folder};uidvalidity={uidvalidity};uid={uid}"),
            Source::Poll { name, id } => format!("poll:{name}#{id}"),
            Source::Push { name, id } => format!("push:{name}#{id}"),
            Source::Alert { id } => format!("alert:{id}"),
        }
    }

    /// The file path, for file-based sources.
    pub fn path(&self) -> Option<&str> {
        match self {
            Source::File { path } | Source::Mbox { path, .. } => Some(path),
            Source::Maildir { dir, .. } => Some(dir),
            _ => None,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// One message read from a source.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub raw: Vec<u8>,
    pub source: Source,
}
