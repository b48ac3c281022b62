//! Real QEMU as a [`fdc::Machine`]: port I/O and guest memory over qtest, media changes
//! and migrations over QMP, time through the clock of [`crate::clock`].

use std::path::Path;

use fdc::machine::{Machine, MAX_READ_MEM};
use fdc::{FdcState, Medium};
use serde_json::json;

use crate::process::write_image;
use crate::{DriveSpec, Oracle, OracleError};

impl Oracle {
    fn drive_id(&self, drive: u8) -> Result<String, OracleError> {
        if drive > 1 {
            return Err(OracleError::InvalidArgument(format!(
                "drive {drive}: only 0 and 1 exist"
            )));
        }
        Ok(format!("floppy{drive}"))
    }

    /// QMP `eject` (forced) of drive 0 or 1. Unlike [`Machine::eject`], a slot without a
    /// drive is QEMU's error (there is no such device).
    pub fn qmp_eject(&mut self, drive: u8) -> Result<(), OracleError> {
        let id = self.drive_id(drive)?;
        self.qmp_exec("eject", Some(json!({ "device": id, "force": true })))?;
        self.irq_stale = true;
        Ok(())
    }

    /// Inserts the raw image file `image` (used in place: guest writes change it) into
    /// drive 0 or 1 (QMP `blockdev-change-medium`, forced).
    pub fn change(&mut self, drive: u8, image: &Path, read_only: bool) -> Result<(), OracleError> {
        let id = self.drive_id(drive)?;
        let filename = image.to_str().ok_or_else(|| {
            OracleError::InvalidArgument(format!("path {} is not UTF-8", image.display()))
        })?;
        let mode = if read_only { "read-only" } else { "read-write" };
        self.qmp_exec(
            "blockdev-change-medium",
            Some(json!({ "device": id, "filename": filename, "format": "raw",
                         "read-only-mode": mode, "force": true })),
        )?;
        self.irq_stale = true;
        Ok(())
    }

    /// Whether slot `drive` (0 or 1) has a drive device.
    fn has_drive(&self, drive: u8) -> Result<bool, OracleError> {
        self.drive_id(drive)?;
        Ok(!matches!(
            self.drives[usize::from(drive)],
            DriveSpec::Absent
        ))
    }
}

impl Machine for Oracle {
    type Error = OracleError;

    fn name(&self) -> &'static str {
        "QEMU"
    }

    fn outb(&mut self, port: u16, value: u8) -> Result<(), OracleError> {
        self.qtest_cmd(&format!("outb {port:#x} {value:#x}"))
            .map(drop)
    }

    fn inb(&mut self, port: u16) -> Result<u8, OracleError> {
        self.qtest_narrow(format!("inb {port:#x}"))
    }

    /// QEMU's own port layer splits the access (the CVE reproducers depend on that
    /// split, so it must not be split here).
    fn outw(&mut self, port: u16, value: u16) -> Result<(), OracleError> {
        self.qtest_cmd(&format!("outw {port:#x} {value:#x}"))
            .map(drop)
    }

    fn inw(&mut self, port: u16) -> Result<u16, OracleError> {
        self.qtest_narrow(format!("inw {port:#x}"))
    }

    fn advance_ns(&mut self, ns: u64) -> Result<(), OracleError> {
        self.advance_clock(ns)
    }

    fn now_ns(&mut self) -> Result<u64, OracleError> {
        self.read_clock()
    }

    /// IRQ changes are reported on the qtest stream before the reply of the command that
    /// caused them; after a QMP command (media change, migration) a harmless qtest round
    /// trip collects those QEMU reported meanwhile (e.g. the DMA bottom half ran).
    fn irq(&mut self) -> Result<bool, OracleError> {
        if self.irq_stale {
            self.qtest_cmd("read 0x0 1")?;
            self.irq_stale = false;
        }
        Ok(self.qtest.irq())
    }

    fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), OracleError> {
        for (i, chunk) in data.chunks(4096).enumerate() {
            let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let at = addr + (i as u64) * 4096;
            self.qtest_cmd(&format!("write {at:#x} {} 0x{hex}", chunk.len()))?;
        }
        Ok(())
    }

    fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, OracleError> {
        if len > MAX_READ_MEM {
            return Err(OracleError::InvalidArgument(format!(
                "a guest memory read of {len} bytes is longer than {MAX_READ_MEM}"
            )));
        }
        let mut out = Vec::with_capacity(len);
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(4096);
            let at = addr + done as u64;
            let cmd = format!("read {at:#x} {n}");
            let reply = self.qtest_cmd(&cmd)?;
            let bad = || OracleError::Qtest {
                command: cmd.clone(),
                reply: reply.clone(),
            };
            let hex = reply.trim().strip_prefix("0x").ok_or_else(bad)?;
            if hex.len() != 2 * n {
                return Err(bad());
            }
            for pair in hex.as_bytes().chunks(2) {
                let s = std::str::from_utf8(pair).map_err(|_| bad())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            }
            done += n;
        }
        Ok(out)
    }

    fn eject(&mut self, drive: u8) -> Result<(), OracleError> {
        if self.has_drive(drive)? {
            self.qmp_eject(drive)?;
        }
        Ok(())
    }

    /// Writes `medium` to a private image file and inserts it.
    fn insert(&mut self, drive: u8, medium: &Medium) -> Result<(), OracleError> {
        if !self.has_drive(drive)? {
            return Ok(());
        }
        self.inserted += 1;
        let path = self.dir.0.join(format!("insert-{}.img", self.inserted));
        write_image(&path, medium)?;
        self.change(drive, &path, medium.read_only())
    }

    /// Migrates (see [`Oracle::migrate`]) and decodes the fdc section QEMU sent.
    fn save_state(&mut self) -> Result<FdcState, OracleError> {
        self.migrate()?.fdc_state()
    }
}
