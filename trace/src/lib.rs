//! Recorded floppy-controller traces: the on-disk format ([`mod@format`]), a streaming
//! [`TraceWriter`] and [`TraceReader`], and the importer of QEMU `-trace fdc_*` logs
//! ([`import`], the `fdc-replay import qemu-log` subcommand).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod block;
pub mod compact;
pub mod error;
pub mod format;
pub mod geometry;
pub mod import;
pub mod lines;
pub mod migrations;
pub mod model;
pub mod qemu_log;
pub mod reader;
pub mod serial;
pub mod sidecar;
pub mod writer;

pub use error::{TraceError, TraceErrorKind};
pub use format::{
    Clock, Drive, DriveType, Event, ImageDigest, MediaChange, Medium, PackageVersion, Provenance,
    ProvenanceKind, RecordedMigration, TraceHeader, FORMAT_VERSION, MIN_FORMAT_VERSION,
};
pub use reader::{read_all, read_all_from, TraceReader};
pub use writer::{TraceWriter, WriteOptions};
