//! The analysis' own fast path through a trace file: a block scanner that hands out the
//! raw payload of each event chunk (so that chunks can be decoded on several threads),
//! and a hand-written MessagePack decoder for one chunk that produces compact [`Ev`]s
//! without an allocation per event.
//!
//! The header and drive images are read with the ordinary [`TraceReader`], which does
//! every check on them; this scanner then walks the same file again, skipping those
//! blocks. The chunk decoder applies the same checks as [`TraceReader`] (event kinds and
//! field counts, port offsets, drive units, label lengths, medium sizes, time overflow,
//! the chunk's base time, the end block's count, trailing data): the tests compare both
//! on every recorded trace and on generated ones.
//!
//! [`TraceReader`]: crate::TraceReader

use crate::format::{Event, MediaChange};
use crate::format::{
    BLOCK_HEADER_LEN, FLAG_GZIP, FORMAT_VERSION, MAGIC, MAX_CHUNK_BYTES, MAX_CHUNK_EVENTS,
    MAX_DRIVE_UNIT, MAX_END_BYTES, MAX_HEADER_BYTES, MAX_IMAGE_BLOCK_BYTES, MAX_LABEL_BYTES,
    MAX_MEDIUM_BYTES, MAX_PORT_OFFSET, PREAMBLE_LEN, TAG_END, TAG_EVENTS, TAG_HEADER, TAG_IMAGE,
};
use crate::reader::read_full;
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// A compact event (24 bytes) for the replay hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev {
    pub t: u64,
    pub op: Op,
}

/// What an event does; stage labels are indices into a label table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read {
        offset: u8,
        value: u8,
    },
    Write {
        offset: u8,
        value: u8,
    },
    Stage(u32),
    Eject(u8),
    Insert {
        drive: u8,
        read_only: bool,
        size: u64,
    },
}

/// Converts a reader event, interning its label in `labels`.
pub fn op_from_event(ev: &Event, labels: &mut Vec<String>) -> Ev {
    let op = match ev {
        Event::PortRead { offset, value, .. } => Op::Read {
            offset: *offset,
            value: *value,
        },
        Event::PortWrite { offset, value, .. } => Op::Write {
            offset: *offset,
            value: *value,
        },
        Event::Stage { label, .. } => {
            let idx = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    labels.push(label.clone());
                    labels.len() - 1
                }
            };
            Op::Stage(idx as u32)
        }
        Event::Media {
            drive,
            change: MediaChange::Eject,
            ..
        } => Op::Eject(*drive),
        Event::Media {
            drive,
            change: MediaChange::Insert { size, read_only },
            ..
        } => Op::Insert {
            drive: *drive,
            read_only: *read_only,
            size: *size,
        },
    };
    Ev {
        t: ev.time_ns(),
        op,
    }
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
    pub payload: Vec<u8>,
}

/// Walks the blocks of a trace file and yields its event chunks; checks the end block.
pub struct ChunkScanner {
    body: Box<dyn Read + Send>,
    pos: u64,
    file: PathBuf,
    compressed: bool,
    next_index: usize,
    events: u64,
    done: bool,
}

impl ChunkScanner {
    /// Opens `path` and skips the preamble, header and image blocks.
    pub fn open(path: &Path) -> Result<ChunkScanner, String> {
        let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut input = BufReader::with_capacity(1 << 16, f);
        let mut pre = [0u8; PREAMBLE_LEN];
        input
            .read_exact(&mut pre)
            .map_err(|e| format!("{}: cannot read the preamble: {e}", path.display()))?;
        if &pre[..8] != MAGIC || u16::from_le_bytes([pre[8], pre[9]]) != FORMAT_VERSION {
            return Err(format!(
                "{}: not a trace of format version {FORMAT_VERSION}",
                path.display()
            ));
        }
        let flags = u16::from_le_bytes([pre[10], pre[11]]);
        let compressed = flags & FLAG_GZIP != 0;
        let body: Box<dyn Read + Send> = if compressed {
            Box::new(BufReader::with_capacity(1 << 16, GzDecoder::new(input)))
        } else {
            Box::new(input)
        };
        Ok(ChunkScanner {
            body,
            pos: PREAMBLE_LEN as u64,
            file: path.to_path_buf(),
            compressed,
            next_index: 0,
            events: 0,
            done: false,
        })
    }

    fn err(&self, offset: u64, msg: impl std::fmt::Display) -> String {
        if self.compressed {
            format!(
                "{}: at byte {offset} of the decompressed stream: {msg}",
                self.file.display()
            )
        } else {
            format!("{}: at byte {offset}: {msg}", self.file.display())
        }
    }

