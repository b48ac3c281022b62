//! Event chunks for the replay hot path: a scanner that hands out the raw payload of each
//! event chunk (so that chunks can be decoded on several threads), and the hand-written
//! MessagePack decoder of one chunk that produces compact [`Ev`]s without an allocation
//! per event.
//!
//! This is the format's only chunk decoder: [`TraceReader`] decodes its events with it
//! too, and both read their blocks through the one block framing (`block.rs`).
//! Every check of the format applies (event kinds and field counts, port offsets, drive
//! units, label lengths, medium sizes, time overflow, the chunk's base time, the end
//! block's count, trailing data).
//!
//! [`TraceReader`]: crate::TraceReader

use crate::block::{unknown_tag, Block, Blocks};
use crate::error::{TraceError, TraceErrorKind};
use crate::format::{
    check_drive, check_label, check_medium_size, check_port_offset, Event, MediaChange,
    TraceHeader, K_EJECT, K_INSERT, K_READ, K_STAGE, K_WRITE, MAX_CHUNK_EVENTS, MAX_PORT_OFFSET,
    TAG_END, TAG_EVENTS, TAG_HEADER, TAG_IMAGE,
};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A compact event (24 bytes) for the replay hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev {
    /// Time in ns since the first event.
    pub t: u64,
    /// What happened.
    pub kind: EvKind,
}

/// What a compact event does ([`Event`] without the strings: stage labels are indices
/// into a label table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvKind {
    /// A port read of base + `offset` that gave `value`.
    Read {
        /// Port offset, 0..=7.
        offset: u8,
        /// The value read.
        value: u8,
    },
    /// A port write of `value` to base + `offset`.
    Write {
        /// Port offset, 0..=7.
        offset: u8,
        /// The value written.
        value: u8,
    },
    /// A stage marker (index into the chunk's labels).
    Stage(u32),
    /// The medium of a drive was ejected.
    Eject(u8),
    /// A medium was inserted.
    Insert {
        /// The drive.
        drive: u8,
        /// Write-protected.
        read_only: bool,
        /// Size in bytes.
        size: u64,
    },
}

impl Ev {
    /// Converts a reader event, interning its label in `labels`.
    pub fn from_event(ev: &Event, labels: &mut Vec<String>) -> Ev {
        Ev {
            t: ev.time_ns(),
            kind: EvKind::of(ev, labels),
        }
    }
}

impl EvKind {
    fn of(ev: &Event, labels: &mut Vec<String>) -> EvKind {
        match ev {
            Event::PortRead { offset, value, .. } => EvKind::Read {
                offset: *offset,
                value: *value,
            },
            Event::PortWrite { offset, value, .. } => EvKind::Write {
                offset: *offset,
                value: *value,
            },
            Event::Stage { label, .. } => EvKind::Stage(intern(labels, label)),
            Event::Media {
                drive,
                change: MediaChange::Eject,
                ..
            } => EvKind::Eject(*drive),
            Event::Media {
                drive,
                change: MediaChange::Insert { size, read_only },
                ..
            } => EvKind::Insert {
                drive: *drive,
                read_only: *read_only,
                size: *size,
            },
        }
    }
}

impl Ev {
    /// The reader event this compact event stands for (`labels` resolves stage indices).
    pub fn to_event(&self, labels: &[String]) -> Event {
        let t_ns = self.t;
        match self.kind {
            EvKind::Read { offset, value } => Event::PortRead {
                t_ns,
                offset,
                value,
            },
            EvKind::Write { offset, value } => Event::PortWrite {
                t_ns,
                offset,
                value,
            },
            EvKind::Stage(l) => Event::Stage {
                t_ns,
                label: labels.get(l as usize).cloned().unwrap_or_default(),
            },
            EvKind::Eject(drive) => Event::Media {
                t_ns,
                drive,
                change: MediaChange::Eject,
            },
            EvKind::Insert {
                drive,
                read_only,
                size,
            } => Event::Media {
                t_ns,
                drive,
                change: MediaChange::Insert { size, read_only },
            },
        }
    }
}

/// The index of `label` in `labels`, appended if new.
fn intern(labels: &mut Vec<String>, label: &str) -> u32 {
    let i = match labels.iter().position(|l| l == label) {
        Some(i) => i,
        None => {
            labels.push(label.to_string());
            labels.len() - 1
        }
    };
    i as u32
}

/// The raw payload of one event chunk, as read from the file.
pub struct RawChunk {
    /// Position of the chunk among the event chunks (0 = first).
    pub index: usize,
    /// Index in the trace of the chunk's first event.
    pub first_event: u64,
    /// Number of events the chunk holds (from its array header).
    pub events: u64,
    /// Byte offset of the block (in the decompressed stream for gzip traces).
    pub offset: u64,
    /// Whether `offset` counts decompressed bytes.
    pub compressed: bool,
    /// The block's payload (checksum verified).
    pub payload: Vec<u8>,
}

