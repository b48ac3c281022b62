//! Replay and analysis: replays traces against the `fdc` model and reports, at every
//! migration point, which migration subsections QEMU would send.
//!
//! # Replay semantics
//!
//! * The model starts as the header's drives give it: units 0 and 1 (a unit 2 or 3 is an
//!   error: the PC controller QEMU emulates has two drive slots), each absent, empty, or
//!   with a medium that is either the embedded image or a blank one of the declared size.
//!   A non-`auto` drive type in the header is refused (the model picks the drive type
//!   from the medium, as QEMU's default `auto` does, and cannot represent another; see
//!   [`fdc_trace::model`]).
//! * Events are applied in order. Before an event at time `t` the model is advanced to `t`
//!   ([`fdc::Fdc::advance_to`], which fires the READ ID timer when due).
//! * Port reads and writes go to `Fdc::read` / `Fdc::write` (offset = port & 7). After each
//!   port access a pending DMA request is served at once (QEMU's i8257 runs the channel
//!   inside the port access that raised DREQ). A recorded trace does not hold the i8257
//!   programming, so replay assumes channel 2 was programmed and unmasked, and infers its
//!   byte count from the result bytes the guest reads next ([`service_dma`]): the whole
//!   transfer when nothing better is known. The channel discards what the controller
//!   writes to memory and reads zeros, so a DMA WRITE writes zeros to the (replayed)
//!   medium; data the controller reads still comes from the embedded image, if the trace
//!   has one.
//! * A stage marker sets the current stage label; before the first marker the stage is
//!   [`INITIAL_STAGE`].
//! * A media event ejects or inserts (a blank medium of the given size) in the drive.
//!
//! # Migration points
//!
//! A trace of `n` events has `n + 1` points: point `i` is the state after the first `i`
//! events were applied, i.e. the gap between event `i - 1` and event `i` (point 0: before
//! the first event; point `n`: the idle state after the last). Its time `t_ns` is the start
//! of the gap: the time of event `i - 1` (0 for point 0).
//!
//! Weights: every point has event weight 1. The time weight of point `i` (0 < i < n) is
//! the length of its gap, `t(event i) - t(event i-1)`; points 0 and `n` have time weight 0
//! (there is no gap before the first event, and the idle state after the last event has
//! no end). When the READ ID timer fires inside a gap, the gap is split exactly: the part
//! before the expiry is counted with the state at the start of the gap, the part after
//! with the state after the timer fired (which adds time but no event weight).
//!
//! # Report
//!
//! `fdc-replay report` ([`report`]) gives, for each of the six subsections (`fdc/phase`
//! first) and for "any subsection unknown to QEMU 2.3" ([`FAIL_MASK`]), the event- and
//! time-weighted share of points where QEMU would send it: overall, per guest OS, per
//! trace, per stage label (all traces together), per phase and per command in progress
//! (the command whose opcode the controller accepted last, see [`ReplayModel`]). It shows
//! the longest run of consecutive points needing `fdc/phase`, and needing any subsection
//! 2.3 lacks; the idle state after each trace (the state after the last event once a
//! pending READ ID timer fired); and per guest the probability that a backward migration
//! at a random point fails: failing points / points with a 95 % Wilson interval (the rule
//! of three, [0, 3/n], when none fails), plus the time-weighted share. Driver-model traces
//! are marked. Every format opens with the verdict block ([`report::verdict_block`]); the
//! report is built from per-trace integer counts ([`report::record`]), which the JSON
//! carries, so reports of disjoint inputs merge exactly ([`report::merge`]); `--format
//! html` draws per-trace timelines from a bounded time series ([`timeline`]). Exit codes
//! are described in [`crate::cli::analysis`].

pub mod bench;
pub mod check;
pub mod machine;
pub mod migrations;
pub mod points;
pub mod replay;
pub mod report;
pub mod stats;
pub mod timeline;
pub mod verdict;
pub mod whatif;

use fdc::registers::{dor, msr, Register};
use fdc::{Command, Fdc, Subsection, UnboundedChannel};
pub use fdc_trace::compact::{Ev, EvKind};
use fdc_trace::model::SetupError;
use fdc_trace::TraceError;
use fdc_trace::TraceHeader;
use std::path::{Path, PathBuf};

