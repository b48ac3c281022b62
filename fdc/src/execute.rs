//! The execution phase of every command, one handler per command of the 82077AA
//! datasheet's command set (section 8, "Command set descriptions"), each as QEMU's
//! `fdctrl_handle_*` implements it. [`Fdc::run_command`] dispatches on the opcode once
//! the last parameter byte has been written (`fdctrl_write_data`).

use crate::commands::Command;
use crate::controller::{
    data_state, Fdc, FIFO_LEN, MAX_CLOCK_NS, READ_ID_DELAY_NS, RESET_SENSEI_COUNT,
};
use crate::registers::{dor, sra, st};

impl Fdc {
    /// Runs the command whose opcode is in `fifo[0]` and parameters in `fifo[1..]`.
    pub(crate) fn run_command(&mut self) {
        let cmd = Command::decode(self.fifo[0]);
        match cmd {
            Command::ReadData
            | Command::WriteData
            | Command::ReadTrack
            | Command::Verify
            | Command::ScanEqual
            | Command::ScanLowOrEqual
            | Command::ScanHighOrEqual => {
                if let Some(dir) = cmd.direction() {
                    self.start_transfer(dir);
                }
            }
            Command::ReadDeleted | Command::WriteDeleted => self.deleted_data(),
            Command::FormatTrack => self.format_track(),
            Command::ReadId => self.read_id(),
            Command::Recalibrate => self.recalibrate(),
            Command::SenseInterruptStatus => self.sense_interrupt_status(),
            Command::Specify => self.specify(),
            Command::SenseDriveStatus => self.sense_drive_status(),
            Command::Seek => self.seek(),
            Command::RelativeSeekOut => self.relative_seek_out(),
            Command::RelativeSeekIn => self.relative_seek_in(),
            Command::Dumpreg => self.dumpreg(),
            Command::Version => self.one_result_byte(0x90),
            Command::PerpendicularMode => self.perpendicular_mode(),
            Command::Configure => self.configure(),
            Command::Lock => self.lock(),
            Command::PowerdownMode => self.powerdown_mode(),
            Command::PartId => self.one_result_byte(0x41),
            Command::Save => self.save(),
            Command::Option => self.enter_command_phase(),
            Command::Restore => self.restore(),
            Command::DriveSpecification => self.drive_specification(),
            Command::FormatAndWrite | Command::Invalid => self.one_result_byte(st::ST0_INVCMD),
        }
    }

    /// A command whose result phase is one byte (VERSION, PART ID, an invalid opcode).
    fn one_result_byte(&mut self, value: u8) {
        self.fifo[0] = value;
        self.enter_result_phase(1);
    }

    /// READ DELETED DATA / WRITE DELETED DATA: not implemented by QEMU, immediate abnormal
    /// termination.
    fn deleted_data(&mut self) {
        self.stop_transfer(st::ST0_ABNTERM | st::ST0_SEEK, 0, 0);
    }

    /// The drive unit of parameter byte 1, made the current drive; its slot.
    fn select_drive_of_params(&mut self) -> usize {
        self.cur_drv = self.fifo[1] & 1;
        self.cur_drive_slot()
    }

    /// The end of SEEK, RELATIVE SEEK and RECALIBRATE: back to the command phase, seek
    /// end in ST0, an interrupt.
    fn seek_done(&mut self) {
        self.enter_command_phase();
        self.status0 |= st::ST0_SEEK;
        self.raise_irq();
    }

    /// READ ID: the result comes when the 1/50 s timer fires (`fdctrl_result_timer`).
    fn read_id(&mut self) {
        let slot = self.cur_drive_slot();
        self.drives[slot].head = (self.fifo[1] >> 2) & 1;
        self.result_timer = Some(self.now.saturating_add(READ_ID_DELAY_NS).min(MAX_CLOCK_NS));
    }

    fn recalibrate(&mut self) {
        let slot = self.select_drive_of_params();
        self.drives[slot].recalibrate();
        self.seek_done();
    }

    fn specify(&mut self) {
        self.timer0 = (self.fifo[1] >> 4) & 0xF;
        self.timer1 = self.fifo[2] >> 1;
        if self.fifo[2] & 1 != 0 {
            self.dor &= !dor::DMAEN;
        } else {
            self.dor |= dor::DMAEN;
        }
        self.enter_command_phase();
    }

    fn sense_drive_status(&mut self) {
        let slot = self.select_drive_of_params();
        let d = &mut self.drives[slot];
        d.head = (self.fifo[1] >> 2) & 1;
        let st3 = ((d.ro as u8) << 6)
            | if d.track == 0 { 0x10 } else { 0 }
            | (d.head << 2)
            | self.cur_drv
            | 0x28;
        self.one_result_byte(st3);
    }

    fn seek(&mut self) {
        let slot = self.select_drive_of_params();
        self.enter_command_phase();
        let d = &mut self.drives[slot];
        let (head, sect) = (d.head, d.sect);
        d.seek(head, self.fifo[2], sect);
        self.status0 |= st::ST0_SEEK;
        self.raise_irq();
    }

    fn relative_seek_out(&mut self) {
        let slot = self.select_drive_of_params();
        let d = &mut self.drives[slot];
        let (head, track, sect) = d.position();
        let target = track.saturating_sub(self.fifo[2]);
        d.seek(head, target, sect);
        self.seek_done();
    }

    fn relative_seek_in(&mut self) {
        let slot = self.select_drive_of_params();
        let d = &mut self.drives[slot];
        let (head, track, sect) = d.position();
        let target = if self.fifo[2] as u32 + track as u32 >= d.max_track as u32 {
            d.max_track.wrapping_sub(1)
        } else {
            track + self.fifo[2]
        };
        d.seek(head, target, sect);
        self.seek_done();
    }

