//! Reading text lines of any length in bounded memory (QEMU logs, sidecars).

use std::io::BufRead;
use std::path::PathBuf;

/// Why a line-oriented input file (a sidecar, a migrations file) cannot be used: errors
/// name the file, and the line when there is one.
#[derive(Debug, thiserror::Error)]
pub enum FileLineError {
    /// The file cannot be opened.
    #[error("{}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line cannot be read or parsed, or is out of order.
    #[error("{}:{line}: {msg}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        msg: String,
    },
}

/// Why a line (of a QEMU log or a sidecar) could not be parsed: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LineError(pub String);

/// Reads one line into `buf` (without the `\n`), keeping at most `cap` bytes of it.
/// Returns `None` at end of input, else whether the line was cut. Memory stays bounded
/// whatever the input's line lengths.
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    let mut any = false;
    let mut truncated = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if any { Some(truncated) } else { None });
        }
        any = true;
        let (chunk, done, used) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], true, i + 1),
            None => (avail, false, avail.len()),
        };
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            truncated = true;
            buf.extend_from_slice(&chunk[..room]);
        } else {
            buf.extend_from_slice(chunk);
        }
        r.consume(used);
        if done {
            return Ok(Some(truncated));
        }
    }
}
