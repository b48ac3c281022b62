//! The what-if summary and the verdict per subsection: what dropping a subsection's state
//! does (measured on the model at every migration point, and on real guests resumed from
//! edited real migration streams), and under which of the migration maintainers' rules the
//! subsection falls.
//!
//! The rules (qemu-devel, May 2015, "fdc: Introduce fdctrl->phase"):
//! (a) a prevalent-state subsection (backward migration refused while it is needed) when the
//! missing state means a hung guest or data corruption; (b) otherwise tie the state to the
//! machine type (old machine types never send it, the destination always runs without it);
//! (c) both: always send it on new machine types, keep the subsection for the rest.
//!
//! Everything here is counts, so summaries of disjoint inputs merge exactly
//! ([`WhatifSummary::merge`]); the verdict is recomputed from the merged counts
//! ([`verdict`]), never stored by hand.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Model classes of a what-if point, most specific (worst) first. A point's class is the
/// first difference a guest could notice between the source and the destination that was
/// loaded without the subsection.
pub const MODEL_CLASSES: [&str; 6] = ["fault", "data", "stall", "irq", "register", "invisible"];

/// Model classes that mean a hung guest, data corruption or a QEMU abort.
pub const MODEL_SEVERE: [&str; 3] = ["fault", "data", "stall"];

/// Real-guest outcome classes (`corpora/whatif/runs/*/*.json`), worst first.
pub const REAL_CLASSES: [&str; 7] = [
    "qemu_abort",
    "hang",
    "data_corruption",
    "io_error",
    "retry",
    "value_only",
    "invisible",
];

/// Real outcomes that mean a hung guest, data corruption or a QEMU abort.
pub const REAL_SEVERE: [&str; 3] = ["qemu_abort", "hang", "data_corruption"];

/// Closed-loop outcomes (the Windows 2000 driver model resumed from a destination without
/// the subsection, see [`crate::analysis::whatif::closed`]), worst first.
pub const CLOSED_CLASSES: [&str; 6] = [
    "hang",
    "data_corruption",
    "error",
    "retries",
    "carries_on",
    "not_reached",
];

/// Closed-loop outcomes that mean a hung guest or data corruption.
pub const CLOSED_SEVERE: [&str; 2] = ["hang", "data_corruption"];

/// Closed-loop outcomes that are no measurement (the migration never happened).
pub const CLOSED_UNMEASURED: [&str; 1] = ["not_reached"];

/// Class counts: class name -> count. Names are those of [`MODEL_CLASSES`] or
/// [`REAL_CLASSES`]; classes with count 0 may be absent.
pub type Classes = BTreeMap<String, u64>;

/// The what-if figures of the whole input, as the report's JSON carries them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WhatifSummary {
    /// The implementation profile of `subsections` when it is not `qemu-7.2` (`whatif
    /// --profile`; the report always uses `qemu-7.2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The six subsections, `fdc/phase` first.
    pub subsections: Vec<WhatifSubsection>,
    /// The implementation profiles (`qemu-7.2`, `qemu-7.2-no-rqm-fix`, `qemu-2.3`).
    pub profiles: Vec<ProfileShare>,
    /// The migrations between versions (backward QEMU 7.2 -> 2.3, forward 2.3 -> 7.2).
    #[serde(default)]
    pub migrations: Vec<VersionMigration>,
    /// Why the closed loop was asked for but not run (its tools are missing), so that
    /// its absence from the figures and the verdicts is said in the report itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop_skipped: Option<String>,
}

/// What dropping one subsection does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WhatifSubsection {
    /// Subsection name, e.g. `fdrive/media_changed`.
    pub name: String,
    /// Points (event weight) where QEMU sends it, i.e. where the what-if was run.
    pub points_sent: u64,
    /// Time (ns) during which QEMU sends it.
    pub time_sent_ns: u64,
    /// Model classes of those points, event-weighted.
    pub classes: Classes,
    /// Model classes of those points, time-weighted (ns).
    pub classes_time_ns: Classes,
    /// The same per guest OS (the trace header's guest).
    pub by_guest: BTreeMap<String, GuestClasses>,
    /// Outcomes measured on real guests (edited real streams), when records exist.
    pub real: Option<RealOutcomes>,
    /// What the Windows 2000 driver model does when resumed, against the model, from a
    /// destination without it (when the closed loop was run).
    #[serde(default)]
    pub closed_loop: Option<ClosedOutcomes>,
    /// The rule it falls under, computed from `classes`, `real` and `closed_loop` by
    /// [`verdict`].
    pub verdict: Verdict,
}

