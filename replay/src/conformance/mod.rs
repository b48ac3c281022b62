//! Differential conformance: random but well-formed port-level sequences run on the model
//! and on real QEMU (through the oracle), comparing every read, the IRQ level after every
//! operation, and at sampled points the fdc section QEMU really migrates (every field and
//! the set of subsections) with what the model would send.
//!
//! Sequences ([`generate_sequence`]) run back to back on one QEMU (state carries over, as in
//! QEMU's own fdc-test) through a lockstep [`Pair`]; a mismatch is shrunk ([`shrink`])
//! by re-running fresh QEMUs on subsets of the failing prefix, and reported as the op list
//! that shows it.

mod generate;
mod pair;
mod plan;
mod shrink;

pub use generate::generate_sequence;
pub use pair::{field_diff, Pair, Reference};
pub use plan::{
    confirm, describe_failure, instance_ops, run_instance, run_plan, run_plan_with, slot_setups,
    Outcome, Plan, MAX_ATTEMPTS,
};
pub use shrink::{run_ops, run_ops_counted, shrink};

/// The drive set-up of one QEMU instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// No drive.
    Absent,
    /// A drive without a medium.
    Empty,
    /// A blank medium of this many bytes.
    Blank {
        /// Size in bytes.
        bytes: u64,
        /// Write-protected.
        read_only: bool,
    },
}

/// Where sequences put their DMA buffer (below the 64 KiB boundary of page 1).
pub(crate) const DMA_BUF: u32 = 0x1_0000;

/// One difference between the model and QEMU.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// Index of the op after which it showed.
    pub index: usize,
    /// Whether the machines disagree or one of them failed.
    pub kind: MismatchKind,
    /// What was seen.
    pub what: String,
}

/// What a [`Mismatch`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MismatchKind {
    /// The two machines answered differently (a verdict on the model).
    Differs,
    /// A machine failed (QEMU did not answer, a time step overshot...): no verdict.
    MachineFailed,
}

impl Mismatch {
    fn setup(what: String) -> Mismatch {
        Mismatch {
            index: 0,
            kind: MismatchKind::MachineFailed,
            what,
        }
    }
}

/// Counters of a conformance run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub instances: usize,
    pub sequences: usize,
    pub ops: usize,
    pub reads: usize,
    pub migrations: usize,
    pub memory_checks: usize,
    /// Oracle time steps whose watchdog stop was lost and that were stopped by hand.
    pub lost_stops: usize,
    /// How often each subsection appeared in QEMU's streams at the compared points.
    pub subsections: std::collections::BTreeMap<String, usize>,
    /// Times the model was re-synchronised from QEMU's migrated state after a SCAN whose
    /// outcome in QEMU depends on uninitialised memory.
    pub resyncs: usize,
    /// Instances re-run on a fresh QEMU after the oracle itself failed (not a mismatch).
    pub oracle_retries: usize,
    /// Mismatches that did not reproduce on a fresh QEMU (the model is deterministic, so
    /// a real one does): oracle faults, each with its evidence. Not failures.
    pub oracle_faults: Vec<String>,
}

impl Stats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &Stats) {
        self.instances += o.instances;
        self.sequences += o.sequences;
        self.ops += o.ops;
        self.reads += o.reads;
        self.migrations += o.migrations;
        self.memory_checks += o.memory_checks;
        self.lost_stops += o.lost_stops;
        self.resyncs += o.resyncs;
        self.oracle_retries += o.oracle_retries;
        self.oracle_faults.extend(o.oracle_faults.iter().cloned());
        for (k, v) in &o.subsections {
            *self.subsections.entry(k.clone()).or_default() += v;
        }
    }
}
