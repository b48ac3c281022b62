//! `fdc-replay import qemu-log` end to end: the built binary on real and hand-written logs.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc_trace::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fdc-replay");

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/trace")
        .join(name)
}

fn import(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("import")
        .arg("qemu-log")
        .args(args)
        .output()
        .expect("run fdc-replay")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "fdc-replay failed: {err}");
    err
}

fn fail(out: &Output) -> String {
    assert!(!out.status.success(), "fdc-replay should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Independent reading of the fixture: (unix ns, event) for fdc lines and the times of
/// the serial newlines ending MARK lines.
fn fixture_expectations(log: &Path) -> (Vec<(u64, Event)>, Vec<u64>) {
    let text = std::fs::read_to_string(log).unwrap();
    let mut evs = Vec::new();
    let mut newlines = Vec::new();
    for l in text.lines() {
        let (_, rest) = l.split_once('@').unwrap();
        let (ts, rest) = rest.split_once(':').unwrap();
        let (sec, usec) = ts.split_once('.').unwrap();
        let t = sec.parse::<u64>().unwrap() * 1_000_000_000 + usec.parse::<u64>().unwrap() * 1000;
        let w: Vec<&str> = rest.split_whitespace().collect();
        let num = |s: &str| u8::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        match w[0] {
            "fdc_ioport_read" => evs.push((
                t,
                Event::PortRead {
                    t_ns: 0,
                    offset: num(w[3]),
                    value: num(w[5]),
                },
            )),
            "fdc_ioport_write" => evs.push((
                t,
                Event::PortWrite {
                    t_ns: 0,
                    offset: num(w[3]),
                    value: num(w[5]),
                },
            )),
            "serial_write" if w[3] == "0x00" && w[5] == "0x0a" => newlines.push(t),
            _ => {}
        }
    }
    (evs, newlines)
}

#[test]
fn real_log_with_pid_prefix_and_serial_marks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("boot.fdctrace");
    let log = data("seabios-boot-mark.log");
    let err = ok(&import(&[
        s(&log),
        "-o",
        s(&out),
        "--guest",
        "bootsector",
        "--guest-version",
        "1",
        "--workload",
        "int13 read",
        "--qemu-version",
        "7.2.22",
        "--recorder",
        "qemu-system-x86_64 -trace fdc_* -trace serial_write",
    ]));
    assert!(
        err.contains("142 events (102 reads, 38 writes, 2 markers, 0 media changes)"),
        "{err}"
    );

    let (h, evs) = read_all(&out).unwrap();
    assert_eq!(h.guest.as_deref(), Some("bootsector"));
    assert_eq!(h.guest_version.as_deref(), Some("1"));
    assert_eq!(h.workload.as_deref(), Some("int13 read"));
    assert_eq!(h.qemu_version.as_deref(), Some("7.2.22"));
    assert_eq!(h.provenance.kind, ProvenanceKind::Recorded);
    assert!(h
        .provenance
        .recorder
        .as_deref()
        .unwrap()
        .contains("serial_write"));
    // Default drives: 0 with a 1.44 MB medium, 1 absent.
    assert_eq!(h.drives.len(), 1);
    assert_eq!(h.drives[0].unit, 0);
    let m = h.drives[0].medium.as_ref().unwrap();
    assert_eq!(
        (m.size, m.format.as_deref(), m.read_only, m.embedded),
        (1_474_560, Some("1.44M"), false, false)
    );

    let (fdc, newlines) = fixture_expectations(&log);
    let origin = fdc[0].0;
    assert_eq!(
        h.clock,
        Clock::Host {
            origin_unix_ns: origin
        }
    );
    // Build the expected stream: fdc events plus a Stage at each MARK newline, which
    // comes after the fdc events logged before it.
    let mut expected: Vec<Event> = fdc
        .iter()
        .map(|(t, e)| e.clone().with_time(t - origin))
        .collect();
    for (label, t) in ["boot", "read-done"].iter().zip(&newlines) {
        let pos = fdc.iter().position(|(ft, _)| ft > t).unwrap_or(fdc.len());
        let pos = pos + expected.len() - fdc.len(); // earlier stages shift positions
        expected.insert(
            pos,
            Event::Stage {
                t_ns: t - origin,
                label: label.to_string(),
            },
        );
    }
    assert_eq!(evs, expected);
}

#[test]
fn log_without_timestamps_gets_synthetic_times() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("n.fdctrace");
    let err = ok(&import(&[
        s(&data("seabios-boot-mark-notime.log")),
        "-o",
        s(&out),
    ]));
    assert!(err.contains("synthetic"), "{err}");
    let (h, evs) = read_all(&out).unwrap();
    assert_eq!(h.clock, Clock::Synthetic { step_ns: 1000 });
    assert!(h.notes.iter().any(|n| n.contains("no timestamps")));
    assert_eq!(evs.len(), 142);
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.time_ns(), i as u64 * 1000);
    }
    // Same events, same order as the timed log.
    let (_, timed) = {
        let o2 = dir.path().join("t.fdctrace");
        ok(&import(&[
            s(&data("seabios-boot-mark.log")),
            "-o",
            s(&o2),
            "-q",
        ]));
        read_all(&o2).unwrap()
    };
    let strip = |v: &[Event]| v.iter().map(|e| e.clone().with_time(0)).collect::<Vec<_>>();
    assert_eq!(strip(&evs), strip(&timed));
}