/// Walks the event blocks of a trace (after its header and images, see
/// [`crate::TraceReader::into_chunks`]) and yields their raw payloads; checks the end
/// block and that nothing follows it.
pub struct ChunkScanner<R: Read> {
    blocks: Blocks<R>,
    /// The first block after the images, read by the prologue.
    pending: Option<Block>,
    next_index: usize,
    events: u64,
    done: bool,
    /// Where the events of each chunk read are added (for progress displays).
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> ChunkScanner<R> {
    pub(crate) fn new(blocks: Blocks<R>, pending: Option<Block>) -> Self {
        ChunkScanner {
            blocks,
            pending,
            next_index: 0,
            events: 0,
            done: false,
            counter: None,
        }
    }

    /// Adds the event count of every chunk read from now on to `counter` (a progress
    /// display reads it from another thread).
    pub fn count_events(&mut self, counter: Arc<AtomicU64>) {
        self.counter = Some(counter);
    }

    /// Whether the body is gzip-compressed (chunk offsets then count decompressed bytes).
    pub fn is_compressed(&self) -> bool {
        self.blocks.is_compressed()
    }

    /// The next event chunk, `Ok(None)` after a valid end block.
    pub fn next_chunk(&mut self) -> Result<Option<RawChunk>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let r = self.step();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    fn step(&mut self) -> Result<Option<RawChunk>, TraceError> {
        let block = match self.pending.take() {
            Some(b) => b,
            None => match self.blocks.next_block()? {
                Some(b) => b,
                None => {
                    return Err(self.blocks.truncated(format!(
                        "the stream ends after {} events without an end block",
                        self.events
                    )))
                }
            },
        };
        match block.tag {
            TAG_EVENTS => {
                let n = chunk_event_count(&block.payload).map_err(|m| {
                    let kind = TraceErrorKind::Decode {
                        what: "an event chunk".into(),
                        msg: m,
                    };
                    self.blocks.err(kind, block.offset)
                })?;
                let chunk = RawChunk {
                    index: self.next_index,
                    first_event: self.events,
                    events: n,
                    offset: block.offset,
                    compressed: self.blocks.is_compressed(),
                    payload: block.payload,
                };
                self.next_index += 1;
                self.events += n;
                if let Some(c) = &self.counter {
                    c.fetch_add(n, Ordering::Relaxed);
                }
                Ok(Some(chunk))
            }
            TAG_END => {
                self.blocks.finish(&block, self.events)?;
                Ok(None)
            }
            TAG_IMAGE | TAG_HEADER => {
                let what = if block.tag == TAG_IMAGE {
                    "image"
                } else {
                    "header"
                };
                let kind =
                    TraceErrorKind::Corrupt(format!("{what} block after the events started"));
                Err(self.blocks.err(kind, block.offset))
            }
            other => Err(self.blocks.err(unknown_tag(other), block.offset)),
        }
    }
}

impl<R: Read> Iterator for ChunkScanner<R> {
    type Item = Result<RawChunk, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// A cursor over MessagePack bytes: just the encodings the trace format uses (unsigned
/// integers in any width, non-negative signed ones, arrays, strings, booleans).
struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.p).ok_or("unexpected end of data")?;
        self.p += 1;
        Ok(v)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .p
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or("unexpected end of data")?;
        let s = &self.b[self.p..end];
        self.p = end;
        Ok(s)
    }

    #[inline]
    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    #[inline]
    fn uint(&mut self) -> Result<u64, String> {
        let m = self.byte()?;
        match m {
            0x00..=0x7f => Ok(u64::from(m)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            0xd0..=0xd3 => {
                let n = 1usize << (m - 0xd0);
                let v = self.be(n)?;
                let sign = 1u64 << (n * 8 - 1);
                if v & sign != 0 {
                    Err("negative integer where an unsigned one is expected".into())
                } else {
                    Ok(v)
                }
            }
            0xe0..=0xff => Err("negative integer where an unsigned one is expected".into()),
            other => Err(format!("expected an integer, found marker {other:#04x}")),
        }
    }

    #[inline]
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        let v = self.uint()?;
        u8::try_from(v).map_err(|_| format!("{what} {v} does not fit in a byte"))
    }

    #[inline]
    fn array(&mut self) -> Result<u64, String> {
        let m = self.byte()?;
        match m {
            0x90..=0x9f => Ok(u64::from(m & 0x0f)),
            0xdc => self.be(2),
            0xdd => self.be(4),
            other => Err(format!("expected an array, found marker {other:#04x}")),
        }
    }

    fn string(&mut self) -> Result<&'a [u8], String> {
        let m = self.byte()?;
        let n = match m {
            0xa0..=0xbf => u64::from(m & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            0xc4 => self.be(1)?,
            0xc5 => self.be(2)?,
            0xc6 => self.be(4)?,
            other => return Err(format!("expected a string, found marker {other:#04x}")),
        };
        self.take(usize::try_from(n).map_err(|_| "string too long")?)
    }

    fn boolean(&mut self) -> Result<bool, String> {
        match self.byte()? {
            0xc2 => Ok(false),
            0xc3 => Ok(true),
            other => Err(format!("expected a boolean, found marker {other:#04x}")),
        }
    }
}

