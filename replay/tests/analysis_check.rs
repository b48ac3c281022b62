//! `check`, `points` and `report` on real recorded QEMU logs (corpora/raw), imported with
//! their sidecars; and the analysis' chunk decoder against the ordinary trace reader.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod analysis_util;
use analysis_util::*;
use fdc_replay::analysis::Ev;
use fdc_trace::compact::for_each_chunk;
use fdc_trace::read_all;

#[test]
fn recorded_linux_and_bios_logs_check_clean() {
    let dir = tempfile::tempdir().unwrap();
    // (recording, drives, reads in the log as its meta.json counts them)
    let cases: [(&str, &[&str], u64); 3] = [
        ("linux-probe", &[], 92),
        ("linux-install", &[], 9627),
        ("seabios-int13", &[], 5326),
    ];
    for (name, drives, reads) in cases {
        let t = import_recording(dir.path(), name, drives);
        let o = run(&["check", t.to_str().unwrap(), "--quiet"]);
        let out = stdout(&o);
        assert!(o.status.success(), "{name}: {out}");
        assert!(
            out.contains(&format!("{reads} reads checked, all match")),
            "{name}: {out}"
        );
    }
    // Two drives: drive 1 must be configured as recorded.
    let t = import_recording(dir.path(), "linux-2drives", &["1=1.44M"]);
    let o = run(&["check", t.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn chunk_decoder_agrees_with_the_trace_reader() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["linux-probe", "seabios-int13"] {
        let t = import_recording(dir.path(), name, &[]);
        let (header, events) = read_all(&t).unwrap();
        let mut labels = Vec::new();
        let want: Vec<Ev> = events
            .iter()
            .map(|e| Ev::from_event(e, &mut labels))
            .collect();
        let mut got = Vec::new();
        let mut got_labels: Vec<String> = Vec::new();
        let h2 = for_each_chunk::<fdc_trace::TraceError>(&t, |c| {
            assert_eq!(c.first_event, got.len() as u64);
            got.extend(c.events.iter().copied());
            got_labels.extend(c.labels.iter().cloned());
            Ok(())
        })
        .unwrap();
        assert_eq!(h2, header);
        assert_eq!(got.len(), want.len(), "{name}");
        // One chunk here, so label indices agree too.
        assert_eq!(got, want, "{name}");
        assert_eq!(got_labels, labels, "{name}");
    }
}

#[test]
fn linux_probe_points_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let t = import_recording(dir.path(), "linux-probe", &[]);
    let o = run(&["points", t.to_str().unwrap(), "--format", "jsonl"]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (_, events) = read_all(&t).unwrap();
    assert_eq!(lines.len(), events.len() + 1);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i as u64);
        // The phase subsection is sent exactly when the phase differs from MSR's.
        let phase_sent = l["needed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "fdc/phase");
        assert_eq!(phase_sent, l["phase"] != l["reconstructed"], "point {i}");
        assert!(l["needed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "fdrive/media_rate"));
    }
    let o = run(&["report", t.to_str().unwrap(), "--format", "markdown"]);
    assert!(o.status.success());
    let md = stdout(&o);
    assert!(md.starts_with("# fdc-replay report"));
    assert!(md.contains("| linux |"), "{md}");
}
