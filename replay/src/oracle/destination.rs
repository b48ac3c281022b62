//! Destination semantics on real QEMU: migrate a source to a stream, edit the stream
//! (drop a subsection, or add one), start a destination QEMU on it, and run the same
//! port operations on that destination and on the model loaded from the same edited
//! state ([`fdc::destination::load_without`], `Fdc::from_state_unchecked`), recording every
//! answer, the IRQ level, QEMU aborts and the model's faults. The source's own
//! continuation (the unedited outcome) is recorded too, to show what the edit changed.

use std::path::PathBuf;

use fdc::ops::{Answer, Op};
use fdc::{wire, DriveConfig, Fault, Fdc, FdcState, PcFloppy, Subsection};

use super::stream::{self, EditError};
use super::{Migration, Oracle, OracleConfig, OracleError};

/// Time both destinations advance after the operations, before the final re-migration
/// (QEMU refuses to migrate again before the VM ran).
pub const FINAL_ADVANCE_NS: u64 = 1_000;

/// How the stream is edited before the destination loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEdit {
    /// Drop subsection `0` (all drives, or drive `1`).
    Drop(Subsection, Option<usize>),
    /// Add subsection `0` with value `1` (to drive `2`, or every drive lacking it).
    Add(Subsection, i64, Option<usize>),
    /// No edit (the control).
    None,
}

impl StreamEdit {
    /// Applies the edit to a stream.
    pub fn apply(&self, stream: &[u8]) -> Result<Vec<u8>, EditError> {
        match *self {
            StreamEdit::Drop(sub, drive) => stream::drop_fdc_subsection(stream, sub, drive),
            StreamEdit::Add(sub, value, drive) => {
                stream::add_fdc_subsection(stream, sub, value, drive)
            }
            StreamEdit::None => Ok(stream.to_vec()),
        }
    }
}

/// One operation and what a side answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// The answer (`Answer::None` for writes), or why the side could not answer.
    pub answer: Result<Answer, String>,
    /// IRQ 6 after the operation.
    pub irq: bool,
}

/// The destination experiment's record.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The source's migration (unedited).
    pub source: Migration,
    /// The edited stream the destination loaded.
    pub edited: Vec<u8>,
    /// The fdc state the destination received (decoded from `edited`).
    pub received: FdcState,
    /// The destination QEMU's own fdc section right after the load (re-migrated), or why
    /// it could not be read.
    pub qemu_loaded: Result<FdcState, String>,
    /// The model destination's state right after the load.
    pub model_loaded: FdcState,
    /// The destination QEMU's answers.
    pub qemu: Vec<Step>,
    /// The model destination's answers.
    pub model: Vec<Step>,
    /// The first operation at which the model reached a QEMU abort, and which.
    pub model_fault: Option<(usize, Fault)>,
    /// The source's answers to the same operations after its migration.
    pub source_steps: Vec<Step>,
    /// The destination QEMU's fdc section after the operations and [`FINAL_ADVANCE_NS`]
    /// (if it survived).
    pub qemu_final: Result<FdcState, String>,
    /// The model destination's state after the operations and [`FINAL_ADVANCE_NS`].
    pub model_final: FdcState,
}

impl Experiment {
    /// Index and text of the first step where the destination QEMU and the model differ.
    pub fn first_difference(&self) -> Option<(usize, String)> {
        for (i, (q, m)) in self.qemu.iter().zip(&self.model).enumerate() {
            if q != m {
                return Some((
                    i,
                    format!(
                        "{:?}: QEMU {:?} irq {}, model {:?} irq {}",
                        q.op, q.answer, q.irq, m.answer, m.irq
                    ),
                ));
            }
        }
        (self.qemu.len() != self.model.len())
            .then(|| (self.qemu.len().min(self.model.len()), "length".into()))
    }

    /// True if the destination QEMU died with SIGABRT at step `i` (an assertion or
    /// `abort()` in QEMU).
    pub fn qemu_aborted_at(&self) -> Option<usize> {
        self.qemu.iter().position(|s| {
            s.answer
                .as_ref()
                .err()
                .is_some_and(|e| e.contains("SIGABRT"))
        })
    }
}

