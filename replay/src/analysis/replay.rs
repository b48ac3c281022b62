//! The replay engine behind `report` and `bench`: per-point accounting ([`Part`]) and the
//! parallel replay of one trace.
//!
//! # Parallel replay of one trace
//!
//! Event chunks are decoded and replayed on all threads. A chunk's replay must start from
//! the model state at its start, which is only known once every earlier chunk was
//! replayed. Each chunk is therefore replayed *speculatively* from a guess (the latest
//! state known for sure when the chunk is picked up: the end of the last chunk already
//! resolved), saving a clone of the model every [`SUB_EVENTS`] events together with the
//! accounting of those events. Chunks are then resolved strictly in order: from the true
//! start state, sub-blocks are replayed again until the true state equals the saved
//! speculative state at a sub-block boundary; from there on the speculative results are
//! exact (the model is deterministic and compared with `==`), so they are taken as they
//! are. Resolution runs on one thread at a time but outside the lock the other threads
//! use, so speculation goes on meanwhile. If the states never meet, the whole chunk is
//! replayed again: the result is the
//! same, only slower. Output therefore never depends on the number of threads or on
//! scheduling: every number comes from a replay that started from the true state.
//! With one thread the guess is always the true state, so nothing is replayed twice.

use super::timeline::{mask_of, Timeline};
use super::{
    apply, key_of, Ev, EvKind, Key, ReplayError, ReplayModel, FAIL_MASK, INITIAL_STAGE, PHASE_BIT,
};
use fdc_trace::compact::{decode_chunk, Chunk, RawChunk};
use fdc_trace::{TraceError, TraceHeader, TraceReader};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Events per sub-block (the granularity of speculative checkpoints).
pub const SUB_EVENTS: usize = 256;

/// Point and time counts per key, in first-seen order (a handful of distinct keys).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    pub entries: Vec<(Key, u64, u64)>,
    last: usize,
}

impl Hist {
    #[inline]
    pub fn add(&mut self, key: Key, points: u64, time: u64) {
        if let Some(e) = self.entries.get_mut(self.last) {
            if e.0 == key {
                e.1 += points;
                e.2 += time;
                return;
            }
        }
        self.add_slow(key, points, time);
    }

    #[cold]
    fn add_slow(&mut self, key: Key, points: u64, time: u64) {
        match self.entries.iter().position(|e| e.0 == key) {
            Some(i) => {
                self.last = i;
                self.entries[i].1 += points;
                self.entries[i].2 += time;
            }
            None => {
                self.entries.push((key, points, time));
                self.last = self.entries.len() - 1;
            }
        }
    }

    pub fn merge(&mut self, other: &Hist) {
        for &(k, p, t) in &other.entries {
            self.add(k, p, t);
        }
    }
}

/// A run of consecutive points (or gap parts) where a predicate holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub time: u64,
    pub points: u64,
    /// Index of the first point of the run and the time it starts.
    pub start_index: u64,
    pub start_t: u64,
    /// Key of the state the run starts with (for its phase and command).
    pub start_key: Key,
    pub started: bool,
}

impl Run {
    fn concat(a: &Run, b: &Run) -> Run {
        if !a.started {
            return *b;
        }
        if !b.started {
            return *a;
        }
        Run {
            time: a.time + b.time,
            points: a.points + b.points,
            ..*a
        }
    }

    /// Longer (by time, then points); ties keep `a` (the earlier one).
    pub fn longer(a: Run, b: Run) -> Run {
        if (b.time, b.points) > (a.time, a.points) {
            b
        } else {
            a
        }
    }
}

/// Longest-run summary of a contiguous range, mergeable left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunTrack {
    /// The run that starts at the range's start (empty if the first part fails).
    pub prefix: Run,
    /// The run that ends at the range's end (the current run while accumulating).
    pub suffix: Run,
    pub best: Run,
    /// The predicate held everywhere in the range (vacuously true when empty).
    pub all: bool,
}

impl Default for RunTrack {
    fn default() -> Self {
        RunTrack {
            prefix: Run::default(),
            suffix: Run::default(),
            best: Run::default(),
            all: true,
        }
    }
}

