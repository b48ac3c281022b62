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
//! The migrations between versions ([`Target::BACKWARD`], [`Target::FORWARD`]) are run the
//! same way: the driver starts on a device of one implementation, which is replaced by a
//! device of the other loaded from its state with that version's load rules, at a port
//! access where the source sends nothing the destination does not know; the run is
//! compared with the source implementation's run without migration.
//!
//! [`run_closed_loop`] ([`controls`], then [`migrate`]) does this for several workloads
//! and subsections at up to `N` migration points each, evenly spaced over the port
//! accesses where QEMU sends the subsection in the run without migration; [`tally`]
//! counts the outcomes per subsection (the report's `closed_loop` figures) and per
//! migration between versions.

use crate::analysis::verdict::{ClosedCounts, ClosedOutcomes};
use crate::drivermodel::workloads::{model_for_as, prepare, record, Media, WorkloadError};
use crate::drivermodel::DriverError;
use fdc::machine::{Machine, ModelError};
use fdc::{FdcState, LoadError, Medium, PcFloppy, Profile, Subsection, SubsectionSet};
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

/// What a closed-loop run's migration does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The destination is the source's implementation, loaded without this subsection;
    /// a point is one where QEMU sends it.
    Without(Subsection),
    /// The source is a device of `from`, the destination one of `into` (a migration
    /// between versions, every subsection sent); a point is one where the source sends
    /// nothing `into` does not know (elsewhere the destination refuses the stream).
    Version {
        /// The source's implementation.
        from: Profile,
        /// The destination's.
        into: Profile,
        /// `backward` or `forward` (the what-if's migration names).
        name: &'static str,
    },
}

impl Target {
    /// QEMU 7.2 to QEMU 2.3.
    pub const BACKWARD: Target = Target::Version {
        from: Profile::Qemu72,
        into: Profile::Qemu23,
        name: "backward",
    };
    /// QEMU 2.3 to QEMU 7.2.
    pub const FORWARD: Target = Target::Version {
        from: Profile::Qemu23,
        into: Profile::Qemu72,
        name: "forward",
    };

    /// The subsection's name, or the migration's (`backward`, `forward`).
    pub fn name(&self) -> &'static str {
        match self {
            Target::Without(s) => s.name(),
            Target::Version { name, .. } => name,
        }
    }

    /// The source's implementation.
    pub fn source(&self) -> Profile {
        match self {
            Target::Without(_) => Profile::Qemu72,
            Target::Version { from, .. } => *from,
        }
    }

    /// Whether a state where QEMU sends `needed` is a point of this target.
    fn point(&self, needed: SubsectionSet) -> bool {
        match self {
            Target::Without(s) => needed.contains(*s),
            Target::Version { into, .. } => needed.iter().all(|s| into.knows(s)),
        }
    }

    /// The destination of `f`.
    fn destination(&self, f: &fdc::Fdc) -> Result<fdc::Fdc, LoadError> {
        match self {
            Target::Without(s) => fdc::destination::migrate_without(f, &[(*s, None)]),
            Target::Version { into, .. } => {
                fdc::destination::Migrator::into_profile(*into).migrate_without(f, &[])
            }
        }
    }
}

/// The model, migrated once ([`Target`]) at the first port access from `at` on that is a
/// point of the target (never without a target).
pub struct Migrating {
    /// The machine.
    pub pc: PcFloppy,
    target: Option<Target>,
    at: u64,
    accesses: u64,
    bound: u64,
    /// The subsections QEMU sends at each port access (when recording candidates).
    pub needed_at: Vec<(u64, SubsectionSet)>,
    record_sent: bool,
    /// (access, virtual time) of the migration, once done.
    pub migrated: Option<(u64, u64)>,
}

