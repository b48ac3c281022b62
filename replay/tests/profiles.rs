//! Implementation profiles in the replay: the `fdc/phase` share per profile over the
//! corpus, and the migrations between QEMU 7.2 and 2.3 (forward: the phase reconstructed
//! from a 2.3 MSR, hazard H6), with cases worked out by hand from QEMU's code.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::{Profile, Subsection};
use fdc_replay::analysis::whatif::{whatif_events, whatif_file, Class, TraceWhatif, WhatifOptions};
use fdc_replay::analysis::{Ev, EvKind, ReplayModel};

mod whatif_util;
use whatif_util::*;

/// A plain replay under `profile` (no subsection dropped, nothing forked).
fn pass(profile: Profile) -> WhatifOptions {
    WhatifOptions {
        subsections: Vec::new(),
        profile,
        ..Default::default()
    }
}

/// The migration from `profile` into `into` at every point.
fn migration(profile: Profile, into: Profile) -> WhatifOptions {
    WhatifOptions {
        subsections: Vec::new(),
        keep_points: true,
        control: true,
        profile,
        into: Some(into),
    }
}

fn run(profile: Profile, events: &[Ev], opts: &WhatifOptions) -> TraceWhatif {
    whatif_events(model(profile), events, &[], opts).unwrap()
}

/// Motor on, READ ID on drive 0 (its result comes 20 ms later), then `then`.
fn read_id_then(then: &[(u8, u8, bool)]) -> Vec<Ev> {
    let mut evs = vec![(DOR, 0x1C, true), (FIFO, 0x4A, true), (FIFO, 0x00, true)];
    evs.extend_from_slice(then);
    evs.iter()
        .enumerate()
        .map(|(k, &(offset, value, write))| Ev {
            t: 1_000 * (k as u64 + 1),
            kind: if write {
                EvKind::Write { offset, value }
            } else {
                EvKind::Read { offset, value }
            },
        })
        .collect()
}

/// READ ID, then 30 MSR reads 1 ms apart (events 3..=32 at 3 us + k ms): the timer, due
/// 20 ms after the parameter byte (event 2 at 3 us), fires at the read of event 22, so the
/// wait covers points 3..=22 (the engine counts a point whose gap the timer ends with the
/// state before it).
fn read_id_polled() -> Vec<Ev> {
    let mut evs = read_id_then(&[]);
    for k in 1..=30u64 {
        evs.push(Ev {
            t: 3_000 + k * 1_000_000,
            kind: EvKind::Read {
                offset: MSR,
                value: 0,
            },
        });
    }
    evs
}

/// By hand: after the READ ID parameter QEMU 7.2 clears RQM (MSR 0x10, phase execution:
/// reconstructs as execution, fdc/phase not needed); without the RQM change MSR stays 0x90,
/// which reconstructs as command while the phase is execution: needed at every point of the
/// wait, until the timer's result phase (0xD0, result) makes them agree again. QEMU 2.3 has
/// no phase field.
#[test]
fn read_id_wait_needs_fdc_phase_only_without_the_rqm_change() {
    let evs = read_id_polled();
    // Points 3..=22: 3 (after the parameter) up to the state before the read at 20.003 ms.
    let wait = 20;
    let w72 = run(Profile::Qemu72, &evs, &pass(Profile::Qemu72));
    let wno = run(
        Profile::Qemu72NoRqmFix,
        &evs,
        &pass(Profile::Qemu72NoRqmFix),
    );
    let w23 = run(Profile::Qemu23, &evs, &pass(Profile::Qemu23));
    assert_eq!(w72.points, evs.len() as u64 + 1);
    assert_eq!(w72.phase_needed_points, 0);
    assert_eq!(wno.phase_needed_points, wait);
    assert_eq!(w23.phase_needed_points, 0);
}