impl RunTrack {
    #[inline]
    fn push(&mut self, holds: bool, time: u64, points: u64, index: u64, t: u64, key: Key) {
        if time == 0 && points == 0 {
            return;
        }
        if holds {
            if !self.suffix.started {
                self.suffix = Run {
                    time: 0,
                    points: 0,
                    start_index: index,
                    start_t: t,
                    start_key: key,
                    started: true,
                };
            }
            self.suffix.time += time;
            self.suffix.points += points;
            if self.all {
                self.prefix = self.suffix;
            }
        } else {
            self.all = false;
            self.best = Run::longer(self.best, self.suffix);
            self.suffix = Run::default();
        }
    }

    /// The longest run in the range.
    pub fn longest(&self) -> Run {
        Run::longer(self.best, self.suffix)
    }

    /// `self` followed by `next`.
    pub fn merge(&mut self, next: &RunTrack) {
        let joined = Run::concat(&self.suffix, &next.prefix);
        let prefix = if self.all {
            Run::concat(&self.prefix, &next.prefix)
        } else {
            self.prefix
        };
        let suffix = if next.all { joined } else { next.suffix };
        // Runs strictly inside either side, and the one across the boundary.
        let mut best = Run::longer(self.best, joined);
        if !self.all {
            best = Run::longer(self.best, Run::longer(self.prefix, joined));
        }
        best = Run::longer(best, next.best);
        if !next.all {
            best = Run::longer(best, joined);
        }
        *self = RunTrack {
            prefix,
            suffix,
            best,
            all: self.all && next.all,
        };
    }
}

/// Number of run predicates tracked: `fdc/phase`, and "any subsection unknown to 2.3".
pub const RUNS: usize = 2;

/// Accounting of a contiguous range of points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Part {
    /// Per stage (in first-seen order): `None` is the stage inherited from before the
    /// range, resolved by [`Part::resolve_stage`].
    pub stages: Vec<(Option<String>, Hist)>,
    pub runs: [RunTrack; RUNS],
    pub reads: u64,
    pub read_mismatches: u64,
    /// When each subsection is needed, phases, stages and media changes (bounded).
    pub timeline: Timeline,
}

impl Part {
    fn stage_slot(&mut self, label: Option<&str>) -> usize {
        match self.stages.iter().position(|(l, _)| l.as_deref() == label) {
            Some(i) => i,
            None => {
                self.stages
                    .push((label.map(str::to_string), Hist::default()));
                self.stages.len() - 1
            }
        }
    }

    /// Replaces the inherited-stage placeholder with `label` (merging it with a stage of
    /// the same name, at the placeholder's position: the order a replay that knew the
    /// label would have produced).
    pub fn resolve_stage(&mut self, label: &str) {
        if !self.stages.iter().any(|(l, _)| l.is_none()) {
            return;
        }
        if let Some(j) = self
            .stages
            .iter()
            .position(|(l, _)| l.as_deref() == Some(label))
        {
            let (_, h) = self.stages.remove(j);
            if let Some(i) = self.stages.iter().position(|(l, _)| l.is_none()) {
                self.stages[i].1.merge(&h);
            }
        }
        if let Some(i) = self.stages.iter().position(|(l, _)| l.is_none()) {
            self.stages[i].0 = Some(label.to_string());
        }
    }

    /// Appends `next` (the range right after this one).
    pub fn merge(&mut self, next: &Part) {
        for (label, hist) in &next.stages {
            let i = self.stage_slot(label.as_deref());
            self.stages[i].1.merge(hist);
        }
        for (a, b) in self.runs.iter_mut().zip(next.runs.iter()) {
            a.merge(b);
        }
        self.reads += next.reads;
        self.read_mismatches += next.read_mismatches;
        self.timeline.merge(&next.timeline);
    }

    /// All stages' points together.
    pub fn total(&self) -> Hist {
        let mut h = Hist::default();
        for (_, s) in &self.stages {
            h.merge(s);
        }
        h
    }

    #[inline]
    fn record(&mut self, slot: usize, key: Key, points: u64, time: u64, index: u64, t: u64) {
        if let Some((_, h)) = self.stages.get_mut(slot) {
            h.add(key, points, time);
        }
        self.runs[0].push(key & PHASE_BIT != 0, time, points, index, t, key);
        self.runs[1].push(key & FAIL_MASK != 0, time, points, index, t, key);
        self.timeline.add(t, time, mask_of(key));
    }

