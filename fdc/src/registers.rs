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
    pub const MTR0: u8 = 0x01;
    pub const MTR1: u8 = 0x02;
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
    pub const MOTEN0: u8 = 0x10;
    pub const MOTEN1: u8 = 0x20;
}

/// Tape Drive Register: QEMU keeps only the boot-select bit, which swaps drives 0 and 1.
pub mod tdr {
    pub const BOOTSEL: u8 = 0x04;
}

/// Main Status Register bits.
pub mod msr {
    /// Drive busy bits: never set by QEMU.
    pub const DRV_BUSY: u8 = 0x0F;
    pub const CMDBUSY: u8 = 0x10;
    pub const NONDMA: u8 = 0x20;
    /// Data direction: 1 = controller to host.
    pub const DIO: u8 = 0x40;
    /// Request for master: the FIFO is ready for the host.
    pub const RQM: u8 = 0x80;
}

/// Data-rate Select Register bits.
pub mod dsr {
    pub const RATE_MASK: u8 = 0x03;
    pub const PWRDOWN: u8 = 0x40;
    pub const SWRESET: u8 = 0x80;
}

/// Digital Input Register bits.
pub mod dir {
    /// Disk-change line of the selected drive.
    pub const DSKCHG: u8 = 0x80;
}

/// Status register 0..3 bits as QEMU uses them.
pub mod st {
    pub const ST0_DS: u8 = 0x03;
    pub const ST0_HEAD: u8 = 0x04;
    pub const ST0_SEEK: u8 = 0x20;
    pub const ST0_ABNTERM: u8 = 0x40;
    pub const ST0_INVCMD: u8 = 0x80;
    pub const ST0_RDYCHG: u8 = 0xC0;
    pub const ST1_MA: u8 = 0x01;
    pub const ST1_NW: u8 = 0x02;
    pub const ST1_EC: u8 = 0x80;
    pub const ST2_SNS: u8 = 0x04;
    pub const ST2_SEH: u8 = 0x08;
}