/// Stage label of the points before the first stage marker.
pub const INITIAL_STAGE: &str = "start";

/// Why a trace cannot be replayed. Messages name the file (when there is one) and the
/// event.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace file cannot be read (it names the file and the byte offset).
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The trace's drives cannot be set up on the model.
    #[error("{}: {reason}", file.display())]
    Setup {
        /// The trace.
        file: PathBuf,
        /// What the model cannot represent.
        reason: SetupError,
    },
    /// An event the model cannot apply.
    #[error("{}event {index}: {reason}", file_prefix(file.as_deref()))]
    Event {
        /// The trace, when the events come from one.
        file: Option<PathBuf>,
        /// Index of the event in the trace.
        index: u64,
        /// Why it cannot be applied.
        reason: EventError,
    },
    /// Writing the output failed.
    #[error("writing the points: {0}")]
    Output(#[source] std::io::Error),
    /// The parallel replay lost track of its chunks (a bug, not a property of the trace).
    #[error("{}: internal error: {what}", file.display())]
    Internal {
        /// The trace.
        file: PathBuf,
        /// What went wrong.
        what: &'static str,
    },
}

fn file_prefix(file: Option<&Path>) -> String {
    file.map_or_else(String::new, |f| format!("{}: ", f.display()))
}

/// Why the model cannot apply an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A media change on a unit the model has no slot for (the format allows 0..=3).
    #[error("media change on drive {0}, which the model does not have (units 0 and 1 only)")]
    NoSuchDrive(u8),
}

impl ReplayError {
    /// Names `file` in an event error that does not name one yet.
    pub fn in_file(self, path: &Path) -> ReplayError {
        match self {
            ReplayError::Event {
                file: None,
                index,
                reason,
            } => ReplayError::Event {
                file: Some(path.to_path_buf()),
                index,
                reason,
            },
            ReplayError::Trace(e) => ReplayError::Trace(e.with_file(Some(path))),
            other => other,
        }
    }
}

/// The model a trace starts from (see [`TraceHeader::drive_configs`]).
pub fn model_from_header(h: &TraceHeader, file: &Path) -> Result<Fdc, ReplayError> {
    model_from_header_as(h, file, fdc::Profile::Qemu72)
}

/// [`model_from_header`] for a model of implementation `profile`.
pub fn model_from_header_as(
    h: &TraceHeader,
    file: &Path,
    profile: fdc::Profile,
) -> Result<Fdc, ReplayError> {
    let [a, b] = h.drive_configs().map_err(|reason| ReplayError::Setup {
        file: file.to_path_buf(),
        reason,
    })?;
    Ok(Fdc::with_profile(a, b, profile))
}

/// Register offsets as trace events carry them.
const DOR: u8 = Register::Dor as u8;
const DSR: u8 = Register::MsrDsr as u8;
const FIFO: u8 = Register::Fifo as u8;

/// How far [`apply`] looks ahead for the result bytes of a DMA transfer.
pub const DMA_LOOKAHEAD: usize = 64;

/// A DMA channel programmed for `len` bytes that discards what it is given and reads
/// zeros (like [`UnboundedChannel`], with a terminal count).
#[derive(Clone, Copy, Debug)]
pub struct CountedChannel(pub u32);

impl fdc::DmaChannel for CountedChannel {
    fn transfer_len(&self) -> u32 {
        self.0
    }
    fn write_memory(&mut self, _pos: u32, _data: &mut [u8]) {}
    fn read_memory(&mut self, _pos: u32, buf: &mut [u8]) -> bool {
        buf.fill(0);
        true
    }
}

