#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the Release build's tests, then the
# memory-handling suites (file parsing, tokenizer, forward pass, pruning, attention, NUMA placement,
# kernels, quantized dtypes, synth, split models, quantize) again under AddressSanitizer +
# UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLAZYLLM_SANITIZE=ON -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$(nproc)" --target gguf_test tokenizer_test session_test lazyllm_test select_test \
  attention_test numa_test thread_pool_test kernels_test synth_test quants_test split_test quantize_test \
  chat_test append_test
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$PWD/../tools/lsan.supp" ctest --output-on-failure -R '(GgufTest|TokenizerTest|SessionTest|LazyLlmTest|SelectTest|AttentionTest|NumaTest|ThreadPoolTest|KernelsTest|SynthTest|QuantsTest|SplitTest|QuantizeTest|ChatTest|AppendTest|PreTokenizerTest)\.' -j"$(nproc)")