/// Model classes of one guest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestClasses {
    /// Points where the subsection is sent.
    pub points_sent: u64,
    /// Time (ns) during which it is sent.
    pub time_sent_ns: u64,
    /// Event-weighted classes.
    pub classes: Classes,
    /// Time-weighted classes (ns).
    pub classes_time_ns: Classes,
}

/// Real-guest outcomes of one subsection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RealOutcomes {
    /// Edited runs (each with its control).
    pub runs: u64,
    /// Controls that came out normal.
    pub controls_normal: u64,
    /// Outcome classes of the edited runs.
    pub classes: Classes,
    /// The same per real guest (`linux-fat`, `seabios`, ...).
    pub by_guest: BTreeMap<String, Classes>,
    /// The part of `classes` that comes from runs which *added* the subsection (an
    /// `fdc/phase` that disagrees with the MSR) instead of dropping it. Those runs answer
    /// another question (what a destination does with a phase its MSR contradicts), so
    /// [`verdict`] leaves them out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub added: Classes,
}

impl RealOutcomes {
    /// The classes of the runs that dropped the subsection (`classes` without `added`).
    pub fn dropped(&self) -> Classes {
        let mut c = self.classes.clone();
        for (k, v) in &self.added {
            if let Some(n) = c.get_mut(k) {
                *n = n.saturating_sub(*v);
            }
        }
        c.retain(|_, v| *v > 0);
        c
    }

    /// The runs that dropped the subsection, and those of them with a severe outcome
    /// ([`REAL_SEVERE`]).
    pub fn dropped_runs(&self) -> (u64, u64) {
        let d = self.dropped();
        (d.values().sum(), count(&d, &REAL_SEVERE))
    }
}

/// Closed-loop outcomes of one subsection: in total and per workload of the driver model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClosedOutcomes {
    /// Migration points asked for per workload (evenly spaced over the candidates).
    pub points: u64,
    /// All workloads.
    #[serde(flatten)]
    pub all: ClosedCounts,
    /// Per workload.
    pub by_workload: BTreeMap<String, ClosedCounts>,
}

/// Closed-loop counts of one subsection (and workload).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClosedCounts {
    /// Port accesses of the run without migration where QEMU sends the subsection (the
    /// migration points runs are chosen from).
    pub candidates: u64,
    /// Migrated runs.
    pub runs: u64,
    /// Outcome counts (names of [`CLOSED_CLASSES`]).
    pub outcomes: Classes,
    /// Retries beyond the run without migration's, summed over the `retries` runs.
    pub extra_retries: u64,
    /// Commands beyond the run without migration's, summed over the `retries` runs.
    pub extra_commands: i64,
    /// Guest time beyond the run without migration's (ns), summed over the `retries` runs.
    pub extra_time_ns: i64,
    /// The largest of those (ns; `None`: no `retries` run).
    pub max_extra_time_ns: Option<i64>,
    /// Error messages of the `error` and `data_corruption` runs, with their counts.
    pub errors: BTreeMap<String, u64>,
}

/// Share of points where `fdc/phase` would be needed under an implementation profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileShare {
    /// Profile name.
    pub name: String,
    /// Points where the profile's `fdc/phase` would be sent (`None`: the profile has no
    /// phase field).
    pub phase_needed_points: Option<u64>,
    /// All points replayed under the profile.
    pub points: u64,
    /// Traces replayed under the profile.
    #[serde(default)]
    pub traces: u64,
    /// Traces in which some recorded read (one the replay can check) gets another value
    /// from the profile: the traces were recorded on QEMU 7.2, so under another profile
    /// the replay is open loop from that read on (the guest would have seen other values
    /// and acted otherwise); the points after it replay the recorded writes.
    #[serde(default)]
    pub traces_read_differs: u64,
    /// Those first differing reads, one per trace, in trace order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_read_differences: Vec<TraceReadDifference>,
}

/// The first recorded read of a trace that a profile answers otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceReadDifference {
    /// The trace's file name.
    pub trace: String,
    /// Index of the read event.
    pub event: u64,
    /// The register read (`MSR`, `FIFO`, ...).
    pub register: String,
    /// The value recorded on QEMU 7.2.
    pub recorded: u8,
    /// The profile's value.
    pub model: u8,
}

