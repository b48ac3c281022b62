//! Hand-checked migration points on tiny traces built with the trace writer (no parser
//! involved), through `fdc-replay points` and through the report's accounting.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod analysis_util;
use analysis_util::*;
use fdc_replay::analysis::replay::{analyze_file, AnalyzeOptions};
use fdc_replay::analysis::report::Report;
use serde_json::Value;

const DOR: u8 = 2;
const MSR: u8 = 4;
const FIFO: u8 = 5;

fn points(path: &std::path::Path) -> Vec<Value> {
    let o = run(&["points", path.to_str().unwrap(), "--format", "jsonl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    v["needed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// DOR reset, then one SENSE INTERRUPT: point by point.
fn reset_trace(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("reset.fdctrace");
    write_trace(
        &p,
        &header(),
        &[
            wr(0, DOR, 0x08),     // e0: controller held in reset
            wr(1000, DOR, 0x0c),  // e1: reset released: IRQ, 4 reset SENSE answers pending
            rd(2000, MSR, 0x80),  // e2
            wr(3000, FIFO, 0x08), // e3: SENSE INTERRUPT
            rd(4000, MSR, 0xd0),  // e4
            rd(5000, FIFO, 0xc0), // e5: ST0 of the first reset answer
            rd(6000, FIFO, 0x00), // e6: PCN; back to the command phase
            stage(7000, "x"),     // e7
        ],
    );
    p
}

#[test]
fn reset_then_sense_interrupt_point_by_point() {
    let dir = tempfile::tempdir().unwrap();
    let pts = points(&reset_trace(dir.path()));
    assert_eq!(pts.len(), 9, "8 events give 9 points");
    let rate = "fdrive/media_rate";
    let sensei = "fdc/reset_sensei";
    // (phase, reconstructed, msr, needed, command, stage, t_ns, weight)
    type Row<'a> = (
        &'a str,
        &'a str,
        u64,
        Vec<&'a str>,
        &'a str,
        &'a str,
        u64,
        u64,
    );
    let expect: [Row<'_>; 9] = [
        (
            "command",
            "command",
            0x80,
            vec![rate],
            "none",
            "start",
            0,
            0,
        ),
        (
            "command",
            "command",
            0x80,
            vec![rate],
            "none",
            "start",
            0,
            1000,
        ),
        (
            "command",
            "command",
            0x80,
            vec![sensei, rate],
            "none",
            "start",
            1000,
            1000,
        ),
        (
            "command",
            "command",
            0x80,
            vec![sensei, rate],
            "none",
            "start",
            2000,
            1000,
        ),
        (
            "result",
            "result",
            0xd0,
            vec![sensei, rate],
            "SENSE INTERRUPT STATUS",
            "start",
            3000,
            1000,
        ),
        (
            "result",
            "result",
            0xd0,
            vec![sensei, rate],
            "SENSE INTERRUPT STATUS",
            "start",
            4000,
            1000,
        ),
        (
            "result",
            "result",
            0xd0,
            vec![sensei, rate],
            "SENSE INTERRUPT STATUS",
            "start",
            5000,
            1000,
        ),
        (
            "command",
            "command",
            0x80,
            vec![sensei, rate],
            "none",
            "start",
            6000,
            1000,
        ),
        (
            "command",
            "command",
            0x80,
            vec![sensei, rate],
            "none",
            "x",
            7000,
            0,
        ),
    ];
    for (i, (p, e)) in pts.iter().zip(expect.iter()).enumerate() {
        assert_eq!(p["index"], i as u64, "point {i}");
        assert_eq!(p["phase"], e.0, "point {i}");
        assert_eq!(p["reconstructed"], e.1, "point {i}");
        assert_eq!(p["msr"], e.2, "point {i}");
        assert_eq!(names(p), e.3, "point {i}");
        assert_eq!(p["command"], e.4, "point {i}");
        assert_eq!(p["stage"], e.5, "point {i}");
        assert_eq!(p["t_ns"], e.6, "point {i}");
        assert_eq!(p["weight_ns"], e.7, "point {i}");
        assert!(!names(p).contains(&"fdc/phase".to_string()), "point {i}");
    }
}

#[test]
fn reset_trace_report_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let a = analyze_file(
        &reset_trace(dir.path()),
        &AnalyzeOptions {
            parallel_chunks: true,
        },
    )
    .unwrap();
    assert_eq!(a.events, 8);
    let r = Report::build(&[Ok(a)]);
    let s = &r.overall;
    assert_eq!(s.points, 9);
    assert_eq!(s.time_ns, 7000);
    let sensei = &s.subsections[1];
    assert_eq!(sensei.subsection, "fdc/reset_sensei");
    // Points 2..=8 need it; in time, the gaps of points 2..=7.
    assert_eq!((sensei.points, sensei.time_ns), (7, 6000));
    assert_eq!(s.subsections[0].subsection, "fdc/phase");
    assert_eq!(s.subsections[0].points, 0);
    assert_eq!(s.subsections[4].points, 9, "media_rate is always sent");
    assert_eq!(s.unknown_to_qemu_2_3.points, 7);
    // Backward migration: 7 of 9 points fail; Wilson 95 % by hand: [0.4526, 0.9368].
    let b = r.backward_failure.unwrap();
    assert_eq!((b.k, b.n), (7, 9));
    assert!(
        (b.low - 0.452_589).abs() < 1e-5 && (b.high - 0.936_775).abs() < 1e-5,
        "{b:?}"
    );
    // The longest stretch needing a subsection 2.3 lacks: points 2..=8, 6 us.
    let l = r.longest_unknown_to_qemu_2_3.unwrap();
    assert_eq!(
        (l.start_index, l.points, l.time_ns, l.start_t_ns),
        (2, 7, 6000, 1000)
    );
    assert!(r.longest_phase.is_none());
    // Per stage: "start" holds points 0..=7, "x" the idle point.
    assert_eq!(r.per_stage.len(), 2);
    assert_eq!(
        (r.per_stage[0].name.as_str(), r.per_stage[0].summary.points),
        ("start", 8)
    );
    assert_eq!(
        (r.per_stage[1].name.as_str(), r.per_stage[1].summary.points),
        ("x", 1)
    );
    let idle = &r.per_trace[0].idle;
    assert!(idle.prevalent && idle.fails_backward);
    assert_eq!(idle.needed, vec!["fdc/reset_sensei", "fdrive/media_rate"]);
    // By phase: 3 result points (4, 5, 6), 6 command points.
    let phase = |n: &str| {
        r.by_phase
            .iter()
            .find(|g| g.name == n)
            .map(|g| g.summary.points)
    };
    assert_eq!(
        (phase("command"), phase("result"), phase("execution")),
        (Some(6), Some(3), None)
    );
}

/// READ ID arms the 20 ms timer; the gap in which it fires is split at the expiry.
#[test]
fn read_id_timer_splits_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("readid.fdctrace");
    write_trace(
        &p,
        &header(),
        &[
            wr(0, FIFO, 0x4a),         // READ ID opcode
            wr(1000, FIFO, 0x00),      // its parameter: timer armed for 1000 + 20 ms
            rd(50_000_000, MSR, 0xd0), // 50 ms: the result is there
        ],
    );
    let pts = points(&p);
    // 4 points; the gap of point 2 (1 us .. 50 ms) holds the expiry at 21 ms: 2 records.
    assert_eq!(pts.len(), 5);
    assert_eq!(
        (pts[1]["phase"].as_str(), pts[1]["msr"].as_u64()),
        (Some("command"), Some(0x90))
    );
    assert_eq!(pts[1]["command"], "READ ID");
    assert_eq!(pts[2]["phase"], "execution");
    assert_eq!(pts[2]["reconstructed"], "execution");
    assert_eq!(pts[2]["msr"], 0x10);
    assert_eq!(
        names(&pts[2]),
        vec!["fdc/result_timer", "fdrive/media_rate"]
    );
    // Until the expiry (1000 ns + 20 ms), then the rest of the gap after it fired.
    let tw = |p: &Value| {
        (
            p["index"].as_u64(),
            p["t_ns"].as_u64(),
            p["weight_ns"].as_u64(),
        )
    };
    assert_eq!(tw(&pts[2]), (Some(2), Some(1000), Some(20_000_000)));
    assert_eq!(tw(&pts[3]), (Some(2), Some(20_001_000), Some(29_999_000)));
    assert_eq!(
        (pts[3]["phase"].as_str(), pts[3]["msr"].as_u64()),
        (Some("result"), Some(0xd0))
    );
    assert_eq!(names(&pts[3]), vec!["fdrive/media_rate"]);
    assert_eq!(pts[4]["phase"], "result");
    assert_eq!(names(&pts[4]), vec!["fdrive/media_rate"]);
    // The weights of the records add up to the trace's span, as the report's do.
    let total: u64 = pts.iter().map(|p| p["weight_ns"].as_u64().unwrap()).sum();
    assert_eq!(total, 50_000_000);

    let a = analyze_file(
        &p,
        &AnalyzeOptions {
            parallel_chunks: false,
        },
    )
    .unwrap();
    let r = Report::build(&[Ok(a)]);
    let timer = &r.overall.subsections[2];
    assert_eq!(timer.subsection, "fdc/result_timer");
    // One point of four; 20 ms of the 50 ms (the rest of the gap is after the expiry).
    assert_eq!(
        (timer.points, timer.time_ns, r.overall.time_ns),
        (1, 20_000_000, 50_000_000)
    );
    assert_eq!(timer.time_share, Some(0.4));
    let l = r.longest_unknown_to_qemu_2_3.unwrap();
    assert_eq!(
        (l.start_index, l.points, l.time_ns, l.phase, l.command),
        (2, 1, 20_000_000, "execution", "READ ID")
    );
}

