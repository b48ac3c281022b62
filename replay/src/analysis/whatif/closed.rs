//! Closed loop where we own the guest: the Windows 2000 driver model
//! ([`crate::drivermodel`]) runs a workload on the model; at a chosen port access where
//! QEMU sends subsection `S`, the controller is replaced by the destination loaded
//! without `S` ([`fdc::destination::migrate_without`]; DMA controller and memory, which
//! QEMU migrates in their own sections, stay) and the driver carries on against it. The
//! outcome is compared with the run without migration: the driver carries on, retries
//! (how many more, how much more guest time), reports an error to its caller, or hangs
//! (no end within 20 times the port accesses of the run without migration, plus a
//! million); a workload whose own checks fail (the driver reported success, but what was
//! read or written through it is wrong) is data corruption.
//!
//! [`run_closed_loop`] ([`controls`], then [`migrate`]) does this for several workloads
//! and subsections at up to `N` migration points each, evenly spaced over the port
//! accesses where QEMU sends the subsection in the run without migration; [`tally`]
//! counts the outcomes per subsection (the report's `closed_loop` figures).

use crate::analysis::verdict::{ClosedCounts, ClosedOutcomes};
use crate::drivermodel::workloads::{model_for, prepare, record, Media, WorkloadError};
use crate::drivermodel::DriverError;
use fdc::machine::{Machine, ModelError};
use fdc::{FdcState, LoadError, Medium, PcFloppy, Subsection};
use fdc_trace::{Event, TraceHeader, TraceWriter, WriteOptions};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Port-access counts at which each subsection was sent (when recording candidates).
    pub sent_at: BTreeMap<Subsection, Vec<u64>>,
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
            sent_at: BTreeMap::new(),
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
        let needed = self.pc.fdc.needed_subsections();
        if self.record_sent {
            for s in needed.iter() {
                let at = self.sent_at.entry(s).or_default();
                if at.last() != Some(&self.accesses) {
                    at.push(self.accesses);
                }
            }
        }
        let sent = needed.contains(self.sub);
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
    /// The driver reported success, but what the workload read or wrote through it is
    /// wrong (the workload's own check failed).
    DataCorruption {
        /// The check that failed.
        error: String,
    },
    /// No end within the bound of port accesses.
    Hang,
    /// The subsection was never sent from the chosen access on.
    NotReached,
}

impl Outcome {
    /// The outcome's name, one of [`crate::analysis::verdict::CLOSED_CLASSES`].
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::CarriesOn => "carries_on",
            Outcome::Retries { .. } => "retries",
            Outcome::Error { .. } => "error",
            Outcome::DataCorruption { .. } => "data_corruption",
            Outcome::Hang => "hang",
            Outcome::NotReached => "not_reached",
        }
    }
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

/// How a run of the workload ended.
enum End {
    /// It finished: commands, retries, end time, the trace's events.
    Done(u64, u64, u64, Vec<Event>),
    /// A workload check failed.
    Check(String),
    /// The driver (or the machine) failed.
    Failed(String),
    /// The bound of port accesses was reached.
    Hang,
}

/// What the machine saw during a run.
#[derive(Clone, Default)]
struct Seen {
    /// Per subsection, the port-access counts at which it was sent (when recorded).
    sent: BTreeMap<Subsection, Vec<u64>>,
    /// (access, virtual time) of the migration.
    migrated: Option<(u64, u64)>,
    /// Port accesses made.
    accesses: u64,
}

struct Run {
    end: End,
    seen: Seen,
}

