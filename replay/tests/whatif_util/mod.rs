//! Helpers shared by the what-if tests (`whatif.rs`, `profiles.rs`): event builders, the
//! register offsets, a model with one 1.44 MB medium, the corpus.
#![allow(dead_code, reason = "each test file uses a part")]
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::registers::Register;
use fdc::{DriveConfig, Fdc, Medium, Profile};
use fdc_replay::analysis::whatif::PointRecord;
use fdc_replay::analysis::{Ev, EvKind, ReplayModel};
use std::path::{Path, PathBuf};

/// Port offsets of the registers the tests use.
pub const DOR: u8 = Register::Dor as u8;
/// MSR (read) / DSR (write).
pub const MSR: u8 = Register::MsrDsr as u8;
/// The data FIFO.
pub const FIFO: u8 = Register::Fifo as u8;
/// DIR (read) / CCR (write).
pub const DIR: u8 = Register::DirCcr as u8;

/// A port write at `t`.
pub fn w(t: u64, offset: u8, value: u8) -> Ev {
    Ev {
        t,
        kind: EvKind::Write { offset, value },
    }
}

/// A port read at `t` that gave `value`.
pub fn r(t: u64, offset: u8, value: u8) -> Ev {
    Ev {
        t,
        kind: EvKind::Read { offset, value },
    }
}

/// A controller of implementation `profile` with a blank 1.44 MB medium in drive 0 and
/// no drive 1.
pub fn model(profile: Profile) -> ReplayModel {
    ReplayModel::new(Fdc::with_profile(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
        profile,
    ))
}

/// The record of point `index`.
pub fn at(recs: &[PointRecord], index: u64) -> &PointRecord {
    recs.iter()
        .find(|r| r.index == index)
        .unwrap_or_else(|| panic!("no record at point {index}: {recs:#?}"))
}

/// The corpus' traces, sorted.
pub fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fdctrace"))
        .collect();
    v.sort();
    assert!(v.len() > 20, "the corpus' traces");
    v
}

/// `fdc-replay whatif -q ARGS... corpora/traces`.
pub fn whatif_corpus(args: &[&str]) -> std::process::Output {
    let traces = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces");
    std::process::Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .args(["whatif", "-q"])
        .args(args)
        .arg(traces)
        .output()
        .unwrap()
}

/// The standard output of [`whatif_corpus`], which must succeed.
pub fn whatif_corpus_ok(args: &[&str]) -> Vec<u8> {
    let out = whatif_corpus(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
