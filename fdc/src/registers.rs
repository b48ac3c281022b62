//! Register offsets and bit definitions of the controller's I/O window.
//!
//! Names follow the Intel 82077AA datasheet; the values are the ones QEMU's `hw/block/fdc.c`
//! uses. Only the bits QEMU actually maintains are listed.

/// Register index inside the 8-byte window (`port & 7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Register {
    /// Status Register A (read). Not decoded by QEMU's ISA front end.
    Sra = 0,
    /// Status Register B (read).
    Srb = 1,
    /// Digital Output Register (read/write).
    Dor = 2,
    /// Tape Drive Register (read/write; QEMU keeps only the boot-select bit).
    Tdr = 3,
    /// Main Status Register on read, Data-rate Select Register on write.
    MsrDsr = 4,
    /// The data FIFO (read/write).
    Fifo = 5,
    /// Offset 6: the core returns all-ones; on a PC it belongs to the IDE controller.
    Unused6 = 6,
    /// Digital Input Register on read, Configuration Control Register on write.
    DirCcr = 7,
}

impl Register {
    /// Decodes an offset the way QEMU's core does (`offset & 7`).
    pub fn from_offset(offset: u16) -> Register {
        match offset & 7 {
            0 => Register::Sra,
            1 => Register::Srb,
            2 => Register::Dor,
            3 => Register::Tdr,
            4 => Register::MsrDsr,
            5 => Register::Fifo,
            6 => Register::Unused6,
            _ => Register::DirCcr,
        }
    }
}

/// Status Register A bits.
pub mod sra {
    /// Set iff the IRQ line is raised (QEMU keeps the line level equal to this bit).
    pub const INTPEND: u8 = 0x80;
    /// Set at controller reset when drive slot 1 has no block backend.
    pub const NDRV2: u8 = 0x40;
}

/// Status Register B bits (only MTR0, MTR1 and DR0 change; bits 6-7 read 1).
pub mod srb {
    /// Drive 0 motor on (DOR.MOTEN0).
    pub const MTR0: u8 = 0x01;
    /// Drive 1 motor on (DOR.MOTEN1).
    pub const MTR1: u8 = 0x02;
    /// Drive select (DOR.SEL).
    pub const DR0: u8 = 0x20;
    /// Value after a controller reset.
    pub const RESET: u8 = 0xC0;
}

/// Digital Output Register bits.
pub mod dor {
    /// Drive select; QEMU's select mask is only bit 0 (two drives).
    pub const SEL: u8 = 0x01;
    /// 1 = controller running, 0 = held in reset.
    pub const NRESET: u8 = 0x04;
    /// QEMU's only selector between DMA and PIO data transfers.
    pub const DMAEN: u8 = 0x08;
    /// Drive 0 motor enable.
    pub const MOTEN0: u8 = 0x10;
    /// Drive 1 motor enable.
    pub const MOTEN1: u8 = 0x20;
}

/// Tape Drive Register: QEMU keeps only the boot-select bit, which swaps drives 0 and 1.
pub mod tdr {
    /// Boot select: swaps drives 0 and 1.
    pub const BOOTSEL: u8 = 0x04;
}

/// Main Status Register bits.
pub mod msr {
    /// Drive busy bits: never set by QEMU.
    pub const DRV_BUSY: u8 = 0x0F;
    /// A command is in progress.
    pub const CMDBUSY: u8 = 0x10;
    /// Execution phase of a PIO transfer.
    pub const NONDMA: u8 = 0x20;
    /// Data direction: 1 = controller to host.
    pub const DIO: u8 = 0x40;
    /// Request for master: the FIFO is ready for the host.
    pub const RQM: u8 = 0x80;
}

/// Data-rate Select Register bits.
pub mod dsr {
    /// The data-rate code.
    pub const RATE_MASK: u8 = 0x03;
    /// Power down.
    pub const PWRDOWN: u8 = 0x40;
    /// Software reset (self-clearing).
    pub const SWRESET: u8 = 0x80;
}

/// Digital Input Register bits.
pub mod dir {
    /// Disk-change line of the selected drive.
    pub const DSKCHG: u8 = 0x80;
}

/// Bits of the result status registers ST0-ST2 as QEMU uses them.
pub mod st {
    /// ST0 drive select.
    pub const ST0_DS: u8 = 0x03;
    /// ST0 head address.
    pub const ST0_HEAD: u8 = 0x04;
    /// ST0 seek end.
    pub const ST0_SEEK: u8 = 0x20;
    /// ST0 abnormal termination.
    pub const ST0_ABNTERM: u8 = 0x40;
    /// ST0 invalid command.
    pub const ST0_INVCMD: u8 = 0x80;
    /// ST0 ready change (interrupt code after a reset).
    pub const ST0_RDYCHG: u8 = 0xC0;
    /// ST1 missing address mark.
    pub const ST1_MA: u8 = 0x01;
    /// ST1 not writable.
    pub const ST1_NW: u8 = 0x02;
    /// ST1 end of cylinder.
    pub const ST1_EC: u8 = 0x80;
    /// ST2 scan not satisfied.
    pub const ST2_SNS: u8 = 0x04;
    /// ST2 scan equal hit.
    pub const ST2_SEH: u8 = 0x08;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's core decodes `offset & 7`: every offset names one of the eight registers,
    /// and each register's offset is its discriminant.
    #[test]
    fn offsets_decode_modulo_eight() {
        let all = [
            Register::Sra,
            Register::Srb,
            Register::Dor,
            Register::Tdr,
            Register::MsrDsr,
            Register::Fifo,
            Register::Unused6,
            Register::DirCcr,
        ];
        for offset in 0..64u16 {
            let r = Register::from_offset(offset);
            assert_eq!(r, all[usize::from(offset & 7)]);
            assert_eq!(r as u16, offset & 7);
        }
    }

    /// Bits that name the same register field never overlap.
    #[test]
    fn bit_masks_are_disjoint() {
        let dor_bits = [dor::SEL, dor::NRESET, dor::DMAEN, dor::MOTEN0, dor::MOTEN1];
        let msr_bits = [msr::CMDBUSY, msr::NONDMA, msr::DIO, msr::RQM];
        for bits in [&dor_bits[..], &msr_bits[..]] {
            let mut seen = 0u8;
            for &b in bits {
                assert_eq!(seen & b, 0, "{b:#04x} overlaps");
                seen |= b;
            }
        }
        assert_eq!(
            msr::DRV_BUSY & (msr::CMDBUSY | msr::NONDMA | msr::DIO | msr::RQM),
            0
        );
    }
}
