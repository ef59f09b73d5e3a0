// PerThread<T>: one T per thread that touches it, kept until the owner is destroyed (per-thread
// scratch of parallel loops). oneTBB's enumerable_thread_specific, except in ThreadSanitizer
// builds: there its storage comes from oneTBB's uninstrumented allocator, whose reuse of memory
// between threads TSan cannot see, so plain thread_local storage (fully visible to TSan) stands in.
#pragma once

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <unordered_map>

#include "threading/thread_pool.h"

namespace lazyllm::threading {

#ifdef LAZYLLM_PLAIN_THREAD_LOOPS
template <typename T>
class PerThread {
 public:
  // Each thread's items live in its own thread_local map, keyed by owner, and go with the
  // thread (plain-thread loops start new threads, so thread ids are reused: no keying by them).
  T& local() {
    thread_local std::unordered_map<const PerThread*, T> items;
    return items[this];
  }
};
#else
template <typename T>
using PerThread = tbb::enumerable_thread_specific<T>;
#endif

}  // namespace lazyllm::threading
