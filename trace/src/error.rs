//! Errors of the trace reader and writer.
//!
//! Every error carries, where it is known, the file it concerns and the byte offset at
//! which the problem was found, so that a user holding a damaged trace can tell where it
//! is damaged. Offsets past the 12-byte preamble are offsets in the *uncompressed* block
//! stream when the trace is gzip-compressed (see [`crate::format`]); the message
//! says so. A gzip stream that is cut short, damaged or followed by other bytes is named
//! with the offset in the file itself.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, without the location (see [`TraceError`]).
#[derive(Debug, thiserror::Error)]
pub enum TraceErrorKind {
    /// Reading or writing the underlying file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file has no byte at all.
    #[error("the file is empty (0 bytes), not an fdc-replay trace")]
    Empty,
    /// The file does not start with the trace magic bytes.
    #[error("not an fdc-replay trace (bad magic bytes)")]
    BadMagic,
    /// The file was written by a newer (or unknown) format version than this build reads.
    #[error(
        "trace format version {found} is not supported (this fdc-replay reads version {supported}); \
         a newer fdc-replay is needed to read it"
    )]
    UnsupportedVersion {
        /// The file's version.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The preamble sets flag bits this build does not know.
    #[error("unknown preamble flags {0:#06x} (written by a newer fdc-replay?)")]
    UnknownFlags(u16),
    /// The file ends before the end block.
    #[error("truncated trace: {0}")]
    Truncated(String),
    /// A length field is larger than any valid trace would use; refused instead of
    /// allocating from it.
    #[error("{what} claims {len} bytes, more than the limit of {cap}")]
    TooLarge {
        /// What claims it.
        what: &'static str,
        /// The claimed length.
        len: u64,
        /// The limit.
        cap: u64,
    },
    /// A block's checksum does not match its content.
    #[error("checksum mismatch in {what} (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt")]
    Checksum {
        /// The block.
        what: String,
        /// The CRC stored in the file.
        stored: u32,
        /// The CRC of the payload.
        computed: u32,
    },
    /// The file is structurally broken (unexpected block, bad value, ...).
    #[error("corrupt trace: {0}")]
    Corrupt(String),
    /// MessagePack content could not be decoded.
    #[error("cannot decode {what}: {msg}")]
    Decode {
        /// What was decoded.
        what: String,
        /// The decoder's message.
        msg: String,
    },
    /// The caller handed the writer something the format cannot hold.
    #[error("invalid trace content: {0}")]
    Invalid(String),
}

/// An error of the trace reader or writer, with the file and byte offset where known.
#[derive(Debug)]
pub struct TraceError {
    /// The trace file, when the reader or writer was opened from a path.
    pub file: Option<PathBuf>,
    /// Byte offset of the problem (in the uncompressed stream when `compressed`).
    pub offset: Option<u64>,
    /// Whether `offset` counts bytes of the decompressed stream rather than of the file.
    pub compressed: bool,
    /// What went wrong.
    pub kind: TraceErrorKind,
}

impl TraceError {
    /// An error without a location.
    pub fn new(kind: TraceErrorKind) -> Self {
        TraceError {
            file: None,
            offset: None,
            compressed: false,
            kind,
        }
    }

    /// An error at byte `offset` (of the decompressed stream when `compressed`).
    pub fn at(kind: TraceErrorKind, offset: u64, compressed: bool) -> Self {
        TraceError {
            file: None,
            offset: Some(offset),
            compressed,
            kind,
        }
    }

    /// Names `file` in the error, unless it already names one.
    pub fn with_file(mut self, file: Option<&Path>) -> Self {
        if self.file.is_none() {
            self.file = file.map(Path::to_path_buf);
        }
        self
    }

    /// True when the error says the format version is unknown (so callers can tell
    /// "upgrade the tool" from "the file is damaged").
    pub fn is_unsupported_version(&self) -> bool {
        matches!(self.kind, TraceErrorKind::UnsupportedVersion { .. })
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(off) = self.offset {
            if self.compressed {
                write!(f, "at byte {off} of the decompressed stream: ")?;
            } else {
                write!(f, "at byte {off}: ")?;
            }
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            TraceErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TraceErrorKind> for TraceError {
    fn from(kind: TraceErrorKind) -> Self {
        TraceError::new(kind)
    }
}

impl From<std::io::Error> for TraceError {
    fn from(e: std::io::Error) -> Self {
        TraceError::new(TraceErrorKind::Io(e))
    }
}