    /// Counts the idle point `index` (after the last event, time weight 0).
    pub fn record_idle(&mut self, stage: Option<&str>, key: Key, index: u64, t: u64) {
        let slot = self.stage_slot(stage);
        self.record(slot, key, 1, 0, index, t);
    }
}

/// Where a replay stands between events.
#[derive(Clone, Debug)]
pub struct Cursor {
    /// Index of the next event (= the point about to be finalised).
    pub index: u64,
    /// Time of the previous event (start of the current gap).
    pub prev_t: u64,
    /// Current stage (`None` = inherited from before the replayed range).
    pub stage: Option<String>,
}

/// Replays `events[range]`, finalising one point per event (the point before it), into
/// `part`. Events after the range (up to the end of `events`) serve as look-ahead for
/// DMA transfers. `labels` resolves [`EvKind::Stage`]. Errors name the event index.
pub fn run_range(
    m: &mut ReplayModel,
    events: &[Ev],
    range: std::ops::Range<usize>,
    labels: &[String],
    part: &mut Part,
    cur: &mut Cursor,
) -> Result<(), ReplayError> {
    let mut slot = part.stage_slot(cur.stage.as_deref());
    let mut key = key_of(m);
    let mut index = cur.index;
    let mut prev_t = cur.prev_t;
    // Consecutive segments with the same key are counted together (the same totals and
    // runs as one by one, at a fraction of the cost).
    let mut acc = Acc {
        key,
        points: 0,
        time: 0,
        index,
        t: prev_t,
    };
    let end = range.end.min(events.len());
    for i in range.start..end {
        let ev = &events[i];
        let w = if index == 0 {
            0
        } else {
            ev.t.saturating_sub(prev_t)
        };
        match m.fdc.result_timer() {
            Some(exp) if exp <= ev.t => {
                // The READ ID timer fires inside the gap: split it at the expiry.
                let wa = if index == 0 {
                    0
                } else {
                    exp.saturating_sub(prev_t).min(w)
                };
                acc.add(part, slot, key, 1, wa, index, prev_t);
                m.fdc.advance_to(ev.t);
                key = key_of(m);
                acc.add(part, slot, key, 0, w - wa, index, exp.max(prev_t));
            }
            _ => acc.add(part, slot, key, 1, w, index, prev_t),
        }
        let got = apply(m, ev, &events[i + 1..]).map_err(|reason| ReplayError::Event {
            file: None,
            index,
            reason,
        })?;
        match ev.kind {
            EvKind::Read { value, .. } => {
                part.reads += 1;
                if got != Some(value) {
                    part.read_mismatches += 1;
                }
            }
            EvKind::Stage(l) => {
                acc.flush(part, slot);
                let label = labels
                    .get(l as usize)
                    .map(String::as_str)
                    .unwrap_or(INITIAL_STAGE);
                cur.stage = Some(label.to_string());
                slot = part.stage_slot(Some(label));
                part.timeline.stage(ev.t, label);
            }
            EvKind::Eject(d) => part.timeline.media_change(ev.t, d, false),
            EvKind::Insert { drive, .. } => part.timeline.media_change(ev.t, drive, true),
            _ => {}
        }
        key = key_of(m);
        prev_t = ev.t;
        index += 1;
    }
    acc.flush(part, slot);
    cur.index = index;
    cur.prev_t = prev_t;
    Ok(())
}

/// A batch of consecutive segments with the same key.
struct Acc {
    key: Key,
    points: u64,
    time: u64,
    index: u64,
    t: u64,
}

impl Acc {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        part: &mut Part,
        slot: usize,
        key: Key,
        points: u64,
        time: u64,
        index: u64,
        t: u64,
    ) {
        // A batch that was flushed (at a stage marker) is not continued: the next one
        // starts here, with its own index and time.
        if key == self.key && (self.points != 0 || self.time != 0) {
            self.points += points;
            self.time += time;
        } else {
            self.flush(part, slot);
            *self = Acc {
                key,
                points,
                time,
                index,
                t,
            };
        }
    }

    #[inline]
    fn flush(&mut self, part: &mut Part, slot: usize) {
        if self.points != 0 || self.time != 0 {
            part.record(slot, self.key, self.points, self.time, self.index, self.t);
        }
        self.points = 0;
        self.time = 0;
    }
}

