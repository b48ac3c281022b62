//! Streaming trace writer: events go out a chunk at a time, so writing a trace of any
//! length needs memory for one chunk only.

use super::error::{TraceError, TraceErrorKind};
use super::format::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How to write a trace.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Gzip-compress the body (everything after the 12-byte preamble).
    pub gzip: bool,
    /// Events per chunk, 1..=[`MAX_CHUNK_EVENTS`]. Smaller chunks only matter for tests.
    pub chunk_events: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            gzip: true,
            chunk_events: MAX_CHUNK_EVENTS,
        }
    }
}

/// Close a chunk early once its labels reach this many bytes, so that a chunk of long
/// stage labels stays far below [`MAX_CHUNK_BYTES`].
const CHUNK_SOFT_BYTES: usize = 4 << 20;

enum Sink<W: Write> {
    Plain(W),
    // Boxed: the deflater's state is kilobytes, a plain writer usually a pointer.
    Gz(Box<GzEncoder<W>>),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gz(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gz(w) => w.flush(),
        }
    }
}

/// Writes a trace: preamble, header and image blocks at creation, then events as they
/// come, then the end block at [`TraceWriter::finish`]. Dropping a writer without
/// `finish` leaves a file that readers report as truncated, which is the point.
pub struct TraceWriter<W: Write> {
    sink: Sink<W>,
    file: Option<PathBuf>,
    pending: Vec<Event>,
    pending_bytes: usize,
    chunk_base: u64,
    last_t: u64,
    count: u64,
    chunk_events: usize,
    /// Called after every event written (for progress displays).
    on_event: Option<Box<dyn FnMut() + Send>>,
}

