//! What can go wrong importing a log.

use crate::error::TraceError;
use crate::lines::FileLineError;
use std::path::PathBuf;

/// Why an import failed. Messages name the file (and line) concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file cannot be opened, read, created or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line of the log is malformed, or its events cannot be placed.
    #[error("{at}: {msg}")]
    Line {
        /// `FILE:LINE`.
        at: String,
        /// What is wrong.
        msg: String,
    },
    /// The sidecar or the migrations file cannot be read.
    #[error(transparent)]
    Input(#[from] FileLineError),
    /// A drive argument cannot be used.
    #[error("--drive {arg:?}: {msg}")]
    Drive {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Writing the trace failed.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The outputs asked for cannot be written (e.g. two logs to one file).
    #[error("{0}")]
    Output(String),
    /// The log holds no fdc event (empty, not a QEMU log, or recorded without the trace
    /// events).
    #[error(
        "{}: no fdc_ioport_read/fdc_ioport_write line{}: was it recorded with `-trace 'fdc_*'` (and `-D FILE`)?",
        log.display(),
        if *suspicious > 0 { format!(" ({suspicious} lines mention fdc_ioport_ but do not parse)") } else { String::new() }
    )]
    NoEvents {
        /// The log.
        log: PathBuf,
        /// Lines that mention `fdc_ioport_` without parsing.
        suspicious: u64,
    },
}