impl Migrating {
    /// `pc`, migrated to `target` (`None`: never) at access `at`; more than `bound`
    /// accesses is a hang.
    pub fn new(pc: PcFloppy, target: Option<Target>, at: u64, bound: u64) -> Migrating {
        Migrating {
            pc,
            target,
            at,
            accesses: 0,
            bound,
            needed_at: Vec::new(),
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
            match self.needed_at.last_mut() {
                // Looks at the interrupt line between two accesses: what either sends.
                Some((a, n)) if *a == self.accesses => needed.iter().for_each(|s| n.insert(s)),
                _ => self.needed_at.push((self.accesses, needed)),
            }
        }
        let due = self.migrated.is_none() && self.accesses >= self.at;
        if let Some(t) = self.target.filter(|t| due && t.point(needed)) {
            self.pc.fdc = t.destination(&self.pc.fdc)?;
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
    /// Subsection dropped, or the migration between versions ([`Target::name`]).
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
    /// The subsections sent at each port access (when recorded).
    needed_at: Vec<(u64, SubsectionSet)>,
    /// (access, virtual time) of the migration.
    migrated: Option<(u64, u64)>,
    /// Port accesses made.
    accesses: u64,
}

struct Run {
    end: End,
    seen: Seen,
}

/// Runs `workload` on a fresh model of implementation `profile` wrapped in `m`. Making
/// the images failing is an error; everything the driver or the workload reports is the
/// run's end.
fn run(
    workload: &str,
    media: &Media,
    profile: Profile,
    mut m: Migrating,
    record_sent: bool,
) -> std::io::Result<Run> {
    m.pc = model_for_as(media, profile)?;
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
                needed_at: std::mem::take(&mut self.inner.needed_at),
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

fn unmigrated(target: Option<Target>) -> Migrating {
    let absent = fdc::DriveConfig::Absent;
    Migrating::new(
        PcFloppy::new(fdc::Fdc::new(absent.clone(), absent)),
        target,
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
    /// The implementation it ran on (the source of the targets compared with it).
    pub profile: Profile,
    /// The subsections QEMU sends at each port access.
    needed_at: Vec<(u64, SubsectionSet)>,
}

impl Control {
    /// Makes the workload's images and runs it without migration on QEMU 7.2.
    pub fn new(workload: &str) -> std::io::Result<Control> {
        Control::new_as(workload, Profile::Qemu72)
    }

    /// [`Control::new`] on a device of `profile`.
    pub fn new_as(workload: &str, profile: Profile) -> std::io::Result<Control> {
        let media = prepare(workload)?;
        let r = run(workload, &media, profile, unmigrated(None), true)?;
        let End::Done(commands, retries, end_ns, events) = r.end else {
            return Err(std::io::Error::other(format!(
                "{workload}: the driver model does not finish without migration on {profile}"
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
            profile,
            needed_at: r.seen.needed_at,
        })
    }

    /// The port accesses that are points of `target` (where QEMU sends the subsection,
    /// or where the source sends nothing the destination does not know).
    pub fn candidates(&self, target: Target) -> Vec<u64> {
        self.needed_at
            .iter()
            .filter(|(_, n)| target.point(*n))
            .map(|(a, _)| *a)
            .collect()
    }

    /// Up to `points` of the [`Control::candidates`] of `target`, evenly spaced over them
    /// (the first one always among them).
    pub fn chosen(&self, target: Target, points: usize) -> Vec<u64> {
        let sent = self.candidates(target);
        let k = points.min(sent.len());
        (0..k).map(|i| sent[i * sent.len() / k]).collect()
    }

    /// Port accesses after which a migrated run counts as hung: 20 times the run
    /// without migration's, plus a million.
    fn bound(&self) -> u64 {
        self.accesses.saturating_mul(20).saturating_add(1_000_000)
    }

    /// The workload migrated to `target` at the first port access from `at` on that is
    /// a point of it, compared with this run (whose implementation must be the target's
    /// source).
    pub fn run_at(&self, target: Target, at: u64) -> std::io::Result<ClosedRun> {
        self.run_bounded(target, at, self.bound())
    }

    fn run_bounded(&self, target: Target, at: u64, bound: u64) -> std::io::Result<ClosedRun> {
        let mut m = unmigrated(Some(target));
        m.at = at;
        m.bound = bound;
        let r = run(&self.workload, &self.media, self.profile, m, false)?;
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
            subsection: target.name(),
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
    let target = Target::Without(sub);
    control
        .chosen(target, points)
        .into_iter()
        .map(|at| control.run_at(target, at))
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
    /// Migrations between versions to run ([`Target::Version`]s).
    pub versions: Vec<Target>,
    /// Migration points per workload and subsection (or version migration), at most.
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
            versions: vec![Target::BACKWARD, Target::FORWARD],
            points,
        }
    }

    /// The subsections' targets, then the version migrations.
    pub fn targets(&self) -> Vec<Target> {
        let drops = self.subsections.iter().map(|s| Target::Without(*s));
        drops.chain(self.versions.iter().copied()).collect()
    }

    /// The implementations the targets start on, in [`Profile::ALL`] order.
    fn sources(&self) -> Vec<Profile> {
        let targets = self.targets();
        Profile::ALL
            .into_iter()
            .filter(|p| targets.iter().any(|t| t.source() == *p))
            .collect()
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

/// The runs without migration of every workload of `opts` on every implementation a
/// target starts on, on the current rayon pool, in the order asked (workload, then
/// implementation); `tick` is called after each.
pub fn controls(
    opts: &ClosedLoopOptions,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<Vec<Control>> {
    let sources = opts.sources();
    let runs: Vec<(&String, Profile)> = opts
        .workloads
        .iter()
        .flat_map(|w| sources.iter().map(move |p| (w, *p)))
        .collect();
    runs.par_iter()
        .map(|&(w, p)| {
            let c = Control::new_as(w, p);
            tick();
            c
        })
        .collect()
}

/// How many runs without migration [`controls`] makes.
pub fn planned_controls(opts: &ClosedLoopOptions) -> u64 {
    (opts.workloads.len() * opts.sources().len()) as u64
}

/// The targets of `opts` that start on `control`'s implementation.
fn targets_of(control: &Control, opts: &ClosedLoopOptions) -> Vec<Target> {
    let mut t = opts.targets();
    t.retain(|t| t.source() == control.profile);
    t
}

/// The migrated runs of `opts` from `controls`: (control, target, access), in order.
fn tasks(controls: &[Control], opts: &ClosedLoopOptions) -> Vec<(usize, Target, u64)> {
    let mut out = Vec::new();
    for (i, c) in controls.iter().enumerate() {
        for t in targets_of(c, opts) {
            out.extend(c.chosen(t, opts.points).into_iter().map(|at| (i, t, at)));
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
            let per = targets_of(c, opts)
                .into_iter()
                .map(|t| (t.name(), c.candidates(t).len() as u64))
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
        let rate = Target::Without(Subsection::MediaRate);
        let at = c.chosen(rate, 1)[0];
        let r = c.run_bounded(rate, at, 60).unwrap();
        assert_eq!(r.outcome, Outcome::Hang);
        let normal = c.run_at(rate, at).unwrap();
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
