//! The qtest text protocol on QEMU's stdin/stdout.
//!
//! A reader thread turns stdout into lines on a channel so every wait can have a deadline:
//! a blocking read on a pipe cannot time out, and a hung QEMU must become an error naming
//! the command, not a hung test. IRQ notifications arrive on the same stream, interleaved
//! with replies, so they are consumed here and only IRQ 6 (the floppy) is tracked.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// ISA IRQ line of the floppy controller.
pub const FDC_IRQ: u32 = 6;

pub(crate) enum Line {
    Text(String),
    Eof,
    Failed(std::io::Error),
}

/// What went wrong talking qtest; mapped to `OracleError` by the caller, which knows how to
/// describe the QEMU process.
pub(crate) enum QtestFailure {
    Timeout,
    Closed,
    Io(std::io::Error),
    Fail(String),
    Unexpected(String),
}

pub(crate) struct Qtest {
    stdin: ChildStdin,
    rx: Receiver<Line>,
    irq6: bool,
}

impl Qtest {
    pub(crate) fn new(stdin: ChildStdin, stdout: ChildStdout) -> Qtest {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("qemu-qtest-reader".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                loop {
                    let mut line = String::new();
                    let msg = match reader.read_line(&mut line) {
                        Ok(0) => Line::Eof,
                        Ok(_) => Line::Text(line.trim_end().to_string()),
                        Err(e) => Line::Failed(e),
                    };
                    let last = !matches!(msg, Line::Text(_));
                    if tx.send(msg).is_err() || last {
                        break;
                    }
                }
            })
            .ok();
        Qtest {
            stdin,
            rx,
            irq6: false,
        }
    }

    pub(crate) fn irq(&self) -> bool {
        self.irq6
    }

    /// Overrides the tracked level (used when a destination inherits a raised line).
    pub(crate) fn set_irq(&mut self, level: bool) {
        self.irq6 = level;
    }

    /// Sends one command and returns the text after `OK` (without the leading space).
    pub(crate) fn command(&mut self, cmd: &str, timeout: Duration) -> Result<String, QtestFailure> {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    QtestFailure::Closed
                } else {
                    QtestFailure::Io(e)
                }
            })?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.rx.recv_timeout(left) {
                Ok(Line::Text(line)) => line,
                Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(QtestFailure::Closed)
                }
                Ok(Line::Failed(e)) => return Err(QtestFailure::Io(e)),
                Err(RecvTimeoutError::Timeout) => return Err(QtestFailure::Timeout),
            };
            if self.note_irq(&line) {
                continue;
            }
            if line == "OK" {
                return Ok(String::new());
            }
            if let Some(rest) = line.strip_prefix("OK ") {
                return Ok(rest.to_string());
            }
            if line.starts_with("FAIL") {
                return Err(QtestFailure::Fail(line));
            }
            return Err(QtestFailure::Unexpected(line));
        }
    }

    /// Consumes an `IRQ raise N` / `IRQ lower N` line; true if the line was one.
    fn note_irq(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        if words.next() != Some("IRQ") {
            return false;
        }
        let level = match words.next() {
            Some("raise") => true,
            Some("lower") => false,
            _ => return false,
        };
        if words.next().and_then(|n| n.parse::<u32>().ok()) == Some(FDC_IRQ) {
            self.irq6 = level;
        }
        true
    }
}

/// Parses a qtest number reply such as `0x0080` or `0x000000000000005a`.
pub(crate) fn parse_hex(reply: &str) -> Option<u64> {
    let digits = reply.trim().strip_prefix("0x")?;
    u64::from_str_radix(digits, 16).ok()
}
