//! The what-if section of the report and of `fdc-replay whatif` (plain text or Markdown),
//! and the policy table.

use super::summary::{PolicyRow, ALL_GUESTS};
use super::Class;
use crate::analysis::report::{pct, Table};
use crate::analysis::stats::{proportion, Method, Proportion};
use crate::analysis::verdict::{
    Classes, ClosedCounts, ClosedOutcomes, Rule, VersionMigration, WhatifSummary, CLOSED_CLASSES,
    REAL_CLASSES,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn heading(o: &mut String, markdown: bool, title: &str) {
    if markdown {
        let _ = writeln!(o, "\n## {title}\n");
    } else {
        let _ = writeln!(o, "\n{title}\n{}", "=".repeat(title.len()));
    }
}

fn get(c: &Classes, k: &str) -> u64 {
    c.get(k).copied().unwrap_or(0)
}

/// A rule's name as the tables print it.
pub fn rule_name(r: Rule) -> &'static str {
    match r {
        Rule::A => "(a) prevalent state",
        Rule::B => "(b) machine type",
        Rule::BInvisible => "(b) machine type, invisible",
        Rule::Unmeasured => "unmeasured",
    }
}

/// A proportion as `p% [low, high]`.
pub fn interval(p: Option<&Proportion>) -> String {
    match p {
        Some(p) => format!(
            "{} [{}, {}]{}",
            pct(p.estimate),
            pct(p.low),
            pct(p.high),
            if p.method == Method::RuleOfThree {
                " (rule of 3)"
            } else {
                ""
            }
        ),
        None => "-".into(),
    }
}

/// The what-if section: per subsection the model's classes, the real outcomes and the
/// verdict, the classes with intervals, per guest, and the profiles.
pub fn render(summary: &WhatifSummary, markdown: bool) -> String {
    let mut o = String::new();
    heading(
        &mut o,
        markdown,
        "What if a subsection is dropped (model, every point)",
    );
    if let Some(p) = &summary.profile {
        let _ = writeln!(
            o,
            "Model profile {p}: source and destinations are {p}. The traces were recorded \
on QEMU 7.2, so this replay is open loop from the first read {p} answers otherwise (profile table). A \
profile that does not migrate some state (qemu-2.3: reset_sensei, the READ ID timer, perpendicular) \
loses it in every migration: its classes include that loss. Real outcomes were measured on QEMU 7.2 \
and are not shown."
        );
    }
    let rules = summary.profile.as_deref().unwrap_or("qemu-7.2");
    let _ = writeln!(
        o,
        "At every point where QEMU sends the subsection, the destination is the model loaded without it \
({rules}'s load rules); source and destination replay the rest of the trace side by side and the \
point is classed by the first difference a guest could notice (open loop: nothing is claimed after it). \
Counts are event-weighted points. \"real\" = outcomes measured on real guests resumed from edited real \
migration streams (corpora/whatif/runs).",
    );
    paragraph_then(&mut o, markdown, &main_table(summary));
    heading(
        &mut o,
        markdown,
        "What-if classes with 95% intervals (share of the points where it is sent)",
    );
    o.push_str(&interval_table(summary).render(markdown));
    heading(&mut o, markdown, "What-if classes per guest");
    o.push_str(&guest_table(summary).render(markdown));
    heading(&mut o, markdown, "Measured on real guests");
    o.push_str(&real_table(summary).render(markdown));
    let subs = summary
        .subsections
        .iter()
        .map(|s| (&s.name, &s.closed_loop));
    let versions = summary.migrations.iter().map(|m| (&m.name, &m.closed_loop));
    let closed: BTreeMap<String, ClosedOutcomes> = subs
        .chain(versions)
        .filter_map(|(n, c)| Some((n.clone(), c.clone()?)))
        .collect();
    if !closed.is_empty() {
        o.push_str(&render_closed(&closed, markdown));
    } else if let Some(why) = &summary.closed_loop_skipped {
        heading(&mut o, markdown, "Closed loop (Windows 2000 driver model)");
        o.push_str(&format!("Not run: {why}.\n"));
    }
    heading(
        &mut o,
        markdown,
        "Implementation profiles: points needing fdc/phase",
    );
    o.push_str(
        "Every trace replayed under each profile (the recorded writes, open loop). The traces were \
recorded on QEMU 7.2: from the first read a profile answers otherwise (last column: traces, then \
the first such read of each) the guest would have seen other values and acted otherwise.\n",
    );
    paragraph_then(&mut o, markdown, &profile_table(summary));
    heading(
        &mut o,
        markdown,
        "Migrations between versions (model, every point)",
    );
    o.push_str(
        "The source replays the traces under one profile; at every point the destination is a \
device of the other loaded from the point's state with that version's load rules (a QEMU 7.2 \
destination reconstructs the phase from MSR), both continue the trace and the point is classed \
as above until the two states are equal (then only the implementations differ, not the migrated \
state: those differences are the profile table's). A class can still come from the implementations' \
difference when it shows while the states differ in something no read has shown yet. Refused: the \
source sends a subsection the destination does not know.\n",
    );
    paragraph_then(&mut o, markdown, &migration_table(&summary.migrations));
    o
}

