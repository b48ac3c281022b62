//! The block framing of a trace file, read once for every consumer: the preamble, then
//! blocks of `tag | len | crc32 | payload` (see [`crate::format`]), each length checked
//! against its cap before anything is allocated from it and each checksum verified.
//!
//! [`crate::TraceReader`] (header, images, events) and [`crate::compact::ChunkScanner`]
//! (raw event chunks for the parallel replay) both read their blocks through [`Blocks`].

use crate::error::{TraceError, TraceErrorKind};
use crate::format::*;
use flate2::bufread::GzDecoder;
use std::io::{BufReader, Read};
use std::path::PathBuf;

/// Buffer size of the reader around the file and around the inflater.
const BUF_BYTES: usize = 1 << 16;

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
    Plain(BufReader<R>),
    // Boxed: the inflater's state is kilobytes, the plain reader a pointer and a buffer.
    // The inner counter gives the compressed offset for errors.
    Gz(Box<BufReader<GzDecoder<BufReader<Counting<R>>>>>),
}

impl<R: Read> Body<R> {
    /// For a gzip body, the offset in the file of the next compressed byte the inflater
    /// will consume.
    fn file_offset(&self) -> Option<u64> {
        match self {
            Body::Plain(_) => None,
            Body::Gz(r) => {
                let file = r.get_ref().get_ref();
                Some(
                    file.get_ref()
                        .pos
                        .saturating_sub(file.buffer().len() as u64),
                )
            }
        }
    }

    /// For a gzip body whose member has ended: whether bytes follow it in the file.
    fn bytes_after_member(&mut self) -> std::io::Result<bool> {
        match self {
            Body::Plain(_) => Ok(false),
            Body::Gz(r) => {
                use std::io::BufRead;
                Ok(!r.get_mut().get_mut().fill_buf()?.is_empty())
            }
        }
    }
}

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::Plain(r) => r.read(buf),
            Body::Gz(r) => r.read(buf),
        }
    }
}

/// One block as read: its tag, its offset (in the decompressed stream for gzip traces)
/// and its checked payload.
pub(crate) struct Block {
    pub tag: u8,
    pub offset: u64,
    pub payload: Vec<u8>,
}

/// The block stream of one trace.
pub(crate) struct Blocks<R: Read> {
    body: Counting<Body<R>>,
    compressed: bool,
    file: Option<PathBuf>,
}

