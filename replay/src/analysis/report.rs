//! The prevalent-state report: aggregation of trace analyses and its three renderings
//! (plain table, Markdown, JSON). Every number is computed from integer counts merged in
//! path order, so the output is byte-identical whatever the number of threads.

pub mod escape;
pub mod html;
pub mod merge;
pub mod record;
pub mod verdict_block;

use super::replay::{Hist, TraceAnalysis};
use super::stats::{proportion, Proportion};
use super::verdict::WhatifSummary;
use super::{key_command, key_needed, key_phase, needed_names, Key, FAIL_MASK};
use fdc::Subsection;
use record::{hist, RunRecord, TraceRecord};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Name used for the "any subsection unknown to QEMU 2.3" column.
pub const UNKNOWN_2_3: &str = "unknown-to-2.3";

/// Counts of one subsection (or of the "unknown to 2.3" predicate).
#[derive(Clone, Debug, Serialize)]
pub struct Share {
    pub subsection: &'static str,
    /// Points where it would be sent (event weight).
    pub points: u64,
    /// Time during which it would be sent (ns).
    pub time_ns: u64,
    /// `points / total points`.
    pub event_share: f64,
    /// `time_ns / total time`; `None` when the total time is 0.
    pub time_share: Option<f64>,
}

/// Totals and shares of a set of points.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub points: u64,
    pub time_ns: u64,
    /// The six subsections, `fdc/phase` first.
    pub subsections: Vec<Share>,
    /// Points that need any subsection a QEMU 2.3 destination does not know.
    pub unknown_to_qemu_2_3: Share,
}

impl Summary {
    pub fn of(h: &Hist) -> Summary {
        Self::of_entries(h.entries.iter().copied())
    }

    fn of_entries(entries: impl Iterator<Item = (Key, u64, u64)> + Clone) -> Summary {
        let (points, time_ns) = entries.clone().fold((0, 0), |(p, t), e| (p + e.1, t + e.2));
        let share = |name: &'static str, pred: &dyn Fn(Key) -> bool| {
            let (p, t) = entries
                .clone()
                .filter(|e| pred(e.0))
                .fold((0, 0), |(p, t), e| (p + e.1, t + e.2));
            Share {
                subsection: name,
                points: p,
                time_ns: t,
                event_share: if points == 0 {
                    0.0
                } else {
                    p as f64 / points as f64
                },
                time_share: (time_ns > 0).then(|| t as f64 / time_ns as f64),
            }
        };
        let subsections = Subsection::ALL
            .into_iter()
            .map(|s| share(s.name(), &move |k: Key| k & (1 << (s as u8)) != 0))
            .collect();
        let unknown = share(UNKNOWN_2_3, &|k: Key| k & FAIL_MASK != 0);
        Summary {
            points,
            time_ns,
            subsections,
            unknown_to_qemu_2_3: unknown,
        }
    }
}

/// A longest run, located.
#[derive(Clone, Debug, Serialize)]
pub struct Longest {
    pub trace: String,
    pub time_ns: u64,
    pub points: u64,
    /// First point of the run (index, time).
    pub start_index: u64,
    pub start_t_ns: u64,
    /// Phase and command of the state the run starts with.
    pub phase: &'static str,
    pub command: &'static str,
}

impl Longest {
    fn of(trace: &str, r: Option<&RunRecord>) -> Option<Longest> {
        r.map(|r| Longest {
            trace: trace.to_string(),
            time_ns: r.time_ns,
            points: r.points,
            start_index: r.start_index,
            start_t_ns: r.start_t_ns,
            phase: key_phase(r.start_key),
            command: key_command(r.start_key),
        })
    }
}

