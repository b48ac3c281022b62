//! `fdc-replay check`: replays each trace and compares every recorded port read with the
//! value the model gives (or, through [`Replayer`], the value a machine driven by the
//! model's replay gives).

use super::migrations::{FifoKnown, MigrationCheck};
use super::{apply, key_command, key_of, Ev, EvKind, ReplayError, ReplayModel};
use fdc_trace::RecordedMigration;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::Path;

/// The FIFO's port offset.
const FIFO: u8 = fdc::registers::Register::Fifo as u8;

/// How many preceding events a mismatch report shows.
pub const CONTEXT_EVENTS: usize = 8;

/// One read the replay answers differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the event.
    pub index: u64,
    /// Its time.
    pub t_ns: u64,
    /// The port offset read.
    pub offset: u8,
    /// The value in the recording.
    pub recorded: u8,
    /// The value the replay gave (the model, or the machine checked).
    pub model: u8,
    /// Phase, MSR and command before the read.
    pub phase: String,
    pub msr: u8,
    pub command: &'static str,
    /// The preceding events, rendered.
    pub context: Vec<String>,
}

/// Result of checking one trace.
#[derive(Clone, Debug, Default)]
pub struct CheckResult {
    /// Events replayed.
    pub events: u64,
    /// Port reads compared.
    pub reads: u64,
    /// Port reads not compared because their value depends on data the trace does not
    /// hold, by reason ([`super::NotCheckable::name`]): neither a match nor a mismatch.
    pub not_checkable: std::collections::BTreeMap<&'static str, u64>,
    /// Reads that differ.
    pub mismatches: u64,
    /// Who answered the reads ("the model", "QEMU").
    pub answered_by: &'static str,
    /// The first `keep` mismatches, with context.
    pub first: Vec<Mismatch>,
    /// How the DMA transfers' byte counts were chosen.
    pub dma: super::DmaStats,
    /// The recorded QEMU migrations compared with the model.
    pub migrations: MigrationCheck,
}

impl CheckResult {
    /// Whether anything disagrees (a read or a migration point).
    pub fn failed(&self) -> bool {
        self.mismatches > 0 || self.migrations.disagree() > 0
    }
}

/// One event, rendered for a mismatch's context (`tag` names who gave `answer`).
pub fn describe(index: u64, ev: &Ev, labels: &[String], answer: Option<u8>, tag: &str) -> String {
    const REG: [&str; 8] = [
        "SRA", "SRB", "DOR", "TDR", "MSR/DSR", "FIFO", "-", "DIR/CCR",
    ];
    let what = match ev.kind {
        EvKind::Read { offset, value } => {
            let m = match answer {
                Some(v) if v != value => format!(" ({tag} {v:#04x})"),
                _ => String::new(),
            };
            format!("read  {} -> {value:#04x}{m}", REG[usize::from(offset & 7)])
        }
        EvKind::Write { offset, value } => {
            format!("write {} <- {value:#04x}", REG[usize::from(offset & 7)])
        }
        EvKind::Stage(l) => format!(
            "stage {:?}",
            labels.get(l as usize).map_or("?", String::as_str)
        ),
        EvKind::Eject(d) => format!("eject drive {d}"),
        EvKind::Insert {
            drive,
            read_only,
            size,
        } => format!(
            "insert drive {drive}: {size} bytes{}",
            if read_only { ", ro" } else { "" }
        ),
    };
    format!(
        "#{index} @{}.{:09}s {what}",
        ev.t / 1_000_000_000,
        ev.t % 1_000_000_000
    )
}

/// What replays a trace for [`check`]: the model's replay itself, or a machine driven
/// by it ([`super::machine::MachineReplay`]).
pub trait Replayer {
    /// Why a step failed.
    type Error: From<ReplayError> + From<fdc_trace::TraceError>;
    /// Who answers the reads, in a sentence ("the model gives ...").
    fn answered_by(&self) -> &'static str;
    /// The same, as a short tag in the events of a mismatch's context.
    fn tag(&self) -> &'static str;
    /// The model's replay (its state before each event is the mismatch context).
    fn model(&self) -> &ReplayModel;
    /// Applies event `index` (`ahead`: the events after it in its chunk); returns the
    /// value a port read gave.
    fn step(&mut self, index: u64, ev: &Ev, ahead: &[Ev]) -> Result<Option<u8>, Self::Error>;
    /// A recorded migration stopped QEMU inside the wait of the READ ID timer due at
    /// `expiry`; QEMU may fire it until `until` (see [`ReplayModel::read_id_hold`]).
    /// Machines with a clock of their own ignore it.
    fn hold_read_id(&mut self, _expiry: u64, _until: u64) {}
}