impl<R: Read> Blocks<R> {
    /// Reads and checks the preamble of `input`; errors name `file`.
    pub fn open(mut input: R, file: Option<PathBuf>) -> Result<Self, TraceError> {
        let fail = |e: TraceError| e.with_file(file.as_deref());
        let mut pre = [0u8; PREAMBLE_LEN];
        let got = read_full(&mut input, &mut pre)
            .map_err(|e| fail(TraceError::at(e.into(), 0, false)))?;
        let truncated = || {
            TraceErrorKind::Truncated(format!(
                "the file ends after {got} bytes, inside the preamble"
            ))
        };
        if got == 0 {
            return Err(fail(TraceError::new(TraceErrorKind::Empty)));
        }
        if got < MAGIC.len() || &pre[..MAGIC.len()] != MAGIC {
            // A short file that starts like a trace is truncated; anything else is not a trace.
            if got < MAGIC.len() && pre[..got] == MAGIC[..got] && got > 0 {
                return Err(fail(TraceError::at(truncated(), got as u64, false)));
            }
            return Err(fail(TraceError::at(TraceErrorKind::BadMagic, 0, false)));
        }
        if got < PREAMBLE_LEN {
            return Err(fail(TraceError::at(truncated(), got as u64, false)));
        }
        let version = u16::from_le_bytes([pre[8], pre[9]]);
        if version != FORMAT_VERSION {
            let kind = TraceErrorKind::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            };
            return Err(fail(TraceError::at(kind, 8, false)));
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
            let counted = Counting {
                inner: input,
                pos: PREAMBLE_LEN as u64,
            };
            Body::Gz(Box::new(BufReader::with_capacity(
                BUF_BYTES,
                GzDecoder::new(BufReader::with_capacity(BUF_BYTES, counted)),
            )))
        } else {
            Body::Plain(BufReader::with_capacity(BUF_BYTES, input))
        };
        // Offsets count from the start of the file for plain traces; for gzip ones they
        // count decompressed bytes, continuing after the 12-byte preamble.
        Ok(Blocks {
            body: Counting {
                inner: body,
                pos: PREAMBLE_LEN as u64,
            },
            compressed,
            file,
        })
    }

    /// Whether the body is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// An error at `offset`, naming the file.
    pub fn err(&self, kind: TraceErrorKind, offset: u64) -> TraceError {
        TraceError::at(kind, offset, self.compressed).with_file(self.file.as_deref())
    }

    /// The error of a failed read of the body at `offset`: for a gzip body, a stream cut
    /// short or damaged is named as such, with the offset in the (compressed) file.
    fn read_err(&self, e: std::io::Error, offset: u64) -> TraceError {
        let Some(at) = self.body.inner.file_offset() else {
            return self.err(e.into(), offset);
        };
        let kind = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => TraceErrorKind::Truncated(
                "the file ends inside the gzip stream (the file is cut short)".into(),
            ),
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                TraceErrorKind::Corrupt(format!("the gzip stream is damaged ({e})"))
            }
            _ => return self.err(e.into(), offset),
        };
        // The offset in the file (compressed bytes), where the inflater stopped.
        TraceError::at(kind, at, false).with_file(self.file.as_deref())
    }

    /// A "truncated" error at the current position.
    pub fn truncated(&self, what: String) -> TraceError {
        self.err(TraceErrorKind::Truncated(what), self.body.pos)
    }

    /// Reads the next block; `Ok(None)` at a clean end of stream (no byte of a block).
    pub fn next_block(&mut self) -> Result<Option<Block>, TraceError> {
        let offset = self.body.pos;
        let mut head = [0u8; BLOCK_HEADER_LEN];
        let got = read_full(&mut self.body, &mut head).map_err(|e| self.read_err(e, offset))?;
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
        let Some((what, cap)) = block_kind(tag) else {
            return Err(self.err(unknown_tag(tag), offset));
        };
        if len > cap {
            let kind = TraceErrorKind::TooLarge {
                what,
                len: u64::from(len),
                cap: u64::from(cap),
            };
            return Err(self.err(kind, offset));
        }
        // Grows with the data actually present, so a lying length on a short file
        // costs nothing.
        let mut payload = Vec::new();
        (&mut self.body)
            .take(u64::from(len))
            .read_to_end(&mut payload)
            .map_err(|e| self.read_err(e, offset))?;
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
            let kind = TraceErrorKind::Checksum {
                what: what.to_string(),
                stored,
                computed: crc.sum(),
            };
            return Err(self.err(kind, offset));
        }
        Ok(Some(Block {
            tag,
            offset,
            payload,
        }))
    }

    /// Checks the end block against the number of events read, then that nothing follows
    /// it (reading on also verifies the gzip trailer, its CRC and length).
    pub fn finish(&mut self, end: &Block, events: u64) -> Result<(), TraceError> {
        let total: u64 = rmp_serde::from_slice(&end.payload).map_err(|e| {
            let kind = TraceErrorKind::Decode {
                what: "the end block".into(),
                msg: e.to_string(),
            };
            self.err(kind, end.offset)
        })?;
        if total != events {
            return Err(self.err(
                TraceErrorKind::Corrupt(format!(
                    "the end block counts {total} events but {events} were read"
                )),
                end.offset,
            ));
        }
        let at = self.body.pos;
        let mut extra = [0u8; 1];
        let n = read_full(&mut self.body, &mut extra).map_err(|e| self.read_err(e, at))?;
        if n != 0 {
            return Err(self.err(
                TraceErrorKind::Corrupt("data after the end block".into()),
                at,
            ));
        }
        let after = self
            .body
            .inner
            .bytes_after_member()
            .map_err(|e| self.err(e.into(), at))?;
        if after {
            let end = self.body.inner.file_offset().unwrap_or(0);
            return Err(TraceError::at(
                TraceErrorKind::Corrupt("data after the end of the gzip stream".into()),
                end,
                false,
            )
            .with_file(self.file.as_deref()));
        }
        Ok(())
    }
}

/// What a block tag names and the largest payload accepted for it.
fn block_kind(tag: u8) -> Option<(&'static str, u32)> {
    Some(match tag {
        TAG_HEADER => ("the header block", MAX_HEADER_BYTES),
        TAG_IMAGE => ("an image block", MAX_IMAGE_BLOCK_BYTES),
        TAG_EVENTS => ("an event chunk", MAX_CHUNK_BYTES),
        TAG_END => ("the end block", MAX_END_BYTES),
        _ => return None,
    })
}

/// The error of a block whose tag this version does not know.
pub(crate) fn unknown_tag(tag: u8) -> TraceErrorKind {
    TraceErrorKind::Corrupt(format!("unknown block tag {tag:#04x}"))
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
