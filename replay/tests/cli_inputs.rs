//! The command line's inputs and errors, through the built binary: unreadable
//! directories, duplicate inputs, pipes and standard input, data after a trace, the
//! messages of common mistakes, the path rule, and progress bars only on a terminal.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fdc-replay");

/// A small real recording (12,265 events, gzip body).
fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces/linux-720k.fdctrace")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run fdc-replay")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory holding a copy of the sample as `a.fdctrace`.
fn with_sample() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(sample(), d.path().join("a.fdctrace")).unwrap();
    d
}

#[test]
fn unreadable_directories_are_bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("tree/sub");
    let locked = d.path().join("locked");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::create_dir(&locked).unwrap();
    std::fs::copy(sample(), d.path().join("tree/a.fdctrace")).unwrap();
    std::fs::copy(sample(), sub.join("b.fdctrace")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [&sub, &locked] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    // Root reads any directory: drop the capabilities that let it (util-linux setpriv).
    let cmd = |args: &[&str]| {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let mut c = if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("setpriv");
            c.args(["--bounding-set=-dac_override,-dac_read_search", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        c.args(args).current_dir(d.path()).output().unwrap()
    };
    let check = cmd(&["check", "-q", "tree", "locked", "./locked"]);
    let report = cmd(&["report", "-q", "--format", "json", "tree", "locked"]);
    for p in [&sub, &locked] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = text(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(out.contains("tree/a.fdctrace: ok: 12265 events"), "{out}");
    assert!(
        out.contains(
            "tree/sub: BAD INPUT: cannot read the directory: Permission denied (os error 13)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "locked: BAD INPUT: cannot read the directory: Permission denied (os error 13)\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("3 traces: 1 match, 0 with mismatches, 2 bad; 9513 reads checked\n"),
        "{out}"
    );
    let err = text(&report.stderr);
    assert_eq!(report.status.code(), Some(1), "{err}");
    // The report lists its inputs in path order (so that merged shards equal one run).
    assert_eq!(
        err,
        "fdc-replay report: bad file: locked: cannot read the directory: Permission denied (os error 13)\n\
         fdc-replay report: bad file: tree/sub: cannot read the directory: Permission denied (os error 13)\n"
    );
    assert!(text(&report.stdout).contains("tree/a.fdctrace"));
    assert_eq!(
        text(&check.stderr),
        "fdc-replay check: 1 input(s) name an input already given, read once: ./locked\n"
    );
}

#[test]
fn duplicate_inputs_are_read_once_and_said_so() {
    let d = with_sample();
    let once = run_in(d.path(), &["check", "-q", "a.fdctrace"]);
    let twice = run_in(
        d.path(),
        &["check", "-q", "a.fdctrace", "./a.fdctrace", "."],
    );
    assert_eq!(twice.status.code(), Some(0));
    assert_eq!(
        text(&twice.stderr),
        "fdc-replay check: 2 input(s) name an input already given, read once: ./a.fdctrace, ./a.fdctrace\n"
    );
    assert_eq!(text(&once.stdout), text(&twice.stdout));
    assert!(text(&twice.stdout)
        .ends_with("1 traces: 1 match, 0 with mismatches, 0 bad; 9513 reads checked\n"));
    let r1 = run_in(
        d.path(),
        &["report", "-q", "--format", "json", "a.fdctrace"],
    );
    let r2 = run_in(
        d.path(),
        &[
            "report",
            "-q",
            "--format",
            "json",
            "a.fdctrace",
            "a.fdctrace",
        ],
    );
    assert_eq!(r1.stdout, r2.stdout, "the report counts the trace once");
    assert!(
        text(&r2.stderr).contains("1 input(s) name an input already given, read once: a.fdctrace")
    );
}

#[test]
fn pipes_and_standard_input_are_read_once() {
    let d = with_sample();
    let file = d.path().join("a.fdctrace");
    let want = run_in(d.path(), &["points", "a.fdctrace"]);
    assert!(want.status.success());
    // Standard input.
    let mut child = Command::new(BIN)
        .args(["points", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&bytes));
    let got = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(got.status.success());
    assert_eq!(got.stdout, want.stdout, "points from standard input");
    // A named pipe, as `check <(cat a.fdctrace)` gives: it can be opened once only.
    let fifo = d.path().join("pipe.fdctrace");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (src, dst) = (file.clone(), fifo.clone());
    let feeder = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(dst)?;
        w.write_all(&std::fs::read(src)?)
    });
    let got = run_in(d.path(), &["check", "-q", "pipe.fdctrace"]);
    feeder.join().unwrap().unwrap();
    let out = text(&got.stdout);
    assert_eq!(got.status.code(), Some(0), "{out}");
    assert!(
        out.starts_with("pipe.fdctrace: ok: 12265 events, 9513 reads checked, all match"),
        "{out}"
    );
}

/// `report` reads each trace twice (its analysis, then the what-if) and `regress` three
/// times, from one open: a trace from standard input or a named pipe gets the same
/// what-if as the file (it was once silently left out of it).
#[test]
fn the_report_reads_a_pipe_once_for_its_what_if() {
    let d = with_sample();
    let file = d.path().join("a.fdctrace");
    let json = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let want = json(&run_in(
        d.path(),
        &["report", "--format", "json", "a.fdctrace"],
    ));
    let sent = want["whatif"]["subsections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points_sent"].as_u64().unwrap())
        .sum::<u64>();
    assert!(sent > 0, "the sample's what-if has points");
    let mut child = Command::new(BIN)
        .args(["report", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&bytes));
    let got = json(&child.wait_with_output().unwrap());
    feeder.join().unwrap().unwrap();
    assert_eq!(got["whatif"], want["whatif"], "what-if from standard input");
    assert_eq!(
        got["summary"], want["summary"],
        "verdict from standard input"
    );
    let fifo = d.path().join("pipe.fdctrace");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let feeder = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(fifo)?;
        w.write_all(&std::fs::read(file)?)
    });
    let got = json(&run_in(
        d.path(),
        &["report", "--format", "json", "pipe.fdctrace"],
    ));
    feeder.join().unwrap().unwrap();
    assert_eq!(got["whatif"], want["whatif"], "what-if from a named pipe");
}

