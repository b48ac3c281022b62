//! The PC wiring around the controller: QEMU's ISA decode of the FDC ports (offsets 1-5
//! and 7 only), 16-bit accesses split into byte accesses, and the i8257 channel 2 with
//! guest memory, so a port-level script drives the model exactly as it drives QEMU.

use std::collections::BTreeMap;

use crate::controller::Fdc;
use crate::dma::{DmaChannel, DmaMode};
use crate::ports::{i8257, FDC_BASE};

/// Guest physical memory, sparse in 4 KiB pages (DMA buffers are all the model touches).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestMemory {
    pages: BTreeMap<u64, Box<[u8; 4096]>>,
}

impl GuestMemory {
    /// Splits `[addr, addr + len)` into (page, offset in page, offset in buffer, length)
    /// pieces, one page look-up per piece instead of one per byte.
    fn pieces(addr: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
        let mut done = 0usize;
        std::iter::from_fn(move || {
            if done >= len {
                return None;
            }
            let a = addr.wrapping_add(done as u64);
            let off = (a & 0xFFF) as usize;
            let n = (4096 - off).min(len - done);
            let piece = (a >> 12, off, done, n);
            done += n;
            Some(piece)
        })
    }

    /// Fills `buf` from `addr` on (memory never written reads as zeros; addresses wrap).
    pub fn read(&self, addr: u64, buf: &mut [u8]) {
        for (page, off, at, n) in Self::pieces(addr, buf.len()) {
            match self.pages.get(&page) {
                Some(p) => buf[at..at + n].copy_from_slice(&p[off..off + n]),
                None => buf[at..at + n].fill(0),
            }
        }
    }

    /// Writes `data` at `addr` on (addresses wrap).
    pub fn write(&mut self, addr: u64, data: &[u8]) {
        for (page, off, at, n) in Self::pieces(addr, data.len()) {
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; 4096]));
            p[off..off + n].copy_from_slice(&data[at..at + n]);
        }
    }
}

/// The i8257's channel 2 (the floppy channel) as far as the FDC can observe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaChannel2 {
    /// Base address register (the low 16 bits of the address).
    pub base_addr: u16,
    /// Base count register (bytes - 1).
    pub base_count: u16,
    /// Page register (address bits 16-23).
    pub page: u8,
    /// Mode register.
    pub mode: u8,
    /// Mask bit.
    pub masked: bool,
    /// The shared low/high byte flip-flop of the first controller.
    pub flip_flop: bool,
}

impl Default for DmaChannel2 {
    fn default() -> Self {
        DmaChannel2 {
            base_addr: 0,
            base_count: 0,
            page: 0,
            mode: 0,
            masked: true,
            flip_flop: false,
        }
    }
}

struct Channel<'a> {
    regs: &'a DmaChannel2,
    mem: &'a mut GuestMemory,
}

impl Channel<'_> {
    fn addr(&self) -> u64 {
        ((self.regs.page as u64) << 16) | self.regs.base_addr as u64
    }
}

/// QEMU's i8257 memory accessors, quirks included: in verify mode (mode bits 2-3 = 0)
/// nothing is read or written; in address-decrement mode (bit 5) the block lands below the
/// address and the buffer is then "reversed" by a loop that mirrors one half onto the
/// other instead of swapping (for writes this mutates the controller's FIFO).
impl DmaChannel for Channel<'_> {
    fn transfer_len(&self) -> u32 {
        self.regs.base_count as u32 + 1
    }
    fn write_memory(&mut self, pos: u32, data: &mut [u8]) {
        if DmaMode::from_mode_register(self.regs.mode) == DmaMode::Verify {
            return;
        }
        let len = data.len();
        if self.regs.mode & 0x20 != 0 {
            let a = self.addr().wrapping_sub(pos as u64 + len as u64);
            self.mem.write(a, data);
            #[allow(clippy::needless_range_loop)] // QEMU's in-place loop, reproduced as is
            for i in 0..len {
                data[i] = data[len - i - 1];
            }
        } else {
            self.mem.write(self.addr() + pos as u64, data);
        }
    }
    fn read_memory(&mut self, pos: u32, buf: &mut [u8]) -> bool {
        if DmaMode::from_mode_register(self.regs.mode) == DmaMode::Verify {
            return false;
        }
        let len = buf.len();
        if self.regs.mode & 0x20 != 0 {
            let a = self.addr().wrapping_sub(pos as u64 + len as u64);
            self.mem.read(a, buf);
            #[allow(clippy::needless_range_loop)] // QEMU's in-place loop, reproduced as is
            for i in 0..len / 2 {
                buf[i] = buf[len - i - 1];
            }
        } else {
            self.mem.read(self.addr() + pos as u64, buf);
        }
        true
    }
}

/// A PC: the floppy controller on ISA, DMA channel 2 and guest memory.
#[derive(Clone, Debug, PartialEq)]
pub struct PcFloppy {
    /// The controller.
    pub fdc: Fdc,
    /// DMA channel 2.
    pub dma: DmaChannel2,
    /// Guest memory.
    pub memory: GuestMemory,
}

impl PcFloppy {
    /// A PC with this controller, channel 2 masked and memory zeroed.
    pub fn new(fdc: Fdc) -> PcFloppy {
        PcFloppy {
            fdc,
            dma: DmaChannel2::default(),
            memory: GuestMemory::default(),
        }
    }

