//! `check` and `points` on a machine (`--machine qemu`): a recorded trace replayed into
//! the model through `fdc::Machine` and into real QEMU the same way must give the same
//! reads (and the recorded ones), and the same migration streams at the sampled points.
//! Set FDC_SKIP_QEMU=1 to skip.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::path::{Path, PathBuf};
use std::process::Command;

use fdc::{Fdc, Machine, PcFloppy};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};
use fdc_replay::analysis::check::check;
use fdc_replay::analysis::machine::MachineReplay;
use fdc_replay::analysis::points::write_machine_points;
use fdc_replay::analysis::EvKind;
use fdc_trace::TraceReader;

fn skip() -> bool {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("note: FDC_SKIP_QEMU=1, skipping the --machine qemu tests");
        return true;
    }
    false
}

fn probe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces/linux-probe.fdctrace")
}

/// Every event of the trace replayed into `m`: (recorded read, the model's replay's
/// read, the machine's read).
fn replay_into<M: Machine>(m: M, path: &Path) -> Vec<(Option<u8>, Option<u8>, Option<u8>)> {
    let header = TraceReader::open(path).unwrap().header().clone();
    let mut r = MachineReplay::new(m, &header, path).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    fdc_trace::compact::for_each_chunk::<fdc_trace::TraceError>(path, |chunk| {
        for (j, ev) in chunk.events.iter().enumerate() {
            let answers = r.step(i, ev, &chunk.events[j + 1..]).unwrap();
            let recorded = match ev.kind {
                EvKind::Read { value, .. } => Some(value),
                _ => None,
            };
            out.push((recorded, answers.model, answers.machine));
            i += 1;
        }
        Ok(())
    })
    .unwrap();
    out
}

fn model(path: &Path) -> PcFloppy {
    let header = TraceReader::open(path).unwrap().header().clone();
    let [c0, c1] = header.drive_configs().unwrap();
    PcFloppy::new(Fdc::new(c0, c1))
}

fn qemu(path: &Path) -> Oracle {
    let header = TraceReader::open(path).unwrap().header().clone();
    let [c0, c1] = header.drive_configs().unwrap();
    Oracle::start(OracleConfig::with_drives([
        DriveSpec::from(&c0),
        DriveSpec::from(&c1),
    ]))
    .expect("starting QEMU (apt-get install qemu-system-x86, or FDC_SKIP_QEMU=1)")
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn linux_probe_reads_the_same_on_the_model_and_on_qemu() {
    if skip() {
        return;
    }
    let path = probe();
    let on_model = replay_into(model(&path), &path);
    let on_qemu = replay_into(qemu(&path), &path);
    assert_eq!(on_model.len(), 119);
    let mut reads = 0;
    for (i, (m, q)) in on_model.iter().zip(&on_qemu).enumerate() {
        assert_eq!(
            m.1, q.1,
            "event {i}: the model's replay is the same in both runs"
        );
        assert_eq!(
            m.2, q.2,
            "event {i}: the model (through fdc::Machine) and QEMU"
        );
        if let Some(recorded) = q.0 {
            reads += 1;
            assert_eq!(Some(recorded), q.2, "event {i}: QEMU and the recording");
            assert_eq!(
                Some(recorded),
                q.1,
                "event {i}: the model's replay and the recording"
            );
        }
    }
    assert_eq!(reads, 92);
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn linux_probe_sampled_points_are_the_same_on_the_model_and_on_qemu() {
    if skip() {
        return;
    }
    let path = probe();
    let points = |r: &mut dyn FnMut(&mut Vec<u8>) -> (u64, u64)| {
        let mut out = Vec::new();
        let (sampled, agree) = r(&mut out);
        (String::from_utf8(out).unwrap(), sampled, agree)
    };
    let header = TraceReader::open(&path).unwrap().header().clone();
    let (on_qemu, n, agree) = points(&mut |out| {
        let mut r = MachineReplay::new(qemu(&path), &header, &path).unwrap();
        let s = write_machine_points(&path, &mut r, 10, out).unwrap();
        (s.sampled, s.agree)
    });
    let (on_model, m, _) = points(&mut |out| {
        let mut r = MachineReplay::new(model(&path), &header, &path).unwrap();
        let s = write_machine_points(&path, &mut r, 10, out).unwrap();
        (s.sampled, s.agree)
    });
    eprintln!("{on_qemu}");
    assert!(n >= 10, "only {n} points sampled");
    assert_eq!(
        agree, n,
        "QEMU sent what the model needs at every sampled point"
    );
    assert_eq!(
        (on_model, m),
        (on_qemu, n),
        "the same streams on the model and on QEMU"
    );
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn check_on_qemu_passes_on_linux_probe() {
    if skip() {
        return;
    }
    let path = probe();
    let header = TraceReader::open(&path).unwrap().header().clone();
    let mut r = MachineReplay::new(qemu(&path), &header, &path).unwrap();
    let res = check(&path, &mut r, 5, 8).unwrap();
    assert_eq!((res.events, res.reads, res.mismatches), (119, 92, 0));
    let out = Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .args(["check", "--machine", "qemu", "-q"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok: 119 events, 92 reads checked, all match"),
        "{text}"
    );
}
