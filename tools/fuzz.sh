#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and runs them. With
# LAZYLLM_FUZZ_BUILD=DIR, in DIR, a build already configured with -DLAZYLLM_FUZZ=ON (tools/test.sh
# passes its sanitizer build, which has the targets).
#   tools/fuzz.sh --list                  the targets, one per line
#   tools/fuzz.sh TARGET SECONDS [ARGS]   fuzz TARGET for SECONDS (0: no limit) from its seed corpus
#                                         fuzz/corpus/TARGET; new inputs go to build-fuzz/corpus/TARGET,
#                                         crashes to build-fuzz/artifacts/TARGET/; ARGS go to libFuzzer
#                                         (e.g. -runs=10000000)
#   tools/fuzz.sh --smoke [SECONDS]       every target: each seed, then SECONDS (default 10) of fuzzing
#                                         with a fixed seed; any crash, leak, timeout or sanitizer report
#                                         fails (tools/test.sh runs this)
# A crash reproduces with: build-fuzz/bin/TARGET build-fuzz/artifacts/TARGET/crash-... (build-fuzz/ being
# LAZYLLM_FUZZ_BUILD where that is set)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(gguf_fuzz tokenizer_fuzz schedule_fuzz chat_template_fuzz eval_record_fuzz batch_record_fuzz request_fuzz)

dict_of() {
  case "$1" in
    gguf_fuzz) echo fuzz/dict/gguf.dict ;;
    schedule_fuzz) echo fuzz/dict/schedule.dict ;;
    chat_template_fuzz) echo fuzz/dict/chat.dict ;;
    eval_record_fuzz | batch_record_fuzz) echo fuzz/dict/json.dict ;;
    request_fuzz) echo fuzz/dict/request.dict ;;
  esac
}

B=${LAZYLLM_FUZZ_BUILD:-build-fuzz}

build() {
  if [ -z "${LAZYLLM_FUZZ_BUILD:-}" ]; then
    cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DLAZYLLM_FUZZ=ON -DLAZYLLM_BUILD_TESTS=OFF -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
  fi
  cmake --build "$B" -j"$(nproc)" --target "$@"
}

# fuzz TARGET [libFuzzer args...]
fuzz() {
  local t=$1
  shift
  local dict
  dict=$(dict_of "$t")
  mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
  # -timeout: an input that takes 10 s is a finding (a hang); -rss_limit_mb: so is one that
  # makes the process use more than 2 GiB.
  "$B/bin/$t" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$t/" ${dict:+-dict=$dict} "$@" \
    "$B/corpus/$t" "fuzz/corpus/$t"
}

case "${1:-}" in
  --list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
  --smoke)
    secs=${2:-10}
    build "${TARGETS[@]}"
    for t in "${TARGETS[@]}"; do
      echo "== fuzz smoke: $t (${secs} s)"
      # A fresh working corpus, so that the run is the same on every machine.
      rm -rf "$B/corpus/$t"
      mkdir -p "$B/artifacts/$t"
      log="$B/artifacts/$t/smoke.log"
      if ! fuzz "$t" -seed=1 -max_total_time="$secs" >"$log" 2>&1; then
        grep -E -A40 '==[0-9]+==ERROR|^SUMMARY|deadly signal|Timeout|out-of-memory' "$log" | head -80 >&2
        echo "fuzz smoke: $t failed (log: $log); reproduce with $B/bin/$t $B/artifacts/$t/<crash file>" >&2
        exit 1
      fi
      grep -E '^#[0-9]+[[:space:]]+DONE' "$log" || true
    done
    ;;
  "" | -h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    t=$1
    secs=${2:?usage: tools/fuzz.sh TARGET SECONDS [libFuzzer args]}
    shift 2
    printf '%s\n' "${TARGETS[@]}" | grep -qx "$t" || { echo "unknown fuzz target '$t' (tools/fuzz.sh --list)" >&2; exit 2; }
    build "$t"
    if [ "$secs" -gt 0 ]; then set -- -max_total_time="$secs" "$@"; fi
    fuzz "$t" "$@"
    ;;
esac