/// Runs `op` on QEMU as the conformance runner does (reads of undecoded ports answer
/// nothing).
pub fn qemu_apply(o: &mut Oracle, op: &Op) -> Result<Answer, OracleError> {
    match *op {
        Op::Out { port, value } => o.outb(port, value).map(|_| Answer::None),
        Op::In { port } if PcFloppy::fdc_decodes(port) => o.inb(port).map(Answer::Byte),
        Op::In { port } => o.inb(port).map(|_| Answer::None),
        Op::OutW { port, value } => o.outw(port, value).map(|_| Answer::None),
        Op::InW { port } if PcFloppy::fdc_decodes(port) => o.inw(port).map(Answer::Word),
        Op::InW { port } => o.inw(port).map(|_| Answer::None),
        Op::Advance { ns } => o.advance_ns(ns).map(|_| Answer::None),
        Op::Eject { drive } => o.eject(drive).map(|_| Answer::None),
        Op::Insert { .. } | Op::Migrate => Err(OracleError::InvalidArgument(format!(
            "{op:?} is not supported by the destination experiment"
        ))),
        Op::Fill { addr, len, seed } => o
            .write_mem(u64::from(addr), &fdc::ops::fill_pattern(len, seed))
            .map(|_| Answer::None),
    }
}

/// Runs `ops` on QEMU, stopping at the first failure (which is recorded).
pub fn run_qemu(o: &mut Oracle, ops: &[Op]) -> Vec<Step> {
    let mut out = Vec::new();
    for op in ops {
        let lost = o.lost_stops();
        let r = qemu_apply(o, op).map_err(|e| e.to_string());
        let failed = r.is_err();
        if o.lost_stops() != lost {
            // A time step whose watchdog STOP was lost ends with timers due at the target
            // already run; the steps would not be comparable with the model's.
            out.push(Step {
                op: op.clone(),
                answer: Err("lost watchdog stop".into()),
                irq: o.irq(),
            });
            break;
        }
        out.push(Step {
            op: op.clone(),
            answer: r,
            irq: o.irq(),
        });
        if failed {
            break;
        }
    }
    out
}

/// Runs `ops` on the model; returns the steps and the first fault.
pub fn run_model(m: &mut PcFloppy, ops: &[Op]) -> (Vec<Step>, Option<(usize, Fault)>) {
    let mut out = Vec::new();
    let mut fault = None;
    for (i, op) in ops.iter().enumerate() {
        let a = m.apply(op);
        if fault.is_none() {
            if let Some(f) = m.fdc.fault() {
                fault = Some((i, f));
            }
        }
        out.push(Step {
            op: op.clone(),
            answer: Ok(a),
            irq: m.fdc.irq(),
        });
    }
    (out, fault)
}

fn remigrate(o: &mut Oracle) -> Result<FdcState, String> {
    let m = o.migrate().map_err(|e| e.to_string())?;
    wire::decode(&m.fdc_section)
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())
}

/// The state `edit` makes of `state` (what the destination receives).
pub fn edited_state(state: &FdcState, edit: StreamEdit) -> FdcState {
    match edit {
        StreamEdit::Drop(sub, drive) => fdc::destination::without(state, sub, drive),
        StreamEdit::Add(sub, value, drive) => {
            let mut s = state.clone();
            for (i, d) in s.drives.iter_mut().enumerate() {
                if drive.is_some_and(|want| want != i) {
                    continue;
                }
                match sub {
                    Subsection::MediaChanged => d.media_changed = Some(value as u8),
                    Subsection::MediaRate => d.media_rate = Some(value as u8),
                    Subsection::Perpendicular => d.perpendicular = Some(value as u8),
                    _ => {}
                }
            }
            match sub {
                Subsection::ResetSensei => s.reset_sensei = Some(value as i32),
                Subsection::ResultTimer => s.result_timer = Some(value),
                Subsection::Phase => s.phase = Some(value as u8),
                _ => {}
            }
            s
        }
        StreamEdit::None => state.clone(),
    }
}

