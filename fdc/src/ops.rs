//! A port-level operation vocabulary shared by the property tests, the fuzzers and the
//! differential test against real QEMU: each operation means the same on [`PcFloppy`]
//! and on a QEMU driven through qtest.

use serde::{Deserialize, Serialize};

use crate::isa::PcFloppy;
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
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Byte write to an I/O port (FDC 0x3F0-0x3F7, DMA 0x04/0x05/0x09/0x0A/0x0B/0x0C/0x81).
    Out { port: u16, value: u8 },
    /// Byte read from an I/O port.
    In { port: u16 },
    /// 16-bit write, split by the port layer.
    OutW { port: u16, value: u16 },
    /// 16-bit read.
    InW { port: u16 },
    /// Advance virtual time by `ns`, running timers due before the new time. A timer due
    /// exactly at the new time runs at the start of the next advance: that is what a QEMU
    /// stopped at that instant does (the oracle's convention), and what a running QEMU
    /// does a moment later.
    Advance { ns: u64 },
    /// Eject the medium of a drive.
    Eject { drive: u8 },
    /// Insert a blank medium (size from [`medium_size`]).
    Insert {
        drive: u8,
        size: u8,
        read_only: bool,
    },
    /// Fill guest memory with a pattern (see [`fill_pattern`]), e.g. a DMA buffer.
    Fill { addr: u32, len: u16, seed: u8 },
    /// Save the migration state and continue on a restored copy.
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
    None,
    Byte(u8),
    Word(u16),
}

impl PcFloppy {
    /// Applies an operation. `Migrate` is left to the caller (it needs a policy); here it
    /// is a no-op.
    pub fn apply(&mut self, op: &Op) -> Answer {
        self.run_pending_dma();
        match *op {
            Op::Out { port, value } => {
                self.outb(port, value);
                Answer::None
            }
            Op::In { port } => self.inb(port).map_or(Answer::None, Answer::Byte),
            Op::OutW { port, value } => {
                self.outw(port, value);
                Answer::None
            }
            Op::InW { port } => self.inw(port).map_or(Answer::None, Answer::Word),
            Op::Advance { ns } => {
                let t = self.fdc.now().saturating_add(ns);
                self.fdc.advance_to_exclusive(t);
                Answer::None
            }
            Op::Eject { drive } => {
                self.fdc.drive_mut(drive as usize).eject();
                Answer::None
            }
            Op::Insert {
                drive,
                size,
                read_only,
            } => {
                self.fdc
                    .drive_mut(drive as usize)
                    .insert(Medium::blank(medium_size(size), read_only));
                Answer::None
            }
            Op::Fill { addr, len, seed } => {
                self.memory.write(addr as u64, &fill_pattern(len, seed));
                Answer::None
            }
            Op::Migrate => Answer::None,
        }
    }
}
