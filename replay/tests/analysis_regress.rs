//! `fdc-replay regress` on the shipped corpus: equal to the committed baseline, and a
//! moved figure fails with a diff that names it.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::process::Command;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn corpus_matches_baseline_and_a_moved_figure_is_named() {
    let bin = env!("CARGO_BIN_EXE_fdc-replay");
    // Paths as the baseline names them: relative to the repository root.
    let traces = std::path::PathBuf::from("corpora/traces");
    let baseline = root().join("corpora/baseline.json");
    let ok = Command::new(bin)
        .current_dir(root())
        .arg("regress")
        .arg("-q")
        .arg("--baseline")
        .arg(&baseline)
        .arg(&traces)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let reads = &mut v["check"][0]["reads"];
    let was = reads.as_u64().unwrap();
    *reads = serde_json::json!(was + 1);
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("baseline.json");
    std::fs::write(&tampered, serde_json::to_string(&v).unwrap()).unwrap();
    let bad = Command::new(bin)
        .current_dir(root())
        .arg("regress")
        .arg("-q")
        .arg("--baseline")
        .arg(&tampered)
        .arg(&traces)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains(&format!("$.check[0].reads: {} -> {}", was + 1, was)),
        "{out}"
    );
}
