//! The fork engine: one pass over a trace, the source replayed once, each destination
//! forked from it and stepped beside it until the two states are equal again (see the
//! module docs of [`super`]).

use super::{Class, FirstDifference, PointRecord, REGISTER_NAMES};
use crate::analysis::{apply, DmaStats, Ev, EvKind, ReplayError, ReplayModel};
use fdc::destination::Patch;
use fdc::registers::msr;
use fdc::{Phase, Profile, Subsection};
use fdc_trace::TraceHeader;
use std::path::{Path, PathBuf};

/// What to compute.
#[derive(Clone, Debug)]
pub struct WhatifOptions {
    /// The subsections to drop, one at a time (default: all six, `fdc/phase` first).
    pub subsections: Vec<Subsection>,
    /// Keep one [`PointRecord`] per point and subsection (`--points`).
    pub keep_points: bool,
    /// Also fork, at every point, the destination that received every subsection
    /// (records name it [`CONTROL`]): what a migration loses by itself.
    pub control: bool,
    /// The source's implementation, and the destinations' unless [`WhatifOptions::into`]
    /// names another.
    pub profile: Profile,
    /// A migration between versions: the destinations are devices of this implementation
    /// (QEMU's load rules for it, [`fdc::Fdc::load_as`]); points where the source sends a
    /// subsection it does not know are refused ([`TraceWhatif::refused_points`]) and not
    /// forked. Used with [`WhatifOptions::control`] and no subsections.
    pub into: Option<Profile>,
}

/// Subsection name of the records of [`WhatifOptions::control`].
pub const CONTROL: &str = "none (control)";

impl Default for WhatifOptions {
    fn default() -> Self {
        WhatifOptions {
            subsections: Subsection::ALL.to_vec(),
            keep_points: false,
            control: false,
            profile: Profile::Qemu72,
            into: None,
        }
    }
}

/// Counts of one subsection in one trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubCounts {
    /// Points (event weight) where QEMU sends it.
    pub points_sent: u64,
    /// Time during which QEMU sends it (ns).
    pub time_sent_ns: u64,
    /// Per class, in [`Class::ALL`] order: (points, time in ns).
    pub classes: [(u64, u64); 6],
}

/// What the forking cost (a cost measure; no effect on results).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForkStats {
    /// Destinations loaded.
    pub loads: u64,
    /// Destinations equal to the source right after the load (no fork).
    pub equal_at_load: u64,
    /// Destinations that joined a fork already running.
    pub joined: u64,
    /// Forks started.
    pub forks: u64,
    /// Forks merged into another one with an equal state.
    pub merged: u64,
    /// Events applied to forks.
    pub fork_steps: u64,
    /// Events an `fdrive/media_changed` fork kept as a shadow (its latches alone) took
    /// without being applied.
    pub shadow_steps: u64,
    /// Shadows made real forks (before a DIR read or a gap's timer).
    pub materialized: u64,
}

/// The what-if of one trace.
#[derive(Clone, Debug)]
pub struct TraceWhatif {
    /// The trace.
    pub path: PathBuf,
    /// The header's guest (`unknown` when absent).
    pub guest: String,
    /// Points (event weight) of the trace.
    pub points: u64,
    /// Trace time (ns) covered by the points' time weights.
    pub time_ns: u64,
    /// Counts per subsection, in the order of [`WhatifOptions::subsections`].
    pub subsections: Vec<(Subsection, SubCounts)>,
    /// Per point and subsection, in point order (with [`WhatifOptions::keep_points`]).
    pub records: Vec<PointRecord>,
    /// Cost figures.
    pub stats: ForkStats,
    /// The source after the last event (the same state the report's replay reaches).
    pub end: ReplayModel,
    /// With [`WhatifOptions::control`]: the counts of the destination that received every
    /// subsection (nothing dropped), at every point.
    pub control: Option<SubCounts>,
    /// The source's implementation (the model's: [`WhatifOptions::profile`] for a file).
    pub profile: Profile,
    /// Points (event weight) where the source's `fdc/phase` is needed.
    pub phase_needed_points: u64,
    /// With [`WhatifOptions::into`]: points where the destination refuses the stream.
    pub refused_points: u64,
}

/// A point (or the part of a gap after the READ ID timer fired) waiting for its class.
/// Kept small (one per point and subsection sent): the first difference, shared by
/// every point of a trajectory, is an index into [`Engine::diffs`].
struct Pending {
    index: u64,
    t_ns: u64,
    time_ns: u64,
    /// Events after the point when source and destination were equal again.
    reconverged: Option<u32>,
    /// Index into [`Engine::diffs`] ([`NO_DIFF`]: none seen).
    diff: u32,
    /// Event weight (0 or 1).
    events: u8,
    /// Index into [`WhatifOptions::subsections`] (its length: the control).
    sub: u8,
    class: Class,
}

/// [`Pending::diff`] of a point that saw no difference.
const NO_DIFF: u32 = u32::MAX;

/// A first difference, as [`FirstDifference`] less the time from the point (which each
/// point of the trajectory measures from its own time).
struct Diffed {
    event: u64,
    t_ns: u64,
    register: &'static str,
    source: u32,
    destination: u32,
}

