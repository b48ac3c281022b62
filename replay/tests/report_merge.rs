//! `report --shard K/N` + `merge` equals one run over all inputs, byte for byte, in every
//! format; the JSON's schema and counts; header strings cannot forge output.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod analysis_util;
use analysis_util::*;
use fdc_trace::{read_all, Event};
use std::path::{Path, PathBuf};

const FORMATS: [&str; 4] = ["table", "markdown", "json", "html"];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces")
}

/// The corpus' traces plus a bad file, in a temporary directory (paths as given there).
fn inputs(dir: &Path) -> PathBuf {
    let d = dir.join("in");
    std::fs::create_dir(&d).unwrap();
    for e in std::fs::read_dir(corpus()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "fdctrace") {
            std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(d.join("m-broken.fdctrace"), b"FDCTRACE\x01\x00\x00\x00junk").unwrap();
    d
}

fn report(args: &[&str]) -> Vec<u8> {
    let o = run(args);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        stderr(&o)
    );
    o.stdout
}

#[test]
fn merged_shards_equal_one_run_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = inputs(dir.path());
    let d = d.to_str().unwrap();
    let n = 3;
    let mut shard_files = Vec::new();
    for k in 1..=n {
        let f = dir.path().join(format!("shard-{k}.json"));
        let shard = format!("{k}/{n}");
        let o = run(&[
            "report",
            d,
            "--quiet",
            "--shard",
            &shard,
            "--format",
            "json",
            "-o",
            f.to_str().unwrap(),
        ]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
        shard_files.push(f.to_str().unwrap().to_string());
    }
    // Every trace is in exactly one shard.
    let mut traces = 0;
    for f in &shard_files {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        assert_eq!(j["schema"], "fdc-replay-report");
        assert_eq!(j["version"], 2);
        traces += j["inputs"].as_array().unwrap().len() + j["bad_files"].as_array().unwrap().len();
    }
    let all = std::fs::read_dir(d).unwrap().count();
    assert_eq!(traces, all);
    for fmt in FORMATS {
        let one = report(&["report", d, "--quiet", "--format", fmt]);
        // Merged in another order than the shards'.
        let mut args = vec!["merge", "--format", fmt];
        args.extend(shard_files.iter().rev().map(String::as_str));
        let merged = report(&args);
        assert!(!one.is_empty());
        assert!(one == merged, "merge --format {fmt} differs from one run");
    }
    // A merge of merges is the same again; a trace in two inputs is refused.
    let mid = dir.path().join("mid.json");
    let o = run(&[
        "merge",
        &shard_files[0],
        &shard_files[1],
        "--format",
        "json",
        "-o",
        mid.to_str().unwrap(),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let again = report(&[
        "merge",
        mid.to_str().unwrap(),
        &shard_files[2],
        "--format",
        "json",
    ]);
    assert!(again == report(&["report", d, "--quiet", "--format", "json"]));
    let o = run(&["merge", &shard_files[0], mid.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is also in"), "{}", stderr(&o));
}

#[test]
fn json_carries_counts_and_refuses_other_files() {
    let o = run(&[
        "report",
        corpus().to_str().unwrap(),
        "--quiet",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Counts, not only shares, and the summary agrees with the detail.
    let points: u64 = j["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["stages"].as_array().unwrap().iter())
        .flat_map(|s| s["counts"].as_array().unwrap().iter())
        .map(|c| c["points"].as_u64().unwrap())
        .sum();
    assert_eq!(j["overall"]["points"].as_u64(), Some(points));
    assert_eq!(j["summary"]["points"].as_u64(), Some(points));
    for (i, s) in j["summary"]["subsections"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(s["points"], j["overall"]["subsections"][i]["points"]);
        assert_eq!(
            s["time_share"],
            j["overall"]["subsections"][i]["time_share"]
        );
    }
    // Paths as given.
    let p0 = j["per_trace"][0]["path"].as_str().unwrap();
    assert!(p0.starts_with(corpus().to_str().unwrap()), "{p0}");
    // Not a report: named, refused.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.json");
    std::fs::write(&f, "{\"overall\": {}}").unwrap();
    let o = run(&["merge", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("x.json: schema"), "{}", stderr(&o));
    // A record whose key does not match its spelling is refused.
    let mut bad = j.clone();
    bad["inputs"][0]["stages"][0]["counts"][0]["key"] = serde_json::json!(63);
    std::fs::write(&f, serde_json::to_string(&bad).unwrap()).unwrap();
    let o = run(&["merge", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
}

#[test]
fn forged_header_strings_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let src = corpus().join("linux-probe.fdctrace");
    let (mut h, events): (_, Vec<Event>) = read_all(&src).unwrap();
    h.guest = Some("evil\u{1b}[2J\n| forged | row |\r*bold* [x](http://e)".into());
    h.workload = Some("w\u{7}<b>\nline".into());
    let p = dir.path().join("forged.fdctrace");
    write_trace(&p, &h, &events);
    let p = p.to_str().unwrap();
    let table = stdout(&run(&["report", p, "--quiet"]));
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the text output"
    );
    assert!(!table.contains("\n| forged"), "a newline forged a line");
    assert!(
        table.contains("evil\\u{1b}[2J\\n| forged | row |\\r"),
        "{table}"
    );
    let md = stdout(&run(&["report", p, "--quiet", "--format", "markdown"]));
    assert!(!md.chars().any(|c| c.is_control() && c != '\n'));
    // Every table row of the Markdown keeps its column count: no forged cell.
    for block in md.split("\n\n").filter(|b| b.starts_with("| ")) {
        let cols = |l: &str| l.replace("\\|", "").matches('|').count();
        let mut lines = block.lines();
        let head = cols(lines.next().unwrap());
        for l in lines {
            assert_eq!(cols(l), head, "forged cell in {l:?}");
        }
    }
    assert!(md.contains("\\*bold\\* \\[x\\]\\(http\\://e\\)"), "{md}");
    assert!(md.contains("w\\\\u\\{7\\}\\<b\\>\\\\nline"), "{md}");
    let html = stdout(&run(&["report", p, "--quiet", "--format", "html"]));
    assert!(html.contains("w\u{7}&lt;b&gt;"), "HTML escapes markup");
    assert!(!html.contains("<b>\n"));
    let json = stdout(&run(&["report", p, "--quiet", "--format", "json"]));
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["per_trace"][0]["guest"].as_str(), h.guest.as_deref());
}