/// The model plus what the replay tracks beside it: the command whose opcode was
/// accepted last (the FIFO holds result bytes, not the opcode, in the result phase).
#[derive(Clone, Debug)]
pub struct ReplayModel {
    /// The model.
    pub fdc: Fdc,
    /// Discriminant + 1 of the last command whose opcode the controller accepted.
    pub cmd: u8,
    /// How DMA transfers were served (statistics only: not part of the state, ignored
    /// by `==`).
    pub dma: DmaStats,
    /// The last DMA transfer served (set by [`service_dma`], never cleared by it: a
    /// caller that wants to know about one event's transfer clears it first; not part of
    /// the state).
    pub last_dma: Option<DmaTransfer>,
    /// Result bytes still to be read whose values the trace cannot check (and which the
    /// replay took from the recording): see [`NotCheckable`]. 0 outside a result phase.
    pub unknown_results: u8,
    /// `(expiry, until)` of the pending READ ID timer: QEMU may show it pending until
    /// `until`, [`READ_ID_LATENCY_NS`] after its expiry, plus the `stop_latency_ns` of each
    /// recorded migration inside the wait (QEMU's virtual clock stopped up to that much
    /// before the trace says). A read in the window that only a pending timer explains
    /// holds it ([`NotCheckable::ReadIdTiming`]).
    pub read_id_hold: Option<(u64, u64)>,
    /// The last event was a read that the model gave only by holding the READ ID timer
    /// (see [`ReplayModel::read_id_hold`]).
    pub held: bool,
    /// For a fork replayed beside its source (the what-if): the count of the source's
    /// DMA transfer at this event (SCAN excepted: its result comes from the recording). The DMA controller is migrated in its own section,
    /// so the destination's channel is programmed like the source's: a transfer the fork
    /// makes at the same event uses that count instead of searching for the one that
    /// gives the recorded result (which would steer the fork towards the source). Taken
    /// by the next transfer; not part of the state.
    pub dma_count: Option<u32>,
}

/// Why a recorded read cannot be checked: its value depends on data the trace does not
/// hold. The replay takes such values (and the state they imply) from the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotCheckable {
    /// A SCAN EQUAL / LOW OR EQUAL / HIGH OR EQUAL result over DMA: the controller
    /// compares guest memory (which a trace does not hold) with the medium, and where
    /// the scan stops (ST2, the sector, a seek to the next track) depends on it.
    ScanResult,
    /// A read just after a READ ID timer's expiry that shows it still pending: QEMU runs
    /// the timer from its main loop on the host's schedule (and a migration inside the
    /// wait stopped the virtual clock at an instant known only to within the QMP `stop`
    /// latency), so when the guest sees it fire is not the model's to check.
    ReadIdTiming,
}

impl NotCheckable {
    /// The reason, by name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            NotCheckable::ScanResult => "SCAN result (compares guest memory with the medium)",
            NotCheckable::ReadIdTiming => "READ ID timer fired late by QEMU (host scheduling)",
        }
    }
}

/// A DMA transfer the replay served: the byte count it chose and the transfer's
/// direction, i.e. how a real i8257 channel must be programmed to give the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaTransfer {
    /// Bytes the channel was programmed for.
    pub len: u32,
    /// The controller's transfer direction (`None`: a `data_dir` outside 0..=5).
    pub direction: Option<fdc::Direction>,
}

/// How the DMA byte count of each transfer was chosen ([`service_dma`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaStats {
    /// The whole transfer reproduced the recorded result bytes.
    pub whole: u64,
    /// A count of whole sectors shorter than the transfer reproduced them.
    pub shortened: u64,
    /// No result bytes were found ahead: the whole transfer was assumed.
    pub no_result: u64,
    /// No count reproduced the recorded result bytes: the whole transfer was assumed.
    pub no_match: u64,
    /// SCAN transfers: their result comes from the recording (see
    /// [`NotCheckable::ScanResult`]), so they are none of the above.
    pub scan: u64,
    /// A fork's transfers made with its source's count ([`ReplayModel::dma_count`]).
    pub followed: u64,
}

impl PartialEq for ReplayModel {
    fn eq(&self, other: &ReplayModel) -> bool {
        self.cmd == other.cmd
            && self.unknown_results == other.unknown_results
            && self.read_id_hold == other.read_id_hold
            && self.held == other.held
            && self.fdc == other.fdc
    }
}

impl ReplayModel {
    /// The replay state of a model that starts as `fdc`.
    pub fn new(fdc: Fdc) -> ReplayModel {
        ReplayModel {
            fdc,
            cmd: 0,
            dma: DmaStats::default(),
            last_dma: None,
            unknown_results: 0,
            read_id_hold: None,
            held: false,
            dma_count: None,
        }
    }

    /// The model a trace starts from (see [`model_from_header`]).
    pub fn from_header(h: &TraceHeader, file: &Path) -> Result<ReplayModel, ReplayError> {
        model_from_header(h, file).map(ReplayModel::new)
    }

