//! A bounds-checked cursor over the stream: every read either succeeds or returns a
//! [`StreamError::Truncated`] naming where the record started. Nothing is allocated from a
//! length read out of the stream before the bytes it announces have been found.

use super::error::StreamError;

/// Cursor over (a prefix of) the stream; offsets are absolute.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.buf.get(self.pos.checked_add(ahead)?).copied()
    }

    /// `n` bytes, or a truncation error naming `start` (the record's first byte).
    pub(crate) fn take(
        &mut self,
        n: u64,
        start: usize,
        what: impl FnOnce() -> String,
    ) -> Result<&'a [u8], StreamError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(StreamError::Truncated {
                offset: start,
                what: what(),
            }),
        }
    }

    pub(crate) fn u8(&mut self, start: usize, what: &str) -> Result<u8, StreamError> {
        Ok(self.take(1, start, || what.to_string())?[0])
    }

    pub(crate) fn be16(&mut self, start: usize, what: &str) -> Result<u16, StreamError> {
        let b = self.take(2, start, || what.to_string())?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn be32(&mut self, start: usize, what: &str) -> Result<u32, StreamError> {
        let b = self.take(4, start, || what.to_string())?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be64(&mut self, start: usize, what: &str) -> Result<u64, StreamError> {
        let b = self.take(8, start, || what.to_string())?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A name with a one-byte length prefix (section idstrs, subsection and RAM block
    /// names). Invalid UTF-8 is kept lossily: QEMU compares the raw bytes.
    pub(crate) fn name8(&mut self, start: usize, what: &str) -> Result<String, StreamError> {
        let len = self.u8(start, what)?;
        let b = self.take(u64::from(len), start, || what.to_string())?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

/// Big-endian u32 at `at`, if the bytes are there.
pub(crate) fn be32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
