#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the Release build's tests, then every suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer (the CLI tests run the sanitized
# binary), and the concurrent use of engines from several
# threads under ThreadSanitizer (with single-worker engines: Debian's oneTBB is not instrumented,
# so TSan cannot see its task synchronisation and reports false races inside parallel loops), and
# a clang build of the library and CLI (fuzzing needs clang).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLAZYLLM_SANITIZE=ON -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$(nproc)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$PWD/../tools/lsan.supp" ctest --output-on-failure -j"$(nproc)")
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DLAZYLLM_TSAN=ON -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$(nproc)" --target batch_test
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R 'ConcurrencyTest\.' -j"$(nproc)")
CC=clang CXX=clang++ cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DLAZYLLM_BUILD_TESTS=OFF -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-clang -j"$(nproc)"
build-clang/bin/lazyllm run -m models/stories260K/stories260K-f32-gguf-v3.gguf -p "Once upon a time" -n 8 --temp 0 --prune off >/dev/null