/// A READ ID still pending after the last event: the idle point gets its second record at
/// the expiry (weight 0), the state after the timer fired.
#[test]
fn read_id_pending_at_the_end_gives_the_idle_point_two_records() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("readid-end.fdctrace");
    write_trace(
        &p,
        &header(),
        &[wr(0, FIFO, 0x4a), wr(1000, FIFO, 0x00), rd(2000, MSR, 0x10)],
    );
    let pts = points(&p);
    assert_eq!(pts.len(), 5);
    let last = |p: &Value| {
        (
            p["index"].as_u64(),
            p["t_ns"].as_u64(),
            p["weight_ns"].as_u64(),
        )
    };
    assert_eq!(last(&pts[3]), (Some(3), Some(2000), Some(0)));
    assert_eq!(pts[3]["phase"], "execution");
    assert_eq!(last(&pts[4]), (Some(3), Some(20_001_000), Some(0)));
    assert_eq!(pts[4]["phase"], "result");
}

/// A trace with no event still has its one (idle) point.
#[test]
fn empty_trace_has_one_point() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.fdctrace");
    write_trace(&p, &header(), &[]);
    let pts = points(&p);
    assert_eq!(pts.len(), 1);
    assert_eq!(pts[0]["index"], 0);
    assert_eq!(names(&pts[0]), vec!["fdrive/media_rate"]);
}