/// A trajectory: the points whose destinations reached this state, split into those that
/// saw no difference yet and those that did (waiting for reconvergence).
#[derive(Default)]
struct Traj {
    /// With records ([`WhatifOptions::keep_points`]): the points still waiting.
    waiting: Vec<u32>,
    diffed: Vec<u32>,
    /// Without records: the waiting points summed per subsection, (`sub`, events,
    /// time in ns), so memory follows the forks alive, not the points.
    sums: Vec<(u8, u64, u64)>,
}

impl Traj {
    /// Some point of the trajectory saw no difference yet.
    fn is_waiting(&self) -> bool {
        !self.waiting.is_empty() || !self.sums.is_empty()
    }
}

/// A fork being stepped.
struct Live {
    traj: usize,
    m: ReplayModel,
    /// [`fingerprint`] of `m`, computed when asked for ([`Live::fp`]): a fork's state is
    /// compared with the source's after every event by [`same_cheap`] first.
    fp: Option<u64>,
    /// For a [`Shadow`] made real: its patch, to make it a shadow again when it still is
    /// the source with it.
    patch: Option<Patch>,
}

/// A fork of `fdrive/media_changed` kept as the source with both drives' DSKCHG latches
/// patched, not as a state of its own. Only a DIR read reads the latch, and only a seek
/// to another track, an insert or an eject writes it; every other handler does to the
/// shadow exactly what it does to the source, so an event that is no DIR read is applied
/// to the source only. A latch the source's event wrote ([`fdc::Drive::latch_writes`])
/// was written the same in the shadow, whose patch then takes the source's value
/// there. Made real ([`Engine::materialize`]) before a DIR read.
struct Shadow {
    traj: usize,
    patch: Patch,
}

/// Whether `ev` is a DIR read (the one handler that reads the DSKCHG latch).
fn reads_latch(ev: &Ev) -> bool {
    matches!(ev.kind, EvKind::Read { offset, .. } if offset & 7 == 7)
}

/// The latch writes of both drives ([`fdc::Drive::latch_writes`]).
fn latch_writes(m: &ReplayModel) -> [u32; 2] {
    [0, 1].map(|k| m.fdc.drive(k).latch_writes())
}

/// The replay fields beside the device of `fork` are those [`with_fdc`] gives a
/// destination of `src` with `fork`'s device.
fn same_rest(fork: &ReplayModel, src: &ReplayModel) -> bool {
    let timer = fork.fdc.result_timer().is_some();
    fork.cmd == src.cmd
        && fork.unknown_results == src.unknown_results
        && fork.read_id_hold == src.read_id_hold.filter(|_| timer)
        && fork.held == (src.held && timer)
}

impl Live {
    /// [`fingerprint`] of the fork's state.
    fn fp(&mut self) -> u64 {
        *self.fp.get_or_insert_with(|| fingerprint(&self.m))
    }
}

/// Whether the fields a dropped subsection or its first consequences change are equal
/// in `a` and `b`: a cheap test before `==` (which compares those last).
fn same_cheap(a: &ReplayModel, b: &ReplayModel) -> bool {
    let (x, y) = (&a.fdc, &b.fdc);
    x.msr() == y.msr()
        && x.data_pos() == y.data_pos()
        && x.phase_byte() == y.phase_byte()
        && x.reset_sensei() == y.reset_sensei()
        && x.result_timer() == y.result_timer()
        && (0..2).all(|k| {
            let (d, e) = (x.drive(k), y.drive(k));
            d.media_changed() == e.media_changed()
                && d.perpendicular() == e.perpendicular()
                && d.media_rate() == e.media_rate()
                && d.position() == e.position()
        })
}

