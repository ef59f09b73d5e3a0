#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the Release build's tests, then the
# malformed-file and tokenizer suites again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLAZYLLM_SANITIZE=ON -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$(nproc)" --target gguf_test tokenizer_test session_test lazyllm_test select_test
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -R '(GgufTest|TokenizerTest|SessionTest|LazyLlmTest|SelectTest)\.' -j"$(nproc)")
