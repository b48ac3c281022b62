//! The verdict block every format opens with: per subsection how often it is sent
//! (time-weighted first: a real migration stops at a random instant, not at a random
//! event; then event-weighted), where it is mostly sent (phase, command, stage) and, when
//! the what-if was computed, what dropping it does and the rule it falls under; per guest
//! the backward-migration roulette; the idle-state verdict. [`VerdictSummary`] holds the
//! facts (it is the JSON's `summary` object); the text and Markdown lines are rendered
//! from it.

use super::super::replay::Hist;
use super::super::stats::{Method, Proportion};
use super::super::verdict::{
    ClosedCounts, RealOutcomes, Rule, WhatifSummary, CLOSED_CLASSES, MODEL_CLASSES, REAL_CLASSES,
};
use super::super::{key_command, key_phase};
use super::escape;
use super::record::hist;
use super::{opt_pct, pct, secs, Report, Table};
use fdc::Subsection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where a subsection is mostly sent: the phase, command and stage holding the largest
/// part of its sent weight (time, or points when it is never sent for any time).
#[derive(Clone, Debug, Serialize)]
pub struct Where {
    /// `time` or `points`: what the shares below are shares of.
    pub weight: &'static str,
    pub phase: String,
    pub phase_share: f64,
    pub command: String,
    pub command_share: f64,
    pub stage: String,
    pub stage_share: f64,
}

/// What dropping a subsection does, from the what-if summary.
#[derive(Clone, Debug, Serialize)]
pub struct WhatifLine {
    /// Points where the what-if ran (the subsection is sent there).
    pub points_sent: u64,
    /// Model classes of those points (event-weighted).
    pub classes: BTreeMap<String, u64>,
    /// Real-guest outcomes, when measured.
    pub real: Option<RealOutcomes>,
    /// Closed-loop outcomes of the driver model (all workloads), when run.
    pub closed_loop: Option<ClosedCounts>,
    /// The rule computed from the counts.
    pub rule: Rule,
    /// The counts that decided it, in words.
    pub because: String,
}

/// One subsection's line.
#[derive(Clone, Debug, Serialize)]
pub struct SubsectionVerdict {
    pub subsection: String,
    /// Time (ns) during which it is sent, and its share of all time.
    pub time_ns: u64,
    pub time_share: Option<f64>,
    /// Points where it is sent, and their share of all points.
    pub points: u64,
    pub event_share: f64,
    /// `None` when it is never sent.
    pub mostly: Option<Where>,
    /// `None` when the what-if was not computed.
    pub whatif: Option<WhatifLine>,
}

/// P(a backward migration to QEMU 2.3 at a random point fails) for one guest (or all).
#[derive(Clone, Debug, Serialize)]
pub struct Roulette {
    pub guest: String,
    pub traces: usize,
    /// Failing points (k) of all points (n), estimate and 95 % interval.
    pub failure: Option<Proportion>,
    /// `round(1 / P)` when a failing point was seen.
    pub one_in: Option<u64>,
    /// When none was seen: P is below 1 in this many (from the interval's upper bound).
    pub below_one_in: Option<u64>,
    /// Time-weighted share of failing points.
    pub time_share: Option<f64>,
}

/// The idle-state verdict over all traces.
#[derive(Clone, Debug, Serialize)]
pub struct IdleVerdict {
    pub traces: usize,
    /// Traces whose idle state is the prevalent one (no `fdc/phase`).
    pub prevalent: usize,
    /// Traces whose idle state a QEMU 2.3 destination refuses.
    pub fails_backward: usize,
    /// Per subsection: traces whose idle state sends it (subsections in the six's order,
    /// only those sent by some idle state).
    pub needed: Vec<(String, usize)>,
}

/// The backward migration (QEMU 7.2 -> 2.3) where it is not refused (the source sends
/// nothing 2.3 lacks): is the old version safe in the prevalent state?
#[derive(Clone, Debug, Serialize)]
pub struct BackwardAccepted {
    /// Points where a QEMU 2.3 destination accepts the stream.
    pub points: u64,
    /// Model classes of those points (event-weighted, open loop).
    pub classes: BTreeMap<String, u64>,
    /// Closed-loop outcomes of the driver model (all workloads), when run.
    pub closed_loop: Option<ClosedCounts>,
}