    /// Reads one block: (tag, offset, payload); `None` at a clean end of stream.
    fn block(&mut self) -> Result<Option<(u8, u64, Vec<u8>)>, String> {
        let offset = self.pos;
        let mut head = [0u8; BLOCK_HEADER_LEN];
        let got = read_full(&mut self.body, &mut head).map_err(|e| self.err(offset, e))?;
        self.pos += got as u64;
        if got == 0 {
            return Ok(None);
        }
        if got < BLOCK_HEADER_LEN {
            return Err(self.err(
                offset,
                "truncated trace: the stream ends inside a block header",
            ));
        }
        let tag = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let stored = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
        let cap = match tag {
            TAG_HEADER => MAX_HEADER_BYTES,
            TAG_IMAGE => MAX_IMAGE_BLOCK_BYTES,
            TAG_EVENTS => MAX_CHUNK_BYTES,
            TAG_END => MAX_END_BYTES,
            other => {
                return Err(self.err(
                    offset,
                    format!("corrupt trace: unknown block tag {other:#04x}"),
                ))
            }
        };
        if len > cap {
            return Err(self.err(
                offset,
                format!("block claims {len} bytes, more than the limit of {cap}"),
            ));
        }
        let mut payload = Vec::new();
        (&mut self.body)
            .take(u64::from(len))
            .read_to_end(&mut payload)
            .map_err(|e| self.err(offset, e))?;
        self.pos += payload.len() as u64;
        if payload.len() != len as usize {
            return Err(self.err(
                offset,
                format!(
                    "truncated trace: the stream ends inside a block ({} of {len} bytes)",
                    payload.len()
                ),
            ));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&payload);
        if crc.sum() != stored {
            return Err(self.err(offset, "checksum mismatch: the file is corrupt"));
        }
        Ok(Some((tag, offset, payload)))
    }

    /// The next event chunk, `Ok(None)` after a valid end block.
    pub fn next_chunk(&mut self) -> Result<Option<RawChunk>, String> {
        if self.done {
            return Ok(None);
        }
        loop {
            let Some((tag, offset, payload)) = self.block()? else {
                self.done = true;
                return Err(self.err(
                    self.pos,
                    format!(
                        "truncated trace: the stream ends after {} events without an end block",
                        self.events
                    ),
                ));
            };
            match tag {
                TAG_HEADER | TAG_IMAGE if self.next_index == 0 => continue,
                TAG_HEADER | TAG_IMAGE => {
                    self.done = true;
                    return Err(self.err(
                        offset,
                        "corrupt trace: header or image block after the events started",
                    ));
                }
                TAG_EVENTS => {
                    let n = chunk_event_count(&payload).map_err(|m| {
                        self.err(offset, format!("cannot decode an event chunk: {m}"))
                    })?;
                    let chunk = RawChunk {
                        index: self.next_index,
                        first_event: self.events,
                        events: n,
                        offset,
                        payload,
                    };
                    self.next_index += 1;
                    self.events += n;
                    return Ok(Some(chunk));
                }
                _ => {
                    self.done = true;
                    let mut r = Reader { b: &payload, p: 0 };
                    let total = r.uint().map_err(|m| {
                        self.err(offset, format!("cannot decode the end block: {m}"))
                    })?;
                    if r.p != payload.len() || total != self.events {
                        return Err(self.err(offset, format!("corrupt trace: the end block counts {total} events but {} were read", self.events)));
                    }
                    let at = self.pos;
                    let mut extra = [0u8; 1];
                    let n = read_full(&mut self.body, &mut extra).map_err(|e| self.err(at, e))?;
                    if n != 0 {
                        return Err(self.err(at, "corrupt trace: data after the end block"));
                    }
                    return Ok(None);
                }
            }
        }
    }
}

impl Iterator for ChunkScanner {
    type Item = Result<RawChunk, String>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_chunk() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
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
    if r.array()? != 2 {
        return Err("a chunk must be an array [base_t, events]".into());
    }
    r.uint()?;
    let n = r.array()?;
    if n > MAX_CHUNK_EVENTS as u64 {
        return Err(format!(
            "chunk holds {n} events, the limit is {MAX_CHUNK_EVENTS}"
        ));
    }
    Ok(n)
}

/// A decoded chunk.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Absolute time of the previous chunk's last event (0 for the first chunk).
    pub base: u64,
    pub events: Vec<Ev>,
    /// Stage labels, indexed by [`Op::Stage`].
    pub labels: Vec<String>,
}

/// Decodes a chunk payload. Errors name the event (index in the trace).
pub fn decode_chunk(raw: &RawChunk) -> Result<Chunk, String> {
    let mut chunk = Chunk {
        events: Vec::with_capacity(raw.events as usize),
        ..Chunk::default()
    };
    decode_into(&raw.payload, raw.first_event, &mut chunk)?;
    Ok(chunk)
}