/// The idle state after a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idle {
    pub phase: String,
    pub reconstructed: String,
    pub msr: u8,
    pub command: String,
    pub needed: Vec<String>,
    /// `fdc/phase` is not sent: the state is the prevalent one.
    pub prevalent: bool,
    /// A migration to QEMU 2.3 from this state fails (it needs a subsection 2.3 lacks).
    pub fails_backward: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    pub stage: String,
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize)]
pub struct TraceReport {
    pub path: String,
    pub name: String,
    pub guest: String,
    pub workload: Option<String>,
    pub provenance: String,
    pub events: u64,
    pub duration_ns: u64,
    pub reads: u64,
    /// Recorded reads the model answers differently (see `fdc-replay check`).
    pub read_mismatches: u64,
    pub summary: Summary,
    pub stages: Vec<StageSummary>,
    pub longest_phase: Option<Longest>,
    pub longest_unknown_to_qemu_2_3: Option<Longest>,
    /// Stage at the end of the trace.
    pub end_stage: String,
    pub idle: Idle,
}

#[derive(Clone, Debug, Serialize)]
pub struct GuestReport {
    pub guest: String,
    pub traces: usize,
    pub driver_model_traces: usize,
    pub summary: Summary,
    /// Probability that a backward migration (to QEMU 2.3) at a random point fails:
    /// failing points / points, with its 95 % interval.
    pub backward_failure: Option<Proportion>,
    /// The same, weighted by time (no interval: time is not a count of trials).
    pub backward_failure_time_share: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupSummary {
    pub name: String,
    pub summary: Summary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadFile {
    pub path: String,
    pub error: String,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub overall: Summary,
    pub backward_failure: Option<Proportion>,
    pub per_guest: Vec<GuestReport>,
    pub per_trace: Vec<TraceReport>,
    pub per_stage: Vec<GroupSummary>,
    pub by_phase: Vec<GroupSummary>,
    pub by_command: Vec<GroupSummary>,
    pub longest_phase: Option<Longest>,
    pub longest_unknown_to_qemu_2_3: Option<Longest>,
    pub bad_files: Vec<BadFile>,
    /// What dropping each subsection does, when it was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatif: Option<WhatifSummary>,
    /// The records the report was built from (in the JSON under `inputs`).
    #[serde(skip)]
    pub records: Vec<TraceRecord>,
}

fn idle_of(m: &super::ReplayModel) -> Idle {
    let k = super::key_of(m);
    let f = &m.fdc;
    Idle {
        phase: f.phase().map_or_else(
            || format!("invalid({})", f.phase_byte()),
            |p| p.name().to_string(),
        ),
        reconstructed: f.reconstructed_phase().name().to_string(),
        msr: f.msr(),
        command: key_command(k).to_string(),
        needed: needed_names(key_needed(k))
            .into_iter()
            .map(str::to_string)
            .collect(),
        prevalent: !f.phase_needed(),
        fails_backward: k & FAIL_MASK != 0,
    }
}

fn longer(a: Option<Longest>, b: Option<Longest>) -> Option<Longest> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (b.time_ns, b.points) > (a.time_ns, a.points) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// The totals a report accumulates over the traces, in path order.
#[derive(Default)]
struct Totals {
    overall: Hist,
    /// Per guest: name, points, traces, driver-model traces (first-seen order).
    guests: Vec<(String, Hist, usize, usize)>,
    /// Per stage label (first-seen order).
    stages: Vec<(String, Hist)>,
    longest_phase: Option<Longest>,
    longest_unknown: Option<Longest>,
}

impl Totals {
    /// Adds one trace; returns its own report.
    fn add(&mut self, a: &TraceRecord) -> TraceReport {
        let total = a.total();
        self.overall.merge(&total);
        let guest = a.guest.clone();
        let driver = a.provenance == "driver-model";
        match self.guests.iter_mut().find(|g| g.0 == guest) {
            Some(g) => {
                g.1.merge(&total);
                g.2 += 1;
                g.3 += driver as usize;
            }
            None => self
                .guests
                .push((guest.clone(), total.clone(), 1, driver as usize)),
        }
        let mut trace_stages = Vec::new();
        for st in &a.stages {
            let h = hist(&st.counts);
            match self.stages.iter_mut().find(|s| s.0 == st.stage) {
                Some(s) => s.1.merge(&h),
                None => self.stages.push((st.stage.clone(), h.clone())),
            }
            trace_stages.push(StageSummary {
                stage: st.stage.clone(),
                summary: Summary::of(&h),
            });
        }
        let lp = Longest::of(&a.name, a.longest_phase.as_ref());
        let lu = Longest::of(&a.name, a.longest_unknown_to_qemu_2_3.as_ref());
        self.longest_phase = longer(self.longest_phase.take(), lp.clone());
        self.longest_unknown = longer(self.longest_unknown.take(), lu.clone());
        TraceReport {
            path: a.path.clone(),
            name: a.name.clone(),
            guest,
            workload: a.workload.clone(),
            provenance: a.provenance.clone(),
            events: a.events,
            duration_ns: a.duration_ns,
            reads: a.reads,
            read_mismatches: a.read_mismatches,
            summary: Summary::of(&total),
            stages: trace_stages,
            longest_phase: lp,
            longest_unknown_to_qemu_2_3: lu,
            end_stage: a.end_stage.clone(),
            idle: a.idle.clone(),
        }
    }
}

/// The backward-migration failure of a set of points: the proportion of failing points
/// and their time share.
fn backward(h: &Hist) -> (Option<Proportion>, Option<f64>) {
    let s = Summary::of(h);
    (
        proportion(s.unknown_to_qemu_2_3.points, s.points),
        s.unknown_to_qemu_2_3.time_share,
    )
}

/// The points of `overall` grouped by `f` of their key, largest group first.
fn groups(overall: &Hist, f: fn(Key) -> &'static str) -> Vec<GroupSummary> {
    let mut names: Vec<&'static str> = Vec::new();
    for e in &overall.entries {
        let n = f(e.0);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut out: Vec<GroupSummary> = names
        .into_iter()
        .map(|n| GroupSummary {
            name: n.to_string(),
            summary: Summary::of_entries(
                overall.entries.iter().copied().filter(move |e| f(e.0) == n),
            ),
        })
        .collect();
    out.sort_by(|a, b| {
        b.summary
            .points
            .cmp(&a.summary.points)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

impl Report {
    /// Builds the report from analyses (`Err` = a bad file: path, reason).
    pub fn build(results: &[Result<TraceAnalysis, (String, String)>]) -> Report {
        Report::from_records(
            results
                .iter()
                .map(|r| match r {
                    Ok(a) => Ok(TraceRecord::of(a)),
                    Err((path, error)) => Err(BadFile {
                        path: path.clone(),
                        error: error.clone(),
                    }),
                })
                .collect(),
        )
    }

    /// Builds the report from trace records and bad files, taken in path order (sorted
    /// by path component by component, as a directory walk lists them), whatever order
    /// they come in.
    pub fn from_records(mut inputs: Vec<Result<TraceRecord, BadFile>>) -> Report {
        let path_of = |r: &Result<TraceRecord, BadFile>| match r {
            Ok(t) => t.path.clone(),
            Err(b) => b.path.clone(),
        };
        inputs.sort_by(|a, b| {
            std::path::Path::new(&path_of(a)).cmp(std::path::Path::new(&path_of(b)))
        });
        let mut acc = Totals::default();
        let mut per_trace = Vec::new();
        let mut bad_files = Vec::new();
        let mut records = Vec::new();
        for r in inputs {
            match r {
                Ok(t) => {
                    per_trace.push(acc.add(&t));
                    records.push(t);
                }
                Err(b) => bad_files.push(b),
            }
        }
        let per_guest = acc
            .guests
            .iter()
            .map(|(g, h, n, d)| {
                let (p, ts) = backward(h);
                GuestReport {
                    guest: g.clone(),
                    traces: *n,
                    driver_model_traces: *d,
                    summary: Summary::of(h),
                    backward_failure: p,
                    backward_failure_time_share: ts,
                }
            })
            .collect();
        let mut by_phase = groups(&acc.overall, key_phase);
        let order = ["command", "execution", "result", "invalid"];
        by_phase.sort_by_key(|g| order.iter().position(|o| *o == g.name));
        Report {
            overall: Summary::of(&acc.overall),
            backward_failure: backward(&acc.overall).0,
            per_guest,
            per_trace,
            per_stage: acc
                .stages
                .into_iter()
                .map(|(name, h)| GroupSummary {
                    name,
                    summary: Summary::of(&h),
                })
                .collect(),
            by_phase,
            by_command: groups(&acc.overall, key_command),
            longest_phase: acc.longest_phase,
            longest_unknown_to_qemu_2_3: acc.longest_unknown,
            bad_files,
            whatif: None,
            records,
        }
    }

    /// Plain-text (`markdown = false`) or Markdown rendering.
    pub fn render(&self, markdown: bool) -> String {
        let mut o = Out {
            s: verdict_block::render(
                &verdict_block::VerdictSummary::of(self, self.whatif.as_ref()),
                markdown,
            ),
            markdown,
        };
        self.render_intro(&mut o);
        self.render_overall(&mut o);
        self.render_backward(&mut o);
        self.render_per_guest(&mut o);
        self.render_per_trace(&mut o);
        o.heading("Per stage (all traces)");
        o.share_table(
            "stage",
            self.per_stage.iter().map(|g| (g.name.clone(), &g.summary)),
        );
        o.heading("By phase (all traces)");
        o.share_table(
            "phase",
            self.by_phase.iter().map(|g| (g.name.clone(), &g.summary)),
        );
        o.heading("By command in progress (all traces)");
        o.share_table(
            "command",
            self.by_command.iter().map(|g| (g.name.clone(), &g.summary)),
        );
        self.render_longest(&mut o);
        self.render_idle(&mut o);
        if !self.bad_files.is_empty() {
            o.heading("Bad files");
            for b in &self.bad_files {
                let _ = writeln!(
                    o.s,
                    "{}{}",
                    if markdown { "- " } else { "" },
                    escape::cell(&b.error, markdown)
                );
            }
        }
        if let Some(w) = &self.whatif {
            o.s.push_str(&super::whatif::render::render(w, markdown));
        }
        o.s
    }

    fn render_intro(&self, o: &mut Out) {
        o.heading("Details");
        o.s.push_str(
            "Shares are \"event % / time %\": event-weighted (every migration point counts 1; a trace of n events \
has n+1 points) and time-weighted (each point weighs the gap until the next event). \
\"unknown-to-2.3\" = the point needs a subsection QEMU 2.3 does not know, so a backward migration from it fails.\n",
        );
    }

    fn render_overall(&self, o: &mut Out) {
        o.heading("Overall");
        let mut t = Table::new(&["subsection", "points sent", "event share", "time share"]);
        for s in self
            .overall
            .subsections
            .iter()
            .chain(std::iter::once(&self.overall.unknown_to_qemu_2_3))
        {
            t.row(vec![
                s.subsection.to_string(),
                s.points.to_string(),
                pct(s.event_share),
                opt_pct(s.time_share),
            ]);
        }
        o.table(&t);
    }

    fn render_backward(&self, o: &mut Out) {
        o.heading("Backward migration to QEMU 2.3 at a random instant, per guest");
        let mut t = Table::new(&[
            "guest",
            "traces",
            "points (n)",
            "failing (k)",
            "P(fail), event-weighted",
            "95% interval",
            "method",
            "time-weighted",
        ]);
        for g in &self.per_guest {
            let (k, n, p, ci, m) = prop_cells(g.backward_failure.as_ref(), g.summary.points);
            let traces = if g.driver_model_traces > 0 {
                format!("{} ({} driver-model)", g.traces, g.driver_model_traces)
            } else {
                g.traces.to_string()
            };
            t.row(vec![
                o.user(&g.guest),
                traces,
                n,
                k,
                p,
                ci,
                m,
                opt_pct(g.backward_failure_time_share),
            ]);
        }
        let (k, n, p, ci, m) = prop_cells(self.backward_failure.as_ref(), self.overall.points);
        t.row(vec![
            "all".into(),
            self.per_trace.len().to_string(),
            n,
            k,
            p,
            ci,
            m,
            opt_pct(self.overall.unknown_to_qemu_2_3.time_share),
        ]);
        o.table(&t);
        o.s.push_str(
            "Wilson score interval (rule of three, [0, 3/n], when no failing point is seen). The points of one trace \
are consecutive states of one run, not independent draws: read the interval as a lower bound on the uncertainty.\n",
        );
    }

    fn render_per_guest(&self, o: &mut Out) {
        o.heading("Per guest OS");
        o.share_table(
            "guest",
            self.per_guest
                .iter()
                .map(|g| (g.guest.as_str(), &g.summary)),
        );
    }

    fn render_per_trace(&self, o: &mut Out) {
        o.heading("Per trace");
        o.share_table(
            "trace",
            self.per_trace.iter().map(|tr| {
                let mark = if tr.provenance == "driver-model" {
                    " [driver-model]"
                } else {
                    ""
                };
                (format!("{}{mark}", tr.name), &tr.summary)
            }),
        );
        let mut t = Table::new(&[
            "trace",
            "guest",
            "workload",
            "provenance",
            "events",
            "reads",
            "reads ≠ model",
        ]);
        for tr in &self.per_trace {
            t.row(vec![
                o.user(&tr.name),
                o.user(&tr.guest),
                o.user(tr.workload.as_deref().unwrap_or_default()),
                tr.provenance.clone(),
                tr.events.to_string(),
                tr.reads.to_string(),
                tr.read_mismatches.to_string(),
            ]);
        }
        o.s.push('\n');
        o.table(&t);
    }

    fn render_longest(&self, o: &mut Out) {
        o.heading("Longest non-prevalent intervals");
        o.s.push_str("Longest run of consecutive points where fdc/phase would be sent, and where any subsection unknown to QEMU 2.3 would be.\n");
        o.s.push_str(if o.markdown { "\n" } else { "" });
        let mut t = Table::new(&[
            "trace",
            "predicate",
            "duration ms",
            "points",
            "from point",
            "at s",
            "starts in",
        ]);
        for tr in &self.per_trace {
            let name = o.user(&tr.name);
            run_row(&mut t, &name, "fdc/phase", &tr.longest_phase);
            run_row(&mut t, &name, UNKNOWN_2_3, &tr.longest_unknown_to_qemu_2_3);
        }
        let all = |l: &Option<Longest>| {
            l.as_ref()
                .map_or("all".to_string(), |l| format!("all: {}", o.user(&l.trace)))
        };
        run_row(
            &mut t,
            &all(&self.longest_phase),
            "fdc/phase",
            &self.longest_phase,
        );
        run_row(
            &mut t,
            &all(&self.longest_unknown_to_qemu_2_3),
            UNKNOWN_2_3,
            &self.longest_unknown_to_qemu_2_3,
        );
        o.table(&t);
    }

    fn render_idle(&self, o: &mut Out) {
        o.heading("Idle state after each trace");
        let mut t = Table::new(&[
            "trace",
            "stage",
            "phase",
            "reconstructed",
            "MSR",
            "command",
            "needed",
            "verdict",
            "backward to 2.3",
        ]);
        for tr in &self.per_trace {
            t.row(vec![
                o.user(&tr.name),
                o.user(&tr.end_stage),
                tr.idle.phase.clone(),
                tr.idle.reconstructed.clone(),
                format!("{:#04x}", tr.idle.msr),
                tr.idle.command.clone(),
                tr.idle.needed.join(" "),
                if tr.idle.prevalent {
                    "prevalent (no fdc/phase)".into()
                } else {
                    "fdc/phase sent".to_string()
                },
                if tr.idle.fails_backward {
                    "fails".into()
                } else {
                    "ok".to_string()
                },
            ]);
        }
        o.table(&t);
    }
}

/// A rendering in progress.
struct Out {
    s: String,
    markdown: bool,
}

impl Out {
    fn heading(&mut self, title: &str) {
        if self.markdown {
            let _ = writeln!(self.s, "\n## {title}\n");
        } else {
            let _ = writeln!(self.s, "\n{title}\n{}", "=".repeat(title.len()));
        }
    }

    fn table(&mut self, t: &Table) {
        self.s.push_str(&t.render(self.markdown));
    }

    /// An input-derived string (header string, file name, label), escaped for the format.
    fn user(&self, s: &str) -> String {
        escape::cell(s, self.markdown)
    }

    /// A table of the six subsections' and unknown-to-2.3's shares, one row per group.
    fn share_table<'a, N: AsRef<str>>(
        &mut self,
        first: &str,
        rows: impl Iterator<Item = (N, &'a Summary)>,
    ) {
        let mut headers = vec![first.to_string(), "points".into(), "time s".into()];
        headers.extend(Subsection::ALL.iter().map(|s| s.name().to_string()));
        headers.push(UNKNOWN_2_3.into());
        let mut t = Table::from_strings(headers);
        for (name, s) in rows {
            let mut v = vec![
                self.user(name.as_ref()),
                s.points.to_string(),
                secs(s.time_ns),
            ];
            v.extend(
                s.subsections
                    .iter()
                    .chain(std::iter::once(&s.unknown_to_qemu_2_3))
                    .map(|x| format!("{} / {}", pct(x.event_share), opt_pct(x.time_share))),
            );
            t.row(v);
        }
        self.table(&t);
    }
}

/// One row of the longest-interval table.
fn run_row(t: &mut Table, trace: &str, what: &str, l: &Option<Longest>) {
    match l {
        Some(l) => t.row(vec![
            trace.to_string(),
            what.to_string(),
            ms(l.time_ns),
            l.points.to_string(),
            l.start_index.to_string(),
            secs(l.start_t_ns),
            format!("{} / {}", l.phase, l.command),
        ]),
        None => t.row(vec![
            trace.to_string(),
            what.to_string(),
            "-".into(),
            "0".into(),
            "-".into(),
            "-".into(),
            "never".into(),
        ]),
    }
}

fn prop_cells(p: Option<&Proportion>, n: u64) -> (String, String, String, String, String) {
    match p {
        Some(p) => (
            p.k.to_string(),
            p.n.to_string(),
            pct(p.estimate),
            format!("[{}, {}]", pct(p.low), pct(p.high)),
            match p.method {
                super::stats::Method::Wilson => "Wilson".into(),
                super::stats::Method::RuleOfThree => "rule of three".into(),
            },
        ),
        None => (
            "0".into(),
            n.to_string(),
            "-".into(),
            "-".into(),
            "-".into(),
        ),
    }
}

/// A percentage with two decimals.
pub fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

pub(crate) fn opt_pct(x: Option<f64>) -> String {
    x.map_or("-".to_string(), pct)
}

pub(crate) fn secs(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
}

fn ms(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000, (ns / 1_000) % 1000)
}

/// A table rendered either padded (plain text) or as Markdown.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned left (the first always is; the others are right-aligned).
    left: Vec<usize>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            left: Vec::new(),
        }
    }

    pub fn from_strings(headers: Vec<String>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
            left: Vec::new(),
        }
    }

    /// Aligns column `i` left.
    pub fn align_left(mut self, i: usize) -> Table {
        self.left.push(i);
        self
    }

    pub fn row(&mut self, r: Vec<String>) {
        self.rows.push(r);
    }

    pub fn render(&self, markdown: bool) -> String {
        let mut o = String::new();
        if markdown {
            let line = |cells: &[String]| {
                format!(
                    "| {} |\n",
                    cells
                        .iter()
                        .map(|c| escape::text(c).replace('|', "\\|"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                )
            };
            o.push_str(&line(&self.headers));
            o.push_str(&format!(
                "|{}\n",
                self.headers
                    .iter()
                    .enumerate()
                    .map(|(i, _)| if i == 0 || self.left.contains(&i) {
                        "---|"
                    } else {
                        "--:|"
                    })
                    .collect::<String>()
            ));
            for r in &self.rows {
                o.push_str(&line(r));
            }
            o.push('\n');
            return o;
        }
        let n = self.headers.len();
        let rows: Vec<Vec<String>> = std::iter::once(&self.headers)
            .chain(self.rows.iter())
            .map(|r| r.iter().map(|c| escape::text(c).into_owned()).collect())
            .collect();
        let mut w = vec![0usize; n];
        for r in &rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        for r in &rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(n) {
                let pad = w[i] - c.chars().count();
                if i == 0 {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                } else if self.left.contains(&i) {
                    line.push_str("  ");
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str("  ");
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                }
            }
            o.push_str(line.trim_end());
            o.push('\n');
        }
        o
    }
}
