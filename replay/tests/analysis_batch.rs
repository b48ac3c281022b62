//! Determinism across thread counts, agreement of the chunk-parallel replay with a plain
//! sequential one, and batches with bad files.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod analysis_util;
use analysis_util::*;
use fdc_replay::analysis::bench::generate_with;
use fdc_replay::analysis::replay::{analyze_events, analyze_file, AnalyzeOptions};
use fdc_replay::analysis::report::{Report, Summary};
use fdc_replay::analysis::{Ev, ReplayModel};
use fdc_trace::compact::for_each_chunk;
use fdc_trace::WriteOptions;
use std::path::Path;

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

/// Many small chunks, so that speculation and resolution are exercised.
fn synthetic(dir: &Path, name: &str, events: u64, chunk: usize, seed: u64) -> std::path::PathBuf {
    let p = dir.join(name);
    generate_with(
        &p,
        events,
        seed,
        WriteOptions {
            gzip: true,
            chunk_events: chunk,
        },
    )
    .unwrap();
    p
}

#[test]
fn chunk_parallel_replay_equals_sequential_replay() {
    let dir = tempfile::tempdir().unwrap();
    let p = synthetic(dir.path(), "s.fdctrace", 40_000, 777, 5);
    // Reference: all events in memory, one plain sequential replay.
    let mut events: Vec<Ev> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let header = for_each_chunk::<fdc_trace::TraceError>(&p, |c| {
        for e in &c.events {
            let mut e = *e;
            if let fdc_replay::analysis::EvKind::Stage(l) = e.kind {
                let s = &c.labels[l as usize];
                let i = labels.iter().position(|x| x == s).unwrap_or_else(|| {
                    labels.push(s.clone());
                    labels.len() - 1
                });
                e.kind = fdc_replay::analysis::EvKind::Stage(i as u32);
            }
            events.push(e);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(events.len(), 40_000);
    let (part, end) = analyze_events(
        ReplayModel::from_header(&header, &p).unwrap(),
        &events,
        &labels,
    )
    .unwrap();
    let want = serde_json::to_string(&Summary::of(&part.total())).unwrap();
    for threads in [1, 2, 4] {
        let a = pool(threads)
            .install(|| {
                analyze_file(
                    &p,
                    &AnalyzeOptions {
                        parallel_chunks: true,
                    },
                )
            })
            .unwrap();
        assert_eq!(a.events, 40_000);
        assert_eq!(
            serde_json::to_string(&Summary::of(&a.part.total())).unwrap(),
            want,
            "{threads} threads"
        );
        assert_eq!(a.part.runs, part.runs, "{threads} threads");
        assert_eq!(
            a.part.timeline, part.timeline,
            "{threads} threads: timeline"
        );
        assert!(
            part.timeline.shift > 0,
            "40,000 events need a coarser timeline"
        );
        assert_eq!(a.part.read_mismatches, 0);
        assert_eq!(a.part.reads, part.reads);
        assert!(a.end == end, "{threads} threads: end state differs");
        if threads == 1 {
            assert_eq!(a.replayed_again, 0, "one thread never replays twice");
        }
    }
}

#[test]
fn report_is_byte_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    for (i, seed) in [1u64, 2, 3].iter().enumerate() {
        synthetic(
            dir.path(),
            &format!("t{i}.fdctrace"),
            15_000 + 5_000 * i as u64,
            1000,
            *seed,
        );
    }
    let d = dir.path().to_str().unwrap();
    let mut outs = Vec::new();
    for j in ["1", "4", "2"] {
        for fmt in ["table", "json", "markdown"] {
            let o = run(&["report", d, "-j", j, "--format", fmt, "--quiet"]);
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(
                stderr(&o).is_empty(),
                "quiet and not a terminal: nothing on stderr"
            );
            outs.push((j, fmt, o.stdout));
        }
    }
    for (j, fmt, out) in &outs[3..] {
        let (_, _, first) = outs.iter().find(|(_, f, _)| f == fmt).unwrap();
        assert!(
            out == first,
            "report --format {fmt} -j {j} differs from -j 1"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&outs[1].2).unwrap();
    assert_eq!(json["per_trace"].as_array().unwrap().len(), 3);
    assert_eq!(json["per_trace"][0]["provenance"], "driver-model");
    assert_eq!(json["overall"]["points"], 15_001 + 20_001 + 25_001);
    let table = String::from_utf8_lossy(&outs[0].2).into_owned();
    assert!(table.contains("t0.fdctrace [driver-model]"), "{table}");
}

#[test]
fn bad_files_are_reported_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let good = synthetic(dir.path(), "a-good.fdctrace", 5_000, 1000, 9);
    // A copy with a damaged byte in the middle, a file that is no trace at all, and a
    // trace with a media change on drive 2 (valid format, not replayable).
    let mut bytes = std::fs::read(&good).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(dir.path().join("b-damaged.fdctrace"), &bytes).unwrap();
    std::fs::write(dir.path().join("c-text.fdctrace"), b"hello, not a trace\n").unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    write_trace(
        &sub.join("d-drive2.fdctrace"),
        &header(),
        &[
            rd(0, 4, 0x80),
            fdc_trace::Event::Media {
                t_ns: 10,
                drive: 2,
                change: fdc_trace::MediaChange::Eject,
            },
        ],
    );
    let d = dir.path().to_str().unwrap();
    for j in ["1", "2"] {
        let o = run(&["report", d, "-j", j, "--format", "json", "--quiet"]);
        assert_eq!(o.status.code(), Some(1), "bad files make the exit status 1");
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let traces = json["per_trace"].as_array().unwrap();
        assert_eq!(traces.len(), 1, "the good trace is reported");
        assert_eq!(json["overall"]["points"], 5_001);
        let bad = json["bad_files"].as_array().unwrap();
        assert_eq!(bad.len(), 3);
        let err = stderr(&o);
        assert!(err.contains("b-damaged.fdctrace"), "{err}");
        assert!(
            err.contains("c-text.fdctrace") && err.contains("bad magic"),
            "{err}"
        );
        assert!(
            err.contains("d-drive2.fdctrace") && err.contains("event 1") && err.contains("drive 2"),
            "{err}"
        );
    }
    // check: the same files, same verdicts.
    let o = run(&["check", d, "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("a-good.fdctrace: ok: 5000 events"), "{out}");
    assert!(out.contains("b-damaged.fdctrace: BAD FILE"), "{out}");
    assert!(
        out.contains("4 traces: 1 match, 0 with mismatches, 3 bad"),
        "{out}"
    );
}

#[test]
fn damaged_traces_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        let p = dir.path().join(format!("g{gzip}.fdctrace"));
        generate_with(
            &p,
            3_000,
            4,
            WriteOptions {
                gzip,
                chunk_events: 500,
            },
        )
        .unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let q = dir.path().join("damaged.fdctrace");
        let mut seen_err = 0;
        for k in 0..150usize {
            let mut b = bytes.clone();
            let at = (k * 7919) % b.len();
            b[at] ^= 1 << (k % 8);
            if k % 5 == 0 {
                b.truncate(at);
            }
            std::fs::write(&q, &b).unwrap();
            match analyze_file(
                &q,
                &AnalyzeOptions {
                    parallel_chunks: true,
                },
            ) {
                Ok(a) => assert_eq!(a.events, 3_000, "an accepted file is whole"),
                Err(e) => {
                    seen_err += 1;
                    assert!(
                        e.to_string().contains("damaged.fdctrace"),
                        "errors name the file: {e}"
                    );
                }
            }
        }
        assert!(seen_err > 100, "most damage is detected ({seen_err})");
    }
}

#[test]
fn no_trace_found_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no *.fdctrace traces"));
}

#[test]
fn report_builds_from_results_in_order() {
    let r = Report::build(&[Err(("x".into(), "x: broken".into()))]);
    assert_eq!(r.bad_files.len(), 1);
    assert_eq!(r.overall.points, 0);
    assert!(r.backward_failure.is_none());
    assert!(r.render(false).contains("x: broken"));
}

/// A trace with an embedded image that its WRITE DATA commands change: the parallel
/// replay (checkpoints sharing the medium's sectors) gives the same report and the same
/// final medium for any thread count, and the medium really changed.
#[test]
fn embedded_image_written_to_is_replayed_alike_on_any_thread_count() {
    use fdc_replay::analysis::bench::{generate_header, pattern_image, synthetic_header_with};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.fdctrace");
    let image = pattern_image(2_949_120);
    let header = synthetic_header_with(Some(image.clone()));
    let opts = WriteOptions {
        gzip: true,
        chunk_events: 1500,
    };
    generate_header(&p, &header, 30_000, 9, opts, None).unwrap();
    let start = fdc::Medium::from_bytes(&image, false);
    let mut first: Option<(String, fdc::Medium)> = None;
    for threads in [1, 2, 4] {
        let a = pool(threads)
            .install(|| {
                analyze_file(
                    &p,
                    &AnalyzeOptions {
                        parallel_chunks: true,
                    },
                )
            })
            .unwrap();
        let medium = a.end.fdc.drive(0).medium().unwrap().clone();
        let json = Report::build(&[Ok(a)]).to_json();
        match &first {
            None => first = Some((json, medium)),
            Some((j, m)) => {
                assert_eq!(&json, j, "{threads} threads");
                assert!(&medium == m, "{threads} threads: final medium differs");
            }
        }
    }
    let (_, m) = first.unwrap();
    assert!(
        m != start,
        "the WRITE DATA commands must have changed the image"
    );
    assert_eq!(m.sectors(), start.sectors());
}
