#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite:
#  1. the Release build's tests;
#  2. every suite again under AddressSanitizer + UndefinedBehaviorSanitizer, in the project's clang
#     build (the CLI tests run the sanitized binary), which also has the libFuzzer targets;
#  3. the threaded suites (thread pool, topology, NUMA, sessions, the batched engine, the
#     scheduler, the server and the concurrency tests) under ThreadSanitizer, with multi-worker engines (TSan builds run the
#     pool's loops on plain std::threads: Debian's oneTBB is not instrumented, see
#     docs/reliability.md);
#  4. the libFuzzer targets, each run shortly on its seed corpus (tools/fuzz.sh --smoke); any
#     crash, leak, hang or sanitizer report fails.
# First of all, every C and C++ source must be as .clang-format formats it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/check_format.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DLAZYLLM_FUZZ=ON -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$(nproc)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$PWD/../tools/lsan.supp" ctest --output-on-failure -j"$(nproc)")
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DLAZYLLM_TSAN=ON -DLAZYLLM_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$(nproc)" --target thread_pool_test topology_test numa_test session_test batch_test \
  scheduler_test server_test
# The threaded suites, less the long reference-numerics tests (100x slower under TSan, and no
# more threaded than the rest).
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/../tools/tsan.supp" ctest --output-on-failure -j"$(nproc)" \
  -R '^(ThreadPool|SpinTeam|Workers|Context|Topology|Numa|Session|MappedFile|Batch|GenerateBatch|Concurrency|Scheduler|Server|ServeProcess|LayerSplitPrefill)[A-Za-z]*Test\.' \
  -E '(MatchesFloat64Reference|MatchesLlamaCpp|Int8Activation|BatchEqualsSoloOnTheSampleModel|BatchEqualsSoloOnQuantized|CutsChangeNothing|CutsInsideLayers)')
LAZYLLM_FUZZ_BUILD=build-asan tools/fuzz.sh --smoke 10