/// The facts of the verdict block (the JSON's `summary`).
#[derive(Clone, Debug, Serialize)]
pub struct VerdictSummary {
    pub traces: usize,
    pub recorded: usize,
    pub driver_model: usize,
    pub bad_files: usize,
    pub events: u64,
    pub points: u64,
    pub time_ns: u64,
    pub subsections: Vec<SubsectionVerdict>,
    pub backward_all: Roulette,
    pub backward_per_guest: Vec<Roulette>,
    /// From the what-if's `backward` migration, when computed.
    pub backward_accepted: Option<BackwardAccepted>,
    pub idle: IdleVerdict,
}

/// The largest group of `entries` with bit `bit` set, by `f` of the key, weighed by
/// time (or points when `by_time` is false): name and share. Ties: the smaller name.
fn top(
    entries: &[(u16, u64, u64)],
    bit: u16,
    by_time: bool,
    f: fn(u16) -> &'static str,
) -> (String, f64) {
    let mut groups: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut total = 0;
    for &(k, p, t) in entries.iter().filter(|e| e.0 & bit != 0) {
        let w = if by_time { t } else { p };
        *groups.entry(f(k)).or_insert(0) += w;
        total += w;
    }
    best(groups.into_iter().map(|(n, w)| (n.to_string(), w)), total)
}

fn best(groups: impl Iterator<Item = (String, u64)>, total: u64) -> (String, f64) {
    let mut b: Option<(String, u64)> = None;
    for (n, w) in groups {
        if b.as_ref()
            .is_none_or(|(bn, bw)| w > *bw || (w == *bw && n < *bn))
        {
            b = Some((n, w));
        }
    }
    let (n, w) = b.unwrap_or_default();
    (
        n,
        if total == 0 {
            0.0
        } else {
            w as f64 / total as f64
        },
    )
}

fn mostly(overall: &Hist, stages: &[(String, Hist)], bit: u16) -> Option<Where> {
    let sent = |h: &Hist| {
        h.entries
            .iter()
            .filter(|e| e.0 & bit != 0)
            .fold((0, 0), |(p, t), e| (p + e.1, t + e.2))
    };
    let (p, t) = sent(overall);
    if p == 0 && t == 0 {
        return None;
    }
    let by_time = t > 0;
    let (phase, phase_share) = top(&overall.entries, bit, by_time, key_phase);
    let (command, command_share) = top(&overall.entries, bit, by_time, key_command);
    let (stage, stage_share) = best(
        stages.iter().map(|(n, h)| {
            let (p, t) = sent(h);
            (n.clone(), if by_time { t } else { p })
        }),
        if by_time { t } else { p },
    );
    Some(Where {
        weight: if by_time { "time" } else { "points" },
        phase,
        phase_share,
        command,
        command_share,
        stage,
        stage_share,
    })
}

fn roulette(guest: &str, traces: usize, p: Option<&Proportion>, ts: Option<f64>) -> Roulette {
    let one_in = p
        .filter(|p| p.k > 0)
        .map(|p| (1.0 / p.estimate).round() as u64);
    let below = p
        .filter(|p| p.k == 0 && p.high > 0.0)
        .map(|p| (1.0 / p.high).floor() as u64);
    Roulette {
        guest: guest.to_string(),
        traces,
        failure: p.copied(),
        one_in,
        below_one_in: below,
        time_share: ts,
    }
}

