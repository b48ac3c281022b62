//! Closed loop where we own the guest: the Windows 2000 driver model
//! ([`crate::drivermodel`]) runs a workload on the model; at a chosen port access where
//! QEMU sends subsection `S`, the controller is replaced by the destination loaded
//! without `S` ([`fdc::destination::migrate_without`]; DMA controller and memory, which
//! QEMU migrates in their own sections, stay) and the driver carries on against it. The
//! outcome is compared with the run without migration: the driver carries on, retries
//! (how many more, how much more guest time), reports an error to its caller, or hangs
//! (no end within a bound of port accesses).

use crate::drivermodel::workloads::{model_for, prepare, record, Media, WorkloadError};
use fdc::machine::{Machine, ModelError};
use fdc::{FdcState, LoadError, Medium, PcFloppy, Subsection};
use fdc_trace::{TraceHeader, TraceWriter, WriteOptions};
use serde::Serialize;

/// Why the migrating machine stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigratingError {
    /// The model refused an access.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The destination could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The driver made more port accesses than the bound: it hangs.
    #[error("no end within {0} port accesses")]
    Bound(u64),
}

/// The model, migrated once (without subsection `sub`) at the first port access from
/// `at` on where QEMU sends `sub`.
pub struct Migrating {
    /// The machine.
    pub pc: PcFloppy,
    sub: Subsection,
    at: u64,
    accesses: u64,
    bound: u64,
    /// Port-access counts at which `sub` was sent (when recording candidates).
    pub sent_at: Vec<u64>,
    record_sent: bool,
    /// (access, virtual time) of the migration, once done.
    pub migrated: Option<(u64, u64)>,
}

impl Migrating {
    /// `pc`, migrated at access `at` (`u64::MAX`: never) without `sub`; more than `bound`
    /// accesses is a hang.
    pub fn new(pc: PcFloppy, sub: Subsection, at: u64, bound: u64) -> Migrating {
        Migrating {
            pc,
            sub,
            at,
            accesses: 0,
            bound,
            sent_at: Vec::new(),
            record_sent: false,
            migrated: None,
        }
    }

    fn before_access(&mut self) -> Result<(), MigratingError> {
        self.accesses += 1;
        if self.accesses > self.bound {
            return Err(MigratingError::Bound(self.bound));
        }
        self.maybe_migrate()
    }

    /// A migration opportunity: before a port access, and whenever the driver looks at
    /// the interrupt line while it waits (a READ ID's timer runs while no port is
    /// accessed).
    fn maybe_migrate(&mut self) -> Result<(), MigratingError> {
        let sent = self.pc.fdc.needed_subsections().contains(self.sub);
        if sent && self.record_sent && self.sent_at.last() != Some(&self.accesses) {
            self.sent_at.push(self.accesses);
        }
        if sent && self.migrated.is_none() && self.accesses >= self.at {
            self.pc.fdc = fdc::destination::migrate_without(&self.pc.fdc, &[(self.sub, None)])?;
            self.migrated = Some((self.accesses, self.pc.fdc.now()));
        }
        Ok(())
    }
}

impl Machine for Migrating {
    type Error = MigratingError;
    fn name(&self) -> &'static str {
        "model (migrated)"
    }
    fn outb(&mut self, port: u16, value: u8) -> Result<(), MigratingError> {
        self.before_access()?;
        Ok(self.pc.outb(port, value)?)
    }
    fn inb(&mut self, port: u16) -> Result<u8, MigratingError> {
        self.before_access()?;
        Ok(self.pc.inb(port)?)
    }
    fn outw(&mut self, port: u16, value: u16) -> Result<(), MigratingError> {
        self.before_access()?;
        Ok(self.pc.outw(port, value)?)
    }
    fn inw(&mut self, port: u16) -> Result<u16, MigratingError> {
        self.before_access()?;
        Ok(self.pc.inw(port)?)
    }
    fn advance_ns(&mut self, ns: u64) -> Result<(), MigratingError> {
        Ok(self.pc.advance_ns(ns)?)
    }
    fn now_ns(&mut self) -> Result<u64, MigratingError> {
        Ok(self.pc.now_ns()?)
    }
    fn irq(&mut self) -> Result<bool, MigratingError> {
        self.maybe_migrate()?;
        Ok(self.pc.irq()?)
    }
    fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), MigratingError> {
        Ok(self.pc.write_mem(addr, data)?)
    }
    fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, MigratingError> {
        Ok(self.pc.read_mem(addr, len)?)
    }
    fn eject(&mut self, drive: u8) -> Result<(), MigratingError> {
        Ok(self.pc.eject(drive)?)
    }
    fn insert(&mut self, drive: u8, medium: &Medium) -> Result<(), MigratingError> {
        Ok(self.pc.insert(drive, medium)?)
    }
    fn save_state(&mut self) -> Result<FdcState, MigratingError> {
        Ok(self.pc.save_state()?)
    }
}

/// What the driver did after the migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// The workload finished exactly as the run without migration (the same trace).
    CarriesOn,
    /// The workload finished, differently from the run without migration (more retries,
    /// other commands, other time).
    Retries {
        /// Retries beyond the control run's.
        retries: u64,
        /// Commands beyond the control run's.
        commands: i64,
        /// Guest time beyond the control run's (ns; negative: less).
        lost_ns: i64,
    },
    /// An error reached the workload (the driver's caller).
    Error {
        /// The error.
        error: String,
    },
    /// No end within the bound of port accesses.
    Hang,
    /// The subsection was never sent from the chosen access on.
    NotReached,
}

