//! `fdc-replay whatif --closed-loop` and the report's closed-loop figures, through the
//! built binary: the Windows 2000 driver model resumed from destinations without a
//! subsection, outcomes worked out by hand from QEMU's behaviour, the same output for any
//! `-j`, and the report carrying the same counts.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fdc-replay");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fdc-replay")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small real recording (12,265 events).
fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces/linux-720k.fdctrace")
}

const DIR_ARGS: [&str; 11] = [
    "whatif",
    "--closed-loop",
    "--workload",
    "dir",
    "--drop",
    "fdc/result_timer",
    "--drop",
    "fdrive/media_rate",
    "--drop",
    "fdc/reset_sensei",
    "--migrations=4",
];

fn closed_json(jobs: &str) -> (String, Value) {
    let mut args = DIR_ARGS.to_vec();
    args.extend(["--format", "json", "-q", "-j", jobs]);
    let got = run(&args);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    let out = text(&got.stdout);
    let v = serde_json::from_str(&out).unwrap();
    (out, v)
}

/// `dir a:` on the driver model, migrated without each of three subsections:
/// * `fdc/result_timer` is sent only while the READ ID of the media determination waits
///   for its result timer (QEMU arms it for 1/50 s after the last parameter byte); the
///   driver waits for the interrupt without a port access, so there is one candidate.
///   Without the timer the command never completes: no interrupt, and the driver's 4 s
///   interrupt wait reports the error to the workload.
/// * `fdrive/media_rate`: the destination's default is the medium's own rate, so the
///   destination is the source and the driver carries on, the same trace, at every point.
/// * `fdc/reset_sensei` is sent from the end of the controller reset until the fourth
///   SENSE INTERRUPT; without it the destination has no reset polls left, so the first
///   of the driver's remaining SENSE INTERRUPTs that finds no interrupt pending is
///   answered with the single byte 0x80: the driver's read of the second result byte
///   finds the controller waiting for a command and its MSR poll gives up.
#[test]
fn closed_loop_outcomes_of_dir_checked_by_hand() {
    let (one, v) = closed_json("1");
    let (two, _) = closed_json("2");
    assert_eq!(one, two, "-j 1 and -j 2 differ");
    assert_eq!(v["points"], 4);
    let subs = &v["subsections"];
    let timer = &subs["fdc/result_timer"];
    assert_eq!(timer["candidates"], 1, "{timer}");
    assert_eq!(timer["runs"], 1);
    assert_eq!(timer["outcomes"], serde_json::json!({"error": 1}));
    assert_eq!(
        timer["errors"],
        serde_json::json!({"no interrupt within 4000 ms": 1})
    );
    let rate = &subs["fdrive/media_rate"];
    assert!(rate["candidates"].as_u64().unwrap() >= 4, "{rate}");
    assert_eq!(rate["outcomes"], serde_json::json!({"carries_on": 4}));
    assert_eq!(rate["max_extra_time_ns"], Value::Null);
    let sensei = &subs["fdc/reset_sensei"];
    assert_eq!(sensei["runs"], 4);
    assert_eq!(
        sensei["errors"],
        serde_json::json!({"controller not ready (MSR poll gave up)": 4})
    );
    // Every run is listed: its workload, subsection, the access and time it migrated at.
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 9);
    let timer_run = runs
        .iter()
        .find(|r| r["subsection"] == "fdc/result_timer")
        .unwrap();
    assert_eq!(timer_run["workload"], "dir");
    assert_eq!(timer_run["outcome"], "error");
    // The READ ID starts 3 s in: after the 1 ms boot pause and the 2 s + 1 s idle.
    let t = timer_run["t_ns"].as_u64().unwrap();
    assert!((3_000_000_000..3_100_000_000).contains(&t), "{t}");
    // Per workload as in total (one workload).
    assert_eq!(timer["by_workload"]["dir"]["outcomes"], timer["outcomes"]);
}

