//! Two machines in lockstep: the model and another [`Machine`] (real QEMU in practice),
//! each op applied to both by the one interpreter [`fdc::ops::apply`] and every answer,
//! IRQ level, migrated state and DMA buffer compared.

use std::fmt::Write as _;
use std::path::PathBuf;

use fdc::ops::{apply, Answer, Op};
use fdc::{wire, DriveConfig, Fdc, FdcState, Machine, Medium, PcFloppy};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig, CLOCK_STEP_NS};

use super::{Mismatch, MismatchKind, Slot, Stats, DMA_BUF};

/// How far a migration point advances time to let QEMU run again (the oracle needs at
/// least `MIN_FIRST_INCOMING_ADVANCE_NS` after a migration).
const RESUME_NS: u64 = 1_000;

/// What the lockstep comparison needs from the machine beside the model, beyond
/// [`Machine`].
pub trait Reference: Machine {
    /// How many advances so far may have run the timers due exactly at their end (the
    /// oracle lost its watchdog stop and the VM sat running at that instant). 0 for a
    /// machine that keeps the [`Machine::advance_ns`] convention exactly.
    fn inexact_advances(&self) -> usize {
        0
    }
}

impl Reference for Oracle {
    fn inexact_advances(&self) -> usize {
        self.lost_stops() as usize
    }
}

impl Reference for PcFloppy {}

/// The model and another machine side by side.
pub struct Pair<Q: Reference = Oracle> {
    /// The model.
    pub model: PcFloppy,
    /// The machine it is compared with.
    pub other: Q,
    /// Counters of the comparison.
    pub stats: Stats,
}

impl Slot {
    /// The model's configuration of this slot.
    pub fn config(&self) -> DriveConfig {
        match self {
            Slot::Absent => DriveConfig::Absent,
            Slot::Empty => DriveConfig::Empty,
            Slot::Blank { bytes, read_only } => {
                DriveConfig::Medium(Medium::blank(*bytes, *read_only))
            }
        }
    }
}

impl Pair<Oracle> {
    /// Starts QEMU and the model with the same drives; QEMU's files live in `workdir`.
    pub fn start(slots: &[Slot; 2], workdir: PathBuf) -> Result<Pair, String> {
        fdc_oracle::cleanup::create_dir_all(&workdir)
            .map_err(|e| format!("{}: {e}", workdir.display()))?;
        let [c0, c1] = [slots[0].config(), slots[1].config()];
        let cfg = OracleConfig {
            workdir: Some(workdir),
            ..OracleConfig::with_drives([DriveSpec::from(&c0), DriveSpec::from(&c1)])
        };
        let qemu = Oracle::start(cfg).map_err(|e| e.to_string())?;
        Pair::new(PcFloppy::new(Fdc::new(c0, c1)), qemu)
    }
}

impl<Q: Reference> Pair<Q> {
    /// The model and `other`, configured alike; the model's clock is brought to
    /// `other`'s.
    pub fn new(mut model: PcFloppy, mut other: Q) -> Result<Pair<Q>, String> {
        let now = other.now_ns().map_err(|e| e.to_string())?;
        model.fdc.advance_to_exclusive(now);
        Ok(Pair {
            model,
            other,
            stats: Stats::default(),
        })
    }

    fn failed(&self, index: usize, op: &Op, e: impl std::fmt::Display) -> Mismatch {
        Mismatch {
            index,
            kind: MismatchKind::MachineFailed,
            what: format!("{} failed on {op:?}: {e}", self.other.name()),
        }
    }

    fn differs(index: usize, what: String) -> Mismatch {
        Mismatch {
            index,
            kind: MismatchKind::Differs,
            what,
        }
    }

    /// Applies one op to both and compares; returns the (common) answer.
    pub fn step(&mut self, index: usize, op: &Op) -> Result<Answer, Mismatch> {
        self.stats.ops += 1;
        let op = match *op {
            Op::Migrate => return self.compare_migration(index).map(|()| Answer::None),
            Op::Advance { ns } => Op::Advance {
                ns: self.step_avoiding_deadline(ns),
            },
            _ => op.clone(),
        };
        let theirs = apply(&mut self.other, &op).map_err(|e| self.failed(index, &op, e))?;
        let ours = apply(&mut self.model, &op).map_err(|e| self.failed(index, &op, e))?;
        if matches!(op, Op::Advance { .. }) {
            self.catch_up_inexact_advance();
        }
        if self.model.fdc.take_indeterminate() {
            self.resync(index)?;
        }
        if matches!(ours, Answer::Byte(_) | Answer::Word(_)) {
            self.stats.reads += 1;
        }
        if theirs != ours {
            return Err(Self::differs(
                index,
                format!(
                    "{op:?}: {} answered {theirs:?}, the model {ours:?}",
                    self.other.name()
                ),
            ));
        }
        let irq = self.other.irq().map_err(|e| self.failed(index, &op, e))?;
        if irq != self.model.fdc.irq() {
            return Err(Self::differs(
                index,
                format!(
                    "after {op:?}: {} IRQ {irq}, model IRQ {}",
                    self.other.name(),
                    self.model.fdc.irq()
                ),
            ));
        }
        Ok(ours)
    }