    /// Whether QEMU's ISA FDC decodes this port (0x3F1-0x3F5, 0x3F7).
    pub fn fdc_decodes(port: u16) -> bool {
        matches!(port.wrapping_sub(FDC_BASE), 1..=5 | 7)
    }

    /// The i8257's `dma_run`: calls the transfer handler if channel 2 is unmasked and
    /// requested. QEMU runs it synchronously when the controller asserts DREQ and on writes
    /// to the request and mask registers; a run that found the controller not ready is
    /// repeated by an idle bottom half, i.e. between two guest accesses
    /// ([`PcFloppy::run_pending_dma`]).
    fn sync_channel(&mut self) {
        self.fdc
            .set_dma_channel(!self.dma.masked, self.dma.base_count as u32 + 1);
    }

    fn run_dma(&mut self) {
        if self.fdc.dreq() && !self.dma.masked {
            let mut ch = Channel {
                regs: &self.dma,
                mem: &mut self.memory,
            };
            self.fdc.dma_transfer(&mut ch);
        }
    }

    /// The bottom half QEMU's i8257 schedules while a channel is requested and unmasked:
    /// it runs between guest accesses. Call it before each access (the
    /// [`crate::machine::Machine`] implementation does).
    pub fn run_pending_dma(&mut self) {
        self.run_dma();
    }

    fn after_fdc_access(&mut self) {
        if self.fdc.take_dreq_asserted() {
            self.run_dma();
        }
    }

    /// A byte write to an I/O port. Ports outside the FDC and DMA channel 2 are ignored.
    /// (The raw access: [`crate::machine::Machine::outb`] serves a pending DMA request
    /// first.)
    pub fn port_out(&mut self, port: u16, value: u8) {
        match port {
            p if Self::fdc_decodes(p) => {
                self.sync_channel();
                self.fdc.write(p - FDC_BASE, value);
                self.after_fdc_access();
                return;
            }
            i8257::ADDR2 | i8257::COUNT2 => {
                let reg = if port == i8257::ADDR2 {
                    &mut self.dma.base_addr
                } else {
                    &mut self.dma.base_count
                };
                *reg = if self.dma.flip_flop {
                    (*reg & 0x00FF) | ((value as u16) << 8)
                } else {
                    (*reg & 0xFF00) | value as u16
                };
                self.dma.flip_flop = !self.dma.flip_flop;
            }
            i8257::PAGE2 => self.dma.page = value,
            i8257::REQUEST if value & 3 == 2 => self.fdc.set_dma_request(value & 4 != 0),
            i8257::MASK if value & 3 == 2 => self.dma.masked = value & 4 != 0,
            i8257::MODE if value & 3 == 2 => {
                self.dma.mode = value;
                return;
            }
            i8257::CLEAR_FLIP_FLOP => {
                self.dma.flip_flop = false;
                return;
            }
            _ => return,
        }
        // Address, count and page writes do not run the channel; request and mask do.
        if matches!(port, i8257::REQUEST | i8257::MASK) {
            self.run_dma();
        }
    }

    /// A byte read from an I/O port; `None` for ports this model does not decode.
    pub fn port_in(&mut self, port: u16) -> Option<u8> {
        if Self::fdc_decodes(port) {
            self.sync_channel();
            let v = self.fdc.read(port - FDC_BASE);
            self.after_fdc_access();
            Some(v)
        } else {
            None
        }
    }

    /// A 16-bit write, split as QEMU's port layer does: low byte to `port`, high byte to
    /// `port + 1` only if that port is decoded by the same device range.
    pub fn port_out16(&mut self, port: u16, value: u16) {
        self.port_out(port, value as u8);
        if Self::fdc_decodes(port) && Self::same_fdc_range(port) {
            self.port_out(port + 1, (value >> 8) as u8);
        }
    }

    /// A 16-bit read, assembled like [`PcFloppy::port_out16`] (0xFF for a missing high
    /// byte).
    pub fn port_in16(&mut self, port: u16) -> Option<u16> {
        let lo = self.port_in(port)? as u16;
        let hi = if Self::same_fdc_range(port) {
            self.port_in(port + 1).unwrap_or(0xFF) as u16
        } else {
            0xFF
        };
        Some(lo | (hi << 8))
    }

    /// QEMU registers the FDC as two ranges, base+1..=base+5 and base+7: a word access
    /// continues into port+1 only inside the first one.
    fn same_fdc_range(port: u16) -> bool {
        matches!(port.wrapping_sub(FDC_BASE), 1..=4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_memory_crosses_pages_and_wraps() {
        let mut m = GuestMemory::default();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        m.write(0x1F00, &data);
        let mut back = vec![0u8; 10_000];
        m.read(0x1F00, &mut back);
        assert_eq!(back, data);
        let mut edge = [0xAAu8; 4];
        m.read(0x1EFE, &mut edge);
        assert_eq!(edge, [0, 0, data[0], data[1]]);
        m.write(u64::MAX - 1, &[1, 2, 3]);
        let mut w = [0u8; 3];
        m.read(u64::MAX - 1, &mut w);
        assert_eq!(w, [1, 2, 3]);
    }
}