/// Runs `workload` on a fresh model wrapped in `m`. Making the images failing is an
/// error; everything the driver or the workload reports is the run's end.
fn run(workload: &str, media: &Media, mut m: Migrating, record_sent: bool) -> std::io::Result<Run> {
    m.pc = model_for(media)?;
    m.record_sent = record_sent;
    let w = TraceWriter::new(Vec::new(), &TraceHeader::default(), WriteOptions::default())
        .map_err(std::io::Error::other)?;
    let shared: Shared = Default::default();
    let probe = Probe {
        inner: m,
        out: shared.clone(),
    };
    let r = record(workload, media, probe, w);
    let seen = shared.lock().map(|g| g.clone()).unwrap_or_default();
    let end = match r {
        Ok((s, bytes)) => {
            let (_, evs) = fdc_trace::read_all_from(&bytes[..]).map_err(std::io::Error::other)?;
            let t = evs.last().map_or(0, Event::time_ns);
            End::Done(s.stats.commands, s.stats.retries, t, evs)
        }
        Err(WorkloadError::Driver(DriverError::Machine(MigratingError::Bound(_)))) => End::Hang,
        Err(WorkloadError::Check(e)) => End::Check(e),
        Err(WorkloadError::Io(e)) => return Err(e),
        Err(e) => End::Failed(e.to_string()),
    };
    Ok(Run { end, seen })
}

type Shared = std::sync::Arc<std::sync::Mutex<Seen>>;

