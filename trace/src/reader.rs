//! Streaming trace reader: an iterator of events that holds one chunk at a time.
//!
//! Hostile or damaged input yields errors, never panics or huge allocations: every
//! length read from the file is checked against a cap from [`crate::format`]
//! before use, and payloads are read incrementally so that a truncated file cannot make
//! the reader allocate the length it claims.

use super::error::{TraceError, TraceErrorKind};
use super::format::*;
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Counts the bytes read, so errors can name an offset.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

enum Body<R: Read> {
    Plain(R),
    Gz(GzDecoder<R>),
}

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::Plain(r) => r.read(buf),
            Body::Gz(r) => r.read(buf),
        }
    }
}

struct Block {
    tag: u8,
    offset: u64,
    payload: Vec<u8>,
}

/// Reads a trace. Iterate it for the events; each item is a `Result` because the file
/// may turn out damaged half-way. After the first error the iterator ends.
pub struct TraceReader<R: Read> {
    body: Counting<Body<R>>,
    compressed: bool,
    file: Option<PathBuf>,
    header: TraceHeader,
    pending: Option<Block>,
    chunk: std::vec::IntoIter<Event>,
    last_t: u64,
    count: u64,
    finished: bool,
}

impl TraceReader<BufReader<File>> {
    /// Opens the trace at `path`; errors name the file.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let pb = path.to_path_buf();
        let f = File::open(path).map_err(|e| TraceError::from(e).with_file(Some(&pb)))?;
        TraceReader::with_name(BufReader::new(f), Some(pb))
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads the preamble, header and image blocks from `input`.
    pub fn new(input: R) -> Result<Self, TraceError> {
        TraceReader::with_name(input, None)
    }

    /// Like [`TraceReader::new`], naming `file` in errors.
    pub fn with_name(mut input: R, file: Option<PathBuf>) -> Result<Self, TraceError> {
        let fail = |e: TraceError| e.with_file(file.as_ref());
        let mut pre = [0u8; PREAMBLE_LEN];
        let got = read_full(&mut input, &mut pre)
            .map_err(|e| fail(TraceError::at(e.into(), 0, false)))?;
        if got < MAGIC.len() || &pre[..MAGIC.len()] != MAGIC {
            // A short file that starts like a trace is truncated; anything else is not a trace.
            if got < MAGIC.len() && pre[..got] == MAGIC[..got] && got > 0 {
                return Err(fail(TraceError::at(
                    TraceErrorKind::Truncated(format!(
                        "the file ends after {got} bytes, inside the preamble"
                    )),
                    got as u64,
                    false,
                )));
            }
            return Err(fail(TraceError::at(TraceErrorKind::BadMagic, 0, false)));
        }
        if got < PREAMBLE_LEN {
            return Err(fail(TraceError::at(
                TraceErrorKind::Truncated(format!(
                    "the file ends after {got} bytes, inside the preamble"
                )),
                got as u64,
                false,
            )));
        }
        let version = u16::from_le_bytes([pre[8], pre[9]]);
        if version != FORMAT_VERSION {
            return Err(fail(TraceError::at(
                TraceErrorKind::UnsupportedVersion {
                    found: version,
                    supported: FORMAT_VERSION,
                },
                8,
                false,
            )));
        }
        let flags = u16::from_le_bytes([pre[10], pre[11]]);
        if flags & !FLAG_GZIP != 0 {
            return Err(fail(TraceError::at(
                TraceErrorKind::UnknownFlags(flags),
                10,
                false,
            )));
        }
        let compressed = flags & FLAG_GZIP != 0;
        let body = if compressed {
            Body::Gz(GzDecoder::new(input))
        } else {
            Body::Plain(input)
        };
        // Offsets count from the start of the file for plain traces; for gzip ones they
        // count decompressed bytes, continuing after the 12-byte preamble.
        let mut r = TraceReader {
            body: Counting {
                inner: body,
                pos: PREAMBLE_LEN as u64,
            },
            compressed,
            file,
            header: TraceHeader::default(),
            pending: None,
            chunk: Vec::new().into_iter(),
            last_t: 0,
            count: 0,
            finished: false,
        };
        r.read_prologue()
            .map_err(|e| e.with_file(r.file.as_ref()))?;
        Ok(r)
    }