/// The state after the trace, once a pending READ ID timer fired (the idle state).
pub fn settle(m: &ReplayModel) -> ReplayModel {
    let mut f = m.clone();
    if let Some(exp) = f.fdc.result_timer() {
        f.fdc.advance_to(exp);
    }
    f
}

/// What the analysis of one trace gives.
#[derive(Clone, Debug)]
pub struct TraceAnalysis {
    pub path: PathBuf,
    pub header: TraceHeader,
    pub events: u64,
    /// Time of the last event.
    pub duration_ns: u64,
    /// Every point, idle point included, stages resolved.
    pub part: Part,
    /// The model after the last event.
    pub end: ReplayModel,
    /// The idle state (`end` after a pending timer fired).
    pub idle: ReplayModel,
    /// Stage at the end.
    pub end_stage: String,
    /// Events replayed a second time because a speculative replay had not yet met the
    /// true state (0 on one thread; a cost measure, no effect on results).
    pub replayed_again: u64,
    /// Thread CPU time spent in each part of the work (for `bench`).
    pub timing: Timing,
}

/// Thread CPU time (ns) of the parts of a trace analysis: reading and inflating blocks
/// (sequential: one reader), decoding and speculative replay (parallel), and in-order
/// resolution (sequential: under one lock).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    pub scan_ns: u64,
    pub parallel_ns: u64,
    pub resolve_ns: u64,
}

/// CPU time of the calling thread in ns.
pub fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime only writes the struct it is given.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An iterator wrapper that adds the CPU time of each `next` to a counter.
struct Timed<I> {
    inner: I,
    ns: std::sync::Arc<AtomicU64>,
}

impl<I: Iterator> Iterator for Timed<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let t0 = thread_cpu_ns();
        let r = self.inner.next();
        self.ns
            .fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
        r
    }
}

struct SubBlock {
    start: ReplayModel,
    /// Index in the chunk's events where it starts.
    from: usize,
    prev_t: u64,
    part: Part,
}

struct Speculated {
    chunk: Chunk,
    first_event: u64,
    subs: Vec<SubBlock>,
    end: ReplayModel,
    end_stage: Option<String>,
}

struct Resolver {
    next: usize,
    state: ReplayModel,
    stage: String,
    last_t: u64,
    events: u64,
    part: Part,
    pending: BTreeMap<usize, Speculated>,
    error: Option<(usize, ReplayError)>,
    /// Events replayed again during resolution (a measure of wasted work).
    replayed_again: u64,
    /// A thread is resolving (outside the lock).
    resolving: bool,
}

impl Resolver {
    fn fail(&mut self, k: usize, err: ReplayError) {
        if self.error.as_ref().is_none_or(|(e, _)| k < *e) {
            self.error = Some((k, err));
        }
    }
}

/// What resolving one chunk gives: its exact accounting and the state after it.
struct Resolved {
    part: Part,
    state: ReplayModel,
    stage: String,
    last_t: u64,
    events: u64,
    replayed_again: u64,
}

/// Resolves chunk `spec` given the true state, stage and time before it (see the module
/// docs). Runs outside the resolver's lock.
fn resolve_chunk(
    mut state: ReplayModel,
    label: String,
    last_t: u64,
    spec: Speculated,
) -> Result<Resolved, ReplayError> {
    spec.chunk.check_base(last_t)?;
    let mut part = Part::default();
    let mut replayed_again = 0;
    let mut cur = Cursor {
        index: spec.first_event,
        prev_t: spec.chunk.base,
        stage: Some(label.clone()),
    };
    let mut stage = None;
    for (j, sub) in spec.subs.iter().enumerate() {
        if state == sub.start {
            for s in &spec.subs[j..] {
                let mut p = s.part.clone();
                p.resolve_stage(&label);
                part.merge(&p);
            }
            state = spec.end.clone();
            stage = Some(spec.end_stage.clone().unwrap_or(label.clone()));
            break;
        }
        let to = spec
            .subs
            .get(j + 1)
            .map_or(spec.chunk.events.len(), |n| n.from);
        let mut p = Part::default();
        debug_assert_eq!(cur.prev_t, sub.prev_t);
        run_range(
            &mut state,
            &spec.chunk.events,
            sub.from..to,
            &spec.chunk.labels,
            &mut p,
            &mut cur,
        )?;
        replayed_again += (to - sub.from) as u64;
        part.merge(&p);
    }
    Ok(Resolved {
        part,
        state,
        stage: stage.unwrap_or_else(|| cur.stage.clone().unwrap_or(label)),
        last_t: spec.chunk.events.last().map_or(spec.chunk.base, |e| e.t),
        events: spec.chunk.events.len() as u64,
        replayed_again,
    })
}