    /// [`ReplayModel::from_header`] with a model of implementation `profile`.
    pub fn from_header_as(
        h: &TraceHeader,
        file: &Path,
        profile: fdc::Profile,
    ) -> Result<ReplayModel, ReplayError> {
        model_from_header_as(h, file, profile).map(ReplayModel::new)
    }

    /// The command in progress, `None` when idle in the command phase.
    pub fn command(&self) -> Option<Command> {
        self.fdc.command_in_progress()?;
        if self.cmd == 0 {
            return self.fdc.command_in_progress();
        }
        command_from_index(u16::from(self.cmd))
    }
}

fn command_from_index(idx: u16) -> Option<Command> {
    (0..=255u8)
        .map(Command::decode)
        .find(|c| *c as u16 + 1 == idx)
}

/// The result bytes the guest reads after a transfer: the next 7 FIFO reads in
/// `ahead`, if no FIFO or DOR write, DSR write or media change comes first.
fn recorded_result(ahead: &[Ev]) -> Option<[u8; 7]> {
    let mut out = [0u8; 7];
    let mut n = 0;
    for ev in ahead.iter().take(DMA_LOOKAHEAD) {
        match ev.kind {
            EvKind::Read {
                offset: FIFO,
                value,
            } => {
                out[n] = value;
                n += 1;
                if n == 7 {
                    return Some(out);
                }
            }
            EvKind::Write {
                offset: DOR | DSR | FIFO,
                ..
            }
            | EvKind::Eject(_)
            | EvKind::Insert { .. } => return None,
            _ => {}
        }
    }
    None
}

/// Shortened DMA counts tried by [`service_dma`]: 1 to this many sectors.
pub const MAX_SHORTENED_SECTORS: u32 = 256;

/// Serves a pending DMA request. The trace does not hold the i8257 programming, so the
/// channel's byte count is unknown. It is inferred from the recording: when the guest
/// reads the transfer's 7 result bytes within the next [`DMA_LOOKAHEAD`] events, the
/// replay uses the first count (the whole transfer, then 1, 2, ...
/// [`MAX_SHORTENED_SECTORS`] sectors) with which the model produces those bytes;
/// otherwise, and when none does, the whole transfer. All candidates come from one pass
/// over the transfer ([`Fdc::dma_transfer_observing`]): its cost is one transfer plus a
/// controller clone per sector boundary, whatever the outcome.
#[inline]
pub fn service_dma(m: &mut ReplayModel, ahead: &[Ev]) {
    if m.fdc.take_dreq_asserted() || m.fdc.dreq() {
        serve_dma_slow(m, ahead);
    }
}

#[cold]
fn serve_dma_slow(m: &mut ReplayModel, ahead: &[Ev]) {
    let fdc = &mut m.fdc;
    if fdc.msr() & msr::RQM != 0 || fdc.fault().is_some() {
        // RQM set: the transfer handler does nothing (a software request, or PIO).
        fdc.dma_transfer(&mut UnboundedChannel);
        return;
    }
    let whole_len = fdc.data_len();
    let transfer = |len| {
        Some(DmaTransfer {
            len,
            direction: fdc.data_dir(),
        })
    };
    if matches!(
        fdc.data_dir(),
        Some(fdc::Direction::ScanEqual | fdc::Direction::ScanLow | fdc::Direction::ScanHigh)
    ) {
        m.dma.scan += 1;
        m.last_dma = transfer(whole_len);
        fdc.dma_transfer(&mut UnboundedChannel);
        if let Some(want) = recorded_result(ahead) {
            adopt_scan_result(fdc, &want);
        }
        m.unknown_results = 7;
        return;
    }
    if let Some(len) = m.dma_count.take() {
        m.dma.followed += 1;
        m.last_dma = transfer(len);
        fdc.dma_transfer(&mut CountedChannel(len));
        return;
    }
    let Some(want) = recorded_result(ahead) else {
        m.dma.no_result += 1;
        m.last_dma = transfer(whole_len);
        fdc.dma_transfer(&mut UnboundedChannel);
        return;
    };
    let result_ok = |f: &Fdc| f.phase() == Some(fdc::Phase::Result) && f.fifo()[..7] == want;
    // One pass over the transfer: at each sector boundary the model shows the state a
    // terminal count there gives; the first that reproduces the result is kept (used
    // only when the whole transfer does not reproduce it).
    let mut shortened: Option<(u32, Fdc)> = None;
    let mut whole = fdc.clone();
    whole.dma_transfer_observing(&mut UnboundedChannel, &mut |bytes, f| {
        if result_ok(f) {
            shortened = Some((bytes, f.clone()));
        }
        shortened.is_none() && bytes < MAX_SHORTENED_SECTORS * 512
    });
    if result_ok(&whole) {
        m.dma.whole += 1;
        m.last_dma = transfer(whole_len);
        *fdc = whole;
        return;
    }
    if let Some((bytes, f)) = shortened {
        m.dma.shortened += 1;
        m.last_dma = transfer(bytes);
        *fdc = f;
        return;
    }
    m.dma.no_match += 1;
    m.last_dma = transfer(whole_len);
    *fdc = whole;
}