impl Replayer for ReplayModel {
    type Error = ReplayError;
    fn answered_by(&self) -> &'static str {
        "the model"
    }

    fn tag(&self) -> &'static str {
        "model"
    }

    fn model(&self) -> &ReplayModel {
        self
    }

    fn hold_read_id(&mut self, expiry: u64, until: u64) {
        let until = match self.read_id_hold {
            Some((e, u)) if e == expiry => u.saturating_add(until - expiry),
            _ => until.saturating_add(super::READ_ID_LATENCY_NS),
        };
        self.read_id_hold = Some((expiry, until));
    }

    fn step(&mut self, index: u64, ev: &Ev, ahead: &[Ev]) -> Result<Option<u8>, ReplayError> {
        apply(self, ev, ahead).map_err(|reason| ReplayError::Event {
            file: None,
            index,
            reason,
        })
    }
}

/// Checks a trace; `keep` = how many mismatches to keep with context.
pub fn check_file(path: &Path, keep: usize) -> Result<CheckResult, ReplayError> {
    check_file_with(path, keep, CONTEXT_EVENTS)
}

/// [`check_file`] with `context` preceding events per mismatch.
pub fn check_file_with(
    path: &Path,
    keep: usize,
    context: usize,
) -> Result<CheckResult, ReplayError> {
    check_reader(path, fdc_trace::TraceReader::open(path)?, keep, context)
}

/// [`check_file_with`] on a trace already opened (no event read yet) whose errors name
/// `path`: the file is read once, so a pipe works.
pub fn check_reader<I: std::io::Read>(
    path: &Path,
    reader: fdc_trace::TraceReader<I>,
    keep: usize,
    context: usize,
) -> Result<CheckResult, ReplayError> {
    check_reader_as(path, reader, keep, context, fdc::Profile::Qemu72)
}

/// [`check_reader`] with a model of implementation `profile`: the traces were recorded on
/// QEMU 7.2, so under another profile a mismatch is a read the guest would have seen
/// otherwise.
pub fn check_reader_as<I: std::io::Read>(
    path: &Path,
    reader: fdc_trace::TraceReader<I>,
    keep: usize,
    context: usize,
    profile: fdc::Profile,
) -> Result<CheckResult, ReplayError> {
    let mut m = ReplayModel::from_header_as(reader.header(), path, profile)?;
    check_from(path, reader, &mut m, keep, context).map_err(|e| e.in_file(path))
}

/// Compares the recorded migrations at point `i` (the state after `i` events, advanced
/// to the migration's time) with the model; `next` is the first migration not compared
/// yet.
fn migrations_at<R: Replayer>(
    i: u64,
    r: &mut R,
    tainted: bool,
    migs: &[RecordedMigration],
    next: &mut usize,
    out: &mut MigrationCheck,
) {
    while let Some(rec) = migs.get(*next).filter(|r| r.index == i) {
        // The VM stopped at `t_ns` (at most `stop_latency_ns` earlier), inside the gap
        // after event i - 1: a READ ID timer due before then had fired in QEMU, unless
        // QEMU's section says it had not and it was due within the latency.
        let mut f = r.model().fdc.clone();
        let mut t = rec.t_ns;
        if let Some(e) = f.result_timer() {
            let earliest = rec.t_ns.saturating_sub(rec.stop_latency_ns);
            if rec.state.result_timer.is_some() && e <= rec.t_ns && e > earliest {
                t = e - 1;
            }
        }
        f.advance_to(t);
        let known = FifoKnown::after(&f, tainted);
        out.compare(*next, rec, &f.state(), known);
        if let (Some(e), Some(_)) = (f.result_timer(), rec.state.result_timer) {
            r.hold_read_id(e, e.saturating_add(rec.stop_latency_ns));
        }
        *next += 1;
    }
}

