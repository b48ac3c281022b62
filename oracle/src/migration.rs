//! Migration streams: saving QEMU's state to a file over QMP, starting a destination QEMU
//! from one, and the fdc section of a stream as the model's [`fdc::FdcState`].

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fdc::{wire, FdcState};
use serde_json::{json, Value};

use crate::error::io_err;
use crate::process::shell_quote;
use crate::stream::{find_fdc_section, FdcSection};
use crate::{Oracle, OracleConfig, OracleError};

/// Result of [`Oracle::migrate`].
#[derive(Debug, Clone)]
pub struct Migration {
    /// The whole migration stream as QEMU wrote it.
    pub stream: Vec<u8>,
    /// The fdc section's payload: after its section header, before its footer.
    pub fdc_section: Vec<u8>,
    /// Subsection names in stream order (e.g. `fdrive/media_rate`, `fdc/reset_sensei`).
    pub subsections: Vec<String>,
    /// Where the fdc section sits in `stream`.
    pub section: FdcSection,
    /// Virtual time at which the state was saved.
    pub clock_ns: u64,
}

impl Migration {
    /// Parses a stream read from a file (e.g. one written by an earlier run).
    pub fn from_stream(stream: Vec<u8>, clock_ns: u64) -> Result<Migration, OracleError> {
        let section = find_fdc_section(&stream)?;
        Ok(Migration {
            fdc_section: stream[section.payload.clone()].to_vec(),
            subsections: section.subsections.clone(),
            section,
            stream,
            clock_ns,
        })
    }

    /// True if the subsection `name` was sent.
    pub fn has(&self, name: &str) -> bool {
        self.subsections.iter().any(|s| s == name)
    }

    /// The fdc section as the model's state. Refused unless the section is exactly the
    /// model's encoding of that state ([`fdc::wire::encode`]: the subsections once each,
    /// in QEMU's declaration order), so that comparing states compares the bytes QEMU
    /// sent.
    pub fn fdc_state(&self) -> Result<FdcState, OracleError> {
        let (state, _) = wire::decode(&self.fdc_section)
            .map_err(|e| OracleError::Section(format!("does not decode: {e}")))?;
        if wire::encode(&state) != self.fdc_section {
            return Err(OracleError::Section(format!(
                "is not laid out as the model writes it (subsections {:?})",
                self.subsections
            )));
        }
        Ok(state)
    }
}

impl Oracle {
    /// Starts a destination QEMU that loads `stream` (a file holding a migration stream,
    /// e.g. [`Migration::stream`] written out) with the same drives as `cfg`, and waits until
    /// the load has finished. It is then drivable like the source, at the source's virtual
    /// time.
    pub fn start_incoming(cfg: OracleConfig, stream: &Path) -> Result<Oracle, OracleError> {
        let bytes = fs::read(stream).map_err(io_err(format!("reading {}", stream.display())))?;
        let section = find_fdc_section(&bytes)?;
        let mut oracle = Self::spawn(&cfg, Some(stream))?;
        oracle.wait_for_load()?;
        // qtest reports IRQ changes relative to its own record, which starts low. If the
        // controller arrived with its interrupt pending (SRA bit 7), tell qtest the line is
        // high so that the lowering the guest causes later is reported.
        let sra = bytes.get(section.payload.start).copied().unwrap_or(0);
        if sra & 0x80 != 0 {
            oracle.qtest_cmd("set_irq_in ioapic unnamed-gpio-in 6 1")?;
            oracle.qtest.set_irq(true);
        }
        oracle.read_clock()?;
        Ok(oracle)
    }

    /// Waits until an incoming migration has been loaded (the VM stopped after it).
    fn wait_for_load(&mut self) -> Result<(), OracleError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let status = self.qmp_exec("query-status", None)?;
            let state = status.get("status").and_then(Value::as_str).unwrap_or("");
            if state == "inmigrate" {
                if Instant::now() > deadline {
                    return Err(OracleError::Timeout {
                        command: "query-status (waiting for the incoming migration)".into(),
                        timeout: self.timeout,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            if state == "running" {
                return Err(OracleError::Migration(
                    "destination VM is running after the load; expected it stopped".into(),
                ));
            }
            let info = self.qmp_exec("query-migrate", None)?;
            if info.get("status").and_then(Value::as_str) == Some("failed") {
                let desc = info.get("error-desc").and_then(Value::as_str).unwrap_or("");
                return Err(OracleError::Migration(format!(
                    "incoming load failed: {desc}"
                )));
            }
            return Ok(());
        }
    }

    /// Migrates to a file and returns the stream. The VM stays stopped (its run state becomes
    /// `postmigrate`) and virtual time does not move; port I/O keeps working. QEMU refuses a
    /// second migration until time has been advanced (at least
    /// [`crate::MIN_FIRST_INCOMING_ADVANCE_NS`] for the first advance after a migration).
    pub fn migrate(&mut self) -> Result<Migration, OracleError> {
        self.migrations += 1;
        let done = self
            .dir
            .0
            .join(format!("migration-{}.bin", self.migrations));
        let partial = self
            .dir
            .0
            .join(format!("migration-{}.part", self.migrations));
        // `cat` writes a partial file and renames it when the pipe closes: QEMU reports
        // "completed" before `cat` has necessarily flushed everything.
        let uri = format!(
            "exec:cat > {} && mv {} {}",
            shell_quote(&partial)?,
            shell_quote(&partial)?,
            shell_quote(&done)?
        );
        let clock = self.read_clock()?;
        self.qmp_exec("migrate", Some(json!({ "uri": uri })))?;
        let deadline = Instant::now() + self.timeout;
        self.wait_for_migration(deadline)?;
        while !done.exists() {
            if Instant::now() > deadline {
                return Err(OracleError::Timeout {
                    command: "migrate (waiting for the stream file)".into(),
                    timeout: self.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let stream = fs::read(&done).map_err(io_err(format!("reading {}", done.display())))?;
        let _ = fs::remove_file(&done);
        let migration = Migration::from_stream(stream, clock)?;
        self.leave_postmigrate();
        Ok(migration)
    }

    /// Polls `query-migrate` until the migration completed (or failed).
    fn wait_for_migration(&mut self, deadline: Instant) -> Result<(), OracleError> {
        loop {
            let info = self.qmp_exec("query-migrate", None)?;
            match info.get("status").and_then(Value::as_str).unwrap_or("") {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    let desc = info
                        .get("error-desc")
                        .and_then(Value::as_str)
                        .unwrap_or("no detail");
                    return Err(OracleError::Migration(desc.to_string()));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(OracleError::Timeout {
                    command: "query-migrate".into(),
                    timeout: self.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// After a migration QEMU sits in `postmigrate` until the next `cont`: it refuses a
    /// second migration and has deactivated the images (so a guest disk write before the
    /// next advance is not supported). Measured on QEMU 7.2: after a migration a timer armed
    /// "due now" sometimes fires while the VM is stopped (the virtual clock is no longer
    /// reliably gated), so the time-neutral zero-timeout hop that would restore a normal
    /// stopped state is not safe. The next advance therefore counts as a first hop (at least
    /// MIN_FIRST_INCOMING_ADVANCE_NS) and `cont`s the VM out of `postmigrate`. IRQ changes
    /// QEMU reported meanwhile are collected by the next qtest exchange.
    fn leave_postmigrate(&mut self) {
        self.clock_gated = false;
        self.irq_stale = true;
    }
}
