#!/usr/bin/env bash
# Runs the libFuzzer targets built with -DTILEDET_FUZZ=ON, one after another, each for
# FUZZ_SECONDS on the committed seeds (fuzz/corpus/<target>/, read only) plus the inputs it
# finds (kept in <build>/fuzz/work/<target>/, so repeated runs build on each other). A crash,
# leak, sanitizer report or timeout stops that target, leaves the input in
# <build>/fuzz/artifacts/ and makes this script exit 1 after the others have run.
#
#   fuzz/run.sh BUILD_DIR [TARGET...]     (default: every fuzz_* program in BUILD_DIR/fuzz)
#   FUZZ_SECONDS=30                       per target (libFuzzer -max_total_time)
#   FUZZ_TIMEOUT=60                       seconds one input may take (wall clock: raise it on a loaded machine)
# One line per target goes to BUILD_DIR/fuzz/stats.tsv: target, seconds, executions, CPU seconds.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: fuzz/run.sh BUILD_DIR [TARGET...]}"; shift
bin="$build/fuzz"
seconds="${FUZZ_SECONDS:-30}"
[ -d "$bin" ] || { echo "fuzz/run.sh: no $bin: configure with -DTILEDET_FUZZ=ON (make fuzz does)" >&2; exit 2; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in "$bin"/fuzz_*; do [ -x "$t" ] && [ -f "$t" ] && targets+=("$(basename "$t")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz/run.sh: no fuzz targets in $bin" >&2; exit 2; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# ONNX Runtime is not instrumented and keeps process-lifetime allocations: the CI's suppressions.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/../.ci/lsan.supp:print_suppressions=0}"
mkdir -p "$bin/artifacts" "$bin/logs"
failed=()
for t in "${targets[@]}"; do
  work="$bin/work/$t"; mkdir -p "$work"
  dict=(); [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  seeds=(); [ -d "$here/corpus/$t" ] && seeds=("$here/corpus/$t")
  log="$bin/logs/$t.log"
  # Targets that run ONNX Runtime: its code has no frame pointers, so the fast unwinder stops
  # (or misattributes the caller) at the first ORT frame and the lsan.supp entry for ORT's own
  # leaks cannot match; CI failed on such a report (56 bytes under libc's resolver, frame 1
  # wrong). The slow unwinder gives whole stacks, at about a fifth of the speed.
  unwind=""
  case "$t" in fuzz_batchify|fuzz_model_load) unwind=":fast_unwind_on_malloc=0" ;; esac
  echo "== $t: ${seconds} s"
  start=$SECONDS
  # A model load or a batchify verification can take a second or two under ASan: -timeout is
  # generous; -rss_limit_mb bounds memory (the image and model limits should keep far below).
  TIMEFORMAT="%U %S"
  { time ASAN_OPTIONS="$ASAN_OPTIONS$unwind" "$bin/$t" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-60}" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$bin/artifacts/$t-" "${dict[@]}" "$work" "${seeds[@]}" >"$log" 2>&1
    echo "rc=$?" >"$bin/logs/$t.rc"; } 2>"$bin/logs/$t.time"
  rc="$(sed -n 's/^rc=//p' "$bin/logs/$t.rc")"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  cpu="$(tail -1 "$bin/logs/$t.time" 2>/dev/null | awk '{printf "%.0f", $1 + $2}')"
  printf '%s\t%s\t%s\t%s\n' "$t" "$((SECONDS - start))" "${execs:-?}" "${cpu:-?}" >>"$bin/stats.tsv"
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "== $t FAILED (exit $rc): last lines of $log:"
    grep -E "ERROR|SUMMARY|runtime error|Test unit written|deadly signal|uncaught" "$log" | head -20
    tail -40 "$log"
  else
    echo "== $t: ${execs:-?} executions, ${cpu:-?} CPU s, no finding"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: findings in: ${failed[*]} (inputs in $bin/artifacts/)" >&2
  exit 1
fi