/// A hash of cheap observers of a state: equal states have equal fingerprints, so only
/// states with equal fingerprints need the full comparison.
fn fingerprint(m: &ReplayModel) -> u64 {
    let mix = |h: u64, v: u64| (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    let f = &m.fdc;
    let regs = u64::from(f.msr())
        | u64::from(f.sra()) << 8
        | u64::from(f.dor()) << 16
        | u64::from(f.phase_byte()) << 24
        | u64::from(f.cur_drv()) << 32
        | u64::from(m.cmd) << 40;
    let mut h = mix(0, regs);
    h = mix(h, u64::from(f.data_pos()) | u64::from(f.data_len()) << 32);
    h = mix(
        h,
        f.reset_sensei() as u64 ^ f.result_timer().map_or(u64::MAX, |t| t),
    );
    let mut head = [0u8; 8];
    head.copy_from_slice(&f.fifo()[..8]);
    h = mix(h, u64::from_le_bytes(head));
    for k in 0..2 {
        let d = f.drive(k);
        let (a, b, c) = d.position();
        let v = u64::from(a)
            | u64::from(b) << 8
            | u64::from(c) << 16
            | u64::from(d.media_changed()) << 24
            | u64::from(d.perpendicular()) << 32
            | u64::from(d.media_rate()) << 40;
        h = mix(h, v);
    }
    h
}

/// Events between two looks for forks with equal states ([`Engine::merge_equal`]).
const MERGE_EVERY: u64 = 64;

/// A difference seen after one event: class, register, source and destination values.
type Diff = (Class, &'static str, u32, u32);

struct Engine<'o> {
    opts: &'o WhatifOptions,
    pend: Vec<Pending>,
    trajs: Vec<Traj>,
    live: Vec<Live>,
    /// `fdrive/media_changed` forks kept as patches of the source ([`Shadow`]).
    shadows: Vec<Shadow>,
    /// Whether forks may be kept as [`Shadow`]s (off only to check that they change
    /// nothing).
    use_shadows: bool,
    stats: ForkStats,
    mig: fdc::destination::Migrator,
    /// Counts per subsection (of points already classified, and of every point sent).
    sent: Vec<SubCounts>,
    /// Records of points already classified (with `keep_points`).
    records: Vec<PointRecord>,
    /// Per drop (as `sent`): the trajectory its last destination started or joined.
    last_traj: Vec<usize>,
    /// The first differences seen (see [`Pending::diff`]).
    diffs: Vec<Diffed>,
    /// [`fingerprint`] of the source as the last step or advance left it, once asked for.
    src_fp: Option<u64>,
    phase_needed: u64,
    refused: u64,
}

/// The destination of `src` without `sub` (both drives for the `fdrive/*` ones).
fn destination(
    mig: &mut fdc::destination::Migrator,
    src: &ReplayModel,
    sub: Option<Subsection>,
) -> Option<ReplayModel> {
    let dropped: &[(Subsection, Option<usize>)] = match &sub {
        Some(s) => &[(*s, None)],
        None => &[],
    };
    let fdc = mig.migrate_without(&src.fdc, dropped).ok()?;
    Some(with_fdc(src, fdc))
}

/// A destination: equal to the source, refused by QEMU, or a state to compare (returned
/// once per point and subsection and consumed at once: not worth a box).
#[allow(clippy::large_enum_variant)]
enum Dest {
    Same,
    Refused,
    State(ReplayModel, u64),
}

/// A destination of `src` with device `fdc`: the replay fields beside the device are the
/// source's, but for the READ ID timer's hold, which a destination without the timer
/// does not have (its next event would clear it: leaving it would only keep equal
/// destinations of successive points apart).
fn with_fdc(src: &ReplayModel, fdc: fdc::Fdc) -> ReplayModel {
    let timer = fdc.result_timer().is_some();
    ReplayModel {
        fdc,
        cmd: src.cmd,
        dma: DmaStats::default(),
        last_dma: None,
        unknown_results: src.unknown_results,
        read_id_hold: src.read_id_hold.filter(|_| timer),
        held: src.held && timer,
        dma_count: None,
    }
}

impl Engine<'_> {
    /// The destination of `src` without `sub` (`None`: nothing dropped), from the control
    /// destination `c` (nothing dropped; `c_same`: equal to the source) when the
    /// subsection's fields can be patched into it (exactly the load's result).
    fn dest_for(
        &mut self,
        src: &ReplayModel,
        src_fp: u64,
        c: Option<&ReplayModel>,
        c_same: bool,
        sub: Option<Subsection>,
    ) -> Dest {
        let Some(c) = c else { return Dest::Refused };
        let d = match sub {
            None if c_same => return Dest::Same,
            None => c.clone(),
            Some(Subsection::MediaRate) if self.mig.media_rate_is_fresh(&c.fdc) => {
                if c_same {
                    return Dest::Same;
                }
                c.clone()
            }
            Some(s) => match self.mig.patch_without(&c.fdc, s) {
                Some(f) => with_fdc(src, f),
                None => match destination(&mut self.mig, src, Some(s)) {
                    Some(d) => d,
                    None => return Dest::Refused,
                },
            },
        };
        let fp = fingerprint(&d);
        if fp == src_fp && d == *src {
            Dest::Same
        } else {
            Dest::State(d, fp)
        }
    }

    /// The live fork that the destination of `src` without `sub` would join, found
    /// without building that destination: the fork the previous point of drop `k` went
    /// to, when it equals the control `c` with `sub`'s fields patched
    /// ([`fdc::destination::Migrator::equals_patched`]). Live forks never equal the
    /// source (they stop when they do), so a fork equal to the destination means the
    /// destination differs from the source.
    fn join_without_load(
        &mut self,
        k: usize,
        src: &ReplayModel,
        c: Option<&ReplayModel>,
        sub: Option<Subsection>,
    ) -> Option<usize> {
        let (c, s) = (c?, sub?);
        if s == Subsection::MediaRate && self.mig.media_rate_is_fresh(&c.fdc) {
            return None;
        }
        let traj = self.last_traj[k];
        let j = self.live.iter().position(|l| l.traj == traj)?;
        let l = &mut self.live[j];
        (same_rest(&l.m, src) && self.mig.equals_patched(&mut l.m.fdc, &c.fdc, s)).then_some(j)
    }

    /// Point `p` waits on trajectory `traj` (kept as a record, or summed).
    fn wait(&mut self, traj: usize, p: Pending) {
        let t = &mut self.trajs[traj];
        if self.opts.keep_points {
            t.waiting.push(self.pend.len() as u32);
            self.pend.push(p);
        } else if let Some(s) = t.sums.iter_mut().find(|s| s.0 == p.sub) {
            s.1 += u64::from(p.events);
            s.2 += p.time_ns;
        } else {
            t.sums.push((p.sub, u64::from(p.events), p.time_ns));
        }
    }

    /// Counts the summed waiting points of `t` as `class`.
    fn count_sums(sent: &mut [SubCounts], t: &mut Traj, class: Class) {
        let k = Class::ALL.iter().position(|x| *x == class).unwrap_or(5);
        for (sub, events, time_ns) in t.sums.drain(..) {
            if let Some(c) = sent.get_mut(usize::from(sub)) {
                c.classes[k].0 += events;
                c.classes[k].1 += time_ns;
            }
        }
    }

    /// Starts the what-if of every requested subsection QEMU sends at `src`'s state.
    fn spawn(&mut self, src: &ReplayModel, index: u64, t_ns: u64, events: u64, time_ns: u64) {
        let sent = src.fdc.needed_subsections();
        if sent.contains(Subsection::Phase) {
            self.phase_needed += events;
        }
        if let Some(p) = self.opts.into {
            if sent.iter().any(|s| !p.knows(s)) {
                self.refused += events;
                return;
            }
        }
        let n = self.opts.subsections.len();
        let control = self.opts.control.then_some(None);
        let opts = self.opts;
        let drops = || opts.subsections.iter().copied().map(Some).chain(control);
        if !drops().any(|s| s.is_none_or(|s| sent.contains(s))) {
            return;
        }
        // The control destination (nothing dropped): the source itself when the load is
        // known to give it back, else loaded.
        let (c, c_same) = if self.mig.lossless(&src.fdc) {
            (None, true)
        } else {
            self.stats.loads += 1;
            let c = destination(&mut self.mig, src, None);
            let same = c
                .as_ref()
                .is_some_and(|c| fingerprint(c) == self.src_fp(src) && c == src);
            (c, same)
        };
        let c_ref = if c_same { Some(src) } else { c.as_ref() };
        for (k, sub) in drops().enumerate() {
            if sub.is_some_and(|s| !sent.contains(s)) {
                continue;
            }
            debug_assert!(k <= n);
            self.sent[k].points_sent += events;
            self.sent[k].time_sent_ns += time_ns;
            let mut pending = Pending {
                index,
                t_ns,
                time_ns,
                reconverged: None,
                diff: NO_DIFF,
                events: events.min(1) as u8,
                sub: k as u8,
                class: Class::Invisible,
            };
            if let Some((s, p)) = self.shadow_patch(sub, c_same) {
                self.spawn_shadow(k, s, src, p, pending);
                continue;
            }
            if let Some(j) = self.join_without_load(k, src, c_ref, sub) {
                self.stats.joined += 1;
                let traj = self.live[j].traj;
                self.wait(traj, pending);
                continue;
            }
            let src_fp = self.src_fp(src);
            let (d, fp) = match self.dest_for(src, src_fp, c_ref, c_same, sub) {
                Dest::Refused => {
                    // QEMU refuses the stream (never for a state the model produced).
                    pending.class = Class::Fault;
                    self.pend.push(pending);
                    continue;
                }
                Dest::Same => {
                    self.stats.equal_at_load += 1;
                    pending.reconverged = Some(0);
                    self.count(&pending);
                    continue;
                }
                Dest::State(d, fp) => (d, fp),
            };
            if let Some(traj) = self
                .live
                .iter_mut()
                .find_map(|l| (l.fp() == fp && l.m == d).then_some(l.traj))
            {
                self.stats.joined += 1;
                self.wait(traj, pending);
                self.last_traj[k] = traj;
                continue;
            }
            self.stats.forks += 1;
            self.trajs.push(Traj::default());
            self.wait(self.trajs.len() - 1, pending);
            self.last_traj[k] = self.trajs.len() - 1;
            self.live.push(Live {
                traj: self.trajs.len() - 1,
                m: d,
                fp: Some(fp),
                patch: None,
            });
        }
    }
    /// Applies event `i` to the source and every fork and classifies what differs.
    fn step(
        &mut self,
        src: &mut ReplayModel,
        i: u64,
        ev: &Ev,
        ahead: &[Ev],
    ) -> Result<(), ReplayError> {
        let err = |reason| ReplayError::Event {
            file: None,
            index: i,
            reason,
        };
        let latch = !self.shadows.is_empty() && reads_latch(ev);
        if latch {
            self.materialize(src);
        }
        let pio = src.fdc.phase_byte() == Phase::Execution as u8;
        src.last_dma = None;
        let writes = latch_writes(src);
        let vs = apply(src, ev, ahead).map_err(err)?;
        self.follow_shadows(src, writes, i + 1);
        self.src_fp = None;
        let mut done = Vec::new();
        for (j, l) in self.live.iter_mut().enumerate() {
            l.m.last_dma = None;
            l.m.dma_count = src.last_dma.map(|t| t.len);
            let vd = apply(&mut l.m, ev, ahead).map_err(err)?;
            l.m.dma_count = None;
            self.stats.fork_steps += 1;
            let waiting = self.trajs[l.traj].is_waiting();
            let diff = if waiting {
                difference(src, vs, &l.m, vd, ev, pio)
            } else {
                None
            };
            if let Some(d) = diff {
                let k = u32::try_from(self.diffs.len()).unwrap_or(NO_DIFF);
                self.diffs.push(Diffed {
                    event: i,
                    t_ns: ev.t,
                    register: d.1,
                    source: d.2,
                    destination: d.3,
                });
                let t = &mut self.trajs[l.traj];
                Engine::count_sums(&mut self.sent, t, d.0);
                for p in t.waiting.drain(..) {
                    let pe = &mut self.pend[p as usize];
                    pe.class = d.0;
                    pe.diff = k;
                    t.diffed.push(p);
                }
            }
            if !self.opts.keep_points && !self.trajs[l.traj].is_waiting() {
                // Every point of this fork is classed, and without records nobody asks
                // when (or whether) the states are equal again: stop stepping it.
                done.push((j, false));
                continue;
            }
            l.fp = None;
            if same_cheap(&l.m, src) && l.m == *src {
                done.push((j, true));
            }
        }
        for &(j, equal) in done.iter().rev() {
            let l = self.live.swap_remove(j);
            if equal {
                self.reconverged(l.traj, i + 1);
            } else {
                self.trajs[l.traj] = Traj::default();
            }
        }
        if latch {
            self.reshadow(src);
        }
        // Forks with equal states have equal futures: merging them later changes nothing
        // but the cost, so it is only looked for every MERGE_EVERY events.
        if i.is_multiple_of(MERGE_EVERY) {
            self.merge_equal();
        }
        Ok(())
    }

    /// The patch of drop `sub`'s destination when it can be a [`Shadow`]: the control
    /// destination is the source itself (`c_same`) and `sub` is `fdrive/media_changed`.
    fn shadow_patch(&self, sub: Option<Subsection>, c_same: bool) -> Option<(Subsection, Patch)> {
        let s = sub.filter(|s| c_same && self.use_shadows && *s == Subsection::MediaChanged)?;
        Some((s, self.mig.fresh_patch(s)?))
    }

    /// [`fingerprint`] of the source (computed once per state, when asked for).
    fn src_fp(&mut self, src: &ReplayModel) -> u64 {
        *self.src_fp.get_or_insert_with(|| fingerprint(src))
    }

    /// Point `pending` of drop `k` (subsection `sub`), whose destination is the source
    /// `src` with patch `p` put in: equal to the source, or waiting on the shadow (or the
    /// real fork of the previous point) with that state, or on a new shadow.
    fn spawn_shadow(
        &mut self,
        k: usize,
        sub: Subsection,
        src: &ReplayModel,
        p: Patch,
        mut pending: Pending,
    ) {
        if p.holds_in(&src.fdc) {
            self.stats.equal_at_load += 1;
            pending.reconverged = Some(0);
            self.count(&pending);
            return;
        }
        let found = match self.shadows.iter().find(|s| s.patch == p) {
            Some(s) => Some(s.traj),
            None => self
                .join_without_load(k, src, Some(src), Some(sub))
                .map(|j| self.live[j].traj),
        };
        let traj = match found {
            Some(t) => {
                self.stats.joined += 1;
                t
            }
            None => {
                self.stats.forks += 1;
                self.trajs.push(Traj::default());
                let traj = self.trajs.len() - 1;
                self.shadows.push(Shadow { traj, patch: p });
                traj
            }
        };
        self.wait(traj, pending);
        self.last_traj[k] = traj;
    }

    /// After the source took an event (its latch writes were `writes` before): every
    /// shadow took it too; a latch the source wrote now holds the source's value in the
    /// shadow, and a shadow equal to the source is so from point `at` on.
    fn follow_shadows(&mut self, src: &ReplayModel, writes: [u32; 2], at: u64) {
        if self.shadows.is_empty() {
            return;
        }
        self.stats.shadow_steps += self.shadows.len() as u64;
        let now = latch_writes(src);
        if now == writes {
            return;
        }
        for k in 0..2 {
            if now[k] != writes[k] {
                for s in &mut self.shadows {
                    s.patch.take_drive(k, &src.fdc);
                }
            }
        }
        let mut j = 0;
        while j < self.shadows.len() {
            if self.shadows[j].patch.holds_in(&src.fdc) {
                let s = self.shadows.swap_remove(j);
                self.reconverged(s.traj, at);
            } else {
                j += 1;
            }
        }
    }

    /// Makes every shadow a real fork: the source with its patch put in.
    fn materialize(&mut self, src: &ReplayModel) {
        for s in self.shadows.drain(..) {
            let mut f = src.fdc.clone();
            s.patch.put(&mut f);
            self.stats.materialized += 1;
            self.live.push(Live {
                traj: s.traj,
                m: with_fdc(src, f),
                fp: None,
                patch: Some(s.patch),
            });
        }
    }

    /// Makes the forks materialized for this event shadows again when they still are
    /// the source with their patch (a DIR read of a drive whose latch is the source's).
    fn reshadow(&mut self, src: &ReplayModel) {
        let mut j = 0;
        while j < self.live.len() {
            let l = &mut self.live[j];
            let back = l
                .patch
                .filter(|p| same_rest(&l.m, src) && p.equals_patched(&mut l.m.fdc, &src.fdc));
            let Some(patch) = back else {
                j += 1;
                continue;
            };
            let traj = self.live.swap_remove(j).traj;
            match self.shadows.iter().find(|s| s.patch == patch) {
                // Equal states: the points follow that shadow from now on.
                Some(s) => self.merge_traj(traj, s.traj),
                None => self.shadows.push(Shadow { traj, patch }),
            }
        }
    }

    /// The points of trajectory `from` follow trajectory `into` from now on (their forks'
    /// states are equal).
    fn merge_traj(&mut self, from: usize, into: usize) {
        let t = std::mem::take(&mut self.trajs[from]);
        let i = &mut self.trajs[into];
        i.waiting.extend(t.waiting);
        i.diffed.extend(t.diffed);
        i.sums.extend(t.sums);
        self.stats.merged += 1;
    }

    /// The points of trajectory `traj` are equal to the source from point `at` on.
    fn reconverged(&mut self, traj: usize, at: u64) {
        let mut t = std::mem::take(&mut self.trajs[traj]);
        Engine::count_sums(&mut self.sent, &mut t, Class::Invisible);
        for p in t.waiting.into_iter().chain(t.diffed) {
            let pe = &mut self.pend[p as usize];
            pe.reconverged = u32::try_from(at.saturating_sub(pe.index)).ok();
        }
    }

    /// Merges forks whose states are equal (equal futures): the later fork's points
    /// follow the earlier one from now on.
    fn merge_equal(&mut self) {
        let n = self.live.len();
        if n < 2 {
            return;
        }
        let fps: Vec<u64> = self.live.iter_mut().map(Live::fp).collect();
        if n <= 32 && !(1..n).any(|j| (0..j).any(|k| fps[k] == fps[j])) {
            return;
        }
        let mut order: Vec<(u64, usize)> = fps.into_iter().zip(0..n).collect();
        order.sort_unstable();
        let mut gone = vec![false; n];
        for w in 0..n {
            let (fp, k) = order[w];
            if gone[k] {
                continue;
            }
            for &(fp2, j) in order[w + 1..].iter().take_while(|o| o.0 == fp) {
                let (lo, hi) = (k.min(j), k.max(j));
                if fp2 == fp && !gone[hi] && !gone[lo] && self.live[lo].m == self.live[hi].m {
                    gone[hi] = true;
                    self.merge_traj(self.live[hi].traj, self.live[lo].traj);
                }
            }
        }
        if gone.iter().any(|g| *g) {
            let mut idx = 0;
            self.live.retain(|_| {
                idx += 1;
                !gone[idx - 1]
            });
        }
    }

    /// Advances the source and every fork to `t` (the READ ID timer fires inside a gap).
    fn advance(&mut self, src: &mut ReplayModel, t: u64, at: u64) {
        let writes = latch_writes(src);
        src.fdc.advance_to(t);
        self.follow_shadows(src, writes, at);
        self.src_fp = None;
        let mut done = Vec::new();
        for (j, l) in self.live.iter_mut().enumerate() {
            l.m.fdc.advance_to(t);
            l.fp = None;
            if same_cheap(&l.m, src) && l.m == *src {
                done.push(j);
            }
        }
        for &j in done.iter().rev() {
            let l = self.live.swap_remove(j);
            self.reconverged(l.traj, at);
        }
    }
}

