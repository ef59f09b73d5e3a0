// Bounds-checked reading of GGUF bytes: a cursor over the mapped file and its scalar readers
// (internal to core/io).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "core/io/gguf.h"

namespace lazyllm::gguf {

// Bounds-checked little-endian cursor over the mapped bytes.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size) : base_(base), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  bool Read(T* out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  bool ReadString(std::string_view* out, uint64_t max_len, uint64_t* len_out) {
    uint64_t len = 0;
    if (!Read(&len)) return false;
    *len_out = len;
    if (len > max_len || len > remaining()) return false;
    *out = std::string_view(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return true;
  }

  const uint8_t* Here() const { return base_ + pos_; }
  bool Skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// The bytes one scalar of type t takes (0 for strings and arrays).
inline uint64_t ScalarSize(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      return 1;
    case ValueType::kU16:
    case ValueType::kI16:
      return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32:
      return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64:
      return 8;
    default:
      return 0;
  }
}

inline bool KnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kF64); }

// Reads a T at c into v: floats into f; integers into i, and unsigned ones into u as well.
template <typename T>
bool ReadAs(Cursor& c, Value* v) {
  T x;
  if (!c.Read(&x)) return false;
  if constexpr (std::is_floating_point_v<T>) {
    v->f = x;
  } else {
    v->i = static_cast<int64_t>(x);
    if constexpr (std::is_unsigned_v<T>) v->u = x;
  }
  return true;
}

// Reads one scalar (non-string, non-array) of type t at c into v.
inline bool ReadScalar(Cursor& c, ValueType t, Value* v) {
  switch (t) {
    case ValueType::kU8:
      return ReadAs<uint8_t>(c, v);
    case ValueType::kI8:
      return ReadAs<int8_t>(c, v);
    case ValueType::kU16:
      return ReadAs<uint16_t>(c, v);
    case ValueType::kI16:
      return ReadAs<int16_t>(c, v);
    case ValueType::kU32:
      return ReadAs<uint32_t>(c, v);
    case ValueType::kI32:
      return ReadAs<int32_t>(c, v);
    case ValueType::kU64:
      return ReadAs<uint64_t>(c, v);
    case ValueType::kI64:
      return ReadAs<int64_t>(c, v);
    case ValueType::kF32:
      return ReadAs<float>(c, v);
    case ValueType::kF64:
      return ReadAs<double>(c, v);
    case ValueType::kBool:
      return ReadAs<uint8_t>(c, v) && v->u <= 1;
    default:
      return false;
  }
}

}  // namespace lazyllm::gguf
