#!/usr/bin/env bash
# Checks that a change keeps lazyllm's outputs bit-identical: runs one matrix of `lazyllm run`
# commands with the CLI built at BASE (a commit) and with the current tree's, and compares their
# outputs with the timings taken out. Every logit is printed with its exact value, so equal text
# means equal bits.
#
#   tools/compare_outputs.sh BASE            # builds BASE in build-compare/BASE (once) and build/
#   LAZYLLM=path/to/lazyllm tools/compare_outputs.sh BASE   # compares that binary instead of build/'s
#
# The matrix: the bundled sample model and, from ../shared/reference/models (when present),
# tiny-gqa (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K), tiny-qwen2, tiny-qwen3, tiny-phi3, tiny-gemma2 and
# tiny-gemma3; each with `--json --logits --prune off` (every prompt position's argmax and the last
# position's logits), `--json --prune paper` (the kept rows, revivals and tokens), greedy, and
# `inspect --json` (the shapes and architecture features); the files `synth` writes (random presets
# in several dtypes, and the needle model); and
# on some of them one thread, the f16 KV cache, exact activations (quantized files run with 8-bit
# activations by default), sampling, and a --batch-file of four prompts (the batched engine).
# Outputs land in build-compare/out/{base,head}/; exit 1 on any difference. BASE must know
# `--exact` (commits since 8-bit activations became the default).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: tools/compare_outputs.sh BASE_COMMIT}
rev=$(git rev-parse --short "$base")
ref=../shared/reference
prompts=$ref/prompts

# The CLI at BASE (tools/build_at.sh builds it once per commit) and the current tree's.
base_bin=$(tools/build_at.sh "$base")
if [ -z "${LAZYLLM:-}" ]; then
  cmake --build build -j"$(nproc)" --target lazyllm_cli >/dev/null
  LAZYLLM=$PWD/build/bin/lazyllm
fi

sample=models/stories260K/stories260K-f32-gguf-v3.gguf
batch=$(mktemp)
trap 'rm -f "$batch"' EXIT
{
  echo '{"prompt": "Once upon a time, there was a little girl", "max_tokens": 12}'
  echo '{"prompt": "The cat sat on the mat and looked at the dog.", "max_tokens": 6, "prune": "off"}'
  echo '{"prompt": "Tom and Lily went to the park. They played with a red ball all day long.", "max_tokens": 10}'
  echo '{"prompt": "One day", "max_tokens": 8, "prune": "1:0.5"}'
} >"$batch"

# name|model|prompt file|flags
cases=(
  "sample-off|$sample|models/stories260K/long_prompt.txt|--prune off --logits"
  "sample-paper|$sample|models/stories260K/long_prompt.txt|--prune paper"
  "sample-paper-t1|$sample|models/stories260K/long_prompt.txt|--prune paper -t 1"
  "sample-paper-f16kv|$sample|models/stories260K/long_prompt.txt|--prune paper --kv-type f16"
  "sample-sampled|$sample|models/stories260K/long_prompt.txt|--prune paper --temp 0.8 --seed 7"
  "sample-batch|$sample||--batch-file $batch"
)
if [ -d "$ref/models" ]; then
  for m in tiny-gqa-f32 tiny-gqa-f16 tiny-gqa-bf16 tiny-gqa-q8_0 tiny-gqa-q4_0 tiny-gqa-q4_k_m tiny-gqa-q6_k tiny-qwen2 \
    tiny-qwen3 tiny-phi3 tiny-gemma2 tiny-gemma3; do
    p=$prompts/medium.txt
    [ "$m" = tiny-gqa-f32 ] && p=$prompts/long_x2.txt
    cases+=("$m-off|$ref/models/$m.gguf|$p|--prune off --logits" "$m-paper|$ref/models/$m.gguf|$p|--prune paper"
      "$m-inspect|$ref/models/$m.gguf||inspect")
  done
  cases+=("tiny-gqa-q4_k_m-exact|$ref/models/tiny-gqa-q4_k_m.gguf|$prompts/medium.txt|--prune paper --exact"
    "tiny-gqa-q8_0-exact|$ref/models/tiny-gqa-q8_0.gguf|$prompts/medium.txt|--prune off --logits --exact")
else
  echo "compare_outputs: $ref not found: only the sample model is compared" >&2
fi

for args in "tiny-gqa --dtype f32" "tiny-gqa --dtype q4_k --seed 3" "smollm2-135m --layers 2 --dtype q6_k" \
  "needle --context 2048" "needle --layers 4 --context 1024 --dtype q8_0"; do
  cases+=("synth-${args// /_}|||synth --preset $args")
done

# Timings differ from run to run; everything else must not.
strip_timings() {
  sed -E 's/"(load_ms|ttft_ms|prefill_tokens_per_s|decode_tokens_per_s|queue_ms)":[-0-9.eE+]+/"\1":0/g'
}

run_all() {  # BINARY OUTDIR
  mkdir -p "$2"
  for c in "${cases[@]}"; do
    IFS='|' read -r name model prompt flags <<<"$c"
    if [ "$flags" = inspect ]; then
      "$1" inspect -m "$model" --json >"$2/$name.out" 2>/dev/null
      continue
    fi
    if [[ $flags == synth* ]]; then
      # shellcheck disable=SC2086
      "$1" $flags -o "$2/$name.out" 2>/dev/null
      continue
    fi
    local args=(run -m "$model" --json -n 16)
    [[ $flags == *--temp* ]] || args+=(--temp 0)
    [[ $flags == *"-t "* ]] || args+=(-t 2)
    [ -n "$prompt" ] && args+=(-f "$prompt")
    # shellcheck disable=SC2206
    args+=($flags)
    "$1" "${args[@]}" 2>/dev/null | strip_timings >"$2/$name.out"
  done
}

out=build-compare/out
rm -rf "$out"
run_all "$base_bin" "$out/base"
run_all "$LAZYLLM" "$out/head"
differ=0
for c in "${cases[@]}"; do
  name=${c%%|*}
  if cmp -s "$out/base/$name.out" "$out/head/$name.out" && [ -s "$out/base/$name.out" ]; then
    echo "identical  $name"
  else
    echo "DIFFERENT  $name ($out/base/$name.out vs $out/head/$name.out)"
    differ=1
  fi
done
echo "compare_outputs: ${#cases[@]} runs against $rev: $([ $differ = 0 ] && echo 'all bit-identical' || echo 'outputs differ')"
exit $differ
