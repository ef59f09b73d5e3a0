// Typed access to a GGUF file's metadata and tensor table: lookups and getters whose errors
// name the key and the type found.
#include <limits>

#include "core/io/gguf.h"
#include "core/io/gguf_cursor.h"

namespace lazyllm::gguf {

std::string_view ValueTypeName(ValueType t) {
  static const char* const kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

bool Value::IsInteger() const {
  switch (type) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kU16:
    case ValueType::kI16:
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kU64:
    case ValueType::kI64:
      return true;
    default:
      return false;
  }
}

const Value* File::Find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::string File::Where(std::string_view key) const { return path_ + ": metadata key '" + std::string(key) + "'"; }

namespace {
Status WrongType(const std::string& where, const Value& v, const char* expected) {
  std::string got(ValueTypeName(v.type));
  if (v.type == ValueType::kArray) got += " of " + std::string(ValueTypeName(v.elem_type));
  return InvalidArgumentError(where + " has type " + got + ", expected " + expected);
}
}  // namespace

StatusOr<int64_t> File::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  if (!v->IsInteger()) return WrongType(Where(key), *v, "an integer");
  if (v->type == ValueType::kU64 && v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return InvalidArgumentError(Where(key) + " value " + std::to_string(v->u) + " is out of range");
  return v->i;
}

StatusOr<double> File::GetFloat(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  if (v->IsFloat()) return v->f;
  if (v->IsInteger()) return static_cast<double>(v->i);
  return WrongType(Where(key), *v, "a number");
}

StatusOr<bool> File::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  if (v->type != ValueType::kBool) return WrongType(Where(key), *v, "bool");
  return v->u != 0;
}

StatusOr<std::string_view> File::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  if (v->type != ValueType::kString) return WrongType(Where(key), *v, "string");
  return v->str;
}

StatusOr<const std::vector<std::string_view>*> File::GetStringArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  if (v->type != ValueType::kArray || v->elem_type != ValueType::kString)
    return WrongType(Where(key), *v, "array of string");
  return &v->strings;
}

StatusOr<std::vector<float>> File::GetFloatArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  if (v->type != ValueType::kArray || (v->elem_type != ValueType::kF32 && v->elem_type != ValueType::kF64))
    return WrongType(Where(key), *v, "array of f32");
  std::vector<float> out(v->count);
  for (uint64_t j = 0; j < v->count; ++j) {
    if (v->elem_type == ValueType::kF32) {
      std::memcpy(&out[j], v->elems + 4 * j, 4);
    } else {
      double d;
      std::memcpy(&d, v->elems + 8 * j, 8);
      out[j] = static_cast<float>(d);
    }
  }
  return out;
}

StatusOr<std::vector<int64_t>> File::GetIntArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return NotFoundError(Where(key) + " is missing");
  Value probe;
  probe.type = v->elem_type;
  if (v->type != ValueType::kArray || !probe.IsInteger()) return WrongType(Where(key), *v, "array of integers");
  std::vector<int64_t> out(v->count);
  Cursor c(v->elems, v->count * ScalarSize(v->elem_type));
  for (uint64_t j = 0; j < v->count; ++j) {
    Value e;
    ReadScalar(c, v->elem_type, &e);
    out[j] = e.i;
  }
  return out;
}

StatusOr<int64_t> File::GetIntOr(std::string_view key, int64_t def) const {
  return Find(key) ? GetInt(key) : StatusOr<int64_t>(def);
}
StatusOr<double> File::GetFloatOr(std::string_view key, double def) const {
  return Find(key) ? GetFloat(key) : StatusOr<double>(def);
}
StatusOr<bool> File::GetBoolOr(std::string_view key, bool def) const {
  return Find(key) ? GetBool(key) : StatusOr<bool>(def);
}

}  // namespace lazyllm::gguf