/// Reads the number of events from a chunk payload without decoding them.
fn chunk_event_count(payload: &[u8]) -> Result<u64, String> {
    let mut r = Reader { b: payload, p: 0 };
    let (_, n) = chunk_head(&mut r)?;
    Ok(n)
}

/// The head of a chunk payload `[base_t, [events...]]`: its base time and event count.
fn chunk_head(r: &mut Reader<'_>) -> Result<(u64, u64), String> {
    if r.array()? != 2 {
        return Err("a chunk must be an array [base_t, events]".into());
    }
    let base = r.uint()?;
    let n = r.array()?;
    if n > MAX_CHUNK_EVENTS as u64 {
        return Err(format!(
            "chunk holds {n} events, the limit is {MAX_CHUNK_EVENTS}"
        ));
    }
    Ok((base, n))
}

/// A decoded chunk.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Absolute time of the previous chunk's last event (0 for the first chunk).
    pub base: u64,
    /// Index in the trace of the chunk's first event.
    pub first_event: u64,
    /// Byte offset of the chunk's block (in the decompressed stream when `compressed`).
    pub offset: u64,
    /// Whether `offset` counts decompressed bytes.
    pub compressed: bool,
    /// The events, with absolute times.
    pub events: Vec<Ev>,
    /// Stage labels, indexed by [`EvKind::Stage`].
    pub labels: Vec<String>,
}

impl Chunk {
    fn err(&self, msg: String) -> TraceError {
        TraceError::at(TraceErrorKind::Corrupt(msg), self.offset, self.compressed)
    }

    /// Checks that the chunk continues a trace whose previous event was at `prev_t`
    /// (every chunk's base time is its predecessor's last event time).
    pub fn check_base(&self, prev_t: u64) -> Result<(), TraceError> {
        if self.base != prev_t {
            return Err(self.err(format!(
                "event {}: the chunk starts from time {} ns but the previous event was at {prev_t} ns",
                self.first_event, self.base
            )));
        }
        Ok(())
    }

    /// Time of the chunk's last event (its base when empty).
    pub fn last_t(&self) -> u64 {
        self.events.last().map_or(self.base, |e| e.t)
    }
}

/// Decodes a chunk payload. Errors name the event (index in the trace) and the block's
/// offset, not the file (callers add it with [`TraceError::with_file`]).
pub fn decode_chunk(raw: &RawChunk) -> Result<Chunk, TraceError> {
    let mut chunk = Chunk {
        events: Vec::with_capacity(raw.events as usize),
        ..Chunk::default()
    };
    decode_into(raw, &mut chunk)?;
    Ok(chunk)
}

/// Decodes `raw` into `chunk` (reusing its buffers).
pub fn decode_into(raw: &RawChunk, chunk: &mut Chunk) -> Result<(), TraceError> {
    chunk.events.clear();
    chunk.labels.clear();
    chunk.first_event = raw.first_event;
    chunk.offset = raw.offset;
    chunk.compressed = raw.compressed;
    let first = raw.first_event;
    let payload = &raw.payload;
    let mut r = Reader { b: payload, p: 0 };
    let (base, n) = chunk_head(&mut r).map_err(|m| {
        chunk.err(format!(
            "cannot decode the event chunk starting at event {first}: {m}"
        ))
    })?;
    chunk.base = base;
    let mut t = base;
    for i in 0..n {
        match decode_event(&mut r, &mut t, &mut chunk.labels) {
            Ok(ev) => chunk.events.push(ev),
            Err(m) => return Err(chunk.err(format!("event {}: {m}", first + i))),
        }
    }
    if r.p != payload.len() {
        return Err(chunk.err(format!(
            "the chunk starting at event {first} has {} bytes after its last event",
            payload.len() - r.p
        )));
    }
    Ok(())
}

