// Status and StatusOr: how every fallible lazyllm call reports errors (the library never aborts on user input).
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "lazyllm/export.h"

namespace lazyllm {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // a bad option, flag or input value
  kNotFound,           // a missing file, key or tensor
  kDataLoss,           // a malformed or truncated file
  kUnimplemented,      // valid but unsupported (a GGUF version, a dtype, an architecture)
  kOutOfRange,         // e.g. a prompt longer than the context
  kInternal,           // an internal invariant failed
  kResourceExhausted,  // a configured limit (e.g. the KV memory pool) has no room
  kCancelled,          // the caller's callback asked to stop
};

// "OK", "INVALID_ARGUMENT", ... as in absl/gRPC.
inline std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kDataLoss:
      return "DATA_LOSS";
    case StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case StatusCode::kInternal:
      return "INTERNAL";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // A human-readable message naming the file, field and value involved; empty when ok().
  const std::string& message() const { return message_; }
  // "OK", or the code's name and the message: "NOT_FOUND: model.gguf: cannot open ...".
  std::string ToString() const {
    return ok() ? std::string("OK") : std::string(StatusCodeName(code_)) + ": " + message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status UnimplementedError(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status OutOfRangeError(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status ResourceExhaustedError(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

// Either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }
  StatusOr(T value) : v_(std::move(value)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? OkStatus() : std::get<Status>(v_); }

  // Precondition: ok(). Otherwise the process ends (abort) with the error on stderr, as
  // absl::StatusOr does, rather than with an unexplained std::bad_variant_access.
  T& value() & { return CheckOk(), *std::get_if<T>(&v_); }
  const T& value() const& { return CheckOk(), *std::get_if<T>(&v_); }
  T&& value() && { return CheckOk(), std::move(*std::get_if<T>(&v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void CheckOk() const {
    if (ok()) return;
    std::fprintf(stderr, "lazyllm: the value of a StatusOr that holds an error was accessed: %s\n",
                 std::get<Status>(v_).ToString().c_str());
    std::abort();
  }

  std::variant<Status, T> v_;
};

}  // namespace lazyllm
