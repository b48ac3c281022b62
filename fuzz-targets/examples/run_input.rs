//! Runs one input through a target body and prints the decoded ops:
//! `cargo run -p fdc-fuzz-targets --example run_input -- fdc_pio FILE`
//!
//! With a directory it runs every file and lists the failures; for `fdc_pio` it also
//! prints the ops per second of the uninstrumented harness (run with `--release`), the
//! ceiling of what libFuzzer's instrumented build can reach on that corpus.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (target, path) = (&args[1], &args[2]);
    if std::path::Path::new(path).is_dir() {
        std::panic::set_hook(Box::new(|_| {}));
        let mut failed = 0;
        let mut total = 0;
        let mut ops = 0;
        let mut busy = std::time::Duration::ZERO;
        for e in std::fs::read_dir(path).unwrap().flatten() {
            let data = std::fs::read(e.path()).unwrap();
            total += 1;
            let t = target.clone();
            let start = std::time::Instant::now();
            let r = std::panic::catch_unwind(move || match t.as_str() {
                "fdc_pio" => fdc_fuzz_targets::pio::run(&data).ops,
                "vmstate_load" => {
                    fdc_fuzz_targets::vmstate_load(&data);
                    0
                }
                _ => {
                    fdc_fuzz_targets::trace_decode(&data);
                    0
                }
            });
            busy += start.elapsed();
            ops += r.as_ref().copied().unwrap_or(0);
            if let Err(p) = r {
                failed += 1;
                let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
                println!(
                    "FAIL {}: {}",
                    e.path().display(),
                    msg.chars().take(300).collect::<String>()
                );
            }
        }
        println!("{failed} of {total} inputs fail");
        let secs = busy.as_secs_f64().max(1e-9);
        println!(
            "{total} inputs in {secs:.2} s: {:.0} inputs/s{}",
            total as f64 / secs,
            if ops > 0 {
                format!(", {ops} ops, {:.2} M ops/s", ops as f64 / secs / 1e6)
            } else {
                String::new()
            }
        );
        return;
    }
    let data = std::fs::read(path).expect("reading the input");
    if target == "fdc_pio" {
        let mut n = 0;
        fdc_fuzz_targets::ops::decode_input(&data, |op| {
            println!("{n:4} {op:?}");
            n += 1;
        });
        if let Some(&b) = data.first() {
            let (d0, d1) = fdc_fuzz_targets::ops::configs(b);
            let show = |d: fdc::DriveConfig| match d {
                fdc::DriveConfig::Medium(m) => format!(
                    "medium of {} sectors{}",
                    m.sectors(),
                    if m.read_only() { ", read-only" } else { "" }
                ),
                other => format!("{other:?}"),
            };
            println!(
                "config {b:#04x}: drive 0 {}, drive 1 {}",
                show(d0),
                show(d1)
            );
        }
        println!("{:?}", fdc_fuzz_targets::pio::run(&data));
    } else if target == "vmstate_load" {
        fdc_fuzz_targets::vmstate_load(&data);
    } else {
        fdc_fuzz_targets::trace_decode(&data);
    }
}
