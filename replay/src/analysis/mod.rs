//! Replay and analysis: replays traces against the `fdc` model and reports, at every
//! migration point, which migration subsections QEMU would send.
//!
//! # Replay semantics
//!
//! * The model starts as the header's drives give it: units 0 and 1 (a unit 2 or 3 is an
//!   error: the PC controller QEMU emulates has two drive slots), each absent, empty, or
//!   with a medium that is either the embedded image or a blank one of the declared size.
//!   A non-`auto` drive type in the header is not modelled (the drive type is picked from
//!   the medium, as QEMU's default does).
//! * Events are applied in order. Before an event at time `t` the model is advanced to `t`
//!   ([`fdc::Fdc::advance_to`], which fires the READ ID timer when due).
//! * Port reads and writes go to `Fdc::read` / `Fdc::write` (offset = port & 7). After each
//!   port access a pending DMA request is served at once with an
//!   [`fdc::UnboundedChannel`]: a recorded trace does not hold the i8257 programming, so
//!   replay assumes the guest programmed channel 2 for the whole transfer. That channel
//!   discards what the controller writes to memory and reads zeros, so a DMA WRITE writes
//!   zeros to the (replayed) medium; data the controller reads still comes from the
//!   embedded image, if the trace has one.
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

pub mod check;
pub mod cli;
pub mod decode;
pub mod points;
pub mod replay;
pub mod report;
pub mod stats;
pub mod bench;

use crate::trace::{Event, MediaChange, TraceHeader};
use fdc::{Command, DriveConfig, Fdc, Subsection, UnboundedChannel};

/// Stage label of the points before the first stage marker.
pub const INITIAL_STAGE: &str = "start";

/// A compact event (24 bytes) for the replay hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ev {
    pub t: u64,
    pub op: Op,
}

/// What an event does; stage labels are indices into a label table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read { offset: u8, value: u8 },
    Write { offset: u8, value: u8 },
    Stage(u32),
    Eject(u8),
    Insert { drive: u8, read_only: bool, size: u64 },
}

/// Converts a reader event, interning its label in `labels`.
pub fn op_from_event(ev: &Event, labels: &mut Vec<String>) -> Ev {
    let op = match ev {
        Event::PortRead { offset, value, .. } => Op::Read { offset: *offset, value: *value },
        Event::PortWrite { offset, value, .. } => Op::Write { offset: *offset, value: *value },
        Event::Stage { label, .. } => {
            let idx = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    labels.push(label.clone());
                    labels.len() - 1
                }
            };
            Op::Stage(idx as u32)
        }
        Event::Media { drive, change: MediaChange::Eject, .. } => Op::Eject(*drive),
        Event::Media { drive, change: MediaChange::Insert { size, read_only }, .. } => {
            Op::Insert { drive: *drive, read_only: *read_only, size: *size }
        }
    };
    Ev { t: ev.time_ns(), op }
}

/// The model a trace starts from.
pub fn model_from_header(h: &TraceHeader) -> Result<Fdc, String> {
    let mut cfg = [DriveConfig::Absent, DriveConfig::Absent];
    for d in &h.drives {
        let Some(slot) = cfg.get_mut(usize::from(d.unit)) else {
            return Err(format!(
                "drive unit {} cannot be replayed: the PC floppy controller model has units 0 and 1 only",
                d.unit
            ));
        };
        *slot = match &d.medium {
            None => DriveConfig::Empty,
            Some(m) => DriveConfig::Medium(match &m.image {
                Some(img) => fdc::Medium::from_image(img.clone(), m.read_only),
                None => fdc::Medium::blank(m.size, m.read_only),
            }),
        };
    }
    let [a, b] = cfg;
    Ok(Fdc::new(a, b))
}

/// Serves a pending DMA request (see the module docs).
#[inline]
pub fn service_dma(fdc: &mut Fdc) {
    if fdc.take_dreq_asserted() || fdc.dreq() {
        fdc.dma_transfer(&mut UnboundedChannel);
    }
}

/// Applies one event (after advancing the clock to its time). Returns the value the model
/// gave for a port read. Media changes on units 2 and 3 (which the format allows but the
/// model has no slot for) are refused.
#[inline]
pub fn apply(fdc: &mut Fdc, ev: &Ev) -> Result<Option<u8>, String> {
    fdc.advance_to(ev.t);
    match ev.op {
        Op::Read { offset, .. } => {
            let v = fdc.read(u16::from(offset));
            service_dma(fdc);
            Ok(Some(v))
        }
        Op::Write { offset, value } => {
            fdc.write(u16::from(offset), value);
            service_dma(fdc);
            Ok(None)
        }
        Op::Stage(_) => Ok(None),
        Op::Eject(d) => {
            check_unit(d)?;
            fdc.drive_mut(usize::from(d)).eject();
            Ok(None)
        }
        Op::Insert { drive, read_only, size } => {
            check_unit(drive)?;
            fdc.drive_mut(usize::from(drive)).insert(fdc::Medium::blank(size, read_only));
            Ok(None)
        }
    }
}

fn check_unit(d: u8) -> Result<(), String> {
    if d > 1 {
        Err(format!("media change on drive {d}, which the model does not have (units 0 and 1 only)"))
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

/// The key of the model's current state.
#[inline]
pub fn key_of(fdc: &Fdc) -> Key {
    let needed = u16::from(fdc.needed_subsections().bits()) & 0x3f;
    let phase = match fdc.phase_byte() {
        b @ 1..=3 => u16::from(b),
        _ => 0,
    };
    let cmd = match fdc.command_in_progress() {
        None => 0,
        Some(c) => c as u16 + 1,
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
    // Every command is some opcode's decode; find its name through the table.
    for op in 0..=255u8 {
        let c = Command::decode(op);
        if c as u16 + 1 == idx {
            return c.name();
        }
    }
    "unknown"
}

/// Names of the subsections in a bit set, in [`Subsection::ALL`] order.
pub fn needed_names(bits: u8) -> Vec<&'static str> {
    Subsection::ALL
        .into_iter()
        .filter(|s| bits & (1 << (*s as u8)) != 0)
        .map(Subsection::name)
        .collect()
}