    /// The tracks of logical drives 0 and 1 (DUMPREG, SAVE).
    fn logical_tracks(&self) -> (u8, u8) {
        (
            self.drives[self.logical_to_slot(0)].track,
            self.drives[self.logical_to_slot(1)].track,
        )
    }

    fn dumpreg(&mut self) {
        let slot = self.cur_drive_slot();
        let (t0, t1) = self.logical_tracks();
        let d = &self.drives[slot];
        self.fifo[..10].copy_from_slice(&[
            t0,
            t1,
            0,
            0,
            self.timer0,
            (self.timer1 << 1) | (self.dor & dor::DMAEN != 0) as u8,
            d.last_sect,
            (self.lock << 7) | (d.perpendicular << 2),
            self.config,
            self.precomp_trk,
        ]);
        self.enter_result_phase(10);
    }

    fn perpendicular_mode(&mut self) {
        let slot = self.cur_drive_slot();
        if self.fifo[1] & 0x80 != 0 {
            self.drives[slot].perpendicular = self.fifo[1] & 0x07;
        }
        self.enter_command_phase();
    }

    fn configure(&mut self) {
        self.config = self.fifo[2];
        self.precomp_trk = self.fifo[3];
        self.enter_command_phase();
    }

    fn lock(&mut self) {
        self.lock = (self.fifo[0] & 0x80 != 0) as u8;
        self.one_result_byte(self.lock << 4);
    }

    fn powerdown_mode(&mut self) {
        self.pwrd = self.fifo[1];
        self.one_result_byte(self.fifo[1]);
    }

    fn save(&mut self) {
        let slot = self.cur_drive_slot();
        let (t0, t1) = self.logical_tracks();
        let d = &self.drives[slot];
        self.fifo[..15].copy_from_slice(&[
            0,
            0,
            t0,
            t1,
            0,
            0,
            self.timer0,
            self.timer1,
            d.last_sect,
            (self.lock << 7) | (d.perpendicular << 2),
            self.config,
            self.precomp_trk,
            self.pwrd,
            0,
            0,
        ]);
        self.enter_result_phase(15);
    }

    fn restore(&mut self) {
        let slot = self.cur_drive_slot();
        let s0 = self.logical_to_slot(0);
        let s1 = self.logical_to_slot(1);
        self.drives[s0].track = self.fifo[3];
        self.drives[s1].track = self.fifo[4];
        self.timer0 = self.fifo[7];
        self.timer1 = self.fifo[8];
        self.drives[slot].last_sect = self.fifo[9];
        self.lock = self.fifo[10] >> 7;
        self.drives[slot].perpendicular = (self.fifo[10] >> 2) & 0x0F;
        self.config = self.fifo[11];
        self.precomp_trk = self.fifo[12];
        self.pwrd = self.fifo[13];
        self.enter_command_phase();
    }

    fn sense_interrupt_status(&mut self) {
        let slot = self.cur_drive_slot();
        if self.reset_sensei > 0 {
            self.fifo[0] = (st::ST0_RDYCHG as i32 + RESET_SENSEI_COUNT - self.reset_sensei) as u8;
            self.reset_sensei -= 1;
        } else if self.sra & sra::INTPEND == 0 {
            self.one_result_byte(st::ST0_INVCMD);
            return;
        } else {
            self.fifo[0] = (self.status0 & !(st::ST0_HEAD | st::ST0_DS)) | self.cur_drv;
        }
        self.fifo[1] = self.drives[slot].track;
        self.enter_result_phase(2);
        self.lower_irq();
        self.status0 = st::ST0_RDYCHG;
    }

    /// DRIVE SPECIFICATION: with bit 7 of the last byte set, done (bit 6: with a result);
    /// without, QEMU answers only once more than 7 bytes were written.
    fn drive_specification(&mut self) {
        let slot = self.cur_drive_slot();
        let pos = (self.data_pos.wrapping_sub(1) % FIFO_LEN as u32) as usize;
        let last = self.fifo[pos];
        if last & 0x80 != 0 {
            if last & 0x40 != 0 {
                self.fifo[0] = self.fifo[1];
                self.fifo[2] = 0;
                self.fifo[3] = 0;
                self.enter_result_phase(4);
            } else {
                self.enter_command_phase();
            }
        } else if self.data_len > 7 {
            self.fifo[0] = 0x80 | (self.drives[slot].head << 2) | self.cur_drv;
            self.enter_result_phase(1);
        }
        // Otherwise QEMU stays in the execution phase with MSR 0x10 until a reset or a
        // DMA callback (`fdctrl_handle_drive_specification_command` sets no phase).
    }

    /// FORMAT TRACK: QEMU 7.2 records the new sector size and sectors per track and ends
    /// the command at once (`fdctrl_handle_format_track` clears the FORMAT state before
    /// `fdctrl_stop_transfer`; `fdctrl_format_sector` runs only with that bit loaded from
    /// a stream).
    fn format_track(&mut self) {
        self.cur_drv = self.fifo[1] & 1;
        let slot = self.cur_drive_slot();
        self.data_state |= data_state::FORMAT;
        if self.fifo[0] & 0x80 != 0 {
            self.data_state |= data_state::MULTI;
        } else {
            self.data_state &= !data_state::MULTI;
        }
        // QEMU also stores the sector size (`drv->bps`), which nothing reads: not modelled.
        let d = &mut self.drives[slot];
        d.last_sect = self.fifo[3];
        self.data_state &= !data_state::FORMAT;
        self.stop_transfer(0, 0, 0);
    }
}
