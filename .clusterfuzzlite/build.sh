#!/usr/bin/env bash
# Builds every cargo-fuzz target of fuzz/ as OSS-Fuzz / ClusterFuzzLite expect: one
# libFuzzer binary per target in $OUT, with its seed corpus as $OUT/TARGET_seed_corpus.zip
# (fuzz/corpus/TARGET plus fuzz/regressions/TARGET).
#
# In the ClusterFuzzLite image (Dockerfile) $SRC, $OUT and the sanitizer flags come from
# the base image and `cargo fuzz build -O` uses its toolchain. Without Docker it runs
# here too: `bash .clusterfuzzlite/build.sh` builds with `cargo +nightly fuzz` into
# target/clusterfuzzlite/out (set OUT to choose), with cargo-fuzz's default sanitizer
# (address). The target list is `cargo fuzz list`, so a new target needs no edit here.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${SRC:-}" ] && [ -d "$SRC/fdc-prevalent" ]; then
    repo=$SRC/fdc-prevalent
    cargo_fuzz=(cargo fuzz)
else
    repo=$here
    cargo_fuzz=(cargo +nightly fuzz)
    command -v cargo-fuzz >/dev/null || { echo "build.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
fi
OUT=${OUT:-$repo/target/clusterfuzzlite/out}
mkdir -p "$OUT"
cd "$repo/fuzz"
mapfile -t targets < <("${cargo_fuzz[@]}" list)
[ ${#targets[@]} -gt 0 ] || { echo "build.sh: cargo fuzz list found no target" >&2; exit 1; }
"${cargo_fuzz[@]}" build -O
triple=$(rustc -vV | sed -n 's/^host: //p')
for t in "${targets[@]}"; do
    bin=target/$triple/release/$t
    [ -x "$bin" ] || { echo "build.sh: $bin was not built" >&2; exit 1; }
    cp "$bin" "$OUT/$t"
    python3 - "$OUT/${t}_seed_corpus.zip" corpus/"$t" regressions/"$t" <<'PY'
import os, sys, zipfile
out, dirs = sys.argv[1], sys.argv[2:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                z.write(p, arcname=f"{os.path.basename(d)}-{name}")
PY
    echo "built $OUT/$t ($(du -h "$OUT/$t" | cut -f1)), seeds $(python3 -c "import zipfile,sys;print(len(zipfile.ZipFile(sys.argv[1]).namelist()))" "$OUT/${t}_seed_corpus.zip")"
done