#[test]
fn iso_prefix_log_and_unrelated_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("iso.log");
    std::fs::write(
        &log,
        "2026-11-25T22:38:20.000100Z qemu-system-x86_64: starting\n\
         2026-11-25T22:38:20.000200Z fdc_ioport_write write reg 0x02 val 0x08\n\
         2026-11-25T22:38:20.000250Z ide_ioport_read IDE PIO rd @ 0x1f7 val 0x50\n\
         2026-11-25T22:38:20.000300Z fdc_ioport_read read reg 0x04 val 0x80\n\
         SeaBIOS (version 1.16.2)\n\
         2026-11-25T22:38:20.001300Z 77@1795646300.001301:fdc_ioport_write write reg 0x05 val 0x08\r\n",
    )
    .unwrap();
    let out = dir.path().join("iso.fdctrace");
    ok(&import(&[s(&log), "-o", s(&out), "--quiet"]));
    let (h, evs) = read_all(&out).unwrap();
    assert_eq!(
        h.clock,
        Clock::Host {
            origin_unix_ns: 1_795_646_300_000_200_000
        }
    );
    assert_eq!(
        evs,
        vec![
            Event::PortWrite {
                t_ns: 0,
                offset: 2,
                value: 8
            },
            Event::PortRead {
                t_ns: 100_000,
                offset: 4,
                value: 0x80
            },
            Event::PortWrite {
                t_ns: 1_101_000,
                offset: 5,
                value: 8
            },
        ]
    );
}

#[test]
fn malformed_line_fails_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad.log");
    std::fs::write(
        &log,
        "fdc_ioport_write write reg 0x02 val 0x08\nsomething else\nfdc_ioport_write write reg 0xzz val\n",
    )
    .unwrap();
    let out = dir.path().join("bad.fdctrace");
    let err = fail(&import(&[s(&log), "-o", s(&out)]));
    assert!(err.contains(&format!("{}:3:", log.display())), "{err}");
    assert!(err.contains("malformed fdc_ioport_write"), "{err}");
    assert!(!out.exists(), "no output on failure");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );

    std::fs::write(&log, "fdc_ioport_read read reg 0x09 val 0x00\n").unwrap();
    let err = fail(&import(&[s(&log), "-o", s(&out)]));
    assert!(err.contains(":1:") && err.contains("out of range"), "{err}");

    // Mixed timed and untimed lines.
    std::fs::write(&log, "1@5.000001:fdc_ioport_read read reg 0x04 val 0x80\nfdc_ioport_read read reg 0x04 val 0x80\n")
        .unwrap();
    let err = fail(&import(&[s(&log), "-o", s(&out)]));
    assert!(err.contains(":2:") && err.contains("timestamp"), "{err}");
}

fn write_sidecar_log(dir: &Path) -> PathBuf {
    let log = dir.join("s.log");
    std::fs::write(
        &log,
        "9@100.000010:fdc_ioport_write write reg 0x02 val 0x0c\n\
         9@100.000020:fdc_ioport_read read reg 0x04 val 0x80\n\
         9@100.000030:fdc_ioport_write write reg 0x05 val 0x08\n",
    )
    .unwrap();
    log
}