#[test]
fn data_after_the_trace_is_refused_with_its_offset() {
    let d = with_sample();
    let gz = std::fs::read(sample()).unwrap();
    let mut more = gz.clone();
    more.extend_from_slice(b"garbage\n");
    std::fs::write(d.path().join("gz.fdctrace"), &more).unwrap();
    // The same trace with an uncompressed body, then a byte after its end block.
    let (header, events) = fdc_trace::read_all(&sample()).unwrap();
    let opts = fdc_trace::WriteOptions {
        gzip: false,
        ..Default::default()
    };
    let mut w = fdc_trace::TraceWriter::new(Vec::new(), &header, opts).unwrap();
    for ev in events {
        w.write_event(ev).unwrap();
    }
    let mut plain = w.finish().unwrap();
    let plain_len = plain.len();
    plain.push(0);
    std::fs::write(d.path().join("plain.fdctrace"), &plain).unwrap();
    let got = run_in(d.path(), &["check", "-q", "gz.fdctrace", "plain.fdctrace"]);
    let out = text(&got.stdout);
    assert_eq!(got.status.code(), Some(1));
    assert!(
        out.contains(&format!(
            "gz.fdctrace: BAD FILE: at byte {}: corrupt trace: data after the end of the gzip stream\n",
            gz.len()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "plain.fdctrace: BAD FILE: at byte {plain_len}: corrupt trace: data after the end block\n"
        )),
        "{out}"
    );
}

