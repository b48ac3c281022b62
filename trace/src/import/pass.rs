//! One pass over a QEMU log: its lines parsed, its times rebased, the sidecar's events
//! merged in, and every event handed to a sink.

use super::error::ImportError;
use crate::format::{Event, RecordedMigration};
use crate::lines::read_line_capped;
use crate::migrations::{LogMigration, Unpause};
use crate::qemu_log::{parse_line, LogLine, Parsed, Record};
use crate::serial::SerialMarks;
use crate::sidecar::{SidecarEvent, SidecarKind};
use fdc::registers::{dor, dsr, Register};
use fdc::{Command, Direction};

const DOR: u8 = Register::Dor as u8;
const DSR: u8 = Register::MsrDsr as u8;
const FIFO: u8 = Register::Fifo as u8;
use std::io::{BufRead, BufReader};
use std::iter::Peekable;
use std::path::Path;

/// Synthetic spacing of events when the log has no timestamps.
pub const SYNTHETIC_STEP_NS: u64 = 1000;
/// Longest log line accepted: a longer one is an error (its cut-off part could hold an
/// fdc event; no line QEMU's trace backend writes is that long).
pub const MAX_LOG_LINE: usize = 64 * 1024;
/// How far outside the log's span (first to last timed line) a sidecar event or a
/// recorded migration may lie: further is refused as belonging to another recording.
pub const MAX_OUTSIDE_SPAN_NS: u64 = 24 * 3600 * 1_000_000_000;

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
    /// The recorded migrations, placed in the trace (event index, virtual time).
    pub migrations: Vec<RecordedMigration>,
    /// Host time taken out of the trace's times: the VM stood stopped (ns).
    pub paused_ns: u64,
    /// Host times of the first and the last timed line of the log (fdc or serial).
    pub log_span: Option<(u64, u64)>,
}

/// What a pass merges into the log's events: the sidecar and the recorded migrations,
/// each with the file it came from (for error messages).
#[derive(Debug, Clone, Copy)]
pub struct PassInput<'a> {
    /// The sidecar's events, sorted by time.
    pub sidecar: &'a [SidecarEvent],
    /// The sidecar file.
    pub sidecar_path: &'a Path,
    /// The migrations, in time order.
    pub migrations: &'a [LogMigration],
    /// The migrations file.
    pub migrations_path: &'a Path,
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
    migs: &'a [LogMigration],
    migs_path: &'a Path,
    next_mig: usize,
    unpause: Unpause,
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

/// Runs one pass over `log`, merging `input`'s sidecar and migrations, handing each
/// event to `emit`.
pub fn run_pass(
    log: &Path,
    input: PassInput<'_>,
    emit: &mut dyn FnMut(Event) -> Result<(), ImportError>,
) -> Result<PassStats, ImportError> {
    let f = std::fs::File::open(log).map_err(|source| ImportError::Io {
        path: log.to_path_buf(),
        source,
    })?;
    run_pass_reader(log, &mut BufReader::new(f), input, emit)
}

