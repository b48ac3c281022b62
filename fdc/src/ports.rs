//! The I/O ports of a PC's floppy controller and of the i8257 DMA channel it uses,
//! named once for the model, the oracle, the generators and the driver model.
//!
//! The FDC names follow the Intel 82077AA datasheet (section 2, "Register description");
//! QEMU's ISA front end (`isa_fdc_realize`) decodes base + 1..=5 and base + 7 only (SRA at
//! base + 0 and the IDE port at base + 6 are not the floppy's on a PC). The i8257 names
//! follow QEMU's `hw/dma/i8257.c` for the first controller (channels 0-3).

use crate::dma::DmaMode;
use crate::registers::Register;

/// The primary floppy controller's I/O base on a PC.
pub const FDC_BASE: u16 = 0x3F0;

/// The port of a controller register (base + its offset).
pub const fn fdc_port(reg: Register) -> u16 {
    FDC_BASE + reg as u16
}

/// Status Register A (read; not decoded by QEMU's ISA front end).
pub const SRA: u16 = fdc_port(Register::Sra);
/// Status Register B (read).
pub const SRB: u16 = fdc_port(Register::Srb);
/// Digital Output Register.
pub const DOR: u16 = fdc_port(Register::Dor);
/// Tape Drive Register.
pub const TDR: u16 = fdc_port(Register::Tdr);
/// Main Status Register (read).
pub const MSR: u16 = fdc_port(Register::MsrDsr);
/// Data-rate Select Register (write; the MSR's port).
pub const DSR: u16 = fdc_port(Register::MsrDsr);
/// The data FIFO.
pub const FIFO: u16 = fdc_port(Register::Fifo);
/// Base + 6: the IDE controller's on a PC, not decoded by the floppy controller.
pub const IDE_SHARED: u16 = fdc_port(Register::Unused6);
/// Digital Input Register (read).
pub const DIR: u16 = fdc_port(Register::DirCcr);
/// Configuration Control Register (write; the DIR's port).
pub const CCR: u16 = fdc_port(Register::DirCcr);

/// i8257 ports for channel 2 (the floppy's) and the first controller's registers.
pub mod i8257 {
    use super::DmaMode;

    /// The floppy's DMA channel.
    pub const CHANNEL: u8 = 2;
    /// Channel 2 base/current address (low byte, then high byte).
    pub const ADDR2: u16 = 0x04;
    /// Channel 2 base/current count (bytes - 1; low byte, then high byte).
    pub const COUNT2: u16 = 0x05;
    /// Request register (software DMA request).
    pub const REQUEST: u16 = 0x09;
    /// Single-channel mask register.
    pub const MASK: u16 = 0x0A;
    /// Mode register.
    pub const MODE: u16 = 0x0B;
    /// Clear the low/high byte flip-flop.
    pub const CLEAR_FLIP_FLOP: u16 = 0x0C;
    /// Channel 2 page register (address bits 16-23).
    pub const PAGE2: u16 = 0x81;

    /// The mode byte of a single transfer on channel 2 of the given type, address
    /// incrementing, no auto-initialisation: 0x42 verify, 0x46 write to memory (what a
    /// floppy READ needs), 0x4A read from memory (WRITE).
    pub const fn single_mode(mode: DmaMode) -> u8 {
        let kind = match mode {
            DmaMode::Verify => 0,
            DmaMode::WriteToMemory => 1,
            DmaMode::ReadFromMemory => 2,
            DmaMode::Illegal => 3,
        };
        0x40 | (kind << 2) | CHANNEL
    }
}

/// Whether a port belongs to the floppy controller's 8-port window.
pub const fn in_fdc_window(port: u16) -> bool {
    port >= FDC_BASE && port < FDC_BASE + 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_pc_map() {
        assert_eq!(
            [SRA, SRB, DOR, TDR, MSR, FIFO, IDE_SHARED, DIR],
            [0x3F0, 0x3F1, 0x3F2, 0x3F3, 0x3F4, 0x3F5, 0x3F6, 0x3F7]
        );
        assert_eq!((DSR, CCR), (MSR, DIR));
        assert_eq!(i8257::single_mode(DmaMode::WriteToMemory), 0x46);
        assert_eq!(i8257::single_mode(DmaMode::ReadFromMemory), 0x4A);
        assert_eq!(i8257::single_mode(DmaMode::Verify), 0x42);
        for m in [
            DmaMode::Verify,
            DmaMode::WriteToMemory,
            DmaMode::ReadFromMemory,
            DmaMode::Illegal,
        ] {
            assert_eq!(DmaMode::from_mode_register(i8257::single_mode(m)), m);
        }
        assert!(in_fdc_window(0x3F7) && !in_fdc_window(0x3F8) && !in_fdc_window(0x3EF));
    }
}