#[test]
fn bad_files_are_named_once_with_what_is_wrong() {
    let d = with_sample();
    let gz = std::fs::read(sample()).unwrap();
    std::fs::write(d.path().join("empty.fdctrace"), b"").unwrap();
    std::fs::write(d.path().join("cut.fdctrace"), &gz[..300]).unwrap();
    let got = run_in(
        d.path(),
        &[
            "check",
            "-q",
            "empty.fdctrace",
            "cut.fdctrace",
            "missing.fdctrace",
        ],
    );
    assert_eq!(got.status.code(), Some(1));
    assert_eq!(
        text(&got.stdout),
        "empty.fdctrace: BAD FILE: the file is empty (0 bytes), not an fdc-replay trace\n\
         cut.fdctrace: BAD FILE: at byte 300: truncated trace: the file ends inside the gzip stream (the file is cut short)\n\
         missing.fdctrace: BAD FILE: I/O error: No such file or directory (os error 2)\n\
         3 traces: 0 match, 0 with mismatches, 3 bad; 0 reads checked\n"
    );
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_names_the_output() {
    let mut child = Command::new(BIN)
        .args(["points"])
        .arg(sample())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (as with `| head -1`): the rest of the ~2 MB cannot be written.
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(first.starts_with("{\"index\":0,"), "{first}");
    assert_eq!(err, "");
    assert!(status.success());
    let t = sample();
    let t = t.to_str().unwrap();
    let cases: [&[&str]; 4] = [
        &["points", t],
        &["report", "-q", t],
        &["check", "-q", t],
        &["record-driver-model", "--list"],
    ];
    for args in cases {
        let full = std::fs::File::create("/dev/full").unwrap();
        let got = Command::new(BIN).args(args).stdout(full).output().unwrap();
        assert_eq!(got.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&got.stderr),
            "fdc-replay: writing standard output: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

#[test]
fn import_errors_name_the_files_and_options() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("g.log"),
        "fdc_ioport_write write reg 0x02 val 0x0c\nfdc_ioport_read read reg 0x04 val 0x80\n",
    )
    .unwrap();
    let cases: [(&[&str], String); 6] = [
        (
            &["g.log", "-o", "nodir/x.fdctrace"],
            "nodir/x.fdctrace: No such file or directory (os error 2)".into(),
        ),
        (
            &["nolog.log"],
            "nolog.log: No such file or directory (os error 2)".into(),
        ),
        (
            &["g.log", "--drive", "0=1.44M,foo"],
            "--drive \"0=1.44M,foo\": unknown drive option \"foo\" (known: ro, rw, type=auto|144|288|120)"
                .into(),
        ),
        (
            &["g.log", "--drive", "0=99999999999"],
            "--drive \"0=99999999999\": size 99999999999 is out of range 1..=67108864".into(),
        ),
        (
            &["g.log", "--drive", "0=999999999999999999999999"],
            "--drive \"0=999999999999999999999999\": size 999999999999999999999999 is out of range 1..=67108864"
                .into(),
        ),
        (
            &["g.log", "--drive", "0=3M"],
            "--drive \"0=3M\": \"3M\" is not a known size (a byte count, or a format name such as 1.44M, 720K, 2.88M) and no such file exists"
                .into(),
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["import", "qemu-log", "-q"];
        all.extend_from_slice(args);
        let got = run_in(d.path(), &all);
        assert_eq!(got.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&got.stderr),
            format!("fdc-replay: {want}\n"),
            "{args:?}"
        );
    }
    // The temporary file is not left behind.
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn bench_refuses_zero_events() {
    let got = run_in(Path::new("."), &["bench", "--events", "0"]);
    let err = text(&got.stderr);
    assert_eq!(got.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: invalid value '0' for '--events <EVENTS>'"),
        "{err}"
    );
    assert!(!text(&got.stdout).contains("NaN"));
}

#[test]
fn regress_with_a_malformed_baseline_says_so_briefly() {
    let d = with_sample();
    std::fs::write(d.path().join("list.json"), "[1, 2]").unwrap();
    std::fs::write(d.path().join("cut.json"), "{\"report\": ").unwrap();
    std::fs::write(
        d.path().join("empty.json"),
        "{\"report\": {}, \"check\": []}",
    )
    .unwrap();
    let got = run_in(
        d.path(),
        &["regress", "-q", "a.fdctrace", "--baseline", "list.json"],
    );
    assert_eq!(got.status.code(), Some(1));
    assert_eq!(
        text(&got.stderr),
        "fdc-replay: list.json: not a regress baseline (expected an object with a `report` object and a `check` list; rewrite it with `fdc-replay regress --update`)\n"
    );
    assert!(got.stdout.is_empty());
    let got = run_in(
        d.path(),
        &["regress", "-q", "a.fdctrace", "--baseline", "cut.json"],
    );
    assert_eq!(
        text(&got.stderr),
        "fdc-replay: cut.json: not a JSON baseline: EOF while parsing a value at line 1 column 11\n"
    );
    // A baseline of the right shape but other numbers: a diff, one short line per figure.
    let got = run_in(
        d.path(),
        &["regress", "-q", "a.fdctrace", "--baseline", "empty.json"],
    );
    let out = text(&got.stdout);
    assert_eq!(got.status.code(), Some(1));
    assert!(
        out.contains("\n  $.check[0]: (missing) -> {...7 keys}\n"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.len() < 200), "{out}");
    assert!(out.len() < 2_000, "{} bytes", out.len());
}

#[test]
fn default_inputs_follow_one_rule() {
    // From a directory without corpora/: the source tree's corpora, and its baseline.
    let elsewhere = tempfile::tempdir().unwrap();
    let got = run_in(elsewhere.path(), &["regress", "-q"]);
    let out = text(&got.stdout);
    assert_eq!(got.status.code(), Some(0), "{out}{}", text(&got.stderr));
    assert!(
        out.contains("every statistic and conformance figure equals"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("corpora/baseline.json"), "{out}");
    // From a directory with a corpora/: that one, for traces and baseline alike.
    let here = tempfile::tempdir().unwrap();
    let traces = here.path().join("corpora/traces");
    std::fs::create_dir_all(&traces).unwrap();
    std::fs::copy(sample(), traces.join("a.fdctrace")).unwrap();
    let got = run_in(here.path(), &["check", "-q"]);
    assert!(text(&got.stdout).starts_with("corpora/traces/a.fdctrace: ok"));
    let got = run_in(here.path(), &["regress", "-q"]);
    assert_eq!(
        text(&got.stderr),
        "fdc-replay: reading corpora/baseline.json: No such file or directory (os error 2)\n"
    );
    let got = run_in(here.path(), &["regress", "-q", "--update"]);
    assert_eq!(
        text(&got.stdout),
        "corpora/baseline.json: baseline rewritten from 1 traces\n"
    );
    let got = run_in(here.path(), &["regress", "-q"]);
    assert_eq!(got.status.code(), Some(0));
}

/// Runs `args` with a terminal as standard error (util-linux `script`); returns what the
/// terminal showed.
fn on_terminal(args: &[&str]) -> String {
    let mut cmd = String::from(BIN);
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    let got = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    assert!(got.status.success(), "{cmd}: {}", text(&got.stdout));
    text(&got.stdout)
}

#[test]
fn progress_bars_only_on_a_terminal_and_without_q() {
    let t = sample();
    let t = t.to_str().unwrap();
    for cmd in ["check", "report", "points"] {
        let shown = on_terminal(&[cmd, t]);
        assert!(
            shown.contains(&format!("{cmd} [")) && shown.contains("12265 events, 100%"),
            "{cmd}: {shown:?}"
        );
        assert!(shown.contains("elapsed, ETA"), "{cmd}: {shown:?}");
        let quiet = on_terminal(&[cmd, "-q", t]);
        assert!(!quiet.contains("ETA"), "{cmd} -q: {quiet:?}");
        // Not a terminal: nothing on standard error.
        let got = run_in(Path::new("."), &[cmd, t]);
        assert_eq!(text(&got.stderr), "", "{cmd}");
    }
}

#[test]
fn progress_bars_of_the_producing_commands() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    let log = d.path().join("g.log");
    std::fs::write(
        &log,
        "fdc_ioport_write write reg 0x02 val 0x0c\nfdc_ioport_read read reg 0x04 val 0x80\n",
    )
    .unwrap();
    let shown = on_terminal(&["import", "qemu-log", log.to_str().unwrap()]);
    assert!(
        shown.contains(": writing [") && shown.contains("2/2 events"),
        "{shown:?}"
    );
    let out = format!("{dir}/w.fdctrace");
    let shown = on_terminal(&[
        "record-driver-model",
        "--machine",
        "model",
        "--workload",
        "dir",
        "-o",
        &out,
    ]);
    assert!(shown.contains("record-driver-model dir"), "{shown:?}");
    let events = shown
        .rsplit_once("dir: ")
        .and_then(|(_, r)| r.split(' ').next())
        .unwrap()
        .to_string();
    assert!(
        shown.contains(&format!("  {events} events, ")),
        "{events}: {shown:?}"
    );
    let quiet = on_terminal(&[
        "record-driver-model",
        "-q",
        "--machine",
        "model",
        "--workload",
        "dir",
        "-o",
        &out,
    ]);
    assert!(!quiet.contains("elapsed"), "{quiet:?}");
    let trace = format!("{dir}/b.fdctrace");
    let shown = on_terminal(&["bench", "--events", "3000", "--trace", &trace]);
    assert!(
        shown.contains("bench: generating [") && shown.contains("3,000/3,000 events"),
        "{shown:?}"
    );
    assert!(
        shown.contains("bench: 1 thread(s) [") && shown.contains("3000 events, 100%"),
        "{shown:?}"
    );
    let quiet = on_terminal(&["bench", "-q", "--events", "3000", "--trace", &trace]);
    assert!(!quiet.contains("ETA"), "{quiet:?}");
}