/// One pass over the log's text from `reader` (`log` names it in errors), merging
/// `input`'s sidecar and migrations, handing each event to `emit`.
pub fn run_pass_reader(
    log: &Path,
    mut reader: &mut dyn BufRead,
    input: PassInput<'_>,
    emit: &mut dyn FnMut(Event) -> Result<(), ImportError>,
) -> Result<PassStats, ImportError> {
    let sidecar = input.sidecar;
    let mut pass = Pass {
        log,
        sidecar_path: input.sidecar_path,
        migs: input.migrations,
        migs_path: input.migrations_path,
        next_mig: 0,
        unpause: Unpause::new(input.migrations),
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
        if truncated {
            return Err(self.line_error(
                line_no,
                format!(
                    "line is longer than {MAX_LOG_LINE} bytes (its cut-off part could hold an fdc event)"
                ),
            ));
        }
        let parsed = parse_line(text).map_err(|e| self.line_error(line_no, e.to_string()))?;
        let line = match parsed {
            Parsed::Line(l) => l,
            Parsed::Unrelated => return Ok(()),
            Parsed::Suspicious => {
                self.st.suspicious += 1;
                return Err(self.line_error(
                    line_no,
                    "the line mentions fdc_ioport_ but is no fdc line this importer understands \
                     (a timestamp out of range, or an unknown prefix?)"
                        .into(),
                ));
            }
        };
        if let Some(u) = line.unix_ns {
            let span = self.st.log_span.get_or_insert((u, u));
            span.0 = span.0.min(u);
            span.1 = span.1.max(u);
        }
        self.check_timestamps(line_no, &line)?;
        let Some(ev) = self.event_of(line.record) else {
            return Ok(());
        };
        match line.unix_ns {
            Some(unix) => {
                self.st
                    .origin
                    .get_or_insert(self.first_sidecar.map_or(unix, |s| s.min(unix)));
                while let Some(e) = self.pending.next_if(|e| e.unix_ns <= unix) {
                    self.put(sidecar_event(e), Some(e.unix_ns))?;
                }
                self.put(ev, Some(unix))
            }
            None => {
                if let Some(m) = self.migs.first() {
                    return Err(self.migration_error(
                        m,
                        "the log has no timestamps, so its migrations cannot be placed \
                         (record with -msg timestamp=on)"
                            .into(),
                    ));
                }
                self.put(ev, None)
            }
        }
    }

    fn migration_error(&self, m: &LogMigration, msg: String) -> ImportError {
        ImportError::Line {
            at: format!("{}:{}", self.migs_path.display(), m.line),
            msg,
        }
    }

    /// The trace time of host time `unix`: the virtual clock since the origin.
    fn rel(&self, unix: u64) -> u64 {
        let origin = self.st.origin.unwrap_or(0);
        self.unpause
            .virt(unix)
            .saturating_sub(self.unpause.virt(origin))
    }

    /// Places the migrations whose stop comes before host time `unix` (all of them with
    /// `None`) at the current event index; the recorder's count of `fdc_ioport` lines
    /// before each must be the count placed before it here.
    fn place_migrations(&mut self, unix: Option<u64>) -> Result<(), ImportError> {
        while let Some(m) = self.migs.get(self.next_mig) {
            if unix.is_some_and(|u| m.stop_unix_ns >= u) {
                break;
            }
            self.next_mig += 1;
            let placed = self.st.reads + self.st.writes;
            if placed != m.fdc_events_before {
                return Err(self.migration_error(
                    m,
                    format!(
                        "by its STOP time this migration comes after {placed} fdc_ioport lines of \
                         {}, but the recorder counted {} (is this the log's migrations file?)",
                        self.log.display(),
                        m.fdc_events_before
                    ),
                ));
            }
            let t_ns = self.rel(m.stop_unix_ns);
            self.st.migrations.push(RecordedMigration {
                index: self.st.events,
                t_ns,
                pause_ns: m.resume_unix_ns - m.stop_unix_ns,
                stop_latency_ns: m.stop_unix_ns - m.request_unix_ns,
                reason: m.reason.clone(),
                sent: m.sent.clone(),
                state: m.state.clone(),
            });
        }
        Ok(())
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

    /// Emits an event at host time `unix` (`None`: the next synthetic time), holding
    /// times from going backwards.
    fn put(&mut self, ev: Event, unix: Option<u64>) -> Result<(), ImportError> {
        let t = match unix {
            Some(u) => {
                self.place_migrations(Some(u))?;
                self.rel(u)
            }
            None => {
                let t = self.synth * SYNTHETIC_STEP_NS;
                self.synth += 1;
                t
            }
        };
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
            self.st
                .origin
                .get_or_insert(self.first_sidecar.unwrap_or(0));
            while let Some(e) = self.pending.next() {
                self.put(sidecar_event(e), Some(e.unix_ns))?;
            }
            if self.st.timed.is_none() {
                self.st.timed = Some(true);
            }
        }
        if self.st.timed == Some(true) || self.st.origin.is_some() {
            self.place_migrations(None)?;
        } else if let Some(m) = self.migs.first() {
            return Err(self.migration_error(
                m,
                format!(
                    "{} has no timed event to place the migrations by",
                    self.log.display()
                ),
            ));
        }
        self.st.paused_ns = self.unpause.total_ns();
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
