#!/usr/bin/env bash
# Every GPU figure the project reports, in one command, for a machine where the repo is not installed.
#
# On the GPU machine, after staging pytorch3d, warp and trimesh (and the robosuite parts) into /tmp/site:
#   STAGE_EXTRA="robosuite-models" bash ../shared/gpu/stage.sh        # here, once: adds the 162 parts
#   export PYTHONPATH=/tmp/site:$PWD; bash benchmarks/gpu_session.sh  # there, writes into $OUT
# Try it on a CPU with small settings:
#   OUT=/tmp/gs DEVICE=cpu PRESETS=smoke E2E=smoke DATASET=dataset-smoke PARTS=resources/parts \
#     bash benchmarks/gpu_session.sh
# STEPS picks what runs (default all, in this order; one device call each keeps every call short):
#   tests    tests.txt: the CUDA tests (tests/test_gpu.py: graph step, signed distance, marching cubes)
#   bench    bench_<preset>.txt (isoscope-bench per phase, with the seed-style comparison) and the same
#            on the largest part of PARTS (bench_largest_part.txt: the robosuite parts' largest has 116k faces)
#   e2e      e2e_<preset>_<precision>.txt: one whole run and its summary per precision in PRECISIONS
#   dataset  dataset.txt: a folder run of PARTS, its wall time and batch summary
# Each file is headed by the machine. Every step runs even when an earlier one failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to a folder}
DEVICE=${DEVICE:-cuda}
PRESETS=${PRESETS:-"high medium low"}
E2E=${E2E:-high}
DATASET=${DATASET:-geometry200-medium}
PY=${PYTHON:-python3}
PART=${PART:-resources/parts/bracket.stl}
STEPS=${STEPS:-"tests bench e2e dataset"}
PRECISIONS=${PRECISIONS:-"tf32 fp32 bf16"}
SEED_STYLE=${SEED_STYLE:-$PRESETS}  # the presets benchmarked against the seed-style mode too
DATASET_ARGS=${DATASET_ARGS:-}
want() { [[ " $STEPS " == *" $1 "* ]]; }
if [ -z "${PARTS:-}" ]; then  # the robosuite-models wheel as staged into /tmp/site
  PARTS=$("$PY" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("robosuite_models")
print(pathlib.Path(spec.origin).parent if spec and spec.origin else "")
PY
)
fi
# A checkout that is not installed: the isoscope package is assembled from its folders by links.
if ! "$PY" -c "import isoscope.core" 2>/dev/null; then
  site=$(mktemp -d)
  mkdir "$site/isoscope" && ln -s "$PWD/isoscope/__init__.py" "$site/isoscope/__init__.py"
  for d in core app resources; do ln -s "$PWD/$d" "$site/isoscope/$d"; done
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
mkdir -p "$OUT"
machine() {
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"
    "$PY" -c "from isoscope.core.machine import cpu_description; print(cpu_description())"; } | sed 's/^/# machine: /'
}
run() {  # run NAME CMD...: output to $OUT/NAME.txt and the terminal, wall time at the end
  local name=$1; shift
  { machine; echo "# $*"; } > "$OUT/$name.txt"
  local t0=$SECONDS
  "$@" 2>&1 | tee -a "$OUT/$name.txt"
  echo "# exit ${PIPESTATUS[0]}, wall $((SECONDS - t0)) s" | tee -a "$OUT/$name.txt"
}
bench() { "$PY" -c "import sys; from isoscope.core.bench import entry; sys.exit(entry())" "$@"; }
train() { "$PY" -c "import sys; from isoscope.core.cli import train_entry; sys.exit(train_entry())" "$@"; }
if want tests; then
  run tests "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py
fi
if want bench; then
  for p in $PRESETS; do
    seed=(); [[ " $SEED_STYLE " == *" $p "* ]] || seed=(--no-seed-style)
    run "bench_$p" bench --preset "$p" --device "$DEVICE" --part "$PART" "${seed[@]}"
  done
  if [ -n "$PARTS" ] && [ -d "$PARTS" ]; then  # signed distance on the largest part (binary STL: 50 bytes a face)
    big=$(find "$PARTS" -iname '*.stl' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
    run bench_largest_part bench --preset "${PRESETS%% *}" --device "$DEVICE" --part "$big" --no-seed-style
  fi
fi
if want e2e; then
  for p in $E2E; do
    for prec in $PRECISIONS; do
      rm -rf "$OUT/run"
      run "e2e_${p}_$prec" train "$PART" --preset "$p" --precision "$prec" --device "$DEVICE" \
        --outputDir "$OUT/run" --quiet
      find "$OUT/run" -name summary.json -exec cat {} + >> "$OUT/e2e_${p}_$prec.txt"
    done
  done
fi
if want dataset; then
  if [ -n "$PARTS" ] && [ -d "$PARTS" ]; then
    rm -rf "$OUT/dataset_run"
    run dataset train "$PARTS" --preset "$DATASET" --device "$DEVICE" --outputDir "$OUT/dataset_run" --quiet \
      $DATASET_ARGS
    echo "# $(find "$PARTS" -iname '*.stl' | wc -l) parts under $PARTS" >> "$OUT/dataset.txt"
    find "$OUT/dataset_run" -maxdepth 2 -name batch_summary.csv -exec cat {} + >> "$OUT/dataset.txt"
    "$PY" - "$OUT/dataset_run/batch_summary.csv" <<'PY' | tee -a "$OUT/dataset.txt"
import csv, sys
from isoscope.core.runs.table import PHASE_COLUMNS
rows = list(csv.DictReader(open(sys.argv[1])))
done = sum(r["status"] == "done" for r in rows)
sums = {c: sum(float(r[c] or 0) for r in rows) for c in PHASE_COLUMNS}
print(f"# {done}/{len(rows)} parts done; seconds summed over parts: "
      + ", ".join(f"{c[:-2]} {v:.1f}" for c, v in sums.items()))
PY
  else
    echo "no parts folder (PARTS=$PARTS): the dataset run is skipped" | tee "$OUT/dataset.txt"
  fi
fi
rm -rf "$OUT/run" "$OUT/dataset_run"  # the device tool brings back at most 8 files
ls -la "$OUT"
