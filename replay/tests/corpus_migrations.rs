//! The recorded corpus' real QEMU migrations (`corpora/traces/*.fdctrace`, header
//! `migrations` from the recorders' `NAME.migrations.jsonl`): at every recorded point the
//! model names exactly the subsections QEMU sent and has the same section fields, and
//! every read of every trace matches or is not checkable by name.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc_replay::analysis::check::check_file;
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn every_recorded_migration_point_agrees_with_the_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces");
    let mut traces: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "fdctrace"))
        .collect();
    traces.sort();
    let (mut points, mut with_points) = (0u64, 0usize);
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for t in &traces {
        let c = check_file(t, 3).unwrap();
        if c.mismatches > 0 || c.migrations.disagree() > 0 {
            failures.push(format!(
                "{}: {} reads differ, {} of {} migration points disagree: {:?} {:?}",
                t.display(),
                c.mismatches,
                c.migrations.disagree(),
                c.migrations.points,
                c.first.first().map(|m| m.index),
                c.migrations.first.first()
            ));
        }
        if c.migrations.points > 0 {
            with_points += 1;
            points += c.migrations.points;
        }
        for (k, v) in &c.migrations.sent {
            *sent.entry(k.clone()).or_default() += v;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        points >= 300 && with_points >= 6,
        "{points} recorded migration points in {with_points} traces"
    );
    // The rare subsections are sent at some recorded point.
    for s in [
        "fdc/reset_sensei",
        "fdc/result_timer",
        "fdrive/perpendicular",
    ] {
        assert!(
            sent.get(s).copied().unwrap_or(0) > 0,
            "{s} never sent: {sent:?}"
        );
    }
}