impl TraceWriter<BufWriter<File>> {
    /// Creates `path` and starts a trace in it.
    pub fn create(
        path: &Path,
        header: &TraceHeader,
        opts: WriteOptions,
    ) -> Result<Self, TraceError> {
        let f = File::create(path).map_err(|e| TraceError::from(e).with_file(Some(path)))?;
        let mut w = TraceWriter::new(BufWriter::new(f), header, opts)
            .map_err(|e| e.with_file(Some(path)))?;
        w.file = Some(path.to_path_buf());
        Ok(w)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace on `out`: writes the preamble, the header and one `'D'` block per
    /// medium that carries its image.
    pub fn new(mut out: W, header: &TraceHeader, opts: WriteOptions) -> Result<Self, TraceError> {
        header
            .validate()
            .map_err(|m| TraceError::new(TraceErrorKind::Invalid(m.to_string())))?;
        if opts.chunk_events == 0 || opts.chunk_events > MAX_CHUNK_EVENTS {
            return Err(TraceErrorKind::Invalid(format!(
                "chunk_events must be 1..={MAX_CHUNK_EVENTS}, not {}",
                opts.chunk_events
            ))
            .into());
        }
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        let flags = if opts.gzip { FLAG_GZIP } else { 0 };
        out.write_all(&flags.to_le_bytes())?;
        let mut sink = if opts.gzip {
            Sink::Gz(Box::new(GzEncoder::new(out, Compression::default())))
        } else {
            Sink::Plain(out)
        };

        // The header on disk says which media follow in 'D' blocks.
        let mut on_disk = header.clone();
        let mut images: Vec<(u8, &[u8])> = Vec::new();
        for (d, orig) in on_disk.drives.iter_mut().zip(&header.drives) {
            if let Some(m) = &mut d.medium {
                m.image = None;
                m.embedded = false;
                if let Some(img) = orig.medium.as_ref().and_then(|m| m.image.as_deref()) {
                    m.embedded = true;
                    if m.digest.is_none() {
                        m.digest = Some(ImageDigest::of(img));
                    }
                    images.push((d.unit, img));
                }
            }
        }
        let payload = rmp_serde::to_vec_named(&on_disk)
            .map_err(|e| TraceErrorKind::Invalid(format!("cannot encode the header: {e}")))?;
        if payload.len() > MAX_HEADER_BYTES as usize {
            return Err(TraceErrorKind::Invalid(format!(
                "the header encodes to {} bytes, more than the limit of {MAX_HEADER_BYTES}",
                payload.len()
            ))
            .into());
        }
        write_block(&mut sink, TAG_HEADER, &payload)?;

        for (unit, img) in images {
            let mut gz = GzEncoder::new(vec![unit], Compression::best());
            gz.write_all(img)?;
            let payload = gz.finish()?;
            if payload.len() > MAX_IMAGE_BLOCK_BYTES as usize {
                return Err(TraceErrorKind::Invalid(format!(
                    "drive {unit}: compressed image is {} bytes, more than the limit of {MAX_IMAGE_BLOCK_BYTES}",
                    payload.len()
                ))
                .into());
            }
            write_block(&mut sink, TAG_IMAGE, &payload)?;
        }

        Ok(TraceWriter {
            sink,
            file: None,
            pending: Vec::new(),
            pending_bytes: 0,
            chunk_base: 0,
            last_t: 0,
            count: 0,
            chunk_events: opts.chunk_events,
            on_event: None,
        })
    }

    /// Calls `f` after every event written from now on (a progress display).
    pub fn on_event(&mut self, f: Box<dyn FnMut() + Send>) {
        self.on_event = Some(f);
    }

    /// Appends one event. Times must not decrease.
    pub fn write_event(&mut self, ev: Event) -> Result<(), TraceError> {
        self.push(ev)
            .map_err(|e| e.with_file(self.file.as_deref()))?;
        if let Some(f) = &mut self.on_event {
            f();
        }
        Ok(())
    }

    fn push(&mut self, ev: Event) -> Result<(), TraceError> {
        ev.validate()
            .map_err(|m| TraceErrorKind::Invalid(format!("event {}: {m}", self.count)))?;
        let t = ev.time_ns();
        if t < self.last_t {
            return Err(TraceErrorKind::Invalid(format!(
                "event {} at {t} ns comes before the previous event at {} ns; times must not decrease",
                self.count, self.last_t
            ))
            .into());
        }
        self.last_t = t;
        if let Event::Stage { label, .. } = &ev {
            self.pending_bytes += label.len();
        }
        self.pending.push(ev);
        self.count += 1;
        if self.pending.len() >= self.chunk_events || self.pending_bytes >= CHUNK_SOFT_BYTES {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Number of events written so far.
    pub fn event_count(&self) -> u64 {
        self.count
    }

    fn flush_chunk(&mut self) -> Result<(), TraceError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let payload = rmp_serde::to_vec(&ChunkOut {
            base: self.chunk_base,
            events: &self.pending,
        })
        .map_err(|e| TraceErrorKind::Invalid(format!("cannot encode an event chunk: {e}")))?;
        write_block(&mut self.sink, TAG_EVENTS, &payload)?;
        self.chunk_base = self.last_t;
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Writes the last chunk and the end block, finishes compression and returns the
    /// underlying writer (flushed).
    pub fn finish(mut self) -> Result<W, TraceError> {
        let file = self.file.clone();
        self.write_tail()
            .map_err(|e| e.with_file(file.as_deref()))?;
        let out = match self.sink {
            Sink::Plain(w) => Ok(w),
            Sink::Gz(gz) => gz.finish(),
        };
        let mut out = out.map_err(|e| TraceError::from(e).with_file(file.as_deref()))?;
        out.flush()
            .map_err(|e| TraceError::from(e).with_file(file.as_deref()))?;
        Ok(out)
    }

    fn write_tail(&mut self) -> Result<(), TraceError> {
        self.flush_chunk()?;
        let payload = rmp_serde::to_vec(&self.count)
            .map_err(|e| TraceErrorKind::Invalid(format!("cannot encode the end block: {e}")))?;
        write_block(&mut self.sink, TAG_END, &payload)
    }
}

fn write_block<W: Write>(w: &mut W, tag: u8, payload: &[u8]) -> Result<(), TraceError> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        TraceErrorKind::Invalid(format!("block of {} bytes is too large", payload.len()))
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(payload);
    let mut head = [0u8; BLOCK_HEADER_LEN];
    head[0] = tag;
    head[1..5].copy_from_slice(&len.to_le_bytes());
    head[5..9].copy_from_slice(&crc.sum().to_le_bytes());
    w.write_all(&head)?;
    w.write_all(payload)?;
    Ok(())
}