/// After a section's paragraph, its table (Markdown needs a blank line between them).
fn paragraph_then(o: &mut String, markdown: bool, table: &Table) {
    if markdown {
        o.push('\n');
    }
    o.push_str(&table.render(markdown));
}

/// The header cells of the classes, in [`Class::ALL`] order.
fn class_names() -> impl Iterator<Item = String> {
    Class::ALL.iter().map(|c| c.name().to_string())
}

/// The counts of `c`, in [`Class::ALL`] order.
fn class_counts(c: &Classes) -> impl Iterator<Item = String> + '_ {
    Class::ALL.iter().map(|k| get(c, k.name()).to_string())
}

fn profile_table(summary: &WhatifSummary) -> Table {
    let mut t = Table::new(&[
        "profile",
        "points",
        "phase needed",
        "share, 95% interval",
        "traces",
        "reads answered otherwise",
    ]);
    for p in &summary.profiles {
        let firsts: Vec<String> = p
            .first_read_differences
            .iter()
            .map(|d| {
                format!(
                    "{} event {}: {} {:#04x} recorded, {:#04x}",
                    d.trace, d.event, d.register, d.recorded, d.model
                )
            })
            .collect();
        let mut reads = p.traces_read_differs.to_string();
        if !firsts.is_empty() {
            reads += &format!(" ({})", firsts.join("; "));
        }
        t.row(vec![
            p.name.clone(),
            p.points.to_string(),
            p.phase_needed_points
                .map_or("no phase field".into(), |k| k.to_string()),
            p.phase_needed_points
                .map_or("-".into(), |k| interval(proportion(k, p.points).as_ref())),
            p.traces.to_string(),
            reads,
        ]);
    }
    t
}

/// The table of migrations between versions (`whatif --into` prints it alone).
pub fn render_migrations(migrations: &[VersionMigration], markdown: bool) -> String {
    migration_table(migrations).render(markdown)
}

fn migration_table(migrations: &[VersionMigration]) -> Table {
    let mut h = vec![
        "migration".to_string(),
        "source".into(),
        "destination".into(),
        "points".into(),
        "refused".into(),
    ];
    h.extend(class_names());
    let mut t = Table::from_strings(h);
    for m in migrations {
        let mut r = vec![
            m.name.clone(),
            m.source.clone(),
            m.destination.clone(),
            m.points.to_string(),
            m.points_refused.to_string(),
        ];
        r.extend(class_counts(&m.classes));
        t.row(r);
    }
    t
}

fn main_table(summary: &WhatifSummary) -> Table {
    let mut h = vec!["subsection".to_string(), "points sent".into()];
    h.extend(class_names());
    h.extend([
        "real runs (dropped)".into(),
        "real severe".into(),
        "verdict".into(),
    ]);
    let mut t = Table::from_strings(h);
    for s in &summary.subsections {
        let mut r = vec![s.name.clone(), s.points_sent.to_string()];
        r.extend(class_counts(&s.classes));
        match &s.real {
            Some(real) => {
                let (runs, severe) = real.dropped_runs();
                r.push(runs.to_string());
                r.push(severe.to_string());
            }
            None => r.extend(["-".into(), "-".into()]),
        }
        r.push(rule_name(s.verdict.rule).into());
        t.row(r);
    }
    t
}

fn interval_table(summary: &WhatifSummary) -> Table {
    let mut t = Table::new(&[
        "subsection",
        "class",
        "points",
        "of points sent, 95% interval",
        "time share",
    ]);
    for s in &summary.subsections {
        for c in Class::ALL {
            let k = get(&s.classes, c.name());
            if k == 0 && c != Class::Invisible {
                continue;
            }
            let kt = get(&s.classes_time_ns, c.name());
            t.row(vec![
                s.name.clone(),
                c.name().into(),
                k.to_string(),
                interval(proportion(k, s.points_sent).as_ref()),
                if s.time_sent_ns == 0 {
                    "-".into()
                } else {
                    pct(kt as f64 / s.time_sent_ns as f64)
                },
            ]);
        }
    }
    t
}

