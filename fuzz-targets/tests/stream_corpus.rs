//! `migration_stream` on stable: the target body over its committed seeds
//! (`fuzz/corpus/migration_stream/seed-*`) and regressions
//! (`fuzz/regressions/migration_stream/*`), and the generator of those seeds (small
//! streams built with `oracle::stream::build`; real streams are hundreds of kilobytes).
//! `FDC_FUZZ_REGEN=1 cargo test -p fdc-fuzz-targets --test stream_corpus` rewrites the
//! seeds; a plain run checks the committed ones are what the generator produces.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fdc::wire;
use fdc_fuzz_targets::stream::states;
use fdc_oracle::stream::{build, BuildOptions, MigrationStream};

const TARGET: &str = "migration_stream";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "README.md")
    });
    v.sort();
    v
}

fn seeds() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let list = states();
    // Mode byte bits: 2 = no extra devices, 3 = one ram page, 4 = no footers.
    let shapes: [(u8, &str); 3] = [(0x00, "full"), (0x04, "fdc-only"), (0x1c, "page-nofooter")];
    for (i, state) in list.iter().enumerate() {
        for (bits, shape) in shapes {
            let opts = BuildOptions {
                pages: u16::from(bits & 0x08 != 0),
                zero_pages: 1,
                extra_devices: bits & 0x04 == 0,
                footers: bits & 0x10 == 0,
                ..Default::default()
            };
            if i == 0 || shape == "full" {
                let mut b = vec![bits];
                b.extend(build(state, &opts));
                out.insert(format!("seed-raw-{i}-{shape}"), b);
            }
        }
        let mut b = vec![0x05];
        b.extend(wire::encode(state));
        out.insert(format!("seed-fdc-payload-{i}"), b);
    }
    // Mode 2: the vmdesc JSON of a built fdc-only stream.
    let b = build(
        &list[0],
        &BuildOptions {
            extra_devices: false,
            ..Default::default()
        },
    );
    let json_at = MigrationStream::parse(&b)
        .ok()
        .and_then(|s| s.vmdesc.map(|v| v.json_start))
        .expect("a built stream parses");
    let mut m = vec![0x06];
    m.extend_from_slice(&b[json_at..]);
    out.insert("seed-vmdesc".into(), m);
    // Mode 3: a few xor mutations of each state's full stream.
    for i in 0..list.len() as u8 {
        out.insert(
            format!("seed-xor-{i}"),
            vec![
                0x03, i, 0x10, 0x00, 0x01, 0x40, 0x02, 0x80, 0x00, 0x10, 0x20,
            ],
        );
    }
    out
}

#[test]
fn seeds_are_generated() {
    let dir = root().join("fuzz/corpus").join(TARGET);
    let seeds = seeds();
    if std::env::var_os("FDC_FUZZ_REGEN").is_some() {
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for f in files(&dir) {
            if f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            {
                std::fs::remove_file(f).expect("remove stale seed");
            }
        }
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
    for (name, bytes) in &seeds {
        let got = std::fs::read(dir.join(name)).unwrap_or_else(|_| {
            panic!("{TARGET}/{name} missing: run FDC_FUZZ_REGEN=1 cargo test -p fdc-fuzz-targets --test stream_corpus")
        });
        assert_eq!(
            &got, bytes,
            "{TARGET}/{name} is stale: regenerate the seeds"
        );
    }
}

#[test]
fn target_passes_over_corpus_and_regressions() {
    let mut failures = Vec::new();
    let mut total = 0;
    for sub in ["corpus", "regressions"] {
        for f in files(&root().join("fuzz").join(sub).join(TARGET)) {
            total += 1;
            let data = std::fs::read(&f).expect("read input");
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| {
                fdc_fuzz_targets::migration_stream(&data)
            })) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {msg}", f.display()));
            }
        }
    }
    assert!(total > 0, "no corpus under fuzz/corpus/{TARGET}");
    assert!(
        failures.is_empty(),
        "{} of {total} inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