/// What a guest could notice after one event, most specific class first. `pio`: the
/// source was in the execution phase before the event (a FIFO byte is data).
fn difference(
    src: &ReplayModel,
    vs: Option<u8>,
    dst: &ReplayModel,
    vd: Option<u8>,
    ev: &Ev,
    pio: bool,
) -> Option<Diff> {
    let (offset, value) = match ev.kind {
        EvKind::Read { offset, value } | EvKind::Write { offset, value } => (offset, value),
        _ => (0, 0),
    };
    let reg = REGISTER_NAMES[usize::from(offset & 7)];
    if dst.fdc.fault().is_some() && src.fdc.fault().is_none() {
        return Some((Class::Fault, reg, u32::from(vs.unwrap_or(value)), 0xff));
    }
    if let Some(d) = data_difference(src, dst, ev) {
        return Some(d);
    }
    let (s, d) = (vs.unwrap_or(0), vd.unwrap_or(0));
    let fifo = usize::from(offset & 7) == fdc::registers::Register::Fifo as usize;
    if vs != vd && fifo && pio {
        return Some((Class::Data, reg, u32::from(s), u32::from(d)));
    }
    let busy = dst.fdc.msr() & msr::RQM == 0 && !dst.fdc.irq();
    let read_msr = usize::from(offset & 7) == fdc::registers::Register::MsrDsr as usize
        && matches!(ev.kind, EvKind::Read { .. });
    if busy && read_msr && s & msr::RQM != 0 && d & msr::RQM == 0 {
        return Some((Class::Stall, reg, u32::from(s), u32::from(d)));
    }
    let (is, id) = (src.fdc.irq(), dst.fdc.irq());
    if is != id {
        let class = if busy && is { Class::Stall } else { Class::Irq };
        return Some((class, "IRQ", u32::from(is), u32::from(id)));
    }
    (vs != vd).then_some((Class::Register, reg, u32::from(s), u32::from(d)))
}

