//! Helpers shared by the analysis tests.
#![allow(dead_code)]

use fdc_trace::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_fdc-replay");

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run fdc-replay")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A header with drive 0 holding a blank 1.44 MB medium, drive 1 absent.
pub fn header() -> TraceHeader {
    TraceHeader {
        guest: Some("testos".into()),
        workload: Some("hand-made".into()),
        drives: vec![Drive {
            unit: 0,
            drive_type: DriveType::Auto,
            medium: Some(Medium {
                format: Some("1.44M".into()),
                size: 1_474_560,
                ..Medium::default()
            }),
        }],
        ..TraceHeader::default()
    }
}

pub fn write_trace(path: &Path, header: &TraceHeader, events: &[Event]) {
    let mut w = TraceWriter::create(path, header, WriteOptions::default()).unwrap();
    for e in events {
        w.write_event(e.clone()).unwrap();
    }
    w.finish().unwrap();
}

pub fn rd(t: u64, offset: u8, value: u8) -> Event {
    Event::PortRead {
        t_ns: t,
        offset,
        value,
    }
}

pub fn wr(t: u64, offset: u8, value: u8) -> Event {
    Event::PortWrite {
        t_ns: t,
        offset,
        value,
    }
}

pub fn stage(t: u64, label: &str) -> Event {
    Event::Stage {
        t_ns: t,
        label: label.into(),
    }
}

/// The recorded QEMU log `name` (from corpora/raw) imported with its sidecar into `dir`;
/// returns the trace path.
pub fn import_recording(dir: &Path, name: &str, drives: &[&str]) -> PathBuf {
    let raw = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/raw");
    let gz = std::fs::read(raw.join(format!("{name}.log.gz"))).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    let log = dir.join(format!("{name}.log"));
    std::fs::write(&log, text).unwrap();
    let side = raw.join(format!("{name}.log.events.jsonl"));
    if side.exists() {
        std::fs::copy(&side, dir.join(format!("{name}.log.events.jsonl"))).unwrap();
    }
    let out = dir.join(format!("{name}.fdctrace"));
    let mut args = vec![
        "import",
        "qemu-log",
        log.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--guest",
        "linux",
        "-q",
    ];
    for d in drives {
        args.push("--drive");
        args.push(d);
    }
    let o = run(&args);
    assert!(o.status.success(), "import failed: {}", stderr(&o));
    out
}