/// Hands chunk `k` to the resolver and resolves every chunk that is next in order. Only
/// one thread resolves at a time (the `resolving` flag); it does the work outside the
/// lock, so the other threads keep speculating and pushing meanwhile.
fn push_and_resolve(resolver: &Mutex<Resolver>, k: usize, spec: Speculated) {
    let Ok(mut g) = resolver.lock() else { return };
    g.pending.insert(k, spec);
    if g.resolving {
        return;
    }
    g.resolving = true;
    loop {
        // Resolve in order, up to the first chunk known to be bad (so that the error
        // reported is always the earliest one, whatever the scheduling).
        let allowed = g.error.as_ref().is_none_or(|(e, _)| g.next < *e);
        let next = g.next;
        let item = if allowed {
            g.pending.remove(&next)
        } else {
            None
        };
        let Some(spec) = item else {
            g.resolving = false;
            return;
        };
        let (state, label, last_t) = (g.state.clone(), g.stage.clone(), g.last_t);
        drop(g);
        let out = resolve_chunk(state, label, last_t, spec);
        g = match resolver.lock() {
            Ok(g) => g,
            Err(_) => return,
        };
        match out {
            Ok(o) => {
                g.part.merge(&o.part);
                g.state = o.state;
                g.stage = o.stage;
                g.last_t = o.last_t;
                g.events += o.events;
                g.replayed_again += o.replayed_again;
                g.next += 1;
            }
            Err(m) => {
                g.fail(next, m);
                g.resolving = false;
                return;
            }
        }
    }
}

/// Replays `chunk` from `guess`, keeping a checkpoint every [`SUB_EVENTS`] events.
/// The sub-blocks' timelines start at bins of `2^shift` ns (the bin width the trace
/// before the chunk already needed: never finer than the whole trace's, so the result is
/// the same, see [`Timeline`], only cheaper to merge).
fn speculate(
    mut m: ReplayModel,
    chunk: Chunk,
    first_event: u64,
    shift: u8,
) -> Result<Speculated, ReplayError> {
    let mut cur = Cursor {
        index: first_event,
        prev_t: chunk.base,
        stage: None,
    };
    let n = chunk.events.len();
    let mut subs = Vec::with_capacity(n.div_ceil(SUB_EVENTS));
    let mut from = 0;
    while from < n {
        let to = (from + SUB_EVENTS).min(n);
        let start = m.clone();
        let prev_t = cur.prev_t;
        let mut part = Part::default();
        part.timeline.shift = shift;
        run_range(
            &mut m,
            &chunk.events,
            from..to,
            &chunk.labels,
            &mut part,
            &mut cur,
        )?;
        subs.push(SubBlock {
            start,
            from,
            prev_t,
            part,
        });
        from = to;
    }
    Ok(Speculated {
        end_stage: cur.stage,
        chunk,
        first_event,
        subs,
        end: m,
    })
}

/// Options of a trace analysis.
#[derive(Clone, Debug, Default)]
pub struct AnalyzeOptions {
    /// Replay chunks of one trace in parallel (on the current rayon pool).
    pub parallel_chunks: bool,
}

/// Analyses one trace file. Errors name the file (and the event, where there is one).
pub fn analyze_file(path: &Path, opts: &AnalyzeOptions) -> Result<TraceAnalysis, ReplayError> {
    analyze_reader(path, TraceReader::open(path)?, opts)
}

