//! Streaming trace reader: an iterator of events that holds one chunk at a time.
//!
//! Hostile or damaged input yields errors, never panics or huge allocations: blocks are
//! read through the one block framing (`block.rs`), which checks every length read from the file against
//! its cap from [`crate::format`] before use and reads payloads incrementally, so that a
//! truncated file cannot make the reader allocate the length it claims. Event chunks are
//! decoded by the compact decoder ([`crate::compact`]), the format's only one.

use crate::block::{Block, Blocks};
use crate::compact::{decode_into, Chunk, ChunkScanner};
use crate::error::{TraceError, TraceErrorKind};
use crate::format::*;
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a trace. Iterate it for the events; each item is a `Result` because the file
/// may turn out damaged half-way. After the first error the iterator ends.
pub struct TraceReader<R: Read> {
    header: TraceHeader,
    chunks: ChunkScanner<R>,
    chunk: Chunk,
    current: std::vec::IntoIter<Event>,
    last_t: u64,
    file: Option<PathBuf>,
    finished: bool,
}

impl TraceReader<File> {
    /// Opens the trace at `path`; errors name the file.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let f = File::open(path).map_err(|e| TraceError::from(e).with_file(Some(path)))?;
        TraceReader::with_name(f, Some(path.to_path_buf()))
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads the preamble, header and image blocks from `input`.
    pub fn new(input: R) -> Result<Self, TraceError> {
        TraceReader::with_name(input, None)
    }

    /// Like [`TraceReader::new`], naming `file` in errors.
    pub fn with_name(input: R, file: Option<PathBuf>) -> Result<Self, TraceError> {
        let mut blocks = Blocks::open(input, file.clone())?;
        let (header, pending) = read_prologue(&mut blocks)?;
        Ok(TraceReader {
            header,
            chunks: ChunkScanner::new(blocks, Some(pending)),
            chunk: Chunk::default(),
            current: Vec::new().into_iter(),
            last_t: 0,
            file,
            finished: false,
        })
    }

    /// The trace header (with embedded images filled in).
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// Whether the body is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.chunks.is_compressed()
    }

    /// Adds the number of events of every chunk read from now on to `counter` (for a
    /// progress display on another thread).
    pub fn count_events(&mut self, counter: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        self.chunks.count_events(counter);
    }

    /// The raw event chunks not read yet (all of them when no event was read), for
    /// decoding elsewhere (e.g. on several threads, see [`crate::compact`]).
    pub fn into_chunks(self) -> ChunkScanner<R> {
        self.chunks
    }

    /// The header (embedded images included) and the chunk scanner, without a copy of
    /// the header.
    pub fn into_parts(self) -> (TraceHeader, ChunkScanner<R>) {
        (self.header, self.chunks)
    }

    /// Produces the next event, decoding chunks as needed.
    fn advance(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            if let Some(ev) = self.current.next() {
                return Ok(Some(ev));
            }
            let Some(raw) = self.chunks.next_chunk()? else {
                return Ok(None);
            };
            decode_into(&raw, &mut self.chunk)?;
            self.chunk.check_base(self.last_t)?;
            self.last_t = self.chunk.last_t();
            let labels = &self.chunk.labels;
            let events: Vec<Event> = self
                .chunk
                .events
                .iter()
                .map(|e| e.to_event(labels))
                .collect();
            self.current = events.into_iter();
        }
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
                Some(Err(e.with_file(self.file.as_deref())))
            }
        }
    }
}

/// Reads the header block and the image blocks after it; returns the header and the
/// first block that follows them.
fn read_prologue<R: Read>(blocks: &mut Blocks<R>) -> Result<(TraceHeader, Block), TraceError> {
    let Some(block) = blocks.next_block()? else {
        return Err(blocks.truncated("the file ends before the header".into()));
    };
    if block.tag != TAG_HEADER {
        let kind = TraceErrorKind::Corrupt(format!(
            "expected the header block, found tag {:#04x}",
            block.tag
        ));
        return Err(blocks.err(kind, block.offset));
    }
    let mut header: TraceHeader = rmp_serde::from_slice(&block.payload).map_err(|e| {
        let kind = TraceErrorKind::Decode {
            what: "the header".into(),
            msg: e.to_string(),
        };
        blocks.err(kind, block.offset)
    })?;
    header.validate().map_err(|m| {
        blocks.err(
            TraceErrorKind::Corrupt(format!("header: {m}")),
            block.offset,
        )
    })?;
    let pending = loop {
        let Some(block) = blocks.next_block()? else {
            return Err(
                blocks.truncated("the file ends before the first event chunk or end block".into())
            );
        };
        if block.tag != TAG_IMAGE {
            break block;
        }
        take_image(&mut header, &block)
            .map_err(|m| blocks.err(TraceErrorKind::Corrupt(m), block.offset))?;
    };
    for d in &header.drives {
        if let Some(m) = &d.medium {
            if m.embedded && m.image.is_none() {
                let kind = TraceErrorKind::Corrupt(format!(
                    "drive {} is marked as carrying its image but no image block follows the header",
                    d.unit
                ));
                return Err(blocks.err(kind, pending.offset));
            }
        }
    }
    Ok((header, pending))
}

/// Fills in the image of an image block's drive; the error says what is wrong.
fn take_image(header: &mut TraceHeader, block: &Block) -> Result<(), String> {
    let Some((&unit, gz)) = block.payload.split_first() else {
        return Err("empty image block".into());
    };
    let Some(medium) = header
        .drives
        .iter_mut()
        .find(|d| d.unit == unit)
        .and_then(|d| d.medium.as_mut())
    else {
        return Err(format!(
            "image block for drive {unit}, which has no medium in the header"
        ));
    };
    if !medium.embedded || medium.image.is_some() {
        return Err(format!(
            "unexpected (or second) image block for drive {unit}"
        ));
    }
    // The medium size was capped by header validation; read at most one byte more
    // to detect an image longer than declared.
    // Reserved up front (bounded by the size cap and by deflate's ratio): growing by
    // doubling would hold two copies of a large image while it moves.
    let cap = (medium.size + 1).min(gz.len() as u64 * 1100);
    let mut data = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
    GzDecoder::new(gz)
        .take(medium.size + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("drive {unit}: cannot decompress the image: {e}"))?;
    if data.len() as u64 != medium.size {
        return Err(format!(
            "drive {unit}: image is {}{} bytes, the header says {}",
            if data.len() as u64 > medium.size {
                "more than "
            } else {
                ""
            },
            data.len().min(medium.size as usize),
            medium.size
        ));
    }
    if let Some(want) = &medium.digest {
        let got = ImageDigest::of(&data);
        if &got != want {
            return Err(format!(
                "drive {unit}: image digest {got} does not match the header's {want}"
            ));
        }
    }
    medium.image = Some(data);
    Ok(())
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
