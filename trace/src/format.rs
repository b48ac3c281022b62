//! The trace format: what a recorded (or scripted) guest did to the floppy controller.
//!
//! # On-disk layout (format version 1)
//!
//! ```text
//! offset 0   magic       8 bytes   b"FDCTRACE"
//! offset 8   version     u16 LE    FORMAT_VERSION (2); readers accept 1..=2 and refuse others
//! offset 10  flags       u16 LE    bit 0: the body is one gzip member; other bits must be 0
//! offset 12  body        the rest of the file (plain, or gzip-compressed when flag bit 0)
//!
//! body  := 'H' block, 'D' block*, 'E' block*, 'Z' block      (then end of stream)
//! block := tag u8 | len u32 LE | crc32 u32 LE (of payload) | payload (len bytes)
//! ```
//!
//! * `'H'` header: a MessagePack map ([`TraceHeader`] with named fields, so later
//!   versions can add fields that older readers of the *same* version skip). Version 2
//!   added `migrations` (the real QEMU migrations taken while the guest was recorded,
//!   [`RecordedMigration`]); a version 1 file has none, and reads as a header without them.
//! * `'D'` drive image: `unit u8` then the gzip-compressed initial image of that drive's
//!   medium, one block per medium whose [`Medium::embedded`] is set. Kept out of the
//!   header so that the header stays small and the image is stored as raw bytes rather
//!   than a MessagePack array of integers.
//! * `'E'` event chunk: a MessagePack array `[base_t, [event, ...]]` of at most
//!   [`MAX_CHUNK_EVENTS`] events. Times are stored as deltas: the first event's delta is
//!   relative to `base_t` (the absolute time of the previous chunk's last event, 0 for the
//!   first chunk), each following one relative to its predecessor. Events are arrays:
//!   `[0, dt, offset, value]` port read, `[1, dt, offset, value]` port write,
//!   `[2, dt, label]` stage marker, `[3, dt, drive]` eject,
//!   `[4, dt, drive, size, read_only]` insert.
//! * `'Z'` end: MessagePack `u64`, the total number of events. It lets a reader tell a
//!   complete file from one cut off at a chunk boundary.
//!
//! Why this shape: a reader needs only the current chunk in memory (bounded by
//! [`MAX_CHUNK_BYTES`]), every length read from the file is checked against a cap before
//! anything is allocated from it, and the CRC of each block turns silent corruption of an
//! uncompressed file into an error with a byte offset.

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// The first eight bytes of every trace file.
pub const MAGIC: &[u8; 8] = b"FDCTRACE";
/// The format version this build writes.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this build reads (version 1 has no `migrations`).
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Preamble flag: the body is gzip-compressed.
pub const FLAG_GZIP: u16 = 1;
/// Size of magic + version + flags.
pub const PREAMBLE_LEN: usize = 12;
/// Size of a block's tag + length + CRC.
pub const BLOCK_HEADER_LEN: usize = 9;

/// Block tag of the header.
pub const TAG_HEADER: u8 = b'H';
/// Block tag of a drive image.
pub const TAG_IMAGE: u8 = b'D';
/// Block tag of an event chunk.
pub const TAG_EVENTS: u8 = b'E';
/// Block tag of the end block.
pub const TAG_END: u8 = b'Z';

/// Largest header block accepted (the header holds no image data).
pub const MAX_HEADER_BYTES: u32 = 1 << 20;
/// Largest compressed image block accepted.
pub const MAX_IMAGE_BLOCK_BYTES: u32 = 64 << 20;
/// Largest medium (and so decompressed image) accepted: far above any floppy format,
/// low enough that a hostile header cannot make the reader allocate gigabytes.
pub const MAX_MEDIUM_BYTES: u64 = 64 << 20;
/// Largest event chunk accepted. The writer closes a chunk well before this.
pub const MAX_CHUNK_BYTES: u32 = 16 << 20;
/// Most events in one chunk.
pub const MAX_CHUNK_EVENTS: usize = 65536;
/// Longest stage label, in bytes.
pub const MAX_LABEL_BYTES: usize = 4096;
/// Largest end block accepted.
pub const MAX_END_BYTES: u32 = 64;
/// Highest drive unit number (QEMU's isa-fdc has two drives; the controller addresses four).
pub const MAX_DRIVE_UNIT: u8 = 3;
/// Highest port offset: the controller decodes eight I/O ports (base + 0..7).
pub const MAX_PORT_OFFSET: u8 = 7;