#[test]
fn sidecar_markers_and_media_are_merged_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_sidecar_log(dir.path());
    std::fs::write(
        dir.path().join("s.log.events.jsonl"),
        r#"{"t": 100.000025, "media": {"drive": 1, "action": "eject"}}
{"t": 100.000020, "marker": "same time as the read"}

{"t": 100.000005, "marker": "start"}
{"t": 100.000040, "media": {"drive": 1, "action": "insert", "size": "720K", "ro": true}}
{"t": 100.000040, "marker": "after insert"}
"#,
    )
    .unwrap();
    let out = dir.path().join("s.fdctrace");
    let err = ok(&import(&[s(&log), "-o", s(&out), "--drive", "1=empty"]));
    assert!(
        err.contains(
            "8 events (1 reads, 2 writes, 3 markers, 2 media changes), duration 0.000035 s"
        ),
        "{err}"
    );
    let (h, evs) = read_all(&out).unwrap();
    assert_eq!(
        h.clock,
        Clock::Host {
            origin_unix_ns: 100_000_005_000
        }
    );
    assert_eq!(h.drives.len(), 2);
    assert!(h.drives[1].medium.is_none());
    assert_eq!(
        evs,
        vec![
            Event::Stage {
                t_ns: 0,
                label: "start".into()
            },
            Event::PortWrite {
                t_ns: 5_000,
                offset: 2,
                value: 0x0c
            },
            // At equal time the sidecar event goes first.
            Event::Stage {
                t_ns: 15_000,
                label: "same time as the read".into()
            },
            Event::PortRead {
                t_ns: 15_000,
                offset: 4,
                value: 0x80
            },
            Event::Media {
                t_ns: 20_000,
                drive: 1,
                change: MediaChange::Eject
            },
            Event::PortWrite {
                t_ns: 25_000,
                offset: 5,
                value: 0x08
            },
            // After the last log event; equal times keep the sidecar's line order.
            Event::Media {
                t_ns: 35_000,
                drive: 1,
                change: MediaChange::Insert {
                    size: 737_280,
                    read_only: true
                }
            },
            Event::Stage {
                t_ns: 35_000,
                label: "after insert".into()
            },
        ]
    );

    // --no-sidecar ignores it.
    let out2 = dir.path().join("s2.fdctrace");
    ok(&import(&[s(&log), "-o", s(&out2), "--no-sidecar", "-q"]));
    assert_eq!(read_all(&out2).unwrap().1.len(), 3);
}

#[test]
fn sidecar_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_sidecar_log(dir.path());
    let sc = dir.path().join("s.log.events.jsonl");
    let out = dir.path().join("s.fdctrace");

    std::fs::write(
        &sc,
        "{\"t\": 100.1, \"marker\": \"ok\"}\n{\"t\": 100.2, \"mraker\": \"typo\"}\n",
    )
    .unwrap();
    let err = fail(&import(&[s(&log), "-o", s(&out)]));
    assert!(err.contains(&format!("{}:2:", sc.display())), "{err}");

    // Media change on a drive that is absent (drive 1 by default).
    std::fs::write(
        &sc,
        "{\"t\": 100.1, \"media\": {\"drive\": 1, \"action\": \"eject\"}}\n",
    )
    .unwrap();
    let err = fail(&import(&[s(&log), "-o", s(&out)]));
    assert!(
        err.contains(&format!("{}:1:", sc.display())) && err.contains("absent"),
        "{err}"
    );

    // A log without timestamps cannot place sidecar events.
    let untimed = dir.path().join("u.log");
    std::fs::write(&untimed, "fdc_ioport_read read reg 0x04 val 0x80\n").unwrap();
    std::fs::write(
        dir.path().join("u.log.events.jsonl"),
        "{\"t\": 1, \"marker\": \"x\"}\n",
    )
    .unwrap();
    let err = fail(&import(&[s(&untimed), "-o", s(&out)]));
    assert!(err.contains("no timestamps"), "{err}");
    assert!(!out.exists());
}