/// One closed-loop run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosedRun {
    /// Workload.
    pub workload: String,
    /// Subsection dropped.
    pub subsection: &'static str,
    /// Port access before which the migration happened.
    pub access: u64,
    /// Virtual time of the migration (ns).
    pub t_ns: u64,
    /// What the driver did.
    #[serde(flatten)]
    pub outcome: Outcome,
}

struct Run {
    result: Result<(u64, u64, u64, Vec<fdc_trace::Event>), String>,
    hang: bool,
    machine_sent: Vec<u64>,
    migrated: Option<(u64, u64)>,
}

/// Runs `workload` on a fresh model wrapped in `m`; (commands, retries, end time).
fn run(workload: &str, media: &Media, mut m: Migrating, record_sent: bool) -> std::io::Result<Run> {
    m.pc = model_for(media)?;
    m.record_sent = record_sent;
    let w = TraceWriter::new(Vec::new(), &TraceHeader::default(), WriteOptions::default())
        .map_err(std::io::Error::other)?;
    let shared = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), None)));
    let probe = Probe {
        inner: m,
        out: shared.clone(),
    };
    let r = record(workload, media, probe, w);
    let (machine_sent, migrated) = shared.lock().map(|g| g.clone()).unwrap_or_default();
    let hang = matches!(
        &r,
        Err(WorkloadError::Driver(
            crate::drivermodel::DriverError::Machine(MigratingError::Bound(_))
        ))
    );
    let result = r.map_err(|e| e.to_string()).and_then(|(s, bytes)| {
        let (_, evs) = fdc_trace::read_all_from(&bytes[..]).map_err(|e| e.to_string())?;
        let end = evs.last().map_or(0, fdc_trace::Event::time_ns);
        Ok((s.stats.commands, s.stats.retries, end, evs))
    });
    Ok(Run {
        result,
        hang,
        machine_sent,
        migrated,
    })
}

type Shared = std::sync::Arc<std::sync::Mutex<(Vec<u64>, Option<(u64, u64)>)>>;

/// [`Migrating`] that reports what it saw when dropped (the workload consumes it).
struct Probe {
    inner: Migrating,
    out: Shared,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Ok(mut g) = self.out.lock() {
            *g = (std::mem::take(&mut self.inner.sent_at), self.inner.migrated);
        }
    }
}

impl std::ops::Deref for Probe {
    type Target = Migrating;
    fn deref(&self) -> &Migrating {
        &self.inner
    }
}

macro_rules! delegate {
    ($($f:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        $(fn $f(&mut self, $($a: $t),*) -> Result<$r, MigratingError> { self.inner.$f($($a),*) })*
    };
}

impl Machine for Probe {
    type Error = MigratingError;
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    delegate! {
        outb(port: u16, value: u8) -> ();
        inb(port: u16) -> u8;
        outw(port: u16, value: u16) -> ();
        inw(port: u16) -> u16;
        advance_ns(ns: u64) -> ();
        now_ns() -> u64;
        irq() -> bool;
        write_mem(addr: u64, data: &[u8]) -> ();
        read_mem(addr: u64, len: usize) -> Vec<u8>;
        eject(drive: u8) -> ();
        insert(drive: u8, medium: &Medium) -> ();
        save_state() -> FdcState;
    }
}

/// Closed-loop runs of `workload` for `sub`: migrated at up to `points` port accesses
/// where `sub` is sent in the run without migration, evenly spread over them.
pub fn closed_loop(
    workload: &str,
    sub: Subsection,
    points: usize,
) -> std::io::Result<Vec<ClosedRun>> {
    let media = prepare(workload)?;
    let dummy = || {
        Migrating::new(
            PcFloppy::new(fdc::Fdc::new(
                fdc::DriveConfig::Absent,
                fdc::DriveConfig::Absent,
            )),
            sub,
            u64::MAX,
            u64::MAX,
        )
    };
    let control = run(workload, &media, dummy(), true)?;
    let (c_cmds, c_retries, c_end, c_evs) = control.result.map_err(std::io::Error::other)?;
    let sent = control.machine_sent;
    let n = sent.len();
    let chosen: Vec<u64> = (0..points.min(n))
        .map(|k| sent[k * n / points.min(n)])
        .collect();
    let bound = 20 * sent.last().copied().unwrap_or(0).max(10_000) + 1_000_000;
    let mut out = Vec::new();
    for at in chosen {
        let mut m = dummy();
        m.at = at;
        m.bound = bound;
        let r = run(workload, &media, m, false)?;
        let (access, t_ns) = r.migrated.unwrap_or((at, 0));
        let outcome = match (&r.result, r.hang, r.migrated) {
            (_, true, _) => Outcome::Hang,
            (_, _, None) => Outcome::NotReached,
            (Err(e), _, _) => Outcome::Error { error: e.clone() },
            (Ok((_, _, _, evs)), _, _) if *evs == c_evs => Outcome::CarriesOn,
            (Ok((cmds, retries, end, _)), _, _) => Outcome::Retries {
                retries: retries.saturating_sub(c_retries),
                commands: *cmds as i64 - c_cmds as i64,
                lost_ns: *end as i64 - c_end as i64,
            },
        };
        out.push(ClosedRun {
            workload: workload.to_string(),
            subsection: sub.name(),
            access,
            t_ns,
            outcome,
        });
    }
    Ok(out)
}
