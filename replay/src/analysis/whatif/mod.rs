//! The what-if analysis: at every migration point and for every subsection QEMU sends
//! there, what a destination loaded without that subsection would do.
//!
//! # Method
//!
//! * Point `i` is the source's state after the first `i` events (as in the report). For
//!   each subsection `S` QEMU sends there (its `needed()` holds, see
//!   [`fdc::Fdc::needed_subsections`]), the destination is the model loaded from the
//!   point's state with `S` absent ([`fdc::destination::migrate_without`]: QEMU 7.2's
//!   load rules, the source's media, the i8257 channel carried over); `S` is dropped from
//!   both drives for the `fdrive/*` subsections.
//! * Source and destination then replay the trace's remaining recorded events side by
//!   side, with the same DMA inference ([`super::apply`]). The point is classified by the
//!   first event after which a guest could notice a difference, most specific class first
//!   ([`Class`]): `fault` (the destination reached a state QEMU 7.2 aborts on), `data`
//!   (a DMA transfer of another length or from another place, a PIO data byte, or the
//!   medium's content differ), `stall` (the destination is still busy, MSR without RQM
//!   and no interrupt, where the source finished: its MSR shows RQM or it raised the
//!   interrupt), `irq` (the interrupt line differs), `register` (a read returns another
//!   value), else `invisible` (the states became equal again, or the trace ended first).
//! * The trace is open loop: after the first difference the guest would have acted
//!   otherwise, so only the first difference is reported, plus whether and after how many
//!   events the two states became equal again (the fork stops there).
//!
//! # Implementation profiles and migrations between versions
//!
//! * [`WhatifOptions::profile`] replays the source under another implementation
//!   ([`fdc::Profile`]: `qemu-7.2`, `qemu-7.2-no-rqm-fix`, `qemu-2.3`); destinations are of
//!   the same implementation. The traces were recorded on QEMU 7.2, so under another
//!   profile some recorded reads get other values: the guest would have seen those and
//!   acted otherwise, and the replay goes on with the recorded writes (open loop). The
//!   profile table of `whatif`/`report` counts, per profile, the points where its
//!   `fdc/phase` is needed and the traces with such a read (the first one of each, found
//!   by [`crate::analysis::check`] under the profile).
//! * [`WhatifOptions::into`] runs a migration between versions at every point: the
//!   destination is a device of the other implementation loaded from the point's state
//!   with its load rules ([`fdc::destination::Migrator::into_profile`]); a stream carrying
//!   a subsection the destination does not know is refused (counted, not forked). Source
//!   and destination then continue the trace and are classed as above. The comparison
//!   stops when the two states are equal: from there on only the implementations differ
//!   (as in the profile table), not the migrated state. A class can still come from an
//!   implementation difference that shows before the states became equal (the states
//!   differing in something a guest does not see yet). Backward QEMU 7.2 -> 2.3 asks
//!   whether the old version is safe in the prevalent state; forward 2.3 -> 7.2 meets
//!   hazard H6 (a 2.3 READ ID wait has MSR 0x90, which QEMU 7.2 reconstructs as the
//!   command phase, and 2.3 migrates no READ ID timer).
//!
//! # Cost
//!
//! Exact shortcuts keep the cost near the replay's own:
//! * a destination equal to the source right after the load is `invisible` without a fork
//!   (e.g. `fdrive/media_rate`, whose default is the medium's own rate);
//! * forks share trajectories: a destination equal to the state of a fork already running
//!   (typically the previous point's fork, one event later) joins it, and forks whose
//!   states become equal merge. The model is deterministic, so equal states have equal
//!   futures and the results are those of separate forks;
//! * an `fdrive/media_changed` fork that is the source with other DSKCHG latches is kept as
//!   those latches alone (a shadow) while the events are no DIR read: no other handler
//!   reads the latch, and a latch the source's event writes (a seek to another track, a
//!   media change) is written the same in the fork ([`fdc::Drive::latch_writes`]);
//! * a destination without the READ ID timer carries no hold of it, so the destinations
//!   of a READ ID wait's successive points join one fork.
//!
//! A unit test checks over the corpus that shadows give every record real forks give.
//!
//! # Closed loop
//!
//! A trace is open loop; what a guest does after the first difference is measured only
//! where we own the guest: [`closed`] resumes the Windows 2000 driver model from such
//! destinations, against the model, and compares it with its run without migration.
//!
//! Traces are analysed in parallel (one per rayon task); results come back in path order,
//! so the output is the same for any number of threads.

pub mod closed;
pub mod engine;
pub mod real;
pub mod render;
pub mod summary;

pub use engine::{whatif_events, whatif_file, whatif_reader, TraceWhatif, WhatifOptions};

use serde::Serialize;

/// A point's class: the first difference a guest could notice, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The destination reached a state QEMU 7.2 aborts on ([`fdc::Fdc::fault`]).
    Fault,
    /// Bytes moved between medium and guest differ.
    Data,
    /// The destination stays busy where the source completed the command.
    Stall,
    /// The interrupt line differs.
    Irq,
    /// A register read returns another value.
    Register,
    /// No difference a guest could see.
    Invisible,
}

impl Class {
    /// All classes, worst first (the order of [`super::verdict::MODEL_CLASSES`]).
    pub const ALL: [Class; 6] = [
        Class::Fault,
        Class::Data,
        Class::Stall,
        Class::Irq,
        Class::Register,
        Class::Invisible,
    ];

    /// The class's name as the JSON and the tables spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Fault => "fault",
            Class::Data => "data",
            Class::Stall => "stall",
            Class::Irq => "irq",
            Class::Register => "register",
            Class::Invisible => "invisible",
        }
    }
}

/// The first difference between source and destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FirstDifference {
    /// Index of the event after which it shows.
    pub event: u64,
    /// What differs: a register (`MSR`, `FIFO`, `DIR`, ...), `IRQ`, `DMA` (bytes
    /// transferred), `DMA position` (cylinder << 16 | head << 8 | sector after the
    /// transfer), `medium` (1 = content differs) or, for a fault, the register accessed.
    pub register: &'static str,
    /// The source's value.
    #[serde(rename = "source_value")]
    pub source: u32,
    /// The destination's value.
    #[serde(rename = "destination_value")]
    pub destination: u32,
    /// Time from the migration point to the event (ns).
    pub after_ns: u64,
}

/// One point and subsection (`--points` prints these as JSON lines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PointRecord {
    /// Point index (state after this many events).
    pub index: u64,
    /// Time of the point (time of event `index - 1`, 0 for point 0).
    pub t_ns: u64,
    /// The subsection dropped.
    pub subsection: &'static str,
    /// The class.
    pub class: Class,
    /// The first difference, `None` when invisible.
    pub first_difference: Option<FirstDifference>,
    /// Events after which the two states were equal again (0: equal right after the
    /// load); `None` when they never were before the trace ended.
    pub reconverged_after_events: Option<u64>,
    /// Time weight of the point (ns).
    #[serde(skip)]
    pub time_ns: u64,
}

/// Names of the register offsets in differences.
pub const REGISTER_NAMES: [&str; 8] = ["SRA", "SRB", "DOR", "TDR", "MSR", "FIFO", "port6", "DIR"];