/// The trace holds no i8257 programming: the DMA byte count is inferred from the result
/// bytes the guest reads. READ DATA of sectors 1..=3 (EOT 3) on track 0, head 0.
#[test]
fn dma_count_is_inferred_from_the_recorded_result() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = [0x06u8, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x1b, 0xff];
    let trace = |name: &str, result: [u8; 7]| {
        let p = dir.path().join(name);
        let mut evs = vec![wr(0, DOR, 0x1c)];
        let mut t = 1000;
        for b in cmd {
            evs.push(wr(t, FIFO, b));
            t += 1000;
        }
        for r in result {
            evs.push(rd(t, FIFO, r));
            t += 1000;
        }
        write_trace(&p, &header(), &evs);
        p
    };
    // Channel programmed for one sector: the transfer stops after sector 1, at sector 2.
    let short = trace("short.fdctrace", [0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02]);
    // Programmed for the whole transfer: past EOT the controller moves to track 1,
    // sector 1, and ST0 says SEEK END.
    let whole = trace("whole.fdctrace", [0x20, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02]);
    let o = run(&[
        "check",
        short.to_str().unwrap(),
        whole.to_str().unwrap(),
        "--quiet",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("short.fdctrace: ok: 17 events, 7 reads checked, all match; 1 DMA transfers: 0 whole, 1 shortened"), "{out}");
    assert!(out.contains("whole.fdctrace: ok: 17 events, 7 reads checked, all match; 1 DMA transfers: 1 whole, 0 shortened"), "{out}");
    // The points: after the last command byte the transfer is done and the result waits.
    let pts = points(&short);
    assert_eq!(pts[10]["phase"], "result");
    assert_eq!(pts[10]["msr"], 0xd0);
    assert_eq!(pts[10]["command"], "READ DATA");
    assert_eq!(pts[17]["phase"], "command");
    assert_eq!(pts[17]["command"], "none");
    // A result the model cannot produce with any count is a mismatch.
    let bad = trace("bad.fdctrace", [0x40, 0x10, 0x00, 0x00, 0x00, 0x02, 0x02]);
    let o = run(&["check", bad.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("1 unmatched"), "{}", stdout(&o));
}