#[test]
fn closed_loop_table_and_errors() {
    let got = run(&DIR_ARGS);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    let out = text(&got.stdout);
    let row = out
        .lines()
        .find(|l| l.starts_with("fdc/result_timer") && l.contains(" dir "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.ends_with("no interrupt within 4000 ms (1)"), "{row}");
    let md = run(&[&DIR_ARGS[..], &["--format", "markdown"]].concat());
    assert!(text(&md.stdout).contains("| fdrive/media_rate | dir |"));
    // A path, an unknown workload, --workload without --closed-loop.
    let s = sample();
    let got = run(&["whatif", "--closed-loop", s.to_str().unwrap()]);
    assert_eq!(got.status.code(), Some(2));
    assert!(text(&got.stderr).contains("cannot be used with"));
    let got = run(&["whatif", "--closed-loop", "--workload", "nope"]);
    assert_eq!(got.status.code(), Some(1));
    assert!(
        text(&got.stderr).contains("not a workload (one of boot-empty, boot-disk, dir"),
        "{}",
        text(&got.stderr)
    );
    let got = run(&["whatif", "--workload", "dir"]);
    assert_eq!(got.status.code(), Some(2));
    let got = run(&["whatif", "--closed-loop", "--migrations", "0"]);
    assert_eq!(got.status.code(), Some(2));
}

/// The report's JSON carries the closed loop of every workload (the counts of
/// `whatif --closed-loop` with the same number of migrations), the verdict lines repeat
/// the totals, and `--no-closed-loop` leaves them out.
#[test]
fn report_carries_the_closed_loop() {
    let s = sample();
    let s = s.to_str().unwrap();
    let got = run(&[
        "report",
        s,
        "--format",
        "json",
        "-q",
        "--closed-loop-migrations",
        "3",
    ]);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    let report: Value = serde_json::from_slice(&got.stdout).unwrap();
    let got = run(&[
        "whatif",
        "--closed-loop",
        "--migrations",
        "3",
        "--format",
        "json",
        "-q",
    ]);
    let closed: Value = serde_json::from_slice(&got.stdout).unwrap();
    let subs = report["whatif"]["subsections"].as_array().unwrap();
    assert_eq!(subs.len(), 6);
    for (i, sub) in subs.iter().enumerate() {
        let name = sub["name"].as_str().unwrap();
        assert_eq!(sub["closed_loop"], closed["subsections"][name], "{name}");
        let line = &report["summary"]["subsections"][i]["whatif"];
        let mut all = closed["subsections"][name].clone();
        let o = all.as_object_mut().unwrap();
        o.remove("points");
        o.remove("by_workload");
        assert_eq!(line["closed_loop"], all, "{name}");
        assert!(
            line["because"]
                .as_str()
                .unwrap()
                .contains("; closed loop: "),
            "{line}"
        );
    }
    let got = run(&["report", s, "--format", "json", "-q", "--no-closed-loop"]);
    let report: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert!(report["whatif"]["subsections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["closed_loop"].is_null()));
    let got = run(&[
        "report",
        s,
        "--format",
        "html",
        "-q",
        "--closed-loop-migrations",
        "3",
    ]);
    let html = text(&got.stdout);
    assert!(html.contains(r#"<section id="closed-loop">"#));
    // Every row's cells are the JSON's counts.
    for (name, c) in closed["subsections"].as_object().unwrap() {
        let rows = std::iter::once(("all", c)).chain(
            c["by_workload"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, w)| w["candidates"] != 0)
                .map(|(w, v)| (w.as_str(), v)),
        );
        for (w, v) in rows {
            let tag =
                format!(r#"<tr class="closed" data-subsection="{name}" data-workload="{w}">"#);
            let row = html.split(&tag).nth(1).unwrap_or_else(|| panic!("{tag}"));
            let row = row.split("</tr>").next().unwrap();
            let cell = |f: &str, n: &Value| format!(r#"<td data-field="{f}">{n}</td>"#);
            assert!(row.contains(&cell("runs", &v["runs"])), "{row}");
            for k in ["hang", "data_corruption", "error", "retries", "carries_on"] {
                let n = v["outcomes"].get(k).cloned().unwrap_or(0.into());
                assert!(row.contains(&cell(k, &n)), "{name} {w} {k}: {row}");
            }
        }
    }
    assert!(html.contains(r#"data-subsection="fdc/result_timer" data-workload="dir""#));
}

/// The progress bars are drawn on a terminal (util-linux `script`), count the runs the
/// JSON lists, and are not drawn with `-q` or off a terminal.
#[test]
fn progress_bars_only_on_a_terminal() {
    let args = "whatif --closed-loop --workload dir --migrations 2";
    let json = run(&[
        &args.split(' ').collect::<Vec<_>>()[..],
        &["--format", "json"],
    ]
    .concat());
    assert_eq!(text(&json.stderr), "", "off a terminal: no bar");
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap().len();
    let on = |extra: &str| {
        let got = Command::new("script")
            .args(["-qec", &format!("{BIN} {args}{extra}"), "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("script (util-linux) runs");
        assert!(got.status.success());
        text(&got.stdout)
    };
    let shown = on("");
    assert!(
        // One run without migration per implementation a migration starts on: qemu-7.2,
        // and qemu-2.3 for the forward migration.
        shown.contains("closed loop: runs without migration [") && shown.contains("2/2 events"),
        "{shown:?}"
    );
    assert!(
        shown.contains("closed loop: migrated runs [")
            && shown.contains(&format!("{runs}/{runs} events")),
        "{shown:?}"
    );
    assert!(!on(" -q").contains("ETA"));
}

/// `regress` covers the closed-loop figures: a moved closed-loop count in the baseline is
/// named in the diff.
#[test]
fn regress_names_a_moved_closed_loop_figure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let baseline = root.join("corpora/baseline.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let subs = v["report"]["whatif"]["subsections"].as_array_mut().unwrap();
    let i = subs
        .iter()
        .position(|s| s["name"] == "fdc/result_timer")
        .unwrap();
    let errors = &mut subs[i]["closed_loop"]["outcomes"]["error"];
    let was = errors.as_u64().unwrap();
    *errors = (was + 1).into();
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("baseline.json");
    std::fs::write(&tampered, serde_json::to_string(&v).unwrap()).unwrap();
    let got = Command::new(BIN)
        .current_dir(&root)
        .args(["regress", "-q", "--baseline"])
        .arg(&tampered)
        .arg("corpora/traces")
        .output()
        .unwrap();
    assert_eq!(got.status.code(), Some(1));
    let out = text(&got.stdout);
    let line = format!(
        "$.report.whatif.subsections[{i}].closed_loop.outcomes.error: {} -> {was}",
        was + 1
    );
    assert!(out.contains(&line), "{line}: {out}");
}

/// On a machine without dosfstools and mtools (a fresh Debian 12) the report, the
/// README's main job, still runs: it leaves the closed loop out and says so, on standard
/// error and in its what-if section, and its JSON says why; everything else is as with
/// the closed loop left out on purpose.
#[test]
fn the_report_without_mkfs_fat_leaves_the_closed_loop_out_and_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["report", "--format", "json"])
        .arg(sample())
        .env("PATH", empty.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("closed loop is left out: mkfs.fat (dosfstools) and mcopy (mtools) not found"),
        "{err}"
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = got["whatif"]["closed_loop_skipped"].as_str().unwrap();
    assert!(
        why.starts_with("mkfs.fat (dosfstools) and mcopy (mtools) not found"),
        "{why}"
    );
    let want = run(&[
        "report",
        "--format",
        "json",
        "--no-closed-loop",
        sample().to_str().unwrap(),
    ]);
    let mut want: Value = serde_json::from_slice(&want.stdout).unwrap();
    want["whatif"]["closed_loop_skipped"] = got["whatif"]["closed_loop_skipped"].clone();
    assert_eq!(got, want);
    let txt = Command::new(BIN)
        .arg("report")
        .arg(sample())
        .env("PATH", empty.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        text(&txt.stdout).contains("Not run: mkfs.fat (dosfstools) and mcopy (mtools) not found")
    );
}
