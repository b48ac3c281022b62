//! Stage markers written by the guest to its serial port.
//!
//! A guest-side script can announce stages by printing `MARK <stage>` lines on COM1;
//! with `-trace serial_write` QEMU logs every UART register write, so the text can be
//! put back together from the log and each `MARK` line becomes a stage marker, timed
//! with the line's terminating newline (the last byte of the line: the moment the guest
//! finished announcing the stage).
//!
//! What is skipped because it cannot be told apart reliably:
//! * writes to offset 0 while the divisor latch is enabled (LCR bit 7 set): they set the
//!   baud rate, they are not text;
//! * carriage returns, and the bytes of a line longer than the longest stage label allows
//!   (the whole line is dropped);
//! * the trace event does not say *which* UART was written, so text written to several
//!   serial ports at once is interleaved and will not form `MARK` lines. Use one port.

use super::format::MAX_LABEL_BYTES;

/// Longest line kept: `MARK ` plus the longest label, plus slack for surrounding spaces.
const MAX_LINE: usize = MAX_LABEL_BYTES + 64;

/// Reassembles UART transmit bytes into lines and picks out `MARK` lines.
#[derive(Debug, Default)]
pub struct SerialMarks {
    line: Vec<u8>,
    overlong: bool,
    dlab: bool,
    /// Bytes skipped because the divisor latch was enabled.
    pub divisor_bytes: u64,
    /// Lines dropped because they were too long.
    pub overlong_lines: u64,
}

impl SerialMarks {
    /// A reassembler at the start of a line, divisor latch off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one UART register write; returns a stage label when it completes a
    /// `MARK <stage>` line.
    pub fn feed(&mut self, addr: u8, val: u8) -> Option<String> {
        match addr {
            3 => {
                self.dlab = val & 0x80 != 0;
                None
            }
            0 if self.dlab => {
                self.divisor_bytes += 1;
                None
            }
            0 => self.byte(val),
            _ => None,
        }
    }

    fn byte(&mut self, b: u8) -> Option<String> {
        match b {
            b'\n' => {
                let overlong = std::mem::replace(&mut self.overlong, false);
                let line = std::mem::take(&mut self.line);
                if overlong {
                    self.overlong_lines += 1;
                    return None;
                }
                let text = String::from_utf8_lossy(&line);
                let label = text.trim().strip_prefix("MARK ")?.trim();
                if label.is_empty() {
                    None
                } else {
                    Some(label.to_string())
                }
            }
            b'\r' => None,
            _ if self.overlong => None,
            _ if self.line.len() >= MAX_LINE => {
                self.overlong = true;
                self.line.clear();
                None
            }
            _ => {
                self.line.push(b);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_str(s: &mut SerialMarks, text: &str) -> Vec<String> {
        text.bytes().filter_map(|b| s.feed(0, b)).collect()
    }

    #[test]
    fn marks_and_divisor() {
        let mut s = SerialMarks::new();
        assert_eq!(
            feed_str(&mut s, "hello\r\nMARK boot\r\n  MARK  copy files \nMARK\n"),
            ["boot", "copy files"]
        );
        s.feed(3, 0x83);
        assert_eq!(feed_str(&mut s, "MARK x\n"), Vec::<String>::new());
        s.feed(3, 0x03);
        assert_eq!(feed_str(&mut s, "MARK y\n"), ["y"]);
        assert_eq!(s.divisor_bytes, 7);
        let long = format!("MARK {}\nMARK z\n", "a".repeat(MAX_LINE));
        assert_eq!(feed_str(&mut s, &long), ["z"]);
        assert_eq!(s.overlong_lines, 1);
    }
}