/// One thing the guest (or the host) did, at a time in nanoseconds relative to the
/// first event of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// The guest read `value` from I/O port base + `offset`.
    PortRead {
        /// Time in ns.
        t_ns: u64,
        /// Port offset, 0..=7.
        offset: u8,
        /// The value read.
        value: u8,
    },
    /// The guest wrote `value` to I/O port base + `offset`.
    PortWrite {
        /// Time in ns.
        t_ns: u64,
        /// Port offset, 0..=7.
        offset: u8,
        /// The value written.
        value: u8,
    },
    /// A workload stage begins (from a sidecar file or a `MARK` line on the serial port).
    Stage {
        /// Time in ns.
        t_ns: u64,
        /// The stage's name.
        label: String,
    },
    /// A medium was ejected from or inserted into `drive`.
    Media {
        /// Time in ns.
        t_ns: u64,
        /// The drive unit.
        drive: u8,
        /// What happened.
        change: MediaChange,
    },
}

impl Event {
    /// Time of the event in nanoseconds since the first event.
    pub fn time_ns(&self) -> u64 {
        match self {
            Event::PortRead { t_ns, .. }
            | Event::PortWrite { t_ns, .. }
            | Event::Stage { t_ns, .. }
            | Event::Media { t_ns, .. } => *t_ns,
        }
    }

    /// The same event at another time (the importer rebases host times with it).
    pub fn with_time(mut self, t: u64) -> Event {
        match &mut self {
            Event::PortRead { t_ns, .. }
            | Event::PortWrite { t_ns, .. }
            | Event::Stage { t_ns, .. }
            | Event::Media { t_ns, .. } => *t_ns = t,
        }
        self
    }

    /// Checks the limits the format imposes (port offset, drive unit, label length,
    /// medium size), so a writer refuses what a reader would refuse.
    pub fn validate(&self) -> Result<(), LimitError> {
        match self {
            Event::PortRead { offset, .. } | Event::PortWrite { offset, .. } => {
                check_port_offset(*offset)
            }
            Event::Stage { label, .. } => check_label(label.len()),
            Event::Media { drive, change, .. } => {
                check_drive(*drive)?;
                match change {
                    MediaChange::Insert { size, .. } => check_medium_size(*size),
                    MediaChange::Eject => Ok(()),
                }
            }
        }
    }
}

/// A value beyond one of the format's limits (the reader, the compact decoder and the
/// writer all check the same ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A port offset above [`MAX_PORT_OFFSET`].
    #[error("port offset {0} is out of range 0..={MAX_PORT_OFFSET}")]
    PortOffset(u8),
    /// A drive unit above [`MAX_DRIVE_UNIT`].
    #[error("drive {0} is out of range 0..={MAX_DRIVE_UNIT}")]
    Drive(u8),
    /// A stage label longer than [`MAX_LABEL_BYTES`] (its length in bytes).
    #[error("stage label is {0} bytes long, the limit is {MAX_LABEL_BYTES}")]
    Label(usize),
    /// An inserted medium larger than [`MAX_MEDIUM_BYTES`] (its size in bytes).
    #[error("inserted medium of {0} bytes exceeds {MAX_MEDIUM_BYTES}")]
    MediumSize(u64),
}

/// Checks a port offset against [`MAX_PORT_OFFSET`].
pub fn check_port_offset(offset: u8) -> Result<(), LimitError> {
    if offset > MAX_PORT_OFFSET {
        return Err(LimitError::PortOffset(offset));
    }
    Ok(())
}

/// Checks a drive unit against [`MAX_DRIVE_UNIT`].
pub fn check_drive(drive: u8) -> Result<(), LimitError> {
    if drive > MAX_DRIVE_UNIT {
        return Err(LimitError::Drive(drive));
    }
    Ok(())
}

