// LAZYLLM_CHECK: the always-on check of invariants no user input can break (kernel preconditions,
// a (token, layer) pair computed twice, KV page accounting). A failure prints file:line, the
// condition and the values streamed into it, and aborts: it is a bug in lazyllm. Whatever a user
// can cause (a bad file, option or input) is reported as a Status instead. It lives in simd/, the
// bottom of the dependency order, so that every folder can use it.
//
//   LAZYLLM_CHECK(row >= 0) << "layer " << layer << " slot " << slot;
#pragma once

#include <ostream>
#include <sstream>
#include <string>

namespace lazyllm::internal {

// Collects the message of a failed check; its destructor prints it and aborts.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;
  std::ostream& stream() { return values_; }

 private:
  std::string where_;  // "file:line: condition"
  std::ostringstream values_;
};

// Turns the streamed failure into a void expression, so the macro is one expression.
struct CheckVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace lazyllm::internal

#define LAZYLLM_CHECK(condition)                    \
  __builtin_expect(static_cast<bool>(condition), 1) \
      ? (void)0                                     \
      : ::lazyllm::internal::CheckVoidify() &       \
            ::lazyllm::internal::CheckFailure(__FILE__, __LINE__, #condition).stream()