/// A migration between two implementations at every point of the corpus: the source
/// replays the traces under one profile, the destination is a device of the other loaded
/// from the point's state (that version's load rules) and both continue the trace; classes
/// as for a dropped subsection ([`MODEL_CLASSES`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionMigration {
    /// `backward` (to the older version) or `forward`.
    pub name: String,
    /// The source's profile.
    pub source: String,
    /// The destination's profile.
    pub destination: String,
    /// All points of the source's replay.
    pub points: u64,
    /// Points where the source sends a subsection the destination does not know: the
    /// destination refuses the stream (no class).
    pub points_refused: u64,
    /// Classes of the other points (event-weighted).
    pub classes: Classes,
    /// The closed loop of this migration (the driver model started on the source's
    /// implementation and migrated to the destination's), when it was run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop: Option<ClosedOutcomes>,
}

/// The rule a subsection falls under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Missing state hangs the guest, corrupts data or aborts QEMU: rule (a) (and (c):
    /// always send it on new machine types).
    A,
    /// A guest can notice the missing state, but nothing measured hangs or corrupts:
    /// rule (b), tie it to the machine type.
    B,
    /// No difference was ever observed: (b), and nothing is lost on old machine types.
    BInvisible,
    /// Not measured: no point sends it and no real run reached it.
    #[default]
    Unmeasured,
}

/// A computed verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The rule.
    pub rule: Rule,
    /// The measured counts that decided it, in words (e.g. `model: stall 12 of 40 points;
    /// real: hang 0, data_corruption 6 of 10 runs`).
    pub because: String,
}

fn count(c: &Classes, names: &[&str]) -> u64 {
    names.iter().map(|n| c.get(*n).copied().unwrap_or(0)).sum()
}