/// Takes a SCAN's result from the recording: the 7 result bytes, ST0, and the current
/// drive's head, track and sector (which `fdctrl_stop_transfer` reports in them).
fn adopt_scan_result(fdc: &mut Fdc, want: &[u8; 7]) {
    if fdc.phase() != Some(fdc::Phase::Result) {
        return;
    }
    let mut st = fdc.state();
    st.fifo[..7].copy_from_slice(want);
    st.status0 = want[0];
    let d = &mut st.drives[usize::from(fdc.cur_drv() & 1)];
    (d.track, d.head, d.sect) = (want[3], want[4], want[5]);
    // The state is the model's own with values a scan can produce: cannot fail.
    let _ = fdc.overwrite_migrated_fields(&st);
}

/// Applies one event (after advancing the clock to its time). `ahead` are the events
/// that follow it (for [`service_dma`]). Returns the value the model gave for a port
/// read. Media changes on units 2 and 3 (which the format allows but the model has no
/// slot for) are refused.
#[inline]
pub fn apply(m: &mut ReplayModel, ev: &Ev, ahead: &[Ev]) -> Result<Option<u8>, EventError> {
    advance(m, ev);
    let r = apply_event(m, ev, ahead);
    if m.unknown_results > 0 {
        if let EvKind::Read { offset: FIFO, .. } = ev.kind {
            m.unknown_results -= 1;
        }
        if m.fdc.phase() != Some(fdc::Phase::Result) {
            m.unknown_results = 0;
        }
    }
    r
}

/// How late after its expiry QEMU may fire the READ ID timer (`fdctrl_result_timer`)
/// as the guest sees it: QEMU runs virtual-clock timers from its main loop, which the
/// host schedules. Measured on the corpus' recordings (2 busy cores): up to 0.23 ms late
/// when no migration fell inside the wait (`fdc-replay check` counts every such read).
pub const READ_ID_LATENCY_NS: u64 = 1_000_000;

/// Advances the model to the event's time. In the window after a pending READ ID
/// timer's expiry ([`ReplayModel::read_id_hold`]) a recorded read that the model gives
/// only with the timer still pending holds the timer ([`ReplayModel::held`]): QEMU fired
/// it late.
#[inline]
fn advance(m: &mut ReplayModel, ev: &Ev) {
    m.held = false;
    let Some(expiry) = m.fdc.result_timer() else {
        m.read_id_hold = None;
        m.fdc.advance_to(ev.t);
        return;
    };
    let until = match m.read_id_hold {
        Some((e, u)) if e == expiry => u,
        _ => expiry.saturating_add(READ_ID_LATENCY_NS),
    };
    m.read_id_hold = Some((expiry, until));
    if let (true, EvKind::Read { offset, value }) = (ev.t >= expiry && ev.t < until, ev.kind) {
        let read_at = |t: u64| {
            let mut f = m.fdc.clone();
            f.advance_to(t);
            f.read(u16::from(offset))
        };
        if read_at(ev.t) != value && read_at(expiry.saturating_sub(1)) == value {
            m.fdc.advance_to(expiry.saturating_sub(1));
            m.held = true;
            return;
        }
    }
    m.fdc.advance_to(ev.t);
}