    /// A step that would end on, or one or two clock steps before, the READ ID deadline
    /// is lengthened to end one clock step after it. At the deadline instant itself,
    /// whether QEMU stopped by the watchdog has already run the timer is a race (seen both
    /// ways); just before it, the oracle cannot stop (its HPET marker, rounded up, falls on
    /// the deadline). Neither boundary is a property of the controller.
    fn step_avoiding_deadline(&self, ns: u64) -> u64 {
        let f = &self.model.fdc;
        let end = f.now() + ns;
        match f.result_timer() {
            Some(d) if d >= end && d <= end + 2 * CLOCK_STEP_NS => d - f.now() + CLOCK_STEP_NS,
            _ => ns,
        }
    }

    /// After an advance of the other machine that ran the timers due exactly at its end
    /// (see [`Reference::inexact_advances`]), the model runs them too.
    fn catch_up_inexact_advance(&mut self) {
        let inexact = self.other.inexact_advances();
        if inexact > self.stats.lost_stops {
            self.stats.lost_stops = inexact;
            let now = self.model.fdc.now();
            self.model.fdc.advance_to(now);
        }
    }

    /// Advances both by `ns` (a migration point lets QEMU run again).
    fn advance_both(&mut self, index: usize, ns: u64) -> Result<(), Mismatch> {
        let op = Op::Advance { ns };
        apply(&mut self.other, &op).map_err(|e| self.failed(index, &Op::Migrate, e))?;
        apply(&mut self.model, &op).map_err(|e| self.failed(index, &Op::Migrate, e))?;
        self.catch_up_inexact_advance();
        Ok(())
    }

    /// Overwrites the model with the other machine's migrated fdc state, after a step
    /// whose outcome QEMU draws from uninitialised memory.
    fn resync(&mut self, index: usize) -> Result<(), Mismatch> {
        let state = self
            .other
            .save_state()
            .map_err(|e| self.failed(index, &Op::Migrate, e))?;
        let name = self.other.name();
        self.model
            .fdc
            .overwrite_migrated_fields(&state)
            .map_err(|e| Self::differs(index, format!("{name}'s fdc state does not load: {e}")))?;
        self.stats.resyncs += 1;
        self.advance_both(index, RESUME_NS)
    }

    /// Saves both states and compares the fdc sections (every field, every subsection,
    /// byte for byte), then the DMA buffer. QEMU inactivates its disks after a migration
    /// and will not migrate again before it ran; the advance that follows (on both sides)
    /// resumes it.
    pub fn compare_migration(&mut self, index: usize) -> Result<(), Mismatch> {
        let theirs = self
            .other
            .save_state()
            .map_err(|e| self.failed(index, &Op::Migrate, e))?;
        let ours = self
            .model
            .save_state()
            .map_err(|e| self.failed(index, &Op::Migrate, e))?;
        self.stats.migrations += 1;
        let their_subs = subsection_names(&theirs);
        let mut seen = their_subs.clone();
        seen.dedup();
        for name in seen {
            *self.stats.subsections.entry(name.to_string()).or_default() += 1;
        }
        let our_subs = subsection_names(&ours);
        if their_subs != our_subs {
            return Err(Self::differs(
                index,
                format!(
                    "subsections: {} [{}], model [{}]",
                    self.other.name(),
                    their_subs.join(","),
                    our_subs.join(",")
                ),
            ));
        }
        if wire::encode(&theirs) != wire::encode(&ours) {
            return Err(Self::differs(
                index,
                format!("fdc section differs: {}", field_diff(&theirs, &ours)),
            ));
        }
        self.advance_both(index, RESUME_NS)?;
        self.compare_dma_buffer(index)
    }

    fn compare_dma_buffer(&mut self, index: usize) -> Result<(), Mismatch> {
        let addr = u64::from(DMA_BUF);
        let q = self
            .other
            .read_mem(addr, 2048)
            .map_err(|e| self.failed(index, &Op::Migrate, e))?;
        let m = self
            .model
            .read_mem(addr, 2048)
            .map_err(|e| self.failed(index, &Op::Migrate, e))?;
        self.stats.memory_checks += 1;
        if let Some(at) = q.iter().zip(&m).position(|(a, b)| a != b) {
            return Err(Self::differs(
                index,
                format!(
                    "DMA buffer differs at +{at}: {} {:#04x}, model {:#04x}",
                    self.other.name(),
                    q[at],
                    m[at]
                ),
            ));
        }
        Ok(())
    }
}

/// The subsection names of a state in stream order.
fn subsection_names(state: &FdcState) -> Vec<&'static str> {
    wire::subsection_order(state)
        .into_iter()
        .map(|s| s.name())
        .collect()
}

/// A readable list of the fields that differ (`q`: the other machine's, `m`: the
/// model's).
pub fn field_diff(q: &FdcState, m: &FdcState) -> String {
    let qs = format!("{q:?}");
    let ms = format!("{m:?}");
    let split = |s: &str| s.split(", ").map(str::to_owned).collect::<Vec<_>>();
    let (qv, mv) = (split(&qs), split(&ms));
    let mut out = String::new();
    for (a, b) in qv.iter().zip(mv.iter()) {
        if a != b {
            let _ = write!(out, "[QEMU {a} / model {b}] ");
        }
    }
    if out.is_empty() {
        out = "(same decoded fields, different bytes)".into();
    }
    out
}