/// Forward 2.3 -> 7.2 in a READ ID wait (hazard H6): 2.3 sends MSR 0x90 and no
/// fdc/result_timer (it has none); QEMU 7.2 reconstructs the phase as command with
/// data_pos = data_len = 2 and no timer armed. A guest that waits sees the source's timer
/// raise the interrupt at 20 ms and the destination never does: `irq`, first seen at the
/// read that fires the source's timer (event 22), 20 ms after the point. A guest that keeps writing the
/// FIFO instead makes QEMU 7.2 run data_pos up to 512 and abort (`assert(data_pos <
/// FD_SECTOR_LEN)`) on the 510th byte, while 2.3 just stores them: `fault` at event
/// 3 + 509. Backward 7.2 -> 2.3 at the same point is refused: 7.2 sends fdc/result_timer.
#[test]
fn forward_read_id_wait_is_irq_or_fault_and_backward_is_refused() {
    let evs = read_id_polled();
    let fwd = run(
        Profile::Qemu23,
        &evs,
        &migration(Profile::Qemu23, Profile::Qemu72),
    );
    let r = at(&fwd.records, 3);
    assert_eq!(r.class, Class::Irq, "{r:?}");
    let d = r.first_difference.unwrap();
    assert_eq!(
        (d.event, d.register, d.source, d.destination),
        (22, "IRQ", 1, 0)
    );
    assert_eq!(d.after_ns, 20_000_000);
    // Before the READ ID (points 0..=2) the two versions' states are equal.
    for i in 0..3 {
        assert_eq!(at(&fwd.records, i).class, Class::Invisible);
    }

    let writes: Vec<(u8, u8, bool)> = (0..600).map(|_| (FIFO, 0x55, true)).collect();
    let evs = read_id_then(&writes);
    let fwd = run(
        Profile::Qemu23,
        &evs,
        &migration(Profile::Qemu23, Profile::Qemu72),
    );
    let r = at(&fwd.records, 3);
    assert_eq!(r.class, Class::Fault, "{r:?}");
    assert_eq!(r.first_difference.unwrap().event, 3 + 509);
    assert_eq!(r.first_difference.unwrap().register, "FIFO");

    let evs = read_id_polled();
    let back = run(
        Profile::Qemu72,
        &evs,
        &migration(Profile::Qemu72, Profile::Qemu23),
    );
    assert_eq!(
        back.refused_points, 20,
        "points 3..=22 send fdc/result_timer"
    );
    assert_eq!(back.records.len() as u64, back.points - 20);
    assert!(back.records.iter().all(|r| r.class == Class::Invisible));
    assert!(back.records.iter().all(|r| !(3..=22).contains(&r.index)));
}

/// Over the corpus: QEMU 7.2 needs fdc/phase at no point; without the RQM change exactly
/// at the points where QEMU 7.2 has the READ ID timer armed (MSR 0x10 there, 0x90
/// without the change; the corpus has no unterminated DRIVE SPECIFICATION); 2.3 has no
/// field. Every replay covers every point.
#[test]
fn corpus_phase_needed_per_profile() {
    let whatif = WhatifOptions {
        subsections: vec![Subsection::ResultTimer],
        ..Default::default()
    };
    for p in corpus() {
        let w72 = whatif_file(&p, &whatif).unwrap();
        let wno = whatif_file(&p, &pass(Profile::Qemu72NoRqmFix)).unwrap();
        let w23 = whatif_file(&p, &pass(Profile::Qemu23)).unwrap();
        assert_eq!(w72.phase_needed_points, 0, "{}", p.display());
        let timer = w72.subsections[0].1.points_sent;
        assert_eq!(wno.phase_needed_points, timer, "{}", p.display());
        assert_eq!(w23.phase_needed_points, 0, "{}", p.display());
        assert_eq!((wno.points, w23.points), (w72.points, w72.points));
        assert_eq!(
            (w72.profile, wno.profile, w23.profile),
            (Profile::Qemu72, Profile::Qemu72NoRqmFix, Profile::Qemu23)
        );
    }
}

/// The engine's shortcut for a migration between versions ([`fdc::destination::Migrator::
/// lossless`], no load when it holds) is exact: wherever it holds at a point of the corpus,
/// in either direction, the loaded destination equals the source.
#[test]
fn cross_version_lossless_shortcut_is_exact_over_the_corpus() {
    use fdc_replay::analysis::apply;
    use fdc_replay::analysis::whatif::engine::read_trace;
    let mut held = [0u64; 2];
    for p in corpus() {
        let (h, events, ends) = read_trace(&p).unwrap();
        for (k, (from, into)) in [
            (Profile::Qemu72, Profile::Qemu23),
            (Profile::Qemu23, Profile::Qemu72),
        ]
        .into_iter()
        .enumerate()
        {
            let mut m = ReplayModel::from_header_as(&h, &p, from).unwrap();
            let mut mig = fdc::destination::Migrator::into_profile(into);
            let mut chunk = 0;
            for (i, ev) in events.iter().enumerate() {
                let sent = m.fdc.needed_subsections();
                if sent.iter().all(|s| into.knows(s)) && mig.lossless(&m.fdc) {
                    held[k] += 1;
                    let d = mig.migrate_without(&m.fdc, &[]).unwrap();
                    assert!(d == m.fdc, "{} point {i}: {from} -> {into}", p.display());
                }
                while ends.get(chunk).is_some_and(|&c| c <= i) {
                    chunk += 1;
                }
                let end = ends.get(chunk).copied().unwrap_or(events.len());
                apply(&mut m, ev, &events[i + 1..end]).unwrap();
            }
        }
    }
    assert!(held.iter().all(|&n| n > 100_000), "{held:?}");
}

