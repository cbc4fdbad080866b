#!/usr/bin/env bash
# The prepared run for a lent GPU (H100/H200: bare, Python 3.12 with torch, numpy, scipy, pandas,
# matplotlib, statsmodels, seaborn, pytest; no network; at most 10 minutes a command and 15 minutes
# of device time in all). No Jupyter: every step is a `python -m companion` verb or a script.
#
#   here, once:    benchmarks/device_check.sh prepare
#                  (wheels of what the device lacks into .whl/, the staged data into .device-data/,
#                  the previous engine's source into .device-baseline/ (no git history there);
#                  all ignored by git, about 11 MB, well inside the 64 MiB a call carries)
#   on the device: run(command="bash benchmarks/device_check.sh run --seconds 540",
#                      carry=[".whl", ".device-data", ".device-baseline"], timeout_s=570)
#                  again with the same command if time is left: finished steps are skipped, the
#                  stability study resumes from its records (while the machine stays warm).
#   rehearsal:     DEVICE=cpu benchmarks/device_check.sh run --seconds 240   (here, on the CPU)
#
# Steps, in order, each skipped once done (markers in $STATE) and each only if it fits the time
# left; the log and each step's output go to $OUT (the device tool brings $OUT back):
#   1. install   the carried wheels into /tmp/site (--no-deps; the companion package is imported from
#                the checkout via PYTHONPATH, with the device's torch, whose version every record names)
#   2. tests     the device tests: routing on meta, the engine's CUDA-graph step against eager
#                (tests/test_engine_sync.py runs its CUDA cases there), the classic solvers' routing
#   3. engine    benchmarks/stability_engine.py --device $DEVICE against the previous engine
#                (model-steps/s per Table 1 experiment, with and without the CUDA graph, and the bound)
#   4. chapters  `study` + `report` of every chapter at scale=smoke with -p device=$DEVICE
#   5. stability the paper-scale stability study with --time-limit (the rest of the command's time)
#                and --archive $OUT/stability-paper.tar.gz; a rerun resumes it
# Each step runs under `timeout` for the time left. Finally everything under $OUT/device_check/ is
# packed into $OUT/device_check.tar.gz.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$ROOT/build/device_check_out}
STATE=${STATE:-$ROOT/build/device_check_state}
CHAPTERS="stability mtl admm_unfolding deepgu nmf_sae benchmark"   # datasets has no study
WHEELS=(pooch==1.9.0 platformdirs==4.14.9 scikit-posthocs==0.17.1)   # as the book's own install resolves

prepare() {  # here: the wheels the device lacks (pure Python), the staged data, the previous engine
  rm -rf .whl .device-data .device-baseline
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl "${WHEELS[@]}" || return 1
  cp -r "${HU_DATA_DIR:-../shared/data}" .device-data || return 1
  mkdir -p .device-baseline
  local previous
  previous=$(sed -n 's/^PREVIOUS_ENGINE = "\([0-9a-f]*\)".*/\1/p' benchmarks/stability_engine.py)
  git show "${previous:?no PREVIOUS_ENGINE in benchmarks/stability_engine.py}:companion/nets/ensemble.py" \
    > .device-baseline/ensemble.py || return 1
  local folder
  for folder in /.whl/ /.device-data/ /.device-baseline/; do
    grep -qx "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >> .git/info/exclude
  done
  du -sh .whl .device-data .device-baseline
}

SECONDS_BUDGET=540
START=$(date +%s)
left() { echo $(( SECONDS_BUDGET - ($(date +%s) - START) )); }
log() { echo "[device_check $(date -u +%H:%M:%S) +$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/device_check/log.txt"; }

step() {  # step NAME NEEDS_SECONDS COMMAND...: run once, if NEEDS_SECONDS are left; output to $OUT
  local name=$1 needs=$2 rc=0 t0
  shift 2
  if [ -e "$STATE/$name.done" ]; then log "$name: done before, skipped"; return 0; fi
  if [ "$(left)" -lt "$needs" ]; then log "$name: needs ${needs} s, $(left) s left: not started"; return 0; fi
  log "$name: start"
  t0=$(date +%s)
  timeout "$(( $(left) - 10 ))" bash -c "$*" > "$OUT/device_check/$name.txt" 2>&1 || rc=$?
  log "$name: exit $rc after $(( $(date +%s) - t0 )) s"
  if [ "$rc" -eq 0 ]; then touch "$STATE/$name.done"; else tail -n 20 "$OUT/device_check/$name.txt"; fi
  return 0
}

install_wheels() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || return 1
  python3 -c "import torch, companion; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
}

device_tests() {
  # no third-party plugins (the wheels in /tmp/site may shadow a plugin's package), one process
  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -q -o addopts= -p no:cacheprovider \
    tests/test_device_routing.py tests/test_engine_sync.py tests/test_classic_device.py
}

engine() {
  python3 benchmarks/stability_engine.py --device "$DEVICE" --baseline .device-baseline/ensemble.py \
    --steps 20 --repeats 1 --loop-models 1 --out "$OUT/device_check/engine.md"
}

chapters() {
  local chapter rc=0
  for chapter in $CHAPTERS; do
    echo "=== $chapter"
    python3 -m companion study "$chapter" --scale smoke -p device="$DEVICE" || rc=1
    python3 -m companion report "$chapter" --scale smoke -p device="$DEVICE" || rc=1
  done
  return "$rc"
}

stability_paper() {
  python3 -m companion study stability --scale paper -p device="$DEVICE" \
    --time-limit "$(( $(left) - 30 ))" --archive "$OUT/stability-paper.tar.gz"
  local rc=$?
  [ "$rc" -eq 3 ] && { echo "time limit reached: rerun to resume"; return 3; }  # not done yet
  return "$rc"
}

run() {
  mkdir -p "$OUT/device_check" "$STATE"
  export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1 TQDM_DISABLE=1
  export HU_DATA_DIR=${HU_DATA_DIR:-$ROOT/.device-data}
  # records go beside the checkout's, never over its committed ones (the stability study at paper
  # scale would otherwise recompute committed records whose code changed); archived to $OUT
  export HU_RESULTS_DIR=${HU_RESULTS_DIR:-$ROOT/build/device_results}
  mkdir -p "$HU_RESULTS_DIR"
  log "device=$DEVICE budget=${SECONDS_BUDGET}s data=$HU_DATA_DIR"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv >> "$OUT/device_check/log.txt"
  export -f install_wheels device_tests engine chapters stability_paper left
  export DEVICE OUT CHAPTERS SECONDS_BUDGET START
  step install 20 install_wheels
  step tests 60 device_tests
  step engine 90 engine
  step chapters 150 chapters
  step stability 60 stability_paper
  if [ ! -e "$OUT/stability-paper.tar.gz" ] && [ -d "$HU_RESULTS_DIR/stability" ]; then
    # the study archives itself between records; a record cut by the step's timeout leaves the rest
    tar -czf "$OUT/stability-paper.tar.gz" -C "$HU_RESULTS_DIR" stability
  fi
  tar -czf "$OUT/device_check.tar.gz" -C "$OUT" device_check
  log "packed $OUT/device_check.tar.gz; steps done: $(ls "$STATE" | tr '\n' ' ')"
}

case "${1:-}" in
  prepare) prepare ;;
  run)
    if [ "${2:-}" = --seconds ]; then SECONDS_BUDGET=${3:?--seconds needs a number}; fi
    run ;;
  *) echo "usage: $0 prepare | run [--seconds N]   (see the header of this file)" >&2; exit 2 ;;
esac