#[inline]
fn apply_event(m: &mut ReplayModel, ev: &Ev, ahead: &[Ev]) -> Result<Option<u8>, EventError> {
    match ev.kind {
        EvKind::Read { offset, .. } => {
            let v = m.fdc.read(u16::from(offset));
            service_dma(m, ahead);
            Ok(Some(v))
        }
        EvKind::Write { offset, value } => {
            let fdc = &mut m.fdc;
            // An opcode: the first byte the FIFO accepts in the command phase.
            let opcode = offset == FIFO
                && fdc.phase_byte() == fdc::Phase::Command as u8
                && fdc.data_pos() == 0
                && fdc.dor() & dor::NRESET != 0
                && fdc.msr() & (msr::RQM | msr::DIO) == msr::RQM
                && fdc.fault().is_none();
            fdc.write(u16::from(offset), value);
            if opcode {
                m.cmd = Command::decode(value) as u8 + 1;
            }
            service_dma(m, ahead);
            Ok(None)
        }
        EvKind::Stage(_) => Ok(None),
        EvKind::Eject(d) => {
            check_unit(d)?;
            m.fdc.drive_mut(usize::from(d)).eject();
            Ok(None)
        }
        EvKind::Insert {
            drive,
            read_only,
            size,
        } => {
            check_unit(drive)?;
            m.fdc
                .drive_mut(usize::from(drive))
                .insert(fdc::Medium::blank(size, read_only));
            Ok(None)
        }
    }
}

fn check_unit(d: u8) -> Result<(), EventError> {
    if d > 1 {
        Err(EventError::NoSuchDrive(d))
    } else {
        Ok(())
    }
}

/// Bits of [`fdc::SubsectionSet::bits`] for the subsections a QEMU 2.3 destination does
/// not know: a migration that sends one of them fails there.
pub const FAIL_MASK: u16 = {
    let mut m = 0u16;
    let mut i = 0;
    while i < Subsection::ALL.len() {
        if !Subsection::ALL[i].known_to_qemu_2_3() {
            m |= 1 << (Subsection::ALL[i] as u8);
        }
        i += 1;
    }
    m
};

/// Bit of `fdc/phase` in a key.
pub const PHASE_BIT: u16 = 1 << (Subsection::Phase as u8);

/// Everything the analysis keeps of a point, packed: bits 0-5 the needed subsections
/// (bit = `Subsection as u8`), bits 6-7 the phase byte (0 = a byte outside 1..=3),
/// bits 8-13 the command in progress (0 = none, else discriminant + 1).
pub type Key = u16;

/// The key of the machine's current state.
#[inline]
pub fn key_of(m: &ReplayModel) -> Key {
    let fdc = &m.fdc;
    let needed = u16::from(fdc.needed_subsections().bits()) & 0x3f;
    let phase = match fdc.phase_byte() {
        b @ 1..=3 => u16::from(b),
        _ => 0,
    };
    // `command_in_progress` decodes fifo[0]; the tracked opcode saves that.
    let idle = fdc.phase_byte() == 1 && fdc.data_pos() == 0;
    let cmd = if idle {
        0
    } else if m.cmd != 0 {
        u16::from(m.cmd)
    } else {
        fdc.command_in_progress().map_or(0, |c| c as u16 + 1)
    };
    needed | (phase << 6) | (cmd << 8)
}

/// Needed-subsection bits of a key.
pub fn key_needed(k: Key) -> u8 {
    (k & 0x3f) as u8
}

/// Phase name of a key.
pub fn key_phase(k: Key) -> &'static str {
    match (k >> 6) & 3 {
        1 => "command",
        2 => "execution",
        3 => "result",
        _ => "invalid",
    }
}

/// Command name of a key ("none" when idle).
pub fn key_command(k: Key) -> &'static str {
    let idx = (k >> 8) & 0x3f;
    if idx == 0 {
        return "none";
    }
    command_from_index(idx).map_or("unknown", Command::name)
}

/// Names of the subsections in a bit set, in [`Subsection::ALL`] order.
pub fn needed_names(bits: u8) -> Vec<&'static str> {
    Subsection::ALL
        .into_iter()
        .filter(|s| bits & (1 << (*s as u8)) != 0)
        .map(Subsection::name)
        .collect()
}
