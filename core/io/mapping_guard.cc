#include "core/io/mapping_guard.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace lazyllm::internal {
namespace {

// Slots are claimed and released under a mutex; the signal handler only reads the atomics
// (lock-free, so async-signal-safe). A slot's path is written before its base is published.
struct Slot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> size{0};
  char path[480] = {};
};

Slot g_slots[kMaxMappings];
std::mutex g_mu;
struct sigaction g_previous;

// Async-signal-safe output.
void Put(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void PutNumber(uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  *--p = '\0';
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  Put(p);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const Slot& s : g_slots) {
    const uintptr_t base = s.base.load(std::memory_order_acquire);
    if (base == 0 || addr < base || addr - base >= s.size.load(std::memory_order_relaxed)) continue;
    Put("lazyllm: the model file '");
    Put(s.path);
    Put("' changed while in use: reading offset ");
    PutNumber(addr - base);
    Put(" failed (SIGBUS), the file was truncated or rewritten after it was loaded. Replace a model file "
        "by writing a new file and renaming it over the old one, never in place.\n");
    _exit(kMappedFileChangedExit);
  }
  // Not a model file: what would have happened without this handler.
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  } else {
    // The default action: restored here, it ends the process when the faulting access repeats.
    signal(SIGBUS, SIG_DFL);
  }
}

void InstallOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous);
  });
}

}  // namespace

void RegisterMapping(const void* base, size_t size, const std::string& path) {
  InstallOnce();
  std::lock_guard<std::mutex> lock(g_mu);
  for (Slot& s : g_slots) {
    if (s.base.load(std::memory_order_relaxed) != 0) continue;
    const size_t n = std::min(path.size(), sizeof s.path - 1);
    std::memcpy(s.path, path.data(), n);
    s.path[n] = '\0';
    s.size.store(size, std::memory_order_relaxed);
    s.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return;
  }
}

void UnregisterMapping(const void* base) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (Slot& s : g_slots)
    if (s.base.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(base))
      s.base.store(0, std::memory_order_release);
}

}  // namespace lazyllm::internal