impl VerdictSummary {
    /// The verdict facts of `r` (what-if lines from `whatif` when given).
    pub fn of(r: &Report, whatif: Option<&WhatifSummary>) -> VerdictSummary {
        let mut overall = Hist::default();
        let mut stages: Vec<(String, Hist)> = Vec::new();
        for t in &r.records {
            for s in &t.stages {
                let h = hist(&s.counts);
                overall.merge(&h);
                match stages.iter_mut().find(|x| x.0 == s.stage) {
                    Some(x) => x.1.merge(&h),
                    None => stages.push((s.stage.clone(), h)),
                }
            }
        }
        let subsections = Subsection::ALL
            .into_iter()
            .zip(&r.overall.subsections)
            .map(|(s, share)| SubsectionVerdict {
                subsection: share.subsection.to_string(),
                time_ns: share.time_ns,
                time_share: share.time_share,
                points: share.points,
                event_share: share.event_share,
                mostly: mostly(&overall, &stages, 1 << (s as u8)),
                whatif: whatif
                    .and_then(|w| w.subsections.iter().find(|x| x.name == share.subsection))
                    .map(|w| WhatifLine {
                        points_sent: w.points_sent,
                        classes: w.classes.clone(),
                        real: w.real.clone(),
                        closed_loop: w.closed_loop.as_ref().map(|c| c.all.clone()),
                        rule: w.verdict.rule,
                        because: w.verdict.because.clone(),
                    }),
            })
            .collect();
        let recorded = r
            .per_trace
            .iter()
            .filter(|t| t.provenance == "recorded")
            .count();
        let mut needed: Vec<(String, usize)> = Vec::new();
        for s in Subsection::ALL {
            let n = r
                .per_trace
                .iter()
                .filter(|t| t.idle.needed.iter().any(|x| x == s.name()))
                .count();
            if n > 0 {
                needed.push((s.name().to_string(), n));
            }
        }
        let backward_accepted = whatif
            .and_then(|w| w.migrations.iter().find(|m| m.name == "backward"))
            .map(|m| BackwardAccepted {
                points: m.points - m.points_refused.min(m.points),
                classes: m.classes.clone(),
                closed_loop: m.closed_loop.as_ref().map(|c| c.all.clone()),
            });
        VerdictSummary {
            backward_accepted,
            traces: r.per_trace.len(),
            recorded,
            driver_model: r.per_trace.len() - recorded,
            bad_files: r.bad_files.len(),
            events: r.per_trace.iter().map(|t| t.events).sum(),
            points: r.overall.points,
            time_ns: r.overall.time_ns,
            subsections,
            backward_all: roulette(
                "all",
                r.per_trace.len(),
                r.backward_failure.as_ref(),
                r.overall.unknown_to_qemu_2_3.time_share,
            ),
            backward_per_guest: r
                .per_guest
                .iter()
                .map(|g| {
                    roulette(
                        &g.guest,
                        g.traces,
                        g.backward_failure.as_ref(),
                        g.backward_failure_time_share,
                    )
                })
                .collect(),
            idle: IdleVerdict {
                traces: r.per_trace.len(),
                prevalent: r.per_trace.iter().filter(|t| t.idle.prevalent).count(),
                fails_backward: r.per_trace.iter().filter(|t| t.idle.fails_backward).count(),
                needed,
            },
        }
    }
}

/// "1 in N" of a roulette.
pub fn one_in_text(r: &Roulette) -> String {
    match (r.one_in, r.below_one_in) {
        (Some(n), _) => format!("1 in {n}"),
        (None, Some(n)) => format!("below 1 in {n}"),
        _ => "-".into(),
    }
}

/// The interval of a roulette, e.g. `[9.97%, 10.20%]`.
pub fn interval_text(r: &Roulette) -> String {
    r.failure
        .map_or("-".into(), |p| format!("[{}, {}]", pct(p.low), pct(p.high)))
}

/// The rule in words.
pub fn rule_text(r: Rule) -> &'static str {
    match r {
        Rule::A => "rule (a)",
        Rule::B => "rule (b)",
        Rule::BInvisible => "rule (b), invisible",
        Rule::Unmeasured => "not measured",
    }
}