/// Decodes `payload` into `chunk` (reusing its buffers).
pub fn decode_into(payload: &[u8], first_event: u64, chunk: &mut Chunk) -> Result<(), String> {
    chunk.events.clear();
    chunk.labels.clear();
    let mut r = Reader { b: payload, p: 0 };
    let head = (|| -> Result<(u64, u64), String> {
        if r.array()? != 2 {
            return Err("a chunk must be an array [base_t, events]".into());
        }
        let base = r.uint()?;
        let n = r.array()?;
        Ok((base, n))
    })()
    .map_err(|m| format!("cannot decode the event chunk starting at event {first_event}: {m}"))?;
    let (base, n) = head;
    if n > MAX_CHUNK_EVENTS as u64 {
        return Err(format!("the chunk starting at event {first_event} holds {n} events, the limit is {MAX_CHUNK_EVENTS}"));
    }
    chunk.base = base;
    let mut t = base;
    for i in 0..n {
        let ev = decode_event(&mut r, &mut t, &mut chunk.labels)
            .map_err(|m| format!("event {}: {m}", first_event + i))?;
        chunk.events.push(ev);
    }
    if r.p != payload.len() {
        return Err(format!(
            "the chunk starting at event {first_event} has {} bytes after its last event",
            payload.len() - r.p
        ));
    }
    Ok(())
}

/// The common case, a port access `[0|1, dt, offset, value]` with small integers, read
/// straight from the bytes; `None` sends anything else to the general decoder.
#[inline(always)]
fn fast_port_event(r: &mut Reader, t: &mut u64) -> Option<Ev> {
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
    let op = if head[1] == 0 {
        Op::Read { offset, value }
    } else {
        Op::Write { offset, value }
    };
    Some(Ev { t: nt, op })
}

#[inline]
fn decode_event(r: &mut Reader, t: &mut u64, labels: &mut Vec<String>) -> Result<Ev, String> {
    if let Some(ev) = fast_port_event(r, t) {
        return Ok(ev);
    }
    let fields = r.array()?;
    let kind = r.u8("event kind")?;
    let dt = r.uint()?;
    *t = t.checked_add(dt).ok_or("time overflows")?;
    let (want, op) = match kind {
        0 | 1 => {
            let offset = r.u8("port offset")?;
            let value = r.u8("value")?;
            if offset > MAX_PORT_OFFSET {
                return Err(format!(
                    "port offset {offset} is out of range 0..={MAX_PORT_OFFSET}"
                ));
            }
            (
                4,
                if kind == 0 {
                    Op::Read { offset, value }
                } else {
                    Op::Write { offset, value }
                },
            )
        }
        2 => {
            let s = r.string()?;
            if s.len() > MAX_LABEL_BYTES {
                return Err(format!(
                    "stage label is {} bytes long, the limit is {MAX_LABEL_BYTES}",
                    s.len()
                ));
            }
            let label = std::str::from_utf8(s).map_err(|_| "stage label is not UTF-8")?;
            let idx = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    labels.push(label.to_string());
                    labels.len() - 1
                }
            };
            (3, Op::Stage(idx as u32))
        }
        3 => {
            let drive = r.u8("drive")?;
            check_drive(drive)?;
            (3, Op::Eject(drive))
        }
        4 => {
            let drive = r.u8("drive")?;
            let size = r.uint()?;
            let read_only = r.boolean()?;
            check_drive(drive)?;
            if size > MAX_MEDIUM_BYTES {
                return Err(format!(
                    "inserted medium of {size} bytes exceeds {MAX_MEDIUM_BYTES}"
                ));
            }
            (
                5,
                Op::Insert {
                    drive,
                    read_only,
                    size,
                },
            )
        }
        other => return Err(format!("unknown event kind {other}")),
    };
    if fields != want {
        return Err(format!(
            "event of kind {kind} has {fields} fields, expected {want}"
        ));
    }
    Ok(Ev { t: *t, op })
}

fn check_drive(drive: u8) -> Result<(), String> {
    if drive > MAX_DRIVE_UNIT {
        return Err(format!(
            "drive {drive} is out of range 0..={MAX_DRIVE_UNIT}"
        ));
    }
    Ok(())
}

/// Reads a whole trace chunk by chunk, in order, calling `f(chunk, index of its first
/// event)`; checks that each chunk continues the previous one's time. The header comes
/// from the ordinary reader (which validates it and loads images).
pub fn for_each_chunk(
    path: &Path,
    mut f: impl FnMut(&Chunk, u64) -> Result<(), String>,
) -> Result<crate::TraceHeader, String> {
    let header = crate::TraceReader::open(path)
        .map_err(|e| e.to_string())?
        .header()
        .clone();
    let mut scanner = ChunkScanner::open(path)?;
    let mut last_t = 0u64;
    let mut chunk = Chunk::default();
    while let Some(raw) = scanner.next_chunk()? {
        decode_into(&raw.payload, raw.first_event, &mut chunk)
            .map_err(|m| format!("{}: {m}", path.display()))?;
        if chunk.base != last_t {
            return Err(format!(
                "{}: event {}: corrupt trace: the chunk starts from time {} ns but the previous event was at {last_t} ns",
                path.display(),
                raw.first_event,
                chunk.base
            ));
        }
        f(&chunk, raw.first_event)?;
        last_t = chunk.events.last().map_or(last_t, |e| e.t);
    }
    Ok(header)
}
