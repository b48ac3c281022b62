//! From per-trace what-if counts to the report's [`WhatifSummary`], and the three
//! policies' probabilities with 95 % intervals.
//!
//! Policies (per guest and subsection), over all points of the guest's traces:
//! * (a) prevalent-state subsection: P(a backward migration is refused) = points where QEMU
//!   sends it / points;
//! * (b) tied to the machine type: the destination always runs without the state, so
//!   P(the destination differs, by class) = points of that class / points (a point where
//!   the subsection is not sent loses nothing);
//! * (c) both: old machine types as (b); new machine types always send it, so nothing is
//!   lost and nothing refused (0 of the points).

use super::engine::TraceWhatif;
use super::Class;
use crate::analysis::stats::{proportion, Proportion};
use crate::analysis::verdict::{
    verdict, Classes, GuestClasses, ProfileShare, RealOutcomes, TraceReadDifference,
    VersionMigration, WhatifSubsection, WhatifSummary,
};
use fdc::{Profile, Subsection};
use serde::Serialize;
use std::collections::BTreeMap;

/// Name of the default model profile.
pub const PROFILE: &str = "qemu-7.2";

fn classes_of(c: &[(u64, u64); 6], time: bool) -> Classes {
    Class::ALL
        .iter()
        .zip(c.iter())
        .map(|(k, v)| (k.name().to_string(), if time { v.1 } else { v.0 }))
        .collect()
}

fn add(into: &mut [(u64, u64); 6], from: &[(u64, u64); 6]) {
    for (a, b) in into.iter_mut().zip(from.iter()) {
        a.0 += b.0;
        a.1 += b.1;
    }
}

/// Per guest: sent points, sent time, class counts.
type Acc = BTreeMap<String, (u64, u64, [(u64, u64); 6])>;

/// Per subsection: sent points, sent time, class counts, per guest.
type SubAcc = BTreeMap<Subsection, (u64, u64, [(u64, u64); 6], Acc)>;

/// The summary of `traces` (in path order), with the real outcomes of `real` (by
/// subsection name) beside the model's classes and the verdicts computed from both.
pub fn summarize(traces: &[TraceWhatif], real: &BTreeMap<String, RealOutcomes>) -> WhatifSummary {
    let mut order: Vec<Subsection> = Vec::new();
    let mut acc: SubAcc = BTreeMap::new();
    for t in traces {
        for (s, c) in &t.subsections {
            if !order.contains(s) {
                order.push(*s);
            }
            let e = acc.entry(*s).or_default();
            e.0 += c.points_sent;
            e.1 += c.time_sent_ns;
            add(&mut e.2, &c.classes);
            let g = e.3.entry(t.guest.clone()).or_default();
            g.0 += c.points_sent;
            g.1 += c.time_sent_ns;
            add(&mut g.2, &c.classes);
        }
    }
    order.sort();
    let subsections = order
        .iter()
        .map(|s| {
            let (p, t, c, guests) = acc.remove(s).unwrap_or_default();
            let classes = classes_of(&c, false);
            let real = real.get(s.name()).cloned();
            WhatifSubsection {
                name: s.name().to_string(),
                points_sent: p,
                time_sent_ns: t,
                verdict: verdict(&classes, real.as_ref(), None),
                classes,
                classes_time_ns: classes_of(&c, true),
                by_guest: guests
                    .into_iter()
                    .map(|(g, (p, t, c))| {
                        let gc = GuestClasses {
                            points_sent: p,
                            time_sent_ns: t,
                            classes: classes_of(&c, false),
                            classes_time_ns: classes_of(&c, true),
                        };
                        (g, gc)
                    })
                    .collect(),
                real,
                closed_loop: None,
            }
        })
        .collect();
    WhatifSummary {
        profile: traces
            .first()
            .map(|t| t.profile)
            .filter(|p| *p != Profile::Qemu72)
            .map(|p| p.name().to_string()),
        subsections,
        // Filled by the profile runs (`crate::cli::whatif::add_versions`).
        profiles: Vec::new(),
        migrations: Vec::new(),
        closed_loop_skipped: None,
    }
}

/// The `fdc/phase` share of `profile` from `traces`, replayed under it (`None` for a
/// profile without the phase field), with the first read of each trace that the
/// profile answers otherwise than the recording (`first_reads`, from
/// [`crate::analysis::check`] under the profile).
pub fn profile_share(
    profile: Profile,
    traces: &[&TraceWhatif],
    first_reads: Vec<TraceReadDifference>,
) -> ProfileShare {
    let sum = |f: &dyn Fn(&TraceWhatif) -> u64| traces.iter().map(|t| f(t)).sum::<u64>();
    ProfileShare {
        name: profile.name().into(),
        phase_needed_points: profile
            .has_phase_field()
            .then(|| sum(&|t| t.phase_needed_points)),
        points: sum(&|t| t.points),
        traces: traces.len() as u64,
        traces_read_differs: first_reads.len() as u64,
        first_read_differences: first_reads,
    }
}