/// Checks a stage label's length (bytes) against [`MAX_LABEL_BYTES`].
pub fn check_label(len: usize) -> Result<(), LimitError> {
    if len > MAX_LABEL_BYTES {
        return Err(LimitError::Label(len));
    }
    Ok(())
}

/// Checks an inserted medium's size against [`MAX_MEDIUM_BYTES`].
pub fn check_medium_size(size: u64) -> Result<(), LimitError> {
    if size > MAX_MEDIUM_BYTES {
        return Err(LimitError::MediumSize(size));
    }
    Ok(())
}

/// What happened to a drive's medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaChange {
    /// The medium was removed; the drive is empty afterwards.
    Eject,
    /// A medium of `size` bytes was inserted.
    Insert {
        /// Size in bytes.
        size: u64,
        /// Write-protected.
        read_only: bool,
    },
}

/// Where the events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProvenanceKind {
    /// Recorded from a real guest running in QEMU.
    #[default]
    Recorded,
    /// Produced by a scripted guest (a driver model), not a real operating system.
    DriverModel,
}

/// A package and its version, as the recorder saw it (e.g. `qemu-system-x86`, `7.2+dfsg-7`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageVersion {
    /// The package.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// How the trace was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Provenance {
    /// Recorded from a guest, or produced by a driver model.
    pub kind: ProvenanceKind,
    /// Free text: the command line or tool that recorded (or imported) the trace.
    #[serde(default)]
    pub recorder: Option<String>,
    /// Versions of the packages involved in recording.
    #[serde(default)]
    pub packages: Vec<PackageVersion>,
}

/// What the event times mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// Host wall-clock times; t = 0 was `origin_unix_ns` nanoseconds after the Unix epoch.
    Host {
        /// t = 0 in ns since the Unix epoch.
        origin_unix_ns: u64,
    },
    /// The source had no times: events are `step_ns` apart, which says nothing about
    /// how long the guest really took.
    Synthetic {
        /// The spacing of events in ns.
        step_ns: u64,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::Synthetic { step_ns: 1000 }
    }
}

/// Type of a floppy drive, as QEMU's `fdtypeA`/`fdtypeB` property names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DriveType {
    /// QEMU picks the type from the medium (the default).
    #[default]
    Auto,
    /// 3.5" 1.44 MB drive.
    Fd144,
    /// 3.5" 2.88 MB drive.
    Fd288,
    /// 5.25" 1.2 MB drive.
    Fd120,
}

/// Identifies an image's content without storing it. FNV-1a is not a security check:
/// it tells whether a replay uses the same image the recording did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageDigest {
    /// 64-bit FNV-1a over the whole image.
    Fnv1a64(u64),
}

impl ImageDigest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> ImageDigest {
        ImageDigest::Fnv1a64(fnv1a64(data))
    }
}

impl fmt::Display for ImageDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageDigest::Fnv1a64(v) => write!(f, "fnv1a64:{v:016x}"),
        }
    }
}

/// 64-bit FNV-1a: simple, dependency-free, good enough to tell images apart.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A medium in a drive at the start of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Medium {
    /// Format name from the geometry table (e.g. `1.44M`) when known.
    #[serde(default)]
    pub format: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Write-protected.
    #[serde(default)]
    pub read_only: bool,
    /// Digest of the initial image, when known.
    #[serde(default)]
    pub digest: Option<ImageDigest>,
    /// Whether the image content follows the header in a `'D'` block. Set by the writer
    /// from `image`; a reader fills `image` back in.
    #[serde(default)]
    pub embedded: bool,
    /// The initial image content (not part of the header block itself; see `embedded`).
    #[serde(skip)]
    pub image: Option<Vec<u8>>,
}

/// A drive present on the controller. Absent drives are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drive {
    /// Unit number, 0..=3.
    pub unit: u8,
    /// The drive type QEMU was given (`fdtypeA`/`fdtypeB`).
    #[serde(default)]
    pub drive_type: DriveType,
    /// The medium inserted at the start, `None` for an empty drive.
    #[serde(default)]
    pub medium: Option<Medium>,
}

