//! The data path: starting READ/WRITE/VERIFY/SCAN/READ TRACK, the DMA transfer handler,
//! PIO byte by byte, advancing sector by sector, and the migration-only FORMAT routine.

use crate::commands::Direction;
use crate::controller::{data_state, Fdc, FIFO_LEN};
use crate::dma::DmaChannel;
use crate::drive::SeekResult;
use crate::media::SECTOR_LEN;
use crate::registers::{dor, msr, st};

/// The caller's view of [`Fdc::dma_transfer_observing`].
struct Observer<'a> {
    /// `in_dma_run` outside the transfer (restored in the states shown, as
    /// `dma_transfer` restores it).
    outer: bool,
    at_count: &'a mut dyn FnMut(u32, &Fdc) -> bool,
    /// The caller still wants states.
    open: bool,
}

impl Observer<'_> {
    /// Shows the state a terminal count at `bytes` gives: `fdc` as it is, finished.
    fn show(&mut self, fdc: &Fdc, bytes: u32, start: u32, dir: Option<Direction>) {
        let mut f = fdc.clone();
        f.finish_transfer(start, dir);
        f.in_dma_run = self.outer;
        f.sync_phase();
        self.open = (self.at_count)(bytes, &f);
    }
}

impl Fdc {
    /// The i8257 transfer callback (`fdctrl_transfer_handler`). Returns the number of bytes
    /// moved. Call it when [`Fdc::dreq`] is set and channel 2 is unmasked.
    pub fn dma_transfer(&mut self, channel: &mut dyn DmaChannel) -> u32 {
        let len = channel.transfer_len();
        let outer = std::mem::replace(&mut self.in_dma_run, true);
        let done = self.transfer_handler(len, Some(channel), None);
        self.in_dma_run = outer;
        self.sync_phase();
        done
    }

    /// [`Fdc::dma_transfer`] that also shows, at every sector boundary the transfer
    /// passes before its end, the state a channel whose terminal count came there would
    /// have left: `at_count(bytes, &state)` gets exactly the state `dma_transfer` with a
    /// channel of `bytes` bytes (and the same memory) leaves, for every `bytes` = 512 *
    /// k below the transfer's length, in increasing order, until it returns false. One
    /// pass over the sectors, one controller clone per boundary shown: a caller that looks
    /// for the count that gives some result needs no replay per candidate.
    pub fn dma_transfer_observing(
        &mut self,
        channel: &mut dyn DmaChannel,
        at_count: &mut dyn FnMut(u32, &Fdc) -> bool,
    ) -> u32 {
        let len = channel.transfer_len();
        let outer = std::mem::replace(&mut self.in_dma_run, true);
        let mut obs = Observer {
            outer,
            at_count,
            open: true,
        };
        let done = self.transfer_handler(len, Some(channel), Some(&mut obs));
        self.in_dma_run = outer;
        self.sync_phase();
        done
    }

    /// QEMU's block I/O is synchronous for the device but runs a nested event loop while
    /// it waits, and that loop runs pending bottom halves. If channel 2 is requested and
    /// unmasked, the i8257's bottom half is pending, and unless the current handler was
    /// itself called from the i8257 (whose `running` guard then holds) it re-enters the
    /// transfer handler in the middle of the caller's sector I/O. Checked on QEMU 7.2: a
    /// DMA VERIFY (which the controller runs itself) with a stale channel-2 request
    /// advances the head once more than without, exactly as this re-entry predicts,
    /// including the result phase the inner call enters (`data_pos` back to 0).
    fn nested_dma_poll(&mut self) {
        if self.dreq && self.dma_unmasked && !self.in_dma_run && self.fault.is_none() {
            self.in_dma_run = true;
            // No memory accessor: the only handler states reachable here (VERIFY, a PIO
            // write's last sector) move no data through the channel.
            self.transfer_handler(self.dma_len, None, None);
            self.in_dma_run = false;
        }
    }

