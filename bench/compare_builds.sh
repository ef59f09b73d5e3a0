#!/usr/bin/env bash
# Speed of the current tree's CLI against the CLI at BASE, side by side: `lazyllm bench` of both
# on one model, alternating (each round in the other order), ROUNDS times, once with the environment as it is and (when it pins
# OpenBLAS with OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE) once with both variables unset, as a user's
# machine runs. Prints, per case, each side's median tokens/s over the rounds and head / base.
#
#   bench/compare_builds.sh BASE MODEL.gguf [ROUNDS] [-- BENCH FLAGS...]
#   e.g. bench/compare_builds.sh 2986c02 smollm2.gguf 5 -- -p 512 -n 32 -t 2 -r 3
#        bench/compare_builds.sh 2986c02 smollm2.gguf 5 -- --batch 8 -p 128 -n 32 -t 2 -r 3
#
# BASE is built by tools/build_at.sh; the current tree's CLI is build/bin/lazyllm (or $LAZYLLM).
# Needs python3 to read the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/compare_builds.sh BASE MODEL.gguf [ROUNDS] [-- BENCH FLAGS...]}
model=${2:?usage: bench/compare_builds.sh BASE MODEL.gguf [ROUNDS] [-- BENCH FLAGS...]}
rounds=${3:-5}
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-p 512 -n 32 -t 2 -r 3)
base_bin=$(tools/build_at.sh "$base")
head_bin=${LAZYLLM:-$PWD/build/bin/lazyllm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

settings=(as_set)
[ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ] && settings+=(unset)
for setting in "${settings[@]}"; do
  for ((i = 0; i < rounds; ++i)); do
    order="base head"
    ((i % 2)) && order="head base"  # alternate which side runs first, so order effects cancel
    for side in $order; do
      bin=$base_bin
      [ $side = head ] && bin=$head_bin
      if [ "$setting" = unset ]; then
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bin" bench -m "$model" "${flags[@]}" -o json 2>/dev/null
      else
        "$bin" bench -m "$model" "${flags[@]}" -o json 2>/dev/null
      fi >"$tmp/$setting.$side.$i.json"
    done
  done
done

python3 - "$tmp" "$rounds" "${settings[@]}" <<'PY'
import json, statistics, sys
tmp, rounds, settings = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
keys = ("prefill_tokens_per_s", "decode_tokens_per_s", "total_tokens_per_s")
print("| OpenBLAS | case | metric | base t/s | head t/s | head / base |")
print("| --- | --- | --- | ---: | ---: | ---: |")
for setting in settings:
    cases = {}
    for side in ("base", "head"):
        for i in range(rounds):
            for rec in json.load(open(f"{tmp}/{setting}.{side}.{i}.json")):
                case = " ".join(f"{k}={rec[k]}" for k in ("prune", "batch", "n_prompt", "n_gen", "threads") if k in rec)
                blas = rec["blas_core"]
                for key in keys:
                    if key in rec:
                        cases.setdefault((case, key), {"base": [], "head": []})[side].append(rec[key]["mean"])
    for (case, key), sides in cases.items():
        b, h = statistics.median(sides["base"]), statistics.median(sides["head"])
        print(f"| {blas} | {case} | {key.split('_')[0]} | {b:.1f} | {h:.1f} | {h / b:.3f} |")
PY