/// The experiment: migrate `src` now, edit the stream, load it into a destination QEMU
/// started with `dst_cfg` and into the model (drives `dst_drives`), run `ops` on both and
/// on the source. The destination is re-migrated right after the load (before `ops`; so
/// the first time step in `ops` must be at least
/// [`MIN_FIRST_INCOMING_ADVANCE_NS`](super::MIN_FIRST_INCOMING_ADVANCE_NS)) and, after one
/// more step of [`FINAL_ADVANCE_NS`] on both destinations, after them.
pub fn run_experiment(
    src: &mut Oracle,
    dst_cfg: &OracleConfig,
    dst_drives: (DriveConfig, DriveConfig),
    edit: StreamEdit,
    ops: &[Op],
) -> Result<Experiment, String> {
    let source = src
        .migrate()
        .map_err(|e| format!("source migration: {e}"))?;
    let edited = edit
        .apply(&source.stream)
        .map_err(|e| format!("editing the stream: {e}"))?;
    let parsed = stream::MigrationStream::parse(&edited).map_err(|e| e.to_string())?;
    let received = parsed
        .fdc()
        .ok_or("the edited stream has no fdc section")?
        .1
        .state
        .clone();
    let expected = edited_state(
        &wire::decode(&source.fdc_section)
            .map_err(|e| e.to_string())?
            .0,
        edit,
    );
    if expected != received {
        return Err("the edited stream does not carry the edited state".into());
    }
    let file: PathBuf = src.workdir().join("edited.bin");
    std::fs::write(&file, &edited).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut dst =
        Oracle::start_incoming(dst_cfg.clone(), &file).map_err(|e| format!("destination: {e}"))?;
    let now = dst.clock_ns().map_err(|e| e.to_string())?;
    let fdc = Fdc::from_state_unchecked(&received, dst_drives.0, dst_drives.1, now)
        .map_err(|e| format!("model load: {e}"))?;
    let mut model = PcFloppy::new(fdc);
    let model_loaded = model.fdc.state();
    let qemu_loaded = remigrate(&mut dst);
    let qemu = run_qemu(&mut dst, ops);
    let (model_steps, model_fault) = run_model(&mut model, ops);
    let alive = qemu.last().is_none_or(|s| s.answer.is_ok());
    // QEMU refuses a second migration until the VM ran: one more short step on both.
    let qemu_final = if alive {
        let settle = [Op::Advance {
            ns: FINAL_ADVANCE_NS,
        }];
        let _ = run_model(&mut model, &settle);
        match run_qemu(&mut dst, &settle).pop().map(|s| s.answer) {
            Some(Ok(_)) => remigrate(&mut dst),
            Some(Err(e)) => Err(e),
            None => Err("no final step".into()),
        }
    } else {
        Err("the destination QEMU is gone".into())
    };
    let source_steps = run_qemu(src, ops);
    Ok(Experiment {
        source,
        edited,
        received,
        qemu_loaded,
        model_loaded,
        qemu,
        model: model_steps,
        model_fault,
        source_steps,
        qemu_final,
        model_final: model.fdc.state(),
    })
}

/// A compact, readable transcript (`op -> answer [IRQ]`) for reports and failures.
pub fn transcript(steps: &[Step]) -> String {
    let mut out = String::new();
    for s in steps {
        let op = match &s.op {
            Op::Out { port, value } => format!("out {port:#x},{value:#04x}"),
            Op::In { port } => format!("in {port:#x}"),
            Op::Advance { ns } => format!("advance {ns}"),
            other => format!("{other:?}"),
        };
        let a = match &s.answer {
            Ok(Answer::Byte(b)) => format!("={b:#04x}"),
            Ok(Answer::Word(w)) => format!("={w:#06x}"),
            Ok(Answer::None) => String::new(),
            Err(e) => format!(" FAILED({})", e.lines().next().unwrap_or("")),
        };
        out.push_str(&format!("{op}{a}{} ", if s.irq { "^" } else { "" }));
    }
    out.trim_end().to_string()
}