    fn transfer_handler(
        &mut self,
        dma_len: u32,
        mut channel: Option<&mut dyn DmaChannel>,
        mut observer: Option<&mut Observer<'_>>,
    ) -> u32 {
        if self.fault.is_some() || self.msr & msr::RQM != 0 {
            return 0;
        }
        let slot = self.cur_drive_slot();
        let dir = Direction::from_byte(self.data_dir);
        // Scans start with ST2 = SNS, but QEMU overrides ST2 with SEH at the end whatever
        // the comparison found (`fdctrl_transfer_handler`: `status2 = FD_SR2_SEH` after
        // the transfer loop).
        let dma_len = dma_len.min(self.data_len);
        #[cfg(feature = "bug-cve-2021-3507")]
        if self.data_len > 0x8000_0000 {
            panic!(
                "CVE-2021-3507: DMA transfer with data_len {:#x} reads beyond the 512-byte FIFO",
                self.data_len
            );
        }
        let start = self.data_pos;
        if let Some(obs) = observer.as_deref_mut() {
            // Counts that end at or before the start position transfer nothing.
            let mut k = 1;
            while obs.open && k <= start / SECTOR_LEN as u32 && k * (SECTOR_LEN as u32) < dma_len {
                obs.show(self, k * SECTOR_LEN as u32, start, dir);
                k += 1;
            }
        }
        let mut rel = (self.data_pos % FIFO_LEN as u32) as usize;
        'chunks: while self.data_pos < dma_len {
            let mut len = (dma_len - self.data_pos) as usize;
            if len + rel > SECTOR_LEN {
                len = SECTOR_LEN - rel;
            }
            if dir != Some(Direction::Write) || len < SECTOR_LEN || rel != 0 {
                self.read_sector_into_fifo(slot);
            }
            match dir {
                Some(Direction::Read) => {
                    if let Some(ch) = channel.as_deref_mut() {
                        ch.write_memory(self.data_pos, &mut self.fifo[rel..rel + len]);
                    }
                }
                Some(Direction::Write) => {
                    if self.drives[slot].ro {
                        self.stop_transfer(st::ST0_ABNTERM | st::ST0_SEEK, st::ST1_NW, 0);
                        return 0;
                    }
                    if let Some(ch) = channel.as_deref_mut() {
                        ch.read_memory(self.data_pos, &mut self.fifo[rel..rel + len]);
                    }
                    if !self.write_fifo_sector(slot) {
                        self.stop_transfer(st::ST0_ABNTERM | st::ST0_SEEK, 0, 0);
                        return 0;
                    }
                }
                Some(Direction::Verify) => {}
                // SCAN commands, and (as in QEMU's default branch) a data_dir byte outside
                // 0..=5 that only a stream can load.
                _ => {
                    let mut mem = [0u8; SECTOR_LEN];
                    let filled = match channel.as_deref_mut() {
                        Some(ch) => ch.read_memory(self.data_pos, &mut mem[..len]),
                        None => false,
                    };
                    if !filled {
                        // QEMU compares the sector with an uninitialised stack buffer here
                        // (its i8257 skips the read in verify mode): no model can know the
                        // outcome. The model compares zeros and says so.
                        self.indeterminate = true;
                    }
                    let stop = match mem[..len].cmp(&self.fifo[rel..rel + len]) {
                        std::cmp::Ordering::Equal => true,
                        std::cmp::Ordering::Less => dir == Some(Direction::ScanLow),
                        std::cmp::Ordering::Greater => dir == Some(Direction::ScanHigh),
                    };
                    if stop {
                        break 'chunks;
                    }
                }
            }
            self.data_pos += len as u32;
            rel = (self.data_pos % FIFO_LEN as u32) as usize;
            if rel == 0 {
                if !self.seek_to_next_sect(slot) {
                    break;
                }
                if let Some(obs) = observer.as_deref_mut() {
                    if obs.open && self.data_pos < dma_len {
                        obs.show(self, self.data_pos, start, dir);
                    }
                }
            }
        }
        self.finish_transfer(start, dir)
    }

    /// The end of `fdctrl_transfer_handler` once its loop stopped: the bytes moved since
    /// `start` leave `data_len`, and the result phase starts.
    fn finish_transfer(&mut self, start: u32, dir: Option<Direction>) -> u32 {
        let done = self.data_pos.wrapping_sub(start);
        self.data_len = self.data_len.wrapping_sub(done);
        self.stop_transfer(
            0,
            0,
            if dir.is_some_and(Direction::is_scan) {
                st::ST2_SEH
            } else {
                0
            },
        );
        done
    }

    fn read_sector_into_fifo(&mut self, slot: usize) {
        #[cfg(feature = "bug-cve-2021-20196")]
        if self.drives[slot].backend == crate::drive::Backend::None {
            panic!("CVE-2021-20196: block read on drive slot {slot}, which has no backend (NULL)");
        }
        let mut buf = [0u8; SECTOR_LEN];
        if !self.drives[slot].read_current(&mut buf) {
            buf.fill(0);
        }
        self.fifo[..SECTOR_LEN].copy_from_slice(&buf);
        self.nested_dma_poll();
    }

    fn write_fifo_sector(&mut self, slot: usize) -> bool {
        #[cfg(feature = "bug-cve-2021-20196")]
        if self.drives[slot].backend == crate::drive::Backend::None {
            panic!("CVE-2021-20196: block write on drive slot {slot}, which has no backend (NULL)");
        }
        let mut buf = [0u8; SECTOR_LEN];
        buf.copy_from_slice(&self.fifo[..SECTOR_LEN]);
        let ok = self.drives[slot].write_current(&buf);
        self.nested_dma_poll();
        ok
    }

    /// `fdctrl_seek_to_next_sect`: returns false at the end of the track (or cylinder).
    pub(crate) fn seek_to_next_sect(&mut self, slot: usize) -> bool {
        let multi = self.data_state & data_state::MULTI != 0;
        let d = &mut self.drives[slot];
        let (mut head, mut track, mut sect) = d.position();
        let mut ret = true;
        if sect >= d.last_sect || sect == self.eot {
            sect = 1;
            if multi {
                if head == 0 && d.dbl_sides {
                    head = 1;
                } else {
                    head = 0;
                    track = track.wrapping_add(1);
                    self.status0 |= st::ST0_SEEK;
                    if !d.dbl_sides {
                        ret = false;
                    }
                }
            } else {
                self.status0 |= st::ST0_SEEK;
                track = track.wrapping_add(1);
                ret = false;
            }
        } else {
            sect += 1;
        }
        d.seek(head, track, sect);
        ret
    }

    /// Seeks to the C/H/R of a data command; on failure ends it with the requested C/H/R in
    /// the result. Returns false when the command was ended.
    fn implied_seek(&mut self, slot: usize, kt: u8, kh: u8, ks: u8) -> bool {
        match self.drives[slot].seek(kh, kt, ks) {
            SeekResult::Invalid => {
                self.stop_transfer_chr(st::ST0_ABNTERM, 0, kt, kh, ks);
                false
            }
            SeekResult::BadSector => {
                self.stop_transfer_chr(st::ST0_ABNTERM, st::ST1_EC, kt, kh, ks);
                false
            }
            SeekResult::TrackChanged => {
                self.status0 |= st::ST0_SEEK;
                true
            }
            SeekResult::Same => true,
        }
    }

    fn stop_transfer_chr(&mut self, st0: u8, st1: u8, kt: u8, kh: u8, ks: u8) {
        self.stop_transfer(st0, st1, 0);
        self.fifo[3] = kt;
        self.fifo[4] = kh;
        self.fifo[5] = ks;
    }

    /// `fdctrl_start_transfer`.
    pub(crate) fn start_transfer(&mut self, direction: Direction) {
        self.cur_drv = self.fifo[1] & 1;
        let slot = self.cur_drive_slot();
        let (kt, kh, ks) = (self.fifo[2], self.fifo[3], self.fifo[4]);
        if !self.implied_seek(slot, kt, kh, ks) {
            return;
        }
        if self.dsr & crate::registers::dsr::RATE_MASK != self.drives[slot].media_rate {
            self.stop_transfer_chr(st::ST0_ABNTERM, st::ST1_MA, kt, kh, ks);
            return;
        }
        self.data_dir = direction as u8;
        self.data_pos = 0;
        if self.fifo[0] & 0x80 != 0 {
            self.data_state |= data_state::MULTI;
        } else {
            self.data_state &= !data_state::MULTI;
        }
        if self.fifo[5] == 0 {
            self.data_len = self.fifo[8] as u32;
        } else {
            let unit = 128u32 << self.fifo[5].min(7);
            let mut count = self.fifo[6] as i32 - ks as i32 + 1;
            if count < 0 && !cfg!(feature = "bug-cve-2021-3507") {
                // The CVE-2021-3507 fix: EOT below the start sector is refused.
                self.stop_transfer_chr(st::ST0_ABNTERM, st::ST1_MA, kt, kh, ks);
                return;
            }
            if self.fifo[0] & 0x80 != 0 {
                count += self.fifo[6] as i32;
            }
            self.data_len = unit.wrapping_mul(count as u32);
        }
        self.eot = self.fifo[6];
        // QEMU 7.2 does not look at the DMA channel's mode here (2.x fell back to PIO on a
        // mismatch); the mode only decides what the channel's memory accessors do.
        if self.dor & dor::DMAEN != 0 {
            self.msr &= !msr::RQM;
            if direction != Direction::Verify {
                self.dreq = true;
                self.dreq_asserted = true;
            } else {
                let len = self.data_len;
                self.transfer_handler(len, None, None);
            }
            return;
        }
        // PIO: one IRQ at the start of the execution phase.
        self.msr |= msr::NONDMA;
        // 2.3 left RQM as the command phase had it (set).
        if self.profile.0.after_2_3() {
            self.msr |= msr::RQM;
        }
        if direction != Direction::Write {
            self.msr |= msr::DIO;
        }
        self.raise_irq();
    }

    /// One PIO data byte read (execution phase). Returns false when QEMU returns 0 without
    /// consuming a byte (failed advance at the end of a track).
    pub(crate) fn pio_read_byte(&mut self, slot: usize, pos: usize) -> bool {
        if pos == 0 {
            if self.data_pos != 0 && !self.seek_to_next_sect(slot) {
                return false;
            }
            self.read_sector_into_fifo(slot);
        }
        self.data_pos = self.data_pos.wrapping_add(1);
        if self.data_pos == self.data_len {
            if self.profile.0.clears_rqm_when_done() {
                self.msr &= !msr::RQM;
            }
            self.stop_transfer(0, 0, 0);
        }
        true
    }

    /// One PIO data byte written (execution phase), already stored at `pos`.
    pub(crate) fn pio_write_byte(&mut self, pos: u32) {
        if pos == FIFO_LEN as u32 - 1 || self.data_pos == self.data_len {
            let slot = self.cur_drive_slot();
            if !self.write_fifo_sector(slot) {
                return;
            }
            if !self.seek_to_next_sect(slot) {
                return;
            }
        }
        if self.data_pos == self.data_len {
            self.stop_transfer(0, 0, 0);
        }
    }

    /// `fdctrl_format_sector`: only reachable with the FORMAT bit loaded from a stream.
    pub(crate) fn format_sector(&mut self) {
        self.cur_drv = self.fifo[1] & 1;
        let slot = self.cur_drive_slot();
        let (kt, kh, ks) = (self.fifo[6], self.fifo[7], self.fifo[8]);
        if !self.implied_seek(slot, kt, kh, ks) {
            return;
        }
        self.fifo[..SECTOR_LEN].fill(0);
        if !self.drives[slot].has_backend() || !self.write_fifo_sector(slot) {
            self.stop_transfer(st::ST0_ABNTERM | st::ST0_SEEK, 0, 0);
        } else {
            let d = &self.drives[slot];
            if d.sect == d.last_sect {
                self.data_state &= !data_state::FORMAT;
                self.stop_transfer(0, 0, 0);
            } else {
                self.data_pos = 0;
                self.data_len = 4;
            }
        }
    }
}