/// The counts of migration `name` from `traces`, run with [`super::WhatifOptions::into`]
/// and [`super::WhatifOptions::control`] (the control destination is the other version).
pub fn version_migration(
    name: &str,
    source: Profile,
    destination: Profile,
    traces: &[&TraceWhatif],
) -> VersionMigration {
    let mut c = [(0u64, 0u64); 6];
    for t in traces {
        if let Some(k) = &t.control {
            add(&mut c, &k.classes);
        }
    }
    VersionMigration {
        name: name.into(),
        source: source.name().into(),
        destination: destination.name().into(),
        points: traces.iter().map(|t| t.points).sum(),
        points_refused: traces.iter().map(|t| t.refused_points).sum(),
        classes: classes_of(&c, false),
        closed_loop: None,
    }
}

/// Points and time of every trace of each guest (the policies' denominators).
pub fn guest_totals(traces: &[TraceWhatif]) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for t in traces {
        let e = out.entry(t.guest.clone()).or_default();
        e.0 += t.points;
        e.1 += t.time_ns;
    }
    let all = out.values().fold((0, 0), |(p, t), v| (p + v.0, t + v.1));
    out.insert(ALL_GUESTS.into(), all);
    out
}

/// Guest name of the all-guests rows.
pub const ALL_GUESTS: &str = "all";

/// A policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Prevalent-state subsection: backward migration refused while it is needed.
    A,
    /// Tied to the machine type: the destination runs without the state.
    B,
    /// Both: old machine types as (b), new machine types always send it.
    C,
}

/// One probability of a policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyRow {
    /// Guest (or `all`).
    pub guest: String,
    /// Subsection.
    pub subsection: String,
    /// Policy.
    pub policy: Policy,
    /// `old`/`new` machine types for (c), `-` otherwise.
    pub machine: &'static str,
    /// What is counted: `refused` (a), a model class or `differs` (any class but
    /// invisible) for (b) and (c).
    pub outcome: String,
    /// Event-weighted proportion with its 95 % interval.
    pub event: Option<Proportion>,
    /// Time-weighted share.
    pub time_share: Option<f64>,
}

fn share(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// The rows of `policy` for every guest (and all guests) and subsection of `summary`.
pub fn policy_rows(
    summary: &WhatifSummary,
    totals: &BTreeMap<String, (u64, u64)>,
    policy: Policy,
) -> Vec<PolicyRow> {
    let mut rows = Vec::new();
    for s in &summary.subsections {
        for (g, &(n, tn)) in totals {
            let gc = if g == ALL_GUESTS {
                GuestClasses {
                    points_sent: s.points_sent,
                    time_sent_ns: s.time_sent_ns,
                    classes: s.classes.clone(),
                    classes_time_ns: s.classes_time_ns.clone(),
                }
            } else {
                s.by_guest.get(g).cloned().unwrap_or_default()
            };
            let row = |machine, outcome: &str, k: u64, kt: u64| PolicyRow {
                guest: g.clone(),
                subsection: s.name.clone(),
                policy,
                machine,
                outcome: outcome.to_string(),
                event: proportion(k, n),
                time_share: share(kt, tn),
            };
            match policy {
                Policy::A => rows.push(row("-", "refused", gc.points_sent, gc.time_sent_ns)),
                Policy::B => rows.extend(class_rows(&gc, "-", &row)),
                Policy::C => {
                    rows.extend(class_rows(&gc, "old", &row));
                    rows.push(row("new", "differs", 0, 0));
                }
            }
        }
    }
    rows
}

fn class_rows(
    gc: &GuestClasses,
    machine: &'static str,
    row: &dyn Fn(&'static str, &str, u64, u64) -> PolicyRow,
) -> Vec<PolicyRow> {
    let get = |c: &Classes, k: &str| c.get(k).copied().unwrap_or(0);
    let differs = |c: &Classes| c.values().sum::<u64>() - get(c, "invisible");
    let mut out = vec![row(
        machine,
        "differs",
        differs(&gc.classes),
        differs(&gc.classes_time_ns),
    )];
    for c in Class::ALL.iter().filter(|c| **c != Class::Invisible) {
        let k = get(&gc.classes, c.name());
        if k > 0 {
            out.push(row(
                machine,
                c.name(),
                k,
                get(&gc.classes_time_ns, c.name()),
            ));
        }
    }
    out
}
