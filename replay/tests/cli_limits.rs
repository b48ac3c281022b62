//! Arguments that would take unbounded threads or time are refused or capped: `-j 0` and
//! `-j` above 1024 are errors, a `-j` above 4 threads per core is capped (saying so) with
//! the same output, and `bench --events` is bounded.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .args(args)
        .output()
        .unwrap()
}

fn trace() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora/traces/linux-probe.fdctrace")
        .display()
        .to_string()
}

#[test]
fn jobs_zero_and_huge_are_refused() {
    let t = trace();
    for cmd in ["report", "check"] {
        for j in ["0", "1025", "99999999999"] {
            let out = run(&[cmd, "-q", "-j", j, &t]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} -j {j}: {err}");
            assert!(err.contains("1..=1024"), "{cmd} -j {j}: {err}");
        }
    }
    let out = run(&["regress", "-q", "-j", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["bench", "-j", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn large_jobs_are_capped_with_the_same_output() {
    let t = trace();
    let one = run(&["report", "-q", "--format", "json", "-j", "1", &t]);
    assert_eq!(one.status.code(), Some(0));
    let many = run(&["report", "-q", "--format", "json", "-j", "1024", &t]);
    assert_eq!(many.status.code(), Some(0));
    assert_eq!(one.stdout, many.stdout);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let err = String::from_utf8_lossy(&many.stderr);
    if 1024 > 4 * cores {
        assert!(
            err.contains(&format!("starting {} threads", 4 * cores)),
            "{err}"
        );
    }
}

#[test]
fn bench_events_are_bounded() {
    for n in ["0", "200000001"] {
        let out = run(&["bench", "--events", n]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--events {n}: {err}");
        assert!(err.contains("1..=200000000"), "{err}");
    }
    let out = run(&["bench", "--image-bytes", "67108865"]);
    assert_eq!(out.status.code(), Some(2));
}