/// A DMA transfer of another length, or ending elsewhere, or media whose content differ.
fn data_difference(src: &ReplayModel, dst: &ReplayModel, ev: &Ev) -> Option<Diff> {
    if src.last_dma.is_none() && dst.last_dma.is_none() {
        if !matches!(ev.kind, EvKind::Write { offset: 5, .. }) {
            return None;
        }
    } else {
        let len = |m: &ReplayModel| m.last_dma.map_or(0, |t| t.len);
        if src.last_dma != dst.last_dma {
            return Some((Class::Data, "DMA", len(src), len(dst)));
        }
        let pos = |m: &ReplayModel| {
            let (head, track, sect) = m.fdc.drive(usize::from(m.fdc.cur_drv())).position();
            u32::from(track) << 16 | u32::from(head) << 8 | u32::from(sect)
        };
        if (src.fdc.cur_drv(), pos(src)) != (dst.fdc.cur_drv(), pos(dst)) {
            return Some((Class::Data, "DMA position", pos(src), pos(dst)));
        }
    }
    let media_differ = (0..2).any(|k| src.fdc.drive(k).medium() != dst.fdc.drive(k).medium());
    media_differ.then_some((Class::Data, "medium", 0, 1))
}

/// Reads a whole trace into memory: its header, events, and the end of the chunk each
/// event is in (the replay's DMA look-ahead stops at a chunk's end).
pub fn read_trace(path: &Path) -> Result<(TraceHeader, Vec<Ev>, Vec<usize>), ReplayError> {
    let mut events = Vec::new();
    let mut ends = Vec::new();
    let header = fdc_trace::compact::for_each_chunk::<ReplayError>(path, |c| {
        events.extend_from_slice(&c.events);
        ends.push(events.len());
        Ok(())
    })?;
    Ok((header, events, ends))
}