/// [`Migrating`] that reports what it saw when dropped (the workload consumes it).
struct Probe {
    inner: Migrating,
    out: Shared,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Ok(mut g) = self.out.lock() {
            *g = Seen {
                sent: std::mem::take(&mut self.inner.sent_at),
                migrated: self.inner.migrated,
                accesses: self.inner.accesses,
            };
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

fn unmigrated(sub: Subsection) -> Migrating {
    let absent = fdc::DriveConfig::Absent;
    Migrating::new(
        PcFloppy::new(fdc::Fdc::new(absent.clone(), absent)),
        sub,
        u64::MAX,
        u64::MAX,
    )
}

/// The run of a workload without migration, which every migrated run is compared with.
pub struct Control {
    /// The workload.
    pub workload: String,
    media: Media,
    commands: u64,
    retries: u64,
    end_ns: u64,
    events: Vec<Event>,
    accesses: u64,
    /// Per subsection, the port-access counts at which QEMU sends it.
    pub sent: BTreeMap<Subsection, Vec<u64>>,
}

impl Control {
    /// Makes the workload's images and runs it without migration.
    pub fn new(workload: &str) -> std::io::Result<Control> {
        let media = prepare(workload)?;
        let r = run(workload, &media, unmigrated(Subsection::Phase), true)?;
        let End::Done(commands, retries, end_ns, events) = r.end else {
            return Err(std::io::Error::other(format!(
                "{workload}: the driver model does not finish without migration"
            )));
        };
        Ok(Control {
            workload: workload.to_string(),
            media,
            commands,
            retries,
            end_ns,
            events,
            accesses: r.seen.accesses,
            sent: r.seen.sent,
        })
    }

    /// Up to `points` port accesses where `sub` is sent, evenly spaced over them (the
    /// first one always among them).
    pub fn chosen(&self, sub: Subsection, points: usize) -> Vec<u64> {
        let sent = self.sent.get(&sub).map(Vec::as_slice).unwrap_or_default();
        let k = points.min(sent.len());
        (0..k).map(|i| sent[i * sent.len() / k]).collect()
    }

    /// Port accesses after which a migrated run counts as hung: 20 times the run
    /// without migration's, plus a million.
    fn bound(&self) -> u64 {
        self.accesses.saturating_mul(20).saturating_add(1_000_000)
    }

    /// The workload migrated without `sub` at the first port access from `at` on where
    /// `sub` is sent, compared with this run.
    pub fn run_at(&self, sub: Subsection, at: u64) -> std::io::Result<ClosedRun> {
        self.run_bounded(sub, at, self.bound())
    }

    fn run_bounded(&self, sub: Subsection, at: u64, bound: u64) -> std::io::Result<ClosedRun> {
        let mut m = unmigrated(sub);
        m.at = at;
        m.bound = bound;
        let r = run(&self.workload, &self.media, m, false)?;
        let (access, t_ns) = r.seen.migrated.unwrap_or((at, 0));
        let outcome = match (r.end, r.seen.migrated) {
            (End::Hang, _) => Outcome::Hang,
            (_, None) => Outcome::NotReached,
            (End::Check(error), _) => Outcome::DataCorruption { error },
            (End::Failed(error), _) => Outcome::Error { error },
            (End::Done(_, _, _, evs), _) if evs == self.events => Outcome::CarriesOn,
            (End::Done(cmds, retries, end, _), _) => Outcome::Retries {
                retries: retries.saturating_sub(self.retries),
                commands: cmds as i64 - self.commands as i64,
                lost_ns: end as i64 - self.end_ns as i64,
            },
        };
        Ok(ClosedRun {
            workload: self.workload.clone(),
            subsection: sub.name(),
            access,
            t_ns,
            outcome,
        })
    }
}

/// Closed-loop runs of `workload` for `sub`: migrated at up to `points` port accesses
/// where `sub` is sent in the run without migration, evenly spread over them.
pub fn closed_loop(
    workload: &str,
    sub: Subsection,
    points: usize,
) -> std::io::Result<Vec<ClosedRun>> {
    let control = Control::new(workload)?;
    control
        .chosen(sub, points)
        .into_iter()
        .map(|at| control.run_at(sub, at))
        .collect()
}

/// Migrations per workload and subsection that `whatif --closed-loop` and `report` run
/// by default.
pub const DEFAULT_POINTS: usize = 32;

/// What [`run_closed_loop`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedLoopOptions {
    /// Workloads ([`crate::drivermodel::workloads::WORKLOADS`] names).
    pub workloads: Vec<String>,
    /// Subsections to drop, one at a time.
    pub subsections: Vec<Subsection>,
    /// Migration points per workload and subsection, at most.
    pub points: usize,
}

impl ClosedLoopOptions {
    /// Every workload and subsection, `points` migrations each.
    pub fn all(points: usize) -> ClosedLoopOptions {
        ClosedLoopOptions {
            workloads: crate::drivermodel::workloads::WORKLOADS
                .iter()
                .map(|(n, _)| n.to_string())
                .collect(),
            subsections: Subsection::ALL.to_vec(),
            points,
        }
    }
}

/// The runs of [`run_closed_loop`], with the candidates they were chosen from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosedLoop {
    /// Migration points asked for per workload and subsection.
    pub points: usize,
    /// Per workload (in the order asked) and subsection: port accesses of the run without
    /// migration where QEMU sends it.
    pub candidates: Vec<(String, Vec<(&'static str, u64)>)>,
    /// The runs, by workload, subsection and access.
    pub runs: Vec<ClosedRun>,
}

/// The runs without migration of every workload of `opts`, on the current rayon pool, in
/// the order asked; `tick` is called after each.
pub fn controls(
    opts: &ClosedLoopOptions,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<Vec<Control>> {
    opts.workloads
        .par_iter()
        .map(|w| {
            let c = Control::new(w);
            tick();
            c
        })
        .collect()
}

/// The migrated runs of `opts` from `controls`: (control, subsection, access), in order.
fn tasks(controls: &[Control], opts: &ClosedLoopOptions) -> Vec<(usize, Subsection, u64)> {
    let mut out = Vec::new();
    for (i, c) in controls.iter().enumerate() {
        for &s in &opts.subsections {
            out.extend(c.chosen(s, opts.points).into_iter().map(|at| (i, s, at)));
        }
    }
    out
}

/// How many migrated runs [`migrate`] makes.
pub fn planned_runs(controls: &[Control], opts: &ClosedLoopOptions) -> u64 {
    tasks(controls, opts).len() as u64
}

/// Every migrated run of `opts` from `controls` (made by [`controls`]), on the current
/// rayon pool; results in a fixed order (the same for any number of threads). `tick` is
/// called after every run.
pub fn migrate(
    controls: &[Control],
    opts: &ClosedLoopOptions,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<ClosedLoop> {
    let candidates = controls
        .iter()
        .map(|c| {
            let per = opts
                .subsections
                .iter()
                .map(|s| (s.name(), c.sent.get(s).map_or(0, |v| v.len() as u64)))
                .collect();
            (c.workload.clone(), per)
        })
        .collect();
    let runs = tasks(controls, opts)
        .par_iter()
        .map(|&(i, s, at)| {
            let r = controls[i].run_at(s, at);
            tick();
            r
        })
        .collect::<std::io::Result<_>>()?;
    Ok(ClosedLoop {
        points: opts.points,
        candidates,
        runs,
    })
}

/// [`controls`] then [`migrate`], without progress.
pub fn run_closed_loop(opts: &ClosedLoopOptions) -> std::io::Result<ClosedLoop> {
    migrate(&controls(opts, &|| {})?, opts, &|| {})
}

fn count_run(c: &mut ClosedCounts, r: &ClosedRun) {
    c.runs += 1;
    *c.outcomes.entry(r.outcome.name().into()).or_insert(0) += 1;
    match &r.outcome {
        Outcome::Retries {
            retries,
            commands,
            lost_ns,
        } => {
            c.extra_retries += retries;
            c.extra_commands += commands;
            c.extra_time_ns += lost_ns;
            c.max_extra_time_ns = Some(c.max_extra_time_ns.map_or(*lost_ns, |m| m.max(*lost_ns)));
        }
        Outcome::Error { error } | Outcome::DataCorruption { error } => {
            *c.errors.entry(error.clone()).or_insert(0) += 1;
        }
        _ => {}
    }
}

/// The outcomes of `cl` counted per subsection (by name), in total and per workload.
pub fn tally(cl: &ClosedLoop) -> BTreeMap<String, ClosedOutcomes> {
    let mut out: BTreeMap<String, ClosedOutcomes> = BTreeMap::new();
    for (w, per) in &cl.candidates {
        for (s, n) in per {
            let o = out.entry(s.to_string()).or_default();
            o.points = cl.points as u64;
            o.all.candidates += n;
            o.by_workload.entry(w.clone()).or_default().candidates = *n;
        }
    }
    for r in &cl.runs {
        let o = out.entry(r.subsection.to_string()).or_default();
        count_run(&mut o.all, r);
        count_run(o.by_workload.entry(r.workload.clone()).or_default(), r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that needs more port accesses than the bound is a hang (`dir` makes a few
    /// hundred; 60 are not enough), counted as such by [`tally`].
    #[test]
    fn beyond_the_bound_is_a_hang() {
        let c = Control::new("dir").unwrap();
        let at = c.chosen(Subsection::MediaRate, 1)[0];
        let r = c.run_bounded(Subsection::MediaRate, at, 60).unwrap();
        assert_eq!(r.outcome, Outcome::Hang);
        let normal = c.run_at(Subsection::MediaRate, at).unwrap();
        assert_eq!(normal.outcome, Outcome::CarriesOn);
        let cl = ClosedLoop {
            points: 1,
            candidates: vec![("dir".into(), vec![("fdrive/media_rate", 5)])],
            runs: vec![r, normal],
        };
        let t = tally(&cl);
        let o = &t["fdrive/media_rate"];
        assert_eq!(o.all.runs, 2);
        assert_eq!(o.all.candidates, 5);
        assert_eq!(
            o.all.outcomes,
            [("carries_on".to_string(), 1), ("hang".to_string(), 1)].into()
        );
        assert_eq!(o.by_workload["dir"], o.all);
    }

    /// Every outcome's name is one of the verdict's closed-loop classes.
    #[test]
    fn outcome_names_are_the_verdict_classes() {
        let all = [
            Outcome::CarriesOn,
            Outcome::Retries {
                retries: 0,
                commands: 0,
                lost_ns: 0,
            },
            Outcome::Error { error: "e".into() },
            Outcome::DataCorruption { error: "e".into() },
            Outcome::Hang,
            Outcome::NotReached,
        ];
        let names: Vec<&str> = all.iter().map(Outcome::name).collect();
        let mut want = crate::analysis::verdict::CLOSED_CLASSES.to_vec();
        want.sort();
        let mut got = names.clone();
        got.sort();
        assert_eq!(got, want);
        for o in &all {
            let j = serde_json::to_value(o).unwrap();
            assert_eq!(j["outcome"], o.name());
        }
    }
}