/// The common case, a port access `[0|1, dt, offset, value]` with small integers, read
/// straight from the bytes; `None` sends anything else to the general decoder.
#[inline(always)]
fn fast_port_event(r: &mut Reader<'_>, t: &mut u64) -> Option<Ev> {
    let b = r.b;
    let p = r.p;
    let head = b.get(p..p + 2)?;
    if head[0] != 0x94 || head[1] > 1 {
        return None;
    }
    let (dt, q) = match *b.get(p + 2)? {
        x @ 0..=0x7f => (u64::from(x), p + 3),
        0xcc => (u64::from(*b.get(p + 3)?), p + 4),
        0xcd => (
            u64::from(u16::from_be_bytes([*b.get(p + 3)?, *b.get(p + 4)?])),
            p + 5,
        ),
        0xce => {
            let s = b.get(p + 3..p + 7)?;
            (
                u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
                p + 7,
            )
        }
        _ => return None,
    };
    let offset = *b.get(q)?;
    if offset > MAX_PORT_OFFSET {
        return None;
    }
    let (value, end) = match *b.get(q + 1)? {
        x @ 0..=0x7f => (x, q + 2),
        0xcc => (*b.get(q + 2)?, q + 3),
        _ => return None,
    };
    let nt = t.checked_add(dt)?;
    *t = nt;
    r.p = end;
    let kind = if head[1] == 0 {
        EvKind::Read { offset, value }
    } else {
        EvKind::Write { offset, value }
    };
    Some(Ev { t: nt, kind })
}

#[inline]
fn decode_event(r: &mut Reader<'_>, t: &mut u64, labels: &mut Vec<String>) -> Result<Ev, String> {
    if let Some(ev) = fast_port_event(r, t) {
        return Ok(ev);
    }
    let fields = r.array()?;
    let kind = r.u8("event kind")?;
    let dt = r.uint()?;
    *t = t.checked_add(dt).ok_or("time overflows")?;
    let (want, ev) = match kind {
        K_READ | K_WRITE => {
            let offset = r.u8("port offset")?;
            let value = r.u8("value")?;
            check_port_offset(offset).map_err(|e| e.to_string())?;
            let ev = if kind == K_READ {
                EvKind::Read { offset, value }
            } else {
                EvKind::Write { offset, value }
            };
            (4, ev)
        }
        K_STAGE => {
            let s = r.string()?;
            check_label(s.len()).map_err(|e| e.to_string())?;
            let label = std::str::from_utf8(s).map_err(|_| "stage label is not UTF-8")?;
            (3, EvKind::Stage(intern(labels, label)))
        }
        K_EJECT => {
            let drive = r.u8("drive")?;
            check_drive(drive).map_err(|e| e.to_string())?;
            (3, EvKind::Eject(drive))
        }
        K_INSERT => {
            let drive = r.u8("drive")?;
            let size = r.uint()?;
            let read_only = r.boolean()?;
            check_drive(drive).map_err(|e| e.to_string())?;
            check_medium_size(size).map_err(|e| e.to_string())?;
            let ev = EvKind::Insert {
                drive,
                read_only,
                size,
            };
            (5, ev)
        }
        other => return Err(format!("unknown event kind {other}")),
    };
    if fields != want {
        return Err(format!(
            "event of kind {kind} has {fields} fields, expected {want}"
        ));
    }
    Ok(Ev { t: *t, kind: ev })
}

/// Reads a whole trace chunk by chunk, in order, calling `f(chunk)`; checks that each
/// chunk continues the previous one's time. Returns the header (validated, images
/// loaded, by [`crate::TraceReader`]).
pub fn for_each_chunk<E: From<TraceError>>(
    path: &Path,
    f: impl FnMut(&Chunk) -> Result<(), E>,
) -> Result<TraceHeader, E> {
    for_each_chunk_from(crate::TraceReader::open(path)?, path, f)
}

/// Like [`for_each_chunk`], on a trace already opened (no event read yet), whose errors
/// name `path`: the file is read once.
pub fn for_each_chunk_from<R: Read, E: From<TraceError>>(
    reader: crate::TraceReader<R>,
    path: &Path,
    f: impl FnMut(&Chunk) -> Result<(), E>,
) -> Result<TraceHeader, E> {
    let (header, scanner) = reader.into_parts();
    for_each_scanned(scanner, path, f)?;
    Ok(header)
}

/// Like [`for_each_chunk_from`], on the chunks of a trace whose header was taken apart
/// ([`crate::TraceReader::into_parts`]): a caller that needs the header (and its
/// images) only to set up can drop it before reading the events.
pub fn for_each_scanned<R: Read, E: From<TraceError>>(
    mut scanner: ChunkScanner<R>,
    path: &Path,
    mut f: impl FnMut(&Chunk) -> Result<(), E>,
) -> Result<(), E> {
    let mut last_t = 0u64;
    let mut chunk = Chunk::default();
    while let Some(raw) = scanner.next_chunk()? {
        decode_into(&raw, &mut chunk).map_err(|e| e.with_file(Some(path)))?;
        chunk
            .check_base(last_t)
            .map_err(|e| e.with_file(Some(path)))?;
        f(&chunk)?;
        last_t = chunk.last_t();
    }
    Ok(())
}
