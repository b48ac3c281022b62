//! One pass over a QEMU log: its lines parsed, its times rebased, the sidecar's events
//! merged in, and every event handed to a sink.

use super::error::ImportError;
use crate::format::Event;
use crate::lines::read_line_capped;
use crate::qemu_log::{parse_line, LogLine, Parsed, Record};
use crate::serial::SerialMarks;
use crate::sidecar::{SidecarEvent, SidecarKind};
use fdc::registers::{dor, dsr, Register};
use fdc::{Command, Direction};

const DOR: u8 = Register::Dor as u8;
const DSR: u8 = Register::MsrDsr as u8;
const FIFO: u8 = Register::Fifo as u8;
use std::io::BufReader;
use std::iter::Peekable;
use std::path::Path;

/// Synthetic spacing of events when the log has no timestamps.
pub const SYNTHETIC_STEP_NS: u64 = 1000;
/// Longest log line considered; longer lines are skipped (an fdc line never is that long).
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// What one pass over a log found.
#[derive(Debug, Default, Clone)]
pub struct PassStats {
    /// Events emitted.
    pub events: u64,
    /// Port reads among them.
    pub reads: u64,
    /// Port writes among them.
    pub writes: u64,
    /// Stage markers among them.
    pub markers: u64,
    /// Media changes among them.
    pub media: u64,
    /// Host time of t = 0 (timed logs).
    pub origin: Option<u64>,
    /// Whether the log has timestamps (None: no fdc/serial line at all).
    pub timed: Option<bool>,
    /// Time of the last event.
    pub last_t: u64,
    /// Events whose time went backwards and was held at their predecessor's.
    pub clamped: u64,
    /// Lines mentioning `fdc_ioport_` that were not recognised.
    pub suspicious: u64,
    /// Serial bytes written with the divisor latch enabled (skipped).
    pub serial_divisor_bytes: u64,
    /// Over-long serial lines (skipped).
    pub serial_overlong_lines: u64,
    /// Whether a command that reads the medium was issued (the FIFO byte stream followed
    /// with the model's command table).
    pub data_read: bool,
}

/// Follows the FIFO byte stream just enough to tell whether a command that reads the
/// medium was issued, so that `--embed auto` keeps the image only when it matters.
/// Parameter bytes are skipped using the model's command table
/// ([`Command::parameters`]), so every opcode QEMU accepts, invalid ones included, is
/// followed exactly as the controller follows it.
#[derive(Debug, Default)]
pub(super) struct CommandTracker {
    params_left: u32,
    data_read: bool,
}

impl CommandTracker {
    pub(super) fn write(&mut self, reg: u8, val: u8) {
        match reg {
            // DOR with the reset bit low, or DSR with the software reset bit: the
            // controller starts over.
            DOR if val & dor::NRESET == 0 => self.params_left = 0,
            DSR if val & dsr::SWRESET != 0 => self.params_left = 0,
            FIFO if self.params_left > 0 => self.params_left -= 1,
            FIFO => {
                let cmd = Command::decode(val);
                self.params_left = cmd.parameters();
                if cmd.direction().is_some_and(|d| d != Direction::Write) {
                    self.data_read = true;
                }
            }
            _ => {}
        }
    }

    pub(super) fn read(&mut self, reg: u8) {
        if reg == FIFO {
            self.params_left = 0;
        }
    }

    #[cfg(test)]
    pub(super) fn params_left(&self) -> u32 {
        self.params_left
    }
}

/// The state of one pass; events go to `emit`.
struct Pass<'a, S: Iterator<Item = &'a SidecarEvent>> {
    log: &'a Path,
    sidecar_path: &'a Path,
    sidecar_empty: bool,
    sidecar_has_markers: bool,
    first_sidecar: Option<u64>,
    pending: Peekable<S>,
    st: PassStats,
    marks: SerialMarks,
    cmds: CommandTracker,
    synth: u64,
    emit: &'a mut dyn FnMut(Event) -> Result<(), ImportError>,
}