/// Replays `path` with `r` and compares every recorded read with what it answers;
/// `keep` mismatches are kept, with `context` preceding events each.
pub fn check<R: Replayer>(
    path: &Path,
    r: &mut R,
    keep: usize,
    context: usize,
) -> Result<CheckResult, R::Error> {
    check_from(path, fdc_trace::TraceReader::open(path)?, r, keep, context)
}

/// [`check`] on a trace already opened (no event read yet) whose errors name `path`.
pub fn check_from<I: std::io::Read, R: Replayer>(
    path: &Path,
    reader: fdc_trace::TraceReader<I>,
    r: &mut R,
    keep: usize,
    context: usize,
) -> Result<CheckResult, R::Error> {
    let mut ctx: VecDeque<String> = VecDeque::with_capacity(context + 1);
    let mut res = CheckResult {
        answered_by: r.answered_by(),
        ..CheckResult::default()
    };
    // The recorded migrations, compared as the replay reaches them.
    let migs = reader.header().migrations.clone();
    let migs = &migs[..];
    let mut next_mig = 0usize;
    // Whether a data transfer went through the FIFO (see `FifoKnown::after`).
    let mut tainted = false;
    fdc_trace::compact::for_each_chunk_from::<I, R::Error>(reader, path, |chunk| {
        for (j, ev) in chunk.events.iter().enumerate() {
            let i = chunk.first_event + j as u64;
            let m = r.model();
            tainted |= m.last_dma.is_some() || m.fdc.phase() == Some(fdc::Phase::Execution);
            migrations_at(i, r, tainted, migs, &mut next_mig, &mut res.migrations);
            let m = r.model();
            // Spelled out only for a mismatch kept (formatting every event costs more
            // than the replay).
            let before = (m.fdc.phase(), m.fdc.phase_byte(), m.fdc.msr(), key_of(m));
            let scan =
                matches!(ev.kind, EvKind::Read { offset: FIFO, .. }) && m.unknown_results > 0;
            let got = r.step(i, ev, &chunk.events[j + 1..])?;
            res.events += 1;
            let unknown = match ev.kind {
                EvKind::Read { .. } if scan => Some(super::NotCheckable::ScanResult),
                EvKind::Read { .. } if r.model().held => Some(super::NotCheckable::ReadIdTiming),
                _ => None,
            };
            if let Some(why) = unknown {
                *res.not_checkable.entry(why.name()).or_default() += 1;
            } else if let (EvKind::Read { offset, value }, Some(answer)) = (ev.kind, got) {
                res.reads += 1;
                if answer != value {
                    res.mismatches += 1;
                    if res.first.len() < keep {
                        res.first.push(Mismatch {
                            index: i,
                            t_ns: ev.t,
                            offset,
                            recorded: value,
                            model: answer,
                            phase: before.0.map_or_else(
                                || format!("invalid({})", before.1),
                                |p| p.name().to_string(),
                            ),
                            msr: before.2,
                            command: key_command(before.3),
                            context: ctx.iter().cloned().collect(),
                        });
                    }
                }
            }
            if keep > 0 && context > 0 {
                if ctx.len() >= context {
                    ctx.pop_front();
                }
                ctx.push_back(describe(i, ev, &chunk.labels, got, r.tag()));
            }
        }
        Ok(())
    })?;
    let m = r.model();
    tainted |= m.last_dma.is_some() || m.fdc.phase() == Some(fdc::Phase::Execution);
    migrations_at(
        res.events,
        r,
        tainted,
        migs,
        &mut next_mig,
        &mut res.migrations,
    );
    for (n, rec) in migs.iter().enumerate().skip(next_mig) {
        res.migrations.beyond(n, rec, res.events);
    }
    res.dma = r.model().dma;
    Ok(res)
}

/// Renders a mismatch for the terminal.
pub fn render_mismatch(path: &Path, m: &Mismatch, answered_by: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: event {}: read of port offset {} returned {:#04x} in the recording, {answered_by} gives {:#04x} \
(before the read: phase {}, MSR {:#04x}, command {})",
        path.display(),
        m.index,
        m.offset,
        m.recorded,
        m.model,
        m.phase,
        m.msr,
        m.command
    );
    for c in &m.context {
        let _ = writeln!(o, "    {c}");
    }
    o
}