    /// The trace header (with embedded images filled in).
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// Whether the body is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    fn err(&self, kind: TraceErrorKind, offset: u64) -> TraceError {
        TraceError::at(kind, offset, self.compressed)
    }

    fn read_prologue(&mut self) -> Result<(), TraceError> {
        let Some(block) = self.read_block()? else {
            return Err(self.err(
                TraceErrorKind::Truncated("the file ends before the header".into()),
                self.body.pos,
            ));
        };
        if block.tag != TAG_HEADER {
            return Err(self.err(
                TraceErrorKind::Corrupt(format!(
                    "expected the header block, found tag {:#04x}",
                    block.tag
                )),
                block.offset,
            ));
        }
        let header: TraceHeader = rmp_serde::from_slice(&block.payload).map_err(|e| {
            self.err(
                TraceErrorKind::Decode {
                    what: "the header".into(),
                    msg: e.to_string(),
                },
                block.offset,
            )
        })?;
        header.validate().map_err(|m| {
            self.err(
                TraceErrorKind::Corrupt(format!("header: {m}")),
                block.offset,
            )
        })?;
        self.header = header;

        loop {
            let Some(block) = self.read_block()? else {
                return Err(self.err(
                    TraceErrorKind::Truncated(
                        "the file ends before the first event chunk or end block".into(),
                    ),
                    self.body.pos,
                ));
            };
            if block.tag != TAG_IMAGE {
                self.pending = Some(block);
                break;
            }
            self.take_image(block)?;
        }
        for d in &self.header.drives {
            if let Some(m) = &d.medium {
                if m.embedded && m.image.is_none() {
                    return Err(self.err(
                        TraceErrorKind::Corrupt(format!(
                            "drive {} is marked as carrying its image but no image block follows the header",
                            d.unit
                        )),
                        self.body.pos,
                    ));
                }
            }
        }
        Ok(())
    }

    fn take_image(&mut self, block: Block) -> Result<(), TraceError> {
        let off = block.offset;
        let Some((&unit, gz)) = block.payload.split_first() else {
            return Err(self.err(TraceErrorKind::Corrupt("empty image block".into()), off));
        };
        let compressed = self.compressed;
        let Some(medium) = self
            .header
            .drives
            .iter_mut()
            .find(|d| d.unit == unit)
            .and_then(|d| d.medium.as_mut())
        else {
            return Err(TraceError::at(
                TraceErrorKind::Corrupt(format!(
                    "image block for drive {unit}, which has no medium in the header"
                )),
                off,
                compressed,
            ));
        };
        if !medium.embedded || medium.image.is_some() {
            return Err(TraceError::at(
                TraceErrorKind::Corrupt(format!(
                    "unexpected (or second) image block for drive {unit}"
                )),
                off,
                compressed,
            ));
        }
        // The medium size was capped by header validation; read at most one byte more
        // to detect an image longer than declared.
        let mut data = Vec::new();
        GzDecoder::new(gz)
            .take(medium.size + 1)
            .read_to_end(&mut data)
            .map_err(|e| {
                TraceError::at(
                    TraceErrorKind::Corrupt(format!(
                        "drive {unit}: cannot decompress the image: {e}"
                    )),
                    off,
                    compressed,
                )
            })?;
        if data.len() as u64 != medium.size {
            return Err(TraceError::at(
                TraceErrorKind::Corrupt(format!(
                    "drive {unit}: image is {}{} bytes, the header says {}",
                    if data.len() as u64 > medium.size {
                        "more than "
                    } else {
                        ""
                    },
                    data.len().min(medium.size as usize),
                    medium.size
                )),
                off,
                compressed,
            ));
        }
        if let Some(want) = &medium.digest {
            let got = ImageDigest::of(&data);
            if &got != want {
                return Err(TraceError::at(
                    TraceErrorKind::Corrupt(format!(
                        "drive {unit}: image digest {got} does not match the header's {want}"
                    )),
                    off,
                    compressed,
                ));
            }
        }
        medium.image = Some(data);
        Ok(())
    }

    /// Reads the next block; `Ok(None)` at a clean end of stream (no byte of a block).
    fn read_block(&mut self) -> Result<Option<Block>, TraceError> {
        let offset = self.body.pos;
        let mut head = [0u8; BLOCK_HEADER_LEN];
        let got = read_full(&mut self.body, &mut head).map_err(|e| self.err(e.into(), offset))?;
        if got == 0 {
            return Ok(None);
        }
        if got < BLOCK_HEADER_LEN {
            return Err(self.err(
                TraceErrorKind::Truncated(format!(
                    "the stream ends inside a block header ({got} of 9 bytes)"
                )),
                offset,
            ));
        }
        let tag = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let stored = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
        let (what, cap) = match tag {
            TAG_HEADER => ("the header block", MAX_HEADER_BYTES),
            TAG_IMAGE => ("an image block", MAX_IMAGE_BLOCK_BYTES),
            TAG_EVENTS => ("an event chunk", MAX_CHUNK_BYTES),
            TAG_END => ("the end block", MAX_END_BYTES),
            other => {
                return Err(self.err(
                    TraceErrorKind::Corrupt(format!("unknown block tag {other:#04x}")),
                    offset,
                ));
            }
        };
        if len > cap {
            return Err(self.err(
                TraceErrorKind::TooLarge {
                    what,
                    len: u64::from(len),
                    cap: u64::from(cap),
                },
                offset,
            ));
        }
        // Grows with the data actually present, so a lying length on a short file
        // costs nothing.
        let mut payload = Vec::new();
        (&mut self.body)
            .take(u64::from(len))
            .read_to_end(&mut payload)
            .map_err(|e| self.err(e.into(), offset))?;
        if payload.len() != len as usize {
            return Err(self.err(
                TraceErrorKind::Truncated(format!(
                    "the stream ends inside {what} ({} of {len} bytes)",
                    payload.len()
                )),
                offset,
            ));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&payload);
        if crc.sum() != stored {
            return Err(self.err(
                TraceErrorKind::Checksum {
                    what: what.to_string(),
                    stored,
                    computed: crc.sum(),
                },
                offset,
            ));
        }
        Ok(Some(Block {
            tag,
            offset,
            payload,
        }))
    }

    /// Produces the next event, reading blocks as needed.
    fn advance(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            if let Some(ev) = self.chunk.next() {
                return Ok(Some(ev));
            }
            let block = match self.pending.take() {
                Some(b) => b,
                None => match self.read_block()? {
                    Some(b) => b,
                    None => {
                        return Err(self.err(
                            TraceErrorKind::Truncated(format!(
                                "the stream ends after {} events without an end block",
                                self.count
                            )),
                            self.body.pos,
                        ))
                    }
                },
            };
            match block.tag {
                TAG_EVENTS => self.decode_chunk(block)?,
                TAG_END => {
                    let total: u64 = rmp_serde::from_slice(&block.payload).map_err(|e| {
                        self.err(
                            TraceErrorKind::Decode {
                                what: "the end block".into(),
                                msg: e.to_string(),
                            },
                            block.offset,
                        )
                    })?;
                    if total != self.count {
                        return Err(self.err(
                            TraceErrorKind::Corrupt(format!(
                                "the end block counts {total} events but {} were read",
                                self.count
                            )),
                            block.offset,
                        ));
                    }
                    // Reading on verifies the gzip trailer (CRC and length) and catches
                    // trailing garbage.
                    let at = self.body.pos;
                    let mut extra = [0u8; 1];
                    let n = read_full(&mut self.body, &mut extra)
                        .map_err(|e| self.err(e.into(), at))?;
                    if n != 0 {
                        return Err(self.err(
                            TraceErrorKind::Corrupt("data after the end block".into()),
                            at,
                        ));
                    }
                    return Ok(None);
                }
                TAG_IMAGE | TAG_HEADER => {
                    return Err(self.err(
                        TraceErrorKind::Corrupt(format!(
                            "{} block after the events started",
                            if block.tag == TAG_IMAGE {
                                "image"
                            } else {
                                "header"
                            }
                        )),
                        block.offset,
                    ))
                }
                other => {
                    return Err(self.err(
                        TraceErrorKind::Corrupt(format!("unknown block tag {other:#04x}")),
                        block.offset,
                    ))
                }
            }
        }
    }

    fn decode_chunk(&mut self, block: Block) -> Result<(), TraceError> {
        let off = block.offset;
        let ChunkIn(base, wire) = rmp_serde::from_slice(&block.payload).map_err(|e| {
            self.err(
                TraceErrorKind::Decode {
                    what: "an event chunk".into(),
                    msg: e.to_string(),
                },
                off,
            )
        })?;
        if wire.len() > MAX_CHUNK_EVENTS {
            return Err(self.err(
                TraceErrorKind::Corrupt(format!(
                    "chunk holds {} events, the limit is {MAX_CHUNK_EVENTS}",
                    wire.len()
                )),
                off,
            ));
        }
        if base != self.last_t {
            return Err(self.err(
                TraceErrorKind::Corrupt(format!(
                    "chunk starts from time {base} ns but the previous event was at {} ns",
                    self.last_t
                )),
                off,
            ));
        }
        let mut t = base;
        let mut events = Vec::with_capacity(wire.len());
        for (i, w) in wire.into_iter().enumerate() {
            t = t.checked_add(w.dt).ok_or_else(|| {
                self.err(
                    TraceErrorKind::Corrupt(format!("event {} of the chunk: time overflows", i)),
                    off,
                )
            })?;
            let ev = w.ev.with_time(t);
            ev.validate().map_err(|m| {
                self.err(
                    TraceErrorKind::Corrupt(format!("event {} of the chunk: {m}", i)),
                    off,
                )
            })?;
            events.push(ev);
        }
        self.count += events.len() as u64;
        self.last_t = t;
        self.chunk = events.into_iter();
        Ok(())
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(ev)) => Some(Ok(ev)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e.with_file(self.file.as_ref())))
            }
        }
    }
}

/// Reads a whole trace file into memory: for tests and small traces. Prefer iterating a
/// [`TraceReader`] for large ones.
pub fn read_all(path: &Path) -> Result<(TraceHeader, Vec<Event>), TraceError> {
    let reader = TraceReader::open(path)?;
    collect(reader)
}

/// Like [`read_all`], from any reader.
pub fn read_all_from<R: Read>(input: R) -> Result<(TraceHeader, Vec<Event>), TraceError> {
    collect(TraceReader::new(input)?)
}

fn collect<R: Read>(mut reader: TraceReader<R>) -> Result<(TraceHeader, Vec<Event>), TraceError> {
    let mut events = Vec::new();
    for ev in &mut reader {
        events.push(ev?);
    }
    Ok((reader.header, events))
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