/// The what-if of one trace file, read chunk by chunk (memory follows the forks alive,
/// not the trace's length). Errors name the file (and the event).
pub fn whatif_file(path: &Path, opts: &WhatifOptions) -> Result<TraceWhatif, ReplayError> {
    whatif_reader(path, fdc_trace::TraceReader::open(path)?, opts)
}

/// [`whatif_file`] of a trace already opened (no event read yet), whose errors name
/// `path`.
pub fn whatif_reader<R: std::io::Read>(
    path: &Path,
    reader: fdc_trace::TraceReader<R>,
    opts: &WhatifOptions,
) -> Result<TraceWhatif, ReplayError> {
    let (header, scanner) = reader.into_parts();
    let model = ReplayModel::from_header_as(&header, path, opts.profile)?;
    let guest = header.guest.unwrap_or_else(|| "unknown".into());
    // The header's images are in the model's media now.
    drop(header.drives);
    let mut run = Run::new(model, opts, 0);
    fdc_trace::compact::for_each_scanned::<_, ReplayError>(scanner, path, |c| {
        run.chunk(&c.events).map_err(|e| e.in_file(path))
    })?;
    let mut w = run.finish();
    w.path = path.to_path_buf();
    w.guest = guest;
    Ok(w)
}

/// The what-if of in-memory events replayed from `model`; `chunk_ends` are the indices
/// where the trace's chunks end (the DMA look-ahead stops there; empty = one chunk).
pub fn whatif_events(
    model: ReplayModel,
    events: &[Ev],
    chunk_ends: &[usize],
    opts: &WhatifOptions,
) -> Result<TraceWhatif, ReplayError> {
    events_with(model, events, chunk_ends, opts, true)
}