/// Everything about a trace except its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TraceHeader {
    /// Guest operating system (e.g. `FreeDOS`).
    #[serde(default)]
    pub guest: Option<String>,
    /// Its version.
    #[serde(default)]
    pub guest_version: Option<String>,
    /// What the guest was doing (e.g. `format a: then copy`).
    #[serde(default)]
    pub workload: Option<String>,
    /// How the trace was made.
    #[serde(default)]
    pub provenance: Provenance,
    /// The QEMU version of the recording.
    #[serde(default)]
    pub qemu_version: Option<String>,
    /// Drives present, by unit number.
    #[serde(default)]
    pub drives: Vec<Drive>,
    /// What event times mean.
    #[serde(default)]
    pub clock: Clock,
    /// Where the events came from (e.g. the imported log's file name).
    #[serde(default)]
    pub source: Option<String>,
    /// Free-form remarks (e.g. what the importer skipped).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The migrations real QEMU made while the trace was recorded, in time order
    /// (format version 2; empty in version 1 files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<RecordedMigration>,
}

/// One migration real QEMU made while the guest was recorded: where it sits in the
/// trace and the `fdc` section QEMU sent (read from QEMU's own stream by the recorder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedMigration {
    /// Events of the trace before the migration: the VM was stopped between event
    /// `index - 1` and event `index`, so the state QEMU sent is the state after the first
    /// `index` events (migration point `index`).
    pub index: u64,
    /// Trace time at which the VM stopped. Trace times are the guest's virtual clock:
    /// the pauses of the migrations are taken out of the host times of the log.
    pub t_ns: u64,
    /// How long the VM stood stopped (QMP `STOP` to `RESUME` event, host ns).
    pub pause_ns: u64,
    /// How much earlier than `t_ns` the virtual clock may have stopped: QEMU stops it
    /// when it handles the QMP `stop` (`do_vm_stop`: `cpu_disable_ticks`, then it waits
    /// for the vCPUs and only then sends `STOP`), so the stop lies between the request and
    /// the `STOP` event, this long apart (host ns). The pause may be this much longer
    /// than `pause_ns`, and the times after it this much earlier.
    #[serde(default)]
    pub stop_latency_ns: u64,
    /// Why the recorder migrated (`random`, `hold:<label>`, ...).
    #[serde(default)]
    pub reason: String,
    /// The fdc subsections QEMU sent, distinct names in stream order.
    pub sent: Vec<String>,
    /// The `fdc` section QEMU sent, decoded (subsection fields `None` when not sent).
    pub state: fdc::FdcState,
}

/// A header beyond the format's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A drive unit above [`MAX_DRIVE_UNIT`].
    #[error("drive unit {0} is out of range 0..={MAX_DRIVE_UNIT}")]
    Unit(u8),
    /// A drive unit listed twice.
    #[error("drive unit {0} is listed twice")]
    DuplicateUnit(u8),
    /// A medium larger than [`MAX_MEDIUM_BYTES`].
    #[error("drive {unit}: medium of {size} bytes exceeds the limit of {MAX_MEDIUM_BYTES}")]
    MediumSize {
        /// The drive unit.
        unit: u8,
        /// The medium's size.
        size: u64,
    },
    /// Migrations out of order (by event index or time).
    #[error("migration {0} comes before its predecessor (index or time)")]
    MigrationOrder(usize),
    /// An image whose length is not the medium's size.
    #[error("drive {unit}: image is {image} bytes but the medium size is {size}")]
    ImageSize {
        /// The drive unit.
        unit: u8,
        /// The image's length.
        image: u64,
        /// The medium's size.
        size: u64,
    },
}

impl TraceHeader {
    /// Forgets the embedded images' content (`image`), keeping every other field
    /// (`embedded` included): for a caller that has handed the images to a model.
    pub fn drop_images(&mut self) {
        for m in self.drives.iter_mut().filter_map(|d| d.medium.as_mut()) {
            m.image = None;
        }
    }

