//! `fdc-replay stream show|drop|set|add` end to end on a built stream (no QEMU needed):
//! the documented JSON, byte-identical round trips through files, and errors that name
//! the file and the offset with a non-zero exit status.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::path::Path;
use std::process::{Command, Output};

use fdc::{DriveConfig, Fdc, Medium};
use fdc_oracle::stream::{build, BuildOptions};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run fdc-replay")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sample(dir: &Path) -> std::path::PathBuf {
    let mut state = Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
    )
    .state();
    state.reset_sensei = Some(4);
    let p = dir.join("state.bin");
    std::fs::write(&p, build(&state, &BuildOptions::default())).unwrap();
    p
}

#[test]
fn show_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let f = sample(tmp.path());
    let f = f.to_str().unwrap();
    let o = run(&["stream", "show", f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("fdc/reset_sensei"), "{text}");
    assert!(text.contains("pc-i440fx-7.2"), "{text}");
    let o = run(&["stream", "show", f, "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["format"], "fdc-replay-stream/1");
    assert_eq!(j["file"], f);
    assert_eq!(
        j["fdc"]["sent"],
        serde_json::json!(["fdrive/media_rate", "fdc/reset_sensei"])
    );
    assert_eq!(j["fdc"]["state"]["reset_sensei"], 4);
}

#[test]
fn drop_set_add_round_trip_through_files() {
    let tmp = tempfile::tempdir().unwrap();
    let f = sample(tmp.path());
    let orig = std::fs::read(&f).unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let f = f.to_str().unwrap();
    let o = run(&[
        "stream",
        "drop",
        f,
        "--subsection",
        "fdc/reset_sensei",
        "-o",
        &p("a"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("-> [fdrive/media_rate, fdrive/media_rate]"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "stream",
        "add",
        &p("a"),
        "--subsection",
        "fdc/reset_sensei=4",
        "-o",
        &p("b"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(p("b")).unwrap(), orig);
    let o = run(&[
        "stream",
        "drop",
        f,
        "--subsection",
        "fdrive/media_rate",
        "--drive",
        "1",
        "-o",
        &p("c"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "stream",
        "add",
        &p("c"),
        "--subsection",
        "fdrive/media_rate=0",
        "-o",
        &p("d"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(p("d")).unwrap(), orig);
    let o = run(&[
        "stream",
        "set",
        f,
        "--field",
        "msr=0xd0",
        "--field",
        "drives[0].track=5",
        "-o",
        &p("e"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "stream",
        "set",
        &p("e"),
        "--field",
        "msr=0x80",
        "--field",
        "drives[0].track=0",
        "-o",
        &p("f"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(p("f")).unwrap(), orig);
    let o = run(&["stream", "show", &p("e"), "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["fdc"]["state"]["msr"], 0xd0);
    assert_eq!(j["fdc"]["state"]["drives"][0]["track"], 5);
    // Another device section.
    let o = run(&[
        "stream",
        "drop",
        f,
        "--section",
        "pckbd:0",
        "--subsection",
        "pckbd/extended_state",
        "-o",
        &p("g"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn errors_name_the_file_and_offset_and_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let f = sample(tmp.path());
    let bytes = std::fs::read(&f).unwrap();
    let bad = tmp.path().join("bad.bin");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let bad = bad.to_str().unwrap();
    let o = run(&["stream", "show", bad]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(bad) && e.contains("offset"), "{e}");
    let o = run(&["stream", "show", "/nonexistent/x.bin"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/x.bin"));
    let f = f.to_str().unwrap();
    let out = tmp.path().join("o.bin");
    let out = out.to_str().unwrap();
    for args in [
        vec!["stream", "drop", f, "--subsection", "fdc/phase", "-o", out],
        vec![
            "stream",
            "add",
            f,
            "--subsection",
            "fdc/reset_sensei=1",
            "-o",
            out,
        ],
        vec!["stream", "set", f, "--field", "msr=0x100", "-o", out],
        vec!["stream", "set", f, "--field", "nope=1", "-o", out],
        vec![
            "stream",
            "drop",
            f,
            "--subsection",
            "fdc/phase",
            "--drive",
            "0",
            "-o",
            out,
        ],
    ] {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(f), "{args:?}: {}", stderr(&o));
    }
    let o = run(&["stream", "add", f, "--subsection", "fdc/phase", "-o", out]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expected NAME=VALUE"), "{}", stderr(&o));
    assert!(!Path::new(out).exists(), "nothing written on error");
    let o = run(&["stream", "--help"]);
    assert!(o.status.success());
    let h = stdout(&o);
    for w in ["show", "drop", "set", "add", "vmdesc"] {
        assert!(h.contains(w), "{h}");
    }
    let o = run(&["stream", "show", "--help"]);
    assert!(stdout(&o).contains("fdc-replay-stream/1"));
}