#[test]
fn several_logs_go_to_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.txt");
    std::fs::write(&a, "fdc_ioport_read read reg 0x04 val 0x80\n").unwrap();
    std::fs::write(
        &b,
        "fdc_ioport_read read reg 0x04 val 0x80\nfdc_ioport_read read reg 0x04 val 0x90\n",
    )
    .unwrap();
    let outdir = dir.path().join("traces");
    ok(&import(&[s(&a), s(&b), "-o", s(&outdir), "-q"]));
    assert_eq!(read_all(&outdir.join("a.fdctrace")).unwrap().1.len(), 1);
    assert_eq!(read_all(&outdir.join("b.txt.fdctrace")).unwrap().1.len(), 2);

    // -o naming a file with several logs is refused.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let err = fail(&import(&[s(&a), s(&b), "-o", s(&file)]));
    assert!(err.contains("must be a directory"), "{err}");

    // Without -o, the trace goes beside the log.
    ok(&import(&[s(&a), "-q"]));
    assert!(dir.path().join("a.fdctrace").exists());
}

#[test]
fn image_drive_is_embedded_when_reads_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    let content: Vec<u8> = (0..737_280u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&img, &content).unwrap();
    let spec = format!("0={},ro", img.display());

    // The fixture's guest reads sector 1 with READ DATA: auto keeps the image.
    let out = dir.path().join("e.fdctrace");
    ok(&import(&[
        s(&data("seabios-boot-mark.log")),
        "-o",
        s(&out),
        "--drive",
        &spec,
        "-q",
        "--no-gzip",
    ]));
    let (h, _) = read_all(&out).unwrap();
    let m = h.drives[0].medium.as_ref().unwrap();
    assert_eq!(
        (m.size, m.format.as_deref(), m.read_only, m.embedded),
        (737_280, Some("720K"), true, true)
    );
    assert_eq!(m.image.as_deref(), Some(&content[..]));
    assert!(
        std::fs::metadata(&out).unwrap().len() < 100_000,
        "image is stored compressed"
    );

    // --embed never keeps the digest only.
    ok(&import(&[
        s(&data("seabios-boot-mark.log")),
        "-o",
        s(&out),
        "--drive",
        &spec,
        "-q",
        "--embed",
        "never",
    ]));
    let (h, _) = read_all(&out).unwrap();
    let m = h.drives[0].medium.as_ref().unwrap();
    assert!(!m.embedded && m.image.is_none());
    assert_eq!(m.digest, Some(ImageDigest::of(&content)));

    // A log with no command that reads the medium: auto does not keep it.
    let log = dir.path().join("probe.log");
    std::fs::write(
        &log,
        "fdc_ioport_write write reg 0x05 val 0x08\nfdc_ioport_read read reg 0x05 val 0xc0\n",
    )
    .unwrap();
    ok(&import(&[s(&log), "-o", s(&out), "--drive", &spec, "-q"]));
    let (h, _) = read_all(&out).unwrap();
    assert!(!h.drives[0].medium.as_ref().unwrap().embedded);
}

#[test]
fn drive_options_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("d.log");
    std::fs::write(&log, "fdc_ioport_read read reg 0x04 val 0x80\n").unwrap();
    let out = dir.path().join("d.fdctrace");
    ok(&import(&[
        s(&log),
        "-o",
        s(&out),
        "--drive",
        "0=none",
        "--drive",
        "1=2.88M,ro,type=288",
        "--provenance",
        "driver-model",
        "-q",
    ]));
    let (h, _) = read_all(&out).unwrap();
    assert_eq!(h.provenance.kind, ProvenanceKind::DriverModel);
    assert_eq!(h.drives.len(), 1);
    assert_eq!(h.drives[0].unit, 1);
    assert_eq!(h.drives[0].drive_type, DriveType::Fd288);
    let m = h.drives[0].medium.as_ref().unwrap();
    assert_eq!((m.size, m.read_only), (2_949_120, true));

    let err = fail(&import(&[s(&log), "-o", s(&out), "--drive", "0=3.5M"]));
    assert!(
        err.contains("\"3.5M\" is not a known size (a byte count, or a format name such as 1.44M, 720K, 2.88M) and no such file exists"),
        "{err}"
    );
    let err = fail(&import(&[s(&log), "-o", s(&out), "--drive", "2=1.44M"]));
    assert!(err.contains("not 0 or 1"), "{err}");
}

#[test]
fn quiet_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("q.log");
    std::fs::write(&log, "fdc_ioport_read read reg 0x04 val 0x80\n").unwrap();
    let out = import(&[s(&log), "-q"]);
    assert_eq!(ok(&out), "");
    let help = import(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    assert!(
        text.contains("Several LOGs: -o must be a directory"),
        "{text}"
    );
    assert!(text.contains("events.jsonl"), "{text}");
    assert!(text.contains("MARK"), "{text}");
}