    /// Checks the header against the format's limits (drive units unique and in range,
    /// medium sizes capped, images matching their declared size).
    pub fn validate(&self) -> Result<(), HeaderError> {
        let mut seen = [false; (MAX_DRIVE_UNIT as usize) + 1];
        for d in &self.drives {
            let Some(slot) = seen.get_mut(usize::from(d.unit)) else {
                return Err(HeaderError::Unit(d.unit));
            };
            if *slot {
                return Err(HeaderError::DuplicateUnit(d.unit));
            }
            *slot = true;
            if let Some(m) = &d.medium {
                if m.size > MAX_MEDIUM_BYTES {
                    return Err(HeaderError::MediumSize {
                        unit: d.unit,
                        size: m.size,
                    });
                }
                if let Some(img) = &m.image {
                    if img.len() as u64 != m.size {
                        return Err(HeaderError::ImageSize {
                            unit: d.unit,
                            image: img.len() as u64,
                            size: m.size,
                        });
                    }
                }
            }
        }
        for (i, w) in self.migrations.windows(2).enumerate() {
            if w[1].index < w[0].index || w[1].t_ns < w[0].t_ns {
                return Err(HeaderError::MigrationOrder(i + 1));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Wire encoding of events (private): compact arrays with delta times. The reading side is
// the compact decoder ([`crate::compact`]).

pub(crate) const K_READ: u8 = 0;
pub(crate) const K_WRITE: u8 = 1;
pub(crate) const K_STAGE: u8 = 2;
pub(crate) const K_EJECT: u8 = 3;
pub(crate) const K_INSERT: u8 = 4;

/// An event and its time delta, serialized as the compact array form.
pub(crate) struct WireOut<'a> {
    pub dt: u64,
    pub ev: &'a Event,
}

impl Serialize for WireOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.ev {
            Event::PortRead { offset, value, .. } | Event::PortWrite { offset, value, .. } => {
                let k = if matches!(self.ev, Event::PortRead { .. }) {
                    K_READ
                } else {
                    K_WRITE
                };
                let mut seq = s.serialize_seq(Some(4))?;
                seq.serialize_element(&k)?;
                seq.serialize_element(&self.dt)?;
                seq.serialize_element(offset)?;
                seq.serialize_element(value)?;
                seq.end()
            }
            Event::Stage { label, .. } => {
                let mut seq = s.serialize_seq(Some(3))?;
                seq.serialize_element(&K_STAGE)?;
                seq.serialize_element(&self.dt)?;
                seq.serialize_element(label)?;
                seq.end()
            }
            Event::Media {
                drive,
                change: MediaChange::Eject,
                ..
            } => {
                let mut seq = s.serialize_seq(Some(3))?;
                seq.serialize_element(&K_EJECT)?;
                seq.serialize_element(&self.dt)?;
                seq.serialize_element(drive)?;
                seq.end()
            }
            Event::Media {
                drive,
                change: MediaChange::Insert { size, read_only },
                ..
            } => {
                let mut seq = s.serialize_seq(Some(5))?;
                seq.serialize_element(&K_INSERT)?;
                seq.serialize_element(&self.dt)?;
                seq.serialize_element(drive)?;
                seq.serialize_element(size)?;
                seq.serialize_element(read_only)?;
                seq.end()
            }
        }
    }
}

/// A chunk as written: `[base_t, [events...]]`.
pub(crate) struct ChunkOut<'a> {
    pub base: u64,
    pub events: &'a [Event],
}

struct EventsOut<'a> {
    base: u64,
    events: &'a [Event],
}

impl Serialize for EventsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.events.len()))?;
        let mut prev = self.base;
        for ev in self.events {
            let t = ev.time_ns();
            // The writer guarantees non-decreasing times; saturate rather than panic.
            let dt = t.saturating_sub(prev);
            prev = t;
            seq.serialize_element(&WireOut { dt, ev })?;
        }
        seq.end()
    }
}

impl Serialize for ChunkOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.base)?;
        seq.serialize_element(&EventsOut {
            base: self.base,
            events: self.events,
        })?;
        seq.end()
    }
}