fn listed(c: &Classes, order: &[&str]) -> String {
    let parts: Vec<String> = order
        .iter()
        .filter_map(|n| c.get(*n).filter(|v| **v > 0).map(|v| format!("{n} {v}")))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// The verdict from the model's event-weighted classes, the real outcomes of the runs
/// that dropped the subsection ([`RealOutcomes::dropped`]) and the closed-loop outcomes
/// (runs that never migrated, `not_reached`, are no measurement).
///
/// (a) when any model point is `fault`/`data`/`stall`, any real run is
/// `qemu_abort`/`hang`/`data_corruption` or any closed-loop run is `hang`/`data_corruption`;
/// (b) when some point or run shows any other difference (a closed-loop `retries` or
/// `error`); "(b), invisible" when every measurement is `invisible` (`carries_on`);
/// unmeasured when there are none.
pub fn verdict(
    model: &Classes,
    real: Option<&RealOutcomes>,
    closed: Option<&ClosedOutcomes>,
) -> Verdict {
    let model_n: u64 = model.values().sum();
    let real_classes = real.map(RealOutcomes::dropped).unwrap_or_default();
    let real_n: u64 = real_classes.values().sum();
    let mut because = format!(
        "model: {} of {model_n} points; real: {} of {real_n} runs",
        listed(model, &MODEL_CLASSES),
        listed(&real_classes, &REAL_CLASSES)
    );
    if let Some(r) = real.filter(|r| !r.added.is_empty()) {
        let added: u64 = r.added.values().sum();
        because += &format!(
            " (not counted: {} of {added} runs that added it)",
            listed(&r.added, &REAL_CLASSES)
        );
    }
    let mut closed_classes = closed.map(|c| c.all.outcomes.clone()).unwrap_or_default();
    closed_classes.retain(|k, _| !CLOSED_UNMEASURED.contains(&k.as_str()));
    let closed_n: u64 = closed_classes.values().sum();
    if closed.is_some() {
        because += &format!(
            "; closed loop: {} of {closed_n} runs",
            listed(&closed_classes, &CLOSED_CLASSES)
        );
    }
    let severe = count(model, &MODEL_SEVERE)
        + count(&real_classes, &REAL_SEVERE)
        + count(&closed_classes, &CLOSED_SEVERE);
    let visible = model_n - count(model, &["invisible"]) + real_n
        - count(&real_classes, &["invisible"])
        + closed_n
        - count(&closed_classes, &["carries_on"]);
    let rule = if model_n + real_n + closed_n == 0 {
        Rule::Unmeasured
    } else if severe > 0 {
        Rule::A
    } else if visible > 0 {
        Rule::B
    } else {
        Rule::BInvisible
    };
    Verdict { rule, because }
}

impl WhatifSubsection {
    /// [`verdict`] of this subsection's measurements.
    pub fn computed_verdict(&self) -> Verdict {
        verdict(&self.classes, self.real.as_ref(), self.closed_loop.as_ref())
    }
}

fn add_classes(into: &mut Classes, from: &Classes) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

impl WhatifSummary {
    /// Sets the closed-loop outcomes of every subsection `closed` has (by name) and
    /// recomputes the verdicts.
    pub fn set_closed_loop(&mut self, closed: &BTreeMap<String, ClosedOutcomes>) {
        for s in &mut self.subsections {
            s.closed_loop = closed.get(&s.name).cloned();
            s.verdict = s.computed_verdict();
        }
        for m in &mut self.migrations {
            m.closed_loop = closed.get(&m.name).cloned();
        }
    }

    /// Adds the counts of a summary of other inputs (same subsections and profiles, by
    /// name) and recomputes the verdicts. Real and closed-loop outcomes do not depend on
    /// the inputs and are taken once: they must be equal in both, or present in one only.
    pub fn merge(&mut self, other: &WhatifSummary) {
        for o in &other.subsections {
            match self.subsections.iter_mut().find(|s| s.name == o.name) {
                Some(s) => {
                    s.points_sent += o.points_sent;
                    s.time_sent_ns += o.time_sent_ns;
                    add_classes(&mut s.classes, &o.classes);
                    add_classes(&mut s.classes_time_ns, &o.classes_time_ns);
                    for (g, oc) in &o.by_guest {
                        let gc = s.by_guest.entry(g.clone()).or_default();
                        gc.points_sent += oc.points_sent;
                        gc.time_sent_ns += oc.time_sent_ns;
                        add_classes(&mut gc.classes, &oc.classes);
                        add_classes(&mut gc.classes_time_ns, &oc.classes_time_ns);
                    }
                    if s.real.is_none() {
                        s.real.clone_from(&o.real);
                    }
                    if s.closed_loop.is_none() {
                        s.closed_loop.clone_from(&o.closed_loop);
                    }
                }
                None => self.subsections.push(o.clone()),
            }
        }
        for o in &other.profiles {
            match self.profiles.iter_mut().find(|p| p.name == o.name) {
                Some(p) => {
                    p.points += o.points;
                    p.traces += o.traces;
                    p.traces_read_differs += o.traces_read_differs;
                    p.first_read_differences
                        .extend(o.first_read_differences.iter().cloned());
                    p.phase_needed_points = match (p.phase_needed_points, o.phase_needed_points) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    };
                }
                None => self.profiles.push(o.clone()),
            }
        }
        for o in &other.migrations {
            match self.migrations.iter_mut().find(|m| m.name == o.name) {
                Some(m) => {
                    m.points += o.points;
                    m.points_refused += o.points_refused;
                    add_classes(&mut m.classes, &o.classes);
                    if m.closed_loop.is_none() {
                        m.closed_loop.clone_from(&o.closed_loop);
                    }
                }
                None => self.migrations.push(o.clone()),
            }
        }
        for s in &mut self.subsections {
            s.verdict = s.computed_verdict();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(v: &[(&str, u64)]) -> Classes {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn verdict_follows_the_counts() {
        let real = RealOutcomes {
            runs: 10,
            controls_normal: 10,
            classes: classes(&[("data_corruption", 6), ("io_error", 3), ("invisible", 1)]),
            by_guest: BTreeMap::new(),
            added: Classes::new(),
        };
        let v = verdict(
            &classes(&[("register", 4), ("invisible", 6)]),
            Some(&real),
            None,
        );
        assert_eq!(v.rule, Rule::A);
        assert_eq!(
            v.because,
            "model: register 4, invisible 6 of 10 points; real: data_corruption 6, io_error 3, invisible 1 of 10 runs"
        );
        assert_eq!(
            verdict(&classes(&[("register", 1)]), None, None).rule,
            Rule::B
        );
        assert_eq!(
            verdict(&classes(&[("invisible", 5)]), None, None).rule,
            Rule::BInvisible
        );
        assert_eq!(verdict(&Classes::new(), None, None).rule, Rule::Unmeasured);
        let added = RealOutcomes {
            runs: 30,
            controls_normal: 30,
            classes: classes(&[("qemu_abort", 21), ("invisible", 9)]),
            by_guest: BTreeMap::new(),
            added: classes(&[("qemu_abort", 21), ("invisible", 9)]),
        };
        let v = verdict(&Classes::new(), Some(&added), None);
        assert_eq!(v.rule, Rule::Unmeasured);
        assert_eq!(
            v.because,
            "model: none of 0 points; real: none of 0 runs (not counted: qemu_abort 21, invisible 9 of 30 runs that added it)"
        );
    }

    fn closed(v: &[(&str, u64)]) -> ClosedOutcomes {
        ClosedOutcomes {
            points: 4,
            all: ClosedCounts {
                candidates: 10,
                runs: v.iter().map(|(_, n)| n).sum(),
                outcomes: classes(v),
                ..Default::default()
            },
            by_workload: BTreeMap::new(),
        }
    }

    /// A closed-loop hang or data corruption is evidence for (a) even where every model
    /// point and real run is harmless; errors and retries are visible, so (b); a run that
    /// never migrated is no measurement.
    #[test]
    fn verdict_counts_the_closed_loop() {
        let invisible = classes(&[("invisible", 5)]);
        for severe in ["hang", "data_corruption"] {
            let c = closed(&[(severe, 1), ("carries_on", 3)]);
            let v = verdict(&invisible, None, Some(&c));
            assert_eq!(v.rule, Rule::A, "{severe}");
            assert_eq!(
                v.because,
                format!("model: invisible 5 of 5 points; real: none of 0 runs; closed loop: {severe} 1, carries_on 3 of 4 runs")
            );
        }
        for visible in ["error", "retries"] {
            let c = closed(&[(visible, 2)]);
            assert_eq!(verdict(&invisible, None, Some(&c)).rule, Rule::B);
        }
        let c = closed(&[("carries_on", 4)]);
        assert_eq!(verdict(&invisible, None, Some(&c)).rule, Rule::BInvisible);
        assert_eq!(
            verdict(&Classes::new(), None, Some(&c)).rule,
            Rule::BInvisible
        );
        let c = closed(&[("not_reached", 3)]);
        let v = verdict(&Classes::new(), None, Some(&c));
        assert_eq!(v.rule, Rule::Unmeasured);
        assert_eq!(
            v.because,
            "model: none of 0 points; real: none of 0 runs; closed loop: none of 0 runs"
        );
        // A stall on the model is (a) whatever the closed loop says.
        let c = closed(&[("carries_on", 4)]);
        assert_eq!(
            verdict(&classes(&[("stall", 1)]), None, Some(&c)).rule,
            Rule::A
        );
    }

    /// Closed-loop outcomes do not depend on the inputs: `merge` takes them once and the
    /// verdict it recomputes counts them.
    #[test]
    fn merge_takes_the_closed_loop_once() {
        let mut a = WhatifSummary {
            subsections: vec![WhatifSubsection {
                name: "fdc/result_timer".into(),
                classes: classes(&[("invisible", 1)]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut b = a.clone();
        let c: BTreeMap<String, ClosedOutcomes> =
            [("fdc/result_timer".to_string(), closed(&[("hang", 2)]))].into();
        b.set_closed_loop(&c);
        assert_eq!(b.subsections[0].verdict.rule, Rule::A);
        a.merge(&b);
        assert_eq!(
            a.subsections[0].closed_loop,
            c.get("fdc/result_timer").cloned()
        );
        assert_eq!(a.subsections[0].verdict.rule, Rule::A);
        a.merge(&b);
        assert_eq!(
            a.subsections[0].closed_loop.as_ref().map(|c| c.all.runs),
            Some(2)
        );
    }

    #[test]
    fn merge_adds_counts_and_recomputes() {
        let one = |c: &str| WhatifSummary {
            profile: None,
            subsections: vec![WhatifSubsection {
                name: "fdc/result_timer".into(),
                points_sent: 1,
                time_sent_ns: 7,
                classes: classes(&[(c, 1)]),
                verdict: verdict(&classes(&[(c, 1)]), None, None),
                ..Default::default()
            }],
            profiles: vec![ProfileShare {
                name: "qemu-2.3".into(),
                phase_needed_points: None,
                points: 3,
                traces: 1,
                traces_read_differs: 1,
                ..Default::default()
            }],
            migrations: vec![VersionMigration {
                name: "forward".into(),
                points: 3,
                points_refused: 1,
                classes: classes(&[(c, 2)]),
                ..Default::default()
            }],
            closed_loop_skipped: None,
        };
        let mut a = one("invisible");
        assert_eq!(a.subsections[0].verdict.rule, Rule::BInvisible);
        a.merge(&one("stall"));
        let s = &a.subsections[0];
        assert_eq!((s.points_sent, s.time_sent_ns), (2, 14));
        assert_eq!(s.classes, classes(&[("invisible", 1), ("stall", 1)]));
        assert_eq!(s.verdict.rule, Rule::A);
        assert_eq!(a.profiles[0].points, 6);
        assert_eq!(a.profiles[0].traces_read_differs, 2);
        let m = &a.migrations[0];
        assert_eq!((m.points, m.points_refused), (6, 2));
        assert_eq!(m.classes, classes(&[("invisible", 2), ("stall", 2)]));
    }
}