/// [`whatif_events`], with `fdrive/media_changed` forks kept as [`Shadow`]s or not.
fn events_with(
    model: ReplayModel,
    events: &[Ev],
    chunk_ends: &[usize],
    opts: &WhatifOptions,
    shadows: bool,
) -> Result<TraceWhatif, ReplayError> {
    let mut run = Run::new(model, opts, events.len());
    run.e.use_shadows = shadows;
    let mut start = 0;
    for &end in chunk_ends.iter().chain([&events.len()]) {
        let end = end.min(events.len());
        if end > start {
            run.chunk(&events[start..end])?;
            start = end;
        }
    }
    Ok(run.finish())
}

/// One pass of the engine over a trace, fed chunk by chunk.
struct Run<'o> {
    e: Engine<'o>,
    src: ReplayModel,
    /// Events fed so far.
    n: u64,
    prev_t: u64,
    first_t: Option<u64>,
}

impl<'o> Run<'o> {
    /// A run from `model`; `events_hint`: the trace's length when known (records).
    fn new(model: ReplayModel, opts: &'o WhatifOptions, events_hint: usize) -> Run<'o> {
        let e = Engine {
            opts,
            pend: Vec::with_capacity(if opts.keep_points { events_hint + 1 } else { 0 }),
            trajs: Vec::new(),
            live: Vec::new(),
            shadows: Vec::new(),
            use_shadows: true,
            stats: ForkStats::default(),
            mig: fdc::destination::Migrator::into_profile(opts.into.unwrap_or(opts.profile)),
            sent: vec![SubCounts::default(); opts.subsections.len() + 1],
            records: Vec::new(),
            phase_needed: 0,
            refused: 0,
            last_traj: vec![usize::MAX; opts.subsections.len() + 1],
            diffs: Vec::new(),
            src_fp: None,
        };
        Run {
            e,
            src: model,
            n: 0,
            prev_t: 0,
            first_t: None,
        }
    }

    /// The events of one chunk (the DMA look-ahead stops at its end).
    fn chunk(&mut self, events: &[Ev]) -> Result<(), ReplayError> {
        for (k, ev) in events.iter().enumerate() {
            let index = self.n;
            let first = index == 0;
            self.first_t.get_or_insert(ev.t);
            let w = if first {
                0
            } else {
                ev.t.saturating_sub(self.prev_t)
            };
            let (e, src, prev_t) = (&mut self.e, &mut self.src, self.prev_t);
            match src.fdc.result_timer() {
                Some(exp) if exp <= ev.t && !first => {
                    let wa = exp.saturating_sub(prev_t).min(w);
                    e.spawn(src, index, prev_t, 1, wa);
                    e.advance(src, exp, index);
                    e.spawn(src, index, exp.max(prev_t), 0, w - wa);
                }
                _ => e.spawn(src, index, prev_t, 1, w),
            }
            e.step(src, index, ev, &events[k + 1..])?;
            self.prev_t = ev.t;
            self.n += 1;
        }
        Ok(())
    }

    /// The last point (after the last event) and the result.
    fn finish(mut self) -> TraceWhatif {
        let (n, prev_t) = (self.n, self.prev_t);
        self.e.spawn(&self.src, n, prev_t, 1, 0);
        let first_t = self.first_t.unwrap_or(0);
        self.e.finish(self.src, n, prev_t - first_t.min(prev_t))
    }
}

impl Engine<'_> {
    /// Counts a classified point (and keeps its record when asked to).
    fn count(&mut self, p: &Pending) {
        let c = &mut self.sent[usize::from(p.sub)];
        let k = Class::ALL.iter().position(|x| *x == p.class).unwrap_or(5);
        c.classes[k].0 += u64::from(p.events);
        c.classes[k].1 += p.time_ns;
        if self.opts.keep_points && p.events > 0 {
            let first = self.diffs.get(p.diff as usize).map(|d| FirstDifference {
                event: d.event,
                register: d.register,
                source: d.source,
                destination: d.destination,
                after_ns: d.t_ns.saturating_sub(p.t_ns),
            });
            self.records.push(PointRecord {
                index: p.index,
                t_ns: p.t_ns,
                subsection: self
                    .opts
                    .subsections
                    .get(usize::from(p.sub))
                    .map_or(CONTROL, |s| s.name()),
                class: p.class,
                first_difference: first,
                reconverged_after_events: p.reconverged.map(u64::from),
                time_ns: p.time_ns,
            });
        }
    }