/// Class counts in `order`, e.g. `stall 12, invisible 28`.
pub fn classes_text(c: &BTreeMap<String, u64>, order: &[&str]) -> String {
    let v: Vec<String> = order
        .iter()
        .filter_map(|n| c.get(*n).filter(|x| **x > 0).map(|x| format!("{n} {x}")))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// What dropping the subsection does, in one cell.
pub fn whatif_text(w: Option<&WhatifLine>) -> String {
    let Some(w) = w else {
        return "what-if not computed".into();
    };
    let mut s = format!(
        "{}: model {} of {} points",
        rule_text(w.rule),
        classes_text(&w.classes, &MODEL_CLASSES),
        w.points_sent
    );
    if let Some(r) = &w.real {
        let _ = write!(
            s,
            "; real {} of {} runs",
            classes_text(&r.dropped(), &REAL_CLASSES),
            r.dropped_runs().0
        );
        if !r.added.is_empty() {
            let _ = write!(
                s,
                "; added against the MSR: {} of {} runs",
                classes_text(&r.added, &REAL_CLASSES),
                r.added.values().sum::<u64>()
            );
        }
    }
    if let Some(c) = &w.closed_loop {
        let _ = write!(
            s,
            "; closed loop {} of {} runs",
            classes_text(&c.outcomes, &CLOSED_CLASSES),
            c.runs
        );
    }
    s
}

/// Where it is mostly sent, in one cell (labels escaped for the format).
pub fn where_text(w: Option<&Where>, markdown: bool) -> String {
    let Some(w) = w else {
        return "never sent".into();
    };
    format!(
        "{} phase {}, command {} {}, stage {} {}",
        w.phase,
        pct0(w.phase_share),
        w.command,
        pct0(w.command_share),
        escape::cell(&w.stage, markdown),
        pct0(w.stage_share)
    )
}

fn pct0(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The method of an interval, in words.
pub fn method_text(p: Option<&Proportion>) -> &'static str {
    match p.map(|p| p.method) {
        Some(Method::Wilson) => "Wilson",
        Some(Method::RuleOfThree) => "rule of three",
        None => "-",
    }
}

/// The title line (counts of the inputs).
pub fn title(v: &VerdictSummary) -> String {
    format!(
        "{} traces ({} recorded, {} driver-model), {} bad files; {} events, {} points, {} s of trace time",
        v.traces,
        v.recorded,
        v.driver_model,
        v.bad_files,
        v.events,
        v.points,
        secs(v.time_ns)
    )
}

/// The idle verdict in one sentence.
pub fn idle_text(v: &IdleVerdict) -> String {
    let needed: Vec<String> = v
        .needed
        .iter()
        .filter(|(n, _)| n != "fdrive/media_rate" && n != "fdrive/media_changed")
        .map(|(n, c)| format!("{n} {c}"))
        .collect();
    format!(
        "Idle state after each trace: prevalent (no fdc/phase) in {} of {}; a backward migration from it fails in {} of {}{}.",
        v.prevalent,
        v.traces,
        v.fails_backward,
        v.traces,
        if needed.is_empty() {
            String::new()
        } else {
            format!(" (sent: {})", needed.join(", "))
        }
    )
}

/// The sentence on the backward migration where it is not refused.
pub fn accepted_text(b: &BackwardAccepted) -> String {
    let mut s = format!(
        "Where it does not fail (nothing 2.3 lacks is sent): a QEMU 2.3 destination gives {} of {} points (model, open loop)",
        classes_text(&b.classes, &MODEL_CLASSES),
        b.points
    );
    if let Some(c) = &b.closed_loop {
        let _ = write!(
            s,
            "; the Windows 2000 driver model moved to QEMU 2.3: {} of {} runs",
            classes_text(&c.outcomes, &CLOSED_CLASSES),
            c.runs
        );
    }
    s + "."
}

/// The backward-migration sentence (all guests).
pub fn backward_text(a: &Roulette) -> String {
    format!(
        "Backward migration to QEMU 2.3 at a random instant fails: P = {} {} ({} 95%), {}; time-weighted {}. Per guest:",
        a.failure.map_or("-".into(), |p| pct(p.estimate)),
        interval_text(a),
        method_text(a.failure.as_ref()),
        one_in_text(a),
        opt_pct(a.time_share)
    )
}

fn subsection_table(v: &VerdictSummary, markdown: bool) -> Table {
    let mut t = Table::new(&[
        "subsection",
        "sent: time",
        "points",
        "mostly sent in (share of its time)",
        "if dropped (what-if)",
    ])
    .align_left(3)
    .align_left(4);
    for s in &v.subsections {
        t.row(vec![
            s.subsection.clone(),
            opt_pct(s.time_share),
            pct(s.event_share),
            where_text(s.mostly.as_ref(), markdown),
            whatif_text(s.whatif.as_ref()),
        ]);
    }
    t
}

fn guest_table(v: &VerdictSummary, markdown: bool) -> Table {
    let mut t = Table::new(&[
        "guest",
        "traces",
        "P(fail)",
        "95% interval",
        "1 in N",
        "time-weighted",
    ]);
    let rows = v.backward_per_guest.iter();
    let rows: Box<dyn Iterator<Item = &Roulette>> = if markdown {
        Box::new(rows.chain(std::iter::once(&v.backward_all)))
    } else {
        Box::new(rows)
    };
    for g in rows {
        t.row(vec![
            if markdown {
                escape::cell(&g.guest, true)
            } else {
                format!("  {}", escape::cell(&g.guest, false))
            },
            if markdown {
                g.traces.to_string()
            } else {
                format!("{} trace{}", g.traces, if g.traces == 1 { "" } else { "s" })
            },
            g.failure.map_or("-".into(), |p| pct(p.estimate)),
            interval_text(g),
            one_in_text(g),
            if markdown {
                opt_pct(g.time_share)
            } else {
                format!("time-weighted {}", opt_pct(g.time_share))
            },
        ]);
    }
    t
}

/// The verdict block as plain text (`markdown = false`) or Markdown.
pub fn render(v: &VerdictSummary, markdown: bool) -> String {
    let mut s = String::new();
    if markdown {
        let _ = writeln!(s, "# fdc-replay report\n\n{}.\n\n## Verdict\n", title(v));
        s.push_str(&subsection_table(v, true).render(true));
        let _ = writeln!(s, "{}\n", idle_text(&v.idle));
        let _ = writeln!(s, "{}\n", backward_text(&v.backward_all));
        s.push_str(&guest_table(v, true).render(true));
        if let Some(b) = &v.backward_accepted {
            let _ = writeln!(s, "\n{}\n", accepted_text(b));
        }
    } else {
        let _ = writeln!(s, "fdc-replay report: {}", title(v));
        s.push_str(&subsection_table(v, false).render(false));
        let _ = writeln!(s, "{}", idle_text(&v.idle));
        let _ = writeln!(s, "{}", backward_text(&v.backward_all));
        // The guest rows without a header line.
        let g = guest_table(v, false).render(false);
        for line in g.lines().skip(1) {
            let _ = writeln!(s, "{line}");
        }
        if let Some(b) = &v.backward_accepted {
            let _ = writeln!(s, "{}", accepted_text(b));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::record::{KeyCount, StageCounts, TraceRecord};
    use super::super::{Idle, Report};
    use super::*;
    use crate::analysis::timeline::Timeline;
    use crate::analysis::verdict::{verdict, WhatifSubsection};

    /// One trace: 30 points (10 s) idle needing media_rate, 10 points (2 s) in READ ID's
    /// execution phase also needing result_timer.
    fn record() -> TraceRecord {
        let kc = |key: u16, points, time_ns| KeyCount {
            key,
            phase: key_phase(key).into(),
            command: key_command(key).into(),
            needed: super::super::super::needed_names((key & 0x3f) as u8)
                .into_iter()
                .map(str::to_string)
                .collect(),
            points,
            time_ns,
        };
        let read_id = (fdc::Command::ReadId as u16 + 1) << 8;
        let mut timeline = Timeline::default();
        timeline.add(0, 10, 1 << 4 | 1 << 6);
        TraceRecord {
            path: "t/x.fdctrace".into(),
            name: "x.fdctrace".into(),
            guest: "g".into(),
            workload: None,
            provenance: "recorded".into(),
            events: 39,
            duration_ns: 12_000_000_000,
            reads: 0,
            read_mismatches: 0,
            stages: vec![StageCounts {
                stage: "s".into(),
                counts: vec![
                    kc(1 << 4 | 1 << 6, 30, 10_000_000_000),
                    kc(1 << 4 | 1 << 2 | 2 << 6 | read_id, 10, 2_000_000_000),
                ],
            }],
            longest_phase: None,
            longest_unknown_to_qemu_2_3: None,
            end_stage: "s".into(),
            idle: Idle {
                phase: "command".into(),
                reconstructed: "command".into(),
                msr: 0x80,
                command: "none".into(),
                needed: vec!["fdrive/media_rate".into()],
                prevalent: true,
                fails_backward: false,
            },
            timeline,
        }
    }

    fn whatif() -> WhatifSummary {
        let classes: BTreeMap<String, u64> =
            [("stall".to_string(), 12), ("invisible".to_string(), 28)].into();
        let real = RealOutcomes {
            runs: 10,
            controls_normal: 10,
            classes: [
                ("data_corruption".to_string(), 6),
                ("invisible".to_string(), 4),
            ]
            .into(),
            by_guest: BTreeMap::new(),
            added: BTreeMap::new(),
        };
        WhatifSummary {
            profile: None,
            subsections: vec![WhatifSubsection {
                name: "fdc/result_timer".into(),
                points_sent: 40,
                time_sent_ns: 5,
                verdict: verdict(&classes, Some(&real), None),
                classes,
                real: Some(real),
                ..Default::default()
            }],
            profiles: Vec::new(),
            migrations: Vec::new(),
            closed_loop_skipped: None,
        }
    }

    #[test]
    fn verdict_lines_from_counts_with_and_without_whatif() {
        let mut r = Report::from_records(vec![Ok(record())]);
        let text = r.render(false);
        let lines: Vec<&str> = text.lines().take(15).collect();
        let line = |name: &str| *lines.iter().find(|l| l.starts_with(name)).unwrap();
        // Time first (2 of 12 s), then points (10 of 40), where it is mostly sent.
        let rt = line("fdc/result_timer");
        assert!(rt.contains("16.67%") && rt.contains("25.00%"), "{rt}");
        assert!(
            rt.contains("execution phase 100%, command READ ID 100%, stage s 100%"),
            "{rt}"
        );
        assert!(
            lines
                .iter()
                .filter(|l| l.ends_with("what-if not computed"))
                .count()
                == 6
        );
        assert!(line("fdc/phase").contains("never sent"));
        assert!(text.contains("prevalent (no fdc/phase) in 1 of 1"));
        // P(fail) = 10 of 40 points, 1 in 4.
        assert!(line("  g").contains("25.00%") && line("  g").contains("1 in 4"));

        r.whatif = Some(whatif());
        let v = VerdictSummary::of(&r, r.whatif.as_ref());
        let w = v.subsections[2].whatif.as_ref().unwrap();
        assert_eq!(w.rule, Rule::A);
        let text = r.render(false);
        let rt = text
            .lines()
            .find(|l| l.starts_with("fdc/result_timer"))
            .unwrap();
        assert!(
            rt.ends_with("rule (a): model stall 12, invisible 28 of 40 points; real data_corruption 6, invisible 4 of 10 runs"),
            "{rt}"
        );
        let md = r.render(true);
        assert!(md.contains("| rule (a): model stall 12"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["summary"]["subsections"][2]["whatif"]["rule"], "a");
        assert_eq!(
            json["summary"]["subsections"][0]["whatif"],
            serde_json::Value::Null
        );
        let html = r.to_html();
        assert!(
            html.contains("drop: rule (a) (stall 12, invisible 28)"),
            "lane note"
        );
        assert!(html.contains("rule (a): model stall 12, invisible 28 of 40 points"));
        assert!(
            !text.contains("Where it does not fail"),
            "no backward migration run"
        );

        // The backward migration: 40 points, 10 refused, the other 30 invisible.
        let mut w = whatif();
        w.migrations = vec![crate::analysis::verdict::VersionMigration {
            name: "backward".into(),
            points: 40,
            points_refused: 10,
            classes: [("invisible".to_string(), 30)].into(),
            ..Default::default()
        }];
        r.whatif = Some(w);
        let text = r.render(false);
        assert!(
            text.contains("Where it does not fail (nothing 2.3 lacks is sent): a QEMU 2.3 destination gives invisible 30 of 30 points (model, open loop)."),
            "{text}"
        );
        assert!(r.to_html().contains("invisible 30 of 30 points"));
    }
}