/// Runs one pass over `log`, merging `sidecar` (read from `sidecar_path`), handing each
/// event to `emit`.
pub fn run_pass(
    log: &Path,
    sidecar: &[SidecarEvent],
    sidecar_path: &Path,
    emit: &mut dyn FnMut(Event) -> Result<(), ImportError>,
) -> Result<PassStats, ImportError> {
    let f = std::fs::File::open(log).map_err(|source| ImportError::Io {
        path: log.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(f);
    let mut pass = Pass {
        log,
        sidecar_path,
        sidecar_empty: sidecar.is_empty(),
        sidecar_has_markers: sidecar
            .iter()
            .any(|e| matches!(e.kind, SidecarKind::Marker(_))),
        first_sidecar: sidecar.first().map(|e| e.unix_ns),
        pending: sidecar.iter().peekable(),
        st: PassStats::default(),
        marks: SerialMarks::new(),
        cmds: CommandTracker::default(),
        synth: 0,
        emit,
    };
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        line_no += 1;
        let truncated = read_line_capped(&mut reader, &mut buf, MAX_LOG_LINE)
            .map_err(|e| pass.line_error(line_no, e.to_string()))?;
        let Some(truncated) = truncated else {
            break;
        };
        pass.line(line_no, &String::from_utf8_lossy(&buf), truncated)?;
    }
    pass.finish()
}

impl<'a, S: Iterator<Item = &'a SidecarEvent>> Pass<'a, S> {
    fn line_error(&self, line: usize, msg: String) -> ImportError {
        ImportError::Line {
            at: format!("{}:{line}", self.log.display()),
            msg,
        }
    }

    /// One line of the log.
    fn line(&mut self, line_no: usize, text: &str, truncated: bool) -> Result<(), ImportError> {
        let parsed = parse_line(text).map_err(|e| self.line_error(line_no, e.to_string()))?;
        let line = match parsed {
            Parsed::Line(l) => l,
            Parsed::Unrelated => return Ok(()),
            Parsed::Suspicious => {
                self.st.suspicious += 1;
                return Ok(());
            }
        };
        if truncated {
            return Err(
                self.line_error(line_no, format!("line is longer than {MAX_LOG_LINE} bytes"))
            );
        }
        self.check_timestamps(line_no, &line)?;
        let Some(ev) = self.event_of(line.record) else {
            return Ok(());
        };
        let t = match line.unix_ns {
            Some(unix) => {
                let origin = *self
                    .st
                    .origin
                    .get_or_insert(self.first_sidecar.map_or(unix, |s| s.min(unix)));
                while let Some(e) = self.pending.next_if(|e| e.unix_ns <= unix) {
                    self.put(sidecar_event(e), e.unix_ns - origin)?;
                }
                unix.saturating_sub(origin)
            }
            None => {
                let t = self.synth * SYNTHETIC_STEP_NS;
                self.synth += 1;
                t
            }
        };
        self.put(ev, t)
    }

    /// A log has timestamps on every event line or on none; a sidecar needs them.
    fn check_timestamps(&mut self, line_no: usize, line: &LogLine) -> Result<(), ImportError> {
        let is_timed = line.unix_ns.is_some();
        match self.st.timed {
            None => {
                self.st.timed = Some(is_timed);
                if !is_timed && !self.sidecar_empty {
                    return Err(self.line_error(
                        line_no,
                        format!(
                            "the log has no timestamps, so the events of {} cannot be placed \
                             (record with -msg timestamp=on, or use --no-sidecar)",
                            self.sidecar_path.display()
                        ),
                    ));
                }
            }
            Some(t) if t != is_timed => {
                return Err(self.line_error(
                    line_no,
                    format!(
                        "this line {} a timestamp but the log's first event line {}",
                        if is_timed { "has" } else { "has no" },
                        if t { "has one" } else { "has none" }
                    ),
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The event a record stands for, if any (serial writes are text until a `MARK` line
    /// completes).
    fn event_of(&mut self, record: Record) -> Option<Event> {
        Some(match record {
            Record::FdcRead { reg, val } => {
                self.cmds.read(reg);
                Event::PortRead {
                    t_ns: 0,
                    offset: reg,
                    value: val,
                }
            }
            Record::FdcWrite { reg, val } => {
                self.cmds.write(reg, val);
                Event::PortWrite {
                    t_ns: 0,
                    offset: reg,
                    value: val,
                }
            }
            // A sidecar that carries markers is the recorder's own account of the stages
            // (the recorders derive it from these very serial lines): the serial MARK lines
            // are then not turned into markers a second time.
            Record::SerialWrite { addr, val } => match self.marks.feed(addr, val) {
                Some(label) if !self.sidecar_has_markers => Event::Stage { t_ns: 0, label },
                _ => return None,
            },
        })
    }

    /// Emits an event at relative time `t`, holding times from going backwards.
    fn put(&mut self, ev: Event, t: u64) -> Result<(), ImportError> {
        let st = &mut self.st;
        let t = if t < st.last_t {
            st.clamped += 1;
            st.last_t
        } else {
            t
        };
        st.last_t = t;
        st.events += 1;
        match &ev {
            Event::PortRead { .. } => st.reads += 1,
            Event::PortWrite { .. } => st.writes += 1,
            Event::Stage { .. } => st.markers += 1,
            Event::Media { .. } => st.media += 1,
        }
        (self.emit)(ev.with_time(t))
    }

    /// Emits the sidecar events after the last log line.
    fn finish(mut self) -> Result<PassStats, ImportError> {
        if self.pending.peek().is_some() {
            let origin = *self
                .st
                .origin
                .get_or_insert(self.first_sidecar.unwrap_or(0));
            while let Some(e) = self.pending.next() {
                self.put(sidecar_event(e), e.unix_ns.saturating_sub(origin))?;
            }
            if self.st.timed.is_none() {
                self.st.timed = Some(true);
            }
        }
        self.st.serial_divisor_bytes = self.marks.divisor_bytes;
        self.st.serial_overlong_lines = self.marks.overlong_lines;
        self.st.data_read = self.cmds.data_read;
        Ok(self.st)
    }
}

/// The trace event of a sidecar line (its time is set by [`Pass::put`]).
fn sidecar_event(e: &SidecarEvent) -> Event {
    match &e.kind {
        SidecarKind::Marker(label) => Event::Stage {
            t_ns: 0,
            label: label.clone(),
        },
        SidecarKind::Media { drive, change } => Event::Media {
            t_ns: 0,
            drive: *drive,
            change: change.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc::{DriveConfig, Fdc, Medium, Phase};

    #[test]
    fn tracker_finds_read_data() {
        let mut c = CommandTracker::default();
        // specify (3 bytes), recalibrate (2), then seek (3): no data read although
        // parameter bytes 0x02/0x06 appear.
        for v in [0x03, 0xaf, 0x02, 0x07, 0x00, 0x0f, 0x00, 0x06] {
            c.write(FIFO, v);
        }
        assert!(!c.data_read);
        c.write(FIFO, 0xe6);
        assert!(c.data_read);
    }

    /// Every one of the 256 opcodes: the tracker skips exactly the parameter bytes the
    /// model's controller accepts in its command phase, and flags exactly the commands
    /// that read the medium.
    #[test]
    fn tracker_follows_the_model_on_all_opcodes() {
        for op in 0..=255u8 {
            let mut fdc = Fdc::new(
                DriveConfig::Medium(Medium::blank(1_474_560, false)),
                DriveConfig::Absent,
            );
            let mut c = CommandTracker::default();
            fdc.write(FIFO.into(), op);
            c.write(FIFO, op);
            let mut accepted = 1;
            while fdc.phase() == Some(Phase::Command) && fdc.data_pos() > 0 {
                fdc.write(FIFO.into(), 0);
                c.write(FIFO, 0);
                accepted += 1;
            }
            let cmd = Command::decode(op);
            assert_eq!(accepted, cmd.parameters() + 1, "opcode {op:#04x}");
            assert_eq!(c.params_left(), 0, "opcode {op:#04x}: tracker out of step");
            let reads = matches!(
                cmd,
                Command::ReadData
                    | Command::ReadTrack
                    | Command::ReadDeleted
                    | Command::Verify
                    | Command::ScanEqual
                    | Command::ScanLowOrEqual
                    | Command::ScanHighOrEqual
            );
            assert_eq!(c.data_read, reads, "opcode {op:#04x} ({})", cmd.name());
        }
    }
}