fn class_list(c: &Classes, order: &[&str]) -> String {
    let parts: Vec<String> = order
        .iter()
        .filter(|k| get(c, k) > 0)
        .map(|k| format!("{k} {}", get(c, k)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn guest_table(summary: &WhatifSummary) -> Table {
    let names: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
    let mut t = Table::new(&["subsection", "guest", "points sent", "classes"]);
    for s in &summary.subsections {
        for (g, gc) in &s.by_guest {
            t.row(vec![
                s.name.clone(),
                g.clone(),
                gc.points_sent.to_string(),
                class_list(&gc.classes, &names),
            ]);
        }
    }
    t
}

fn real_table(summary: &WhatifSummary) -> Table {
    let mut t = Table::new(&[
        "subsection",
        "real guest",
        "runs",
        "controls normal",
        "outcomes",
    ]);
    for s in &summary.subsections {
        let Some(real) = &s.real else { continue };
        t.row(vec![
            s.name.clone(),
            ALL_GUESTS.into(),
            real.runs.to_string(),
            real.controls_normal.to_string(),
            class_list(&real.classes, &REAL_CLASSES),
        ]);
        for (g, c) in &real.by_guest {
            t.row(vec![
                s.name.clone(),
                g.clone(),
                c.values().sum::<u64>().to_string(),
                "-".into(),
                class_list(c, &REAL_CLASSES),
            ]);
        }
    }
    t
}

/// Nanoseconds as milliseconds with one decimal.
fn ms(ns: i64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

fn closed_row(t: &mut Table, sub: &str, workload: &str, c: &ClosedCounts) {
    let mut r = vec![
        sub.to_string(),
        workload.to_string(),
        c.candidates.to_string(),
        c.runs.to_string(),
    ];
    r.extend(
        CLOSED_CLASSES
            .iter()
            .map(|k| get(&c.outcomes, k).to_string()),
    );
    r.push(c.extra_retries.to_string());
    r.push(c.extra_commands.to_string());
    r.push(match c.max_extra_time_ns {
        Some(m) => format!("{} / {}", ms(c.extra_time_ns), ms(m)),
        None => "-".into(),
    });
    let errors: Vec<String> = c.errors.iter().map(|(e, n)| format!("{e} ({n})")).collect();
    r.push(if errors.is_empty() {
        "-".into()
    } else {
        errors.join("; ")
    });
    t.row(r);
}

/// The closed-loop table (`fdc-replay whatif --closed-loop`, and the report's what-if
/// section): per subsection, all workloads and each workload that reached it.
pub fn render_closed(closed: &BTreeMap<String, ClosedOutcomes>, markdown: bool) -> String {
    let mut o = String::new();
    heading(
        &mut o,
        markdown,
        "Closed loop: the Windows 2000 driver model resumed from a destination without it",
    );
    let points = closed.values().map(|c| c.points).max().unwrap_or(0);
    let _ = writeln!(
        o,
        "Each workload of the driver model runs on the model and is migrated once, without the \
subsection, at one of up to {points} port accesses where QEMU sends it (evenly spaced over the \
candidates: accesses of the run without migration where it is sent); the driver carries on against \
the destination and is compared with the run without migration. Rows backward and forward: the \
driver starts on qemu-7.2 (qemu-2.3) and the destination is a qemu-2.3 (qemu-7.2) device loaded from \
the state with that version's load rules, at accesses where nothing the destination does not know is \
sent; the run is compared with the one without migration on the source's version. Extra time: total / \
largest over the retries runs (ms of guest time)."
    );
    if markdown {
        o.push('\n');
    }
    let mut h = vec![
        "subsection".to_string(),
        "workload".into(),
        "candidates".into(),
        "runs".into(),
    ];
    h.extend(CLOSED_CLASSES.iter().map(|k| k.to_string()));
    h.extend([
        "extra retries".into(),
        "extra commands".into(),
        "extra time ms".into(),
        "errors".into(),
    ]);
    let mut t = Table::from_strings(h).align_left(1).align_left(13);
    let mut subs: Vec<&String> = closed.keys().collect();
    // The subsections in their order, then the migrations between versions.
    subs.sort_by_key(|n| {
        let s = fdc::Subsection::from_name(n);
        (s.is_none(), s, *n)
    });
    for s in subs {
        let c = &closed[s];
        closed_row(&mut t, s, ALL_GUESTS, &c.all);
        for (w, wc) in c.by_workload.iter().filter(|(_, wc)| wc.candidates > 0) {
            closed_row(&mut t, s, w, wc);
        }
    }
    o.push_str(&t.render(markdown));
    o
}

/// The policy table (`fdc-replay whatif --policy`).
pub fn render_policy(rows: &[PolicyRow], markdown: bool) -> String {
    let mut o = String::new();
    heading(&mut o, markdown, "Policy");
    let mut t = Table::new(&[
        "guest",
        "subsection",
        "policy",
        "machine",
        "outcome",
        "k",
        "n",
        "P, event-weighted, 95% interval",
        "time-weighted",
    ]);
    for r in rows {
        let (k, n) = r.event.map_or((0, 0), |p| (p.k, p.n));
        t.row(vec![
            r.guest.clone(),
            r.subsection.clone(),
            format!("({})", format!("{:?}", r.policy).to_lowercase()),
            r.machine.into(),
            r.outcome.clone(),
            k.to_string(),
            n.to_string(),
            interval(r.event.as_ref()),
            r.time_share.map_or("-".into(), pct),
        ]);
    }
    o.push_str(&t.render(markdown));
    o
}