    /// Counts every point (forks still running never reconverged) and builds the result.
    fn finish(mut self, end: ReplayModel, n: u64, time_ns: u64) -> TraceWhatif {
        let profile = end.fdc.profile();
        let pend = std::mem::take(&mut self.pend);
        for p in &pend {
            self.count(p);
        }
        // Without records, the points still waiting (their forks never saw a
        // difference) are invisible.
        let mut trajs = std::mem::take(&mut self.trajs);
        for t in &mut trajs {
            Engine::count_sums(&mut self.sent, t, Class::Invisible);
        }
        // Records in point order, then subsection order (a stable sort keeps the latter).
        self.records.sort_by_key(|r| {
            (
                r.index,
                Subsection::from_name(r.subsection).is_none(),
                Subsection::from_name(r.subsection),
            )
        });
        let control = self.sent.pop().filter(|_| self.opts.control);
        let subs = self
            .opts
            .subsections
            .iter()
            .copied()
            .zip(self.sent)
            .collect();
        TraceWhatif {
            path: PathBuf::new(),
            guest: String::new(),
            points: n + 1,
            time_ns,
            subsections: subs,
            records: self.records,
            stats: self.stats,
            end,
            control,
            profile,
            phase_needed_points: self.phase_needed,
            refused_points: self.refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The what-if of `path` with its `fdrive/media_changed` forks kept as shadows or
    /// not.
    fn run(path: &Path, opts: &WhatifOptions, shadows: bool) -> TraceWhatif {
        let (header, events, ends) = read_trace(path).expect("corpus trace");
        let model = ReplayModel::from_header_as(&header, path, opts.profile).expect("model");
        events_with(model, &events, &ends, opts, shadows).expect("replay")
    }

    /// Shadows change nothing but the cost: at every point of every corpus trace, each
    /// record (class, first difference, reconvergence) and count is the one the real
    /// forks give, and the shadows did take events in place of real forks.
    #[test]
    fn shadow_forks_give_what_real_forks_give() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("corpus")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "fdctrace"))
            .collect();
        paths.sort();
        assert!(paths.len() > 20, "corpus traces in {}", dir.display());
        let opts = WhatifOptions {
            keep_points: true,
            ..WhatifOptions::default()
        };
        let mut shadow_steps = 0;
        for p in &paths {
            let (real, shadow) = (run(p, &opts, false), run(p, &opts, true));
            assert_eq!(real.stats.shadow_steps, 0);
            shadow_steps += shadow.stats.shadow_steps;
            assert_eq!(real.subsections, shadow.subsections, "{}", p.display());
            assert_eq!(real.records, shadow.records, "{}", p.display());
        }
        assert!(shadow_steps > 100_000, "{shadow_steps} shadow steps");
    }
}