/// `fdc-replay whatif --format json` under each profile: the profile table lists all three
/// profiles and the migrations both directions, whatever `--profile` says, with the
/// figures of the library's own runs (phase-needed points, refused points, classes
/// adding up); an unknown profile is refused.
#[test]
fn cli_profile_table_and_migrations_match_the_library_runs() {
    use serde_json::Value;
    let json = |profile: &str| -> Value {
        serde_json::from_slice(&whatif_corpus_ok(&[
            "--format",
            "json",
            "--profile",
            profile,
        ]))
        .unwrap()
    };
    let mut no_rqm = 0;
    let mut refused = 0;
    let mut points = 0;
    for p in corpus() {
        no_rqm += whatif_file(&p, &pass(Profile::Qemu72NoRqmFix))
            .unwrap()
            .phase_needed_points;
        let back = whatif_file(&p, &migration(Profile::Qemu72, Profile::Qemu23)).unwrap();
        refused += back.refused_points;
        points += back.points;
    }
    let mut tables = Vec::new();
    for profile in Profile::ALL {
        let j = json(profile.name());
        let names: Vec<&str> = j["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["qemu-7.2", "qemu-7.2-no-rqm-fix", "qemu-2.3"]);
        let prof = &j["profiles"];
        assert_eq!(prof[0]["phase_needed_points"], 0);
        assert_eq!(prof[1]["phase_needed_points"], no_rqm);
        assert!(prof[2]["phase_needed_points"].is_null());
        assert_eq!(
            prof[0]["traces_read_differs"], 0,
            "the corpus replays exactly"
        );
        let m = j["migrations"].as_array().unwrap();
        assert_eq!(
            (m[0]["name"].as_str(), m[1]["name"].as_str()),
            (Some("backward"), Some("forward"))
        );
        assert_eq!(m[0]["points_refused"], refused);
        for mig in m {
            let classes: u64 = mig["classes"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(classes + mig["points_refused"].as_u64().unwrap(), points);
        }
        tables.push((j["profiles"].clone(), j["migrations"].clone()));
    }
    assert!(
        tables.windows(2).all(|w| w[0] == w[1]),
        "independent of --profile"
    );
    let out = whatif_corpus(&["--profile", "qemu-9.0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("qemu-7.2-no-rqm-fix"));
}

/// `whatif --into P` runs the one migration from `--profile` into P: its row equals the
/// summary's migration of the same pair, and `--points` has one record per point the
/// destination accepts (nothing dropped: subsection `none (control)`) whose classes are
/// the row's. An unknown `--into` is refused, naming the option.
#[test]
fn cli_into_runs_one_migration_with_records() {
    use serde_json::Value;
    let run = whatif_corpus_ok;
    let summary: Value = serde_json::from_slice(&run(&["--format", "json"])).unwrap();
    for (k, from, into) in [(0, "qemu-7.2", "qemu-2.3"), (1, "qemu-2.3", "qemu-7.2")] {
        let args = ["--profile", from, "--into", into];
        let row: Value =
            serde_json::from_slice(&run(&[&args[..], &["--format", "json"]].concat())).unwrap();
        let m = &summary["migrations"][k];
        assert_eq!(row["name"], format!("{from} -> {into}"));
        for f in [
            "source",
            "destination",
            "points",
            "points_refused",
            "classes",
        ] {
            assert_eq!(row[f], m[f], "{f} of {from} -> {into}");
        }
        let points = run(&[&args[..], &["--points"]].concat());
        let mut classes = std::collections::BTreeMap::<String, u64>::new();
        for line in String::from_utf8(points).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["subsection"], "none (control)");
            *classes
                .entry(r["class"].as_str().unwrap().into())
                .or_default() += 1;
        }
        for (c, n) in row["classes"].as_object().unwrap() {
            assert_eq!(
                classes.get(c).copied().unwrap_or(0),
                n.as_u64().unwrap(),
                "{c}"
            );
        }
    }
    let out = whatif_corpus(&["--into", "qemu-9.0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--into \"qemu-9.0\""));
}