/// [`analyze_file`] on a trace already opened (no event read yet) whose errors name
/// `path`: the file is read once, so a pipe works.
pub fn analyze_reader<I: std::io::Read + Send>(
    path: &Path,
    reader: TraceReader<I>,
    opts: &AnalyzeOptions,
) -> Result<TraceAnalysis, ReplayError> {
    let (mut header, scanner) = reader.into_parts();
    let model = ReplayModel::from_header(&header, path)?;
    // The model holds the images now; the analysis keeps the header's other fields.
    header.drop_images();
    let resolver = Mutex::new(Resolver {
        next: 0,
        state: model,
        stage: INITIAL_STAGE.to_string(),
        last_t: 0,
        events: 0,
        part: Part::default(),
        pending: BTreeMap::new(),
        error: None,
        replayed_again: 0,
        resolving: false,
    });
    let scan_ns = std::sync::Arc::new(AtomicU64::new(0));
    let par_ns = AtomicU64::new(0);
    let res_ns = AtomicU64::new(0);
    let scanner = Timed {
        inner: scanner,
        ns: scan_ns.clone(),
    };
    let work = |(k, item): (usize, Result<RawChunk, TraceError>)| {
        let t0 = thread_cpu_ns();
        let raw = match item {
            Ok(r) => r,
            Err(e) => {
                if let Ok(mut r) = resolver.lock() {
                    r.fail(k, e.into());
                }
                return;
            }
        };
        let decoded = decode_chunk(&raw).map_err(ReplayError::from);
        let first = raw.first_event;
        drop(raw);
        let (guess, shift) = match resolver.lock() {
            Ok(r) if r.error.as_ref().is_none_or(|(e, _)| k < *e) => {
                (r.state.clone(), r.part.timeline.shift)
            }
            _ => return,
        };
        let spec = decoded.and_then(|c| speculate(guess, c, first, shift));
        let t1 = thread_cpu_ns();
        match spec {
            Ok(s) => push_and_resolve(&resolver, k, s),
            Err(e) => {
                if let Ok(mut r) = resolver.lock() {
                    r.fail(k, e);
                }
            }
        }
        let t2 = thread_cpu_ns();
        par_ns.fetch_add(t1.saturating_sub(t0), Ordering::Relaxed);
        res_ns.fetch_add(t2.saturating_sub(t1), Ordering::Relaxed);
    };
    if opts.parallel_chunks {
        scanner.enumerate().par_bridge().for_each(work);
    } else {
        scanner.enumerate().for_each(work);
    }
    let internal = |what| ReplayError::Internal {
        file: path.to_path_buf(),
        what,
    };
    let mut r = resolver
        .into_inner()
        .map_err(|_| internal("poisoned lock"))?;
    if let Some((_, e)) = r.error.take() {
        return Err(e.in_file(path));
    }
    if !r.pending.is_empty() {
        return Err(internal("unresolved chunks"));
    }
    let idle = settle(&r.state);
    let stage = r.stage.clone();
    r.part
        .record_idle(Some(&stage), key_of(&r.state), r.events, r.last_t);
    r.part.timeline.finish();
    Ok(TraceAnalysis {
        path: path.to_path_buf(),
        header,
        events: r.events,
        duration_ns: r.last_t,
        part: r.part,
        end: r.state,
        idle,
        end_stage: stage,
        replayed_again: r.replayed_again,
        timing: Timing {
            scan_ns: scan_ns.load(Ordering::Relaxed),
            parallel_ns: par_ns.into_inner(),
            resolve_ns: res_ns.into_inner(),
        },
    })
}

/// Sequential reference analysis of in-memory events (tests and small traces): the same
/// accounting without chunks or speculation.
pub fn analyze_events(
    mut m: ReplayModel,
    events: &[Ev],
    labels: &[String],
) -> Result<(Part, ReplayModel), ReplayError> {
    let mut part = Part::default();
    let mut cur = Cursor {
        index: 0,
        prev_t: 0,
        stage: Some(INITIAL_STAGE.to_string()),
    };
    run_range(&mut m, events, 0..events.len(), labels, &mut part, &mut cur)?;
    let last_t = events.last().map_or(0, |e| e.t);
    part.record_idle(
        cur.stage.as_deref(),
        key_of(&m),
        events.len() as u64,
        last_t,
    );
    part.timeline.finish();
    Ok((part, m))
}
