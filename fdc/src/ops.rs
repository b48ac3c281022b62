//! A port-level operation vocabulary shared by the property tests, the fuzzers and the
//! differential test against real QEMU: each operation means the same on every
//! [`Machine`] (the model [`PcFloppy`], or a QEMU driven through qtest), and [`apply`]
//! is its one interpreter.

use serde::{Deserialize, Serialize};

use crate::isa::PcFloppy;
use crate::machine::Machine;
use crate::media::{Medium, FORMATS};

/// Medium sizes used by media operations: every geometry-table size plus odd ones.
pub fn medium_size(index: u8) -> u64 {
    let odd = [0u64, 512, 100 * 1024, 1_474_560 + 512, 4_000_000];
    let i = index as usize % (FORMATS.len() + odd.len());
    FORMATS
        .get(i)
        .map_or_else(|| odd[i - FORMATS.len()], |f| f.bytes())
}

/// One operation on a PC with a floppy controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Byte write to an I/O port (the FDC's, [`crate::ports`], or DMA channel 2's,
    /// [`crate::ports::i8257`]).
    Out {
        /// The port.
        port: u16,
        /// The byte.
        value: u8,
    },
    /// Byte read from an I/O port.
    In {
        /// The port.
        port: u16,
    },
    /// 16-bit write, split by the port layer.
    OutW {
        /// The port of the low byte.
        port: u16,
        /// The word.
        value: u16,
    },
    /// 16-bit read.
    InW {
        /// The port of the low byte.
        port: u16,
    },
    /// Advance virtual time by `ns`, running timers due before the new time. A timer due
    /// exactly at the new time runs at the start of the next advance: that is what a QEMU
    /// stopped at that instant does (the oracle's convention), and what a running QEMU
    /// does a moment later.
    Advance {
        /// Nanoseconds.
        ns: u64,
    },
    /// Eject the medium of a drive.
    Eject {
        /// The drive, 0 or 1.
        drive: u8,
    },
    /// Insert a blank medium (size from [`medium_size`]).
    Insert {
        /// The drive, 0 or 1.
        drive: u8,
        /// Index into the sizes of [`medium_size`].
        size: u8,
        /// Write-protected.
        read_only: bool,
    },
    /// Fill guest memory with a pattern (see [`fill_pattern`]), e.g. a DMA buffer.
    Fill {
        /// Guest physical address.
        addr: u32,
        /// Bytes.
        len: u16,
        /// Pattern seed.
        seed: u8,
    },
    /// Save the migration state ([`apply`]: as a migration does; the callers decide what
    /// follows, e.g. continuing on a restored copy).
    Migrate,
}

/// The bytes [`Op::Fill`] writes.
pub fn fill_pattern(len: u16, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed))
        .collect()
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Nothing to compare: a write, a time step, a media change, or a read of a port the
    /// floppy controller does not decode.
    None,
    /// The byte a read of a controller port gave.
    Byte(u8),
    /// The word a 16-bit read of a controller port gave.
    Word(u16),
}

/// Applies one operation to a machine: the one interpreter of [`Op`], for the model and
/// for real QEMU alike. Reads of ports the floppy controller does not decode answer
/// [`Answer::None`] (the model has no other devices to answer for). `Migrate` saves the
/// state as a migration does and answers `None`; continuing on a restored copy is the
/// caller's policy.
pub fn apply<M: Machine + ?Sized>(m: &mut M, op: &Op) -> Result<Answer, M::Error> {
    let decoded = |port| PcFloppy::fdc_decodes(port);
    Ok(match *op {
        Op::Out { port, value } => {
            m.outb(port, value)?;
            Answer::None
        }
        Op::In { port } => {
            let v = m.inb(port)?;
            if decoded(port) {
                Answer::Byte(v)
            } else {
                Answer::None
            }
        }
        Op::OutW { port, value } => {
            m.outw(port, value)?;
            Answer::None
        }
        Op::InW { port } => {
            let v = m.inw(port)?;
            if decoded(port) {
                Answer::Word(v)
            } else {
                Answer::None
            }
        }
        Op::Advance { ns } => {
            m.advance_ns(ns)?;
            Answer::None
        }
        Op::Eject { drive } => {
            m.eject(drive)?;
            Answer::None
        }
        Op::Insert {
            drive,
            size,
            read_only,
        } => {
            m.insert(drive, &Medium::blank(medium_size(size), read_only))?;
            Answer::None
        }
        Op::Fill { addr, len, seed } => {
            m.write_mem(u64::from(addr), &fill_pattern(len, seed))?;
            Answer::None
        }
        Op::Migrate => {
            m.save_state()?;
            Answer::None
        }
    })
}
