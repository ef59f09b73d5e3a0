// GGUF v3 writer: metadata copied or set by key, tensor data streamed from callbacks, written
// under a temporary name and renamed into place.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/base/status_macros.h"
#include "core/io/gguf.h"
#include "core/io/output_file.h"

namespace lazyllm::gguf {
namespace {

constexpr uint64_t kAlign = 32;

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PutString(std::string& out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out.append(s);
}

}  // namespace

void Writer::Remove(std::string_view key) {
  std::erase_if(kvs_, [&](const Kv& kv) { return kv.key == key; });
}

void Writer::CopyValue(std::string_view key, const Value& v) {
  Remove(key);
  kvs_.push_back({std::string(key), static_cast<uint32_t>(v.type), std::string(v.raw)});
}

void Writer::Set(std::string_view key, ValueType type, std::string payload) {
  Remove(key);
  kvs_.push_back({std::string(key), static_cast<uint32_t>(type), std::move(payload)});
}

void Writer::SetU32(std::string_view key, uint32_t v) {
  std::string payload;
  Put(payload, v);
  Set(key, ValueType::kU32, std::move(payload));
}

void Writer::SetF32(std::string_view key, float v) {
  std::string payload;
  Put(payload, v);
  Set(key, ValueType::kF32, std::move(payload));
}

void Writer::SetString(std::string_view key, std::string_view v) {
  std::string payload;
  PutString(payload, v);
  Set(key, ValueType::kString, std::move(payload));
}

namespace {
// An array payload: the element type, the count, then each element as `put` writes it.
template <typename T, typename PutFn>
std::string ArrayPayload(ValueType elem, const std::vector<T>& v, PutFn put) {
  std::string payload;
  Put<uint32_t>(payload, static_cast<uint32_t>(elem));
  Put<uint64_t>(payload, v.size());
  for (const T& x : v) put(payload, x);
  return payload;
}
}  // namespace

void Writer::SetStrings(std::string_view key, const std::vector<std::string>& v) {
  Set(key, ValueType::kArray, ArrayPayload(ValueType::kString, v, PutString));
}

void Writer::SetF32s(std::string_view key, const std::vector<float>& v) {
  Set(key, ValueType::kArray, ArrayPayload(ValueType::kF32, v, Put<float>));
}

void Writer::SetI32s(std::string_view key, const std::vector<int32_t>& v) {
  Set(key, ValueType::kArray, ArrayPayload(ValueType::kI32, v, Put<int32_t>));
}

void Writer::AddTensor(std::string name, std::vector<int64_t> dims, uint32_t type_id, int64_t bytes, Fill fill) {
  tensors_.push_back({std::move(name), std::move(dims), type_id, bytes, std::move(fill)});
}

Status Writer::Write(const std::string& path) const {
  std::string head;
  Put<uint32_t>(head, 0x46554747);  // "GGUF"
  Put<uint32_t>(head, 3);
  Put<uint64_t>(head, tensors_.size());
  Put<uint64_t>(head, kvs_.size());
  for (const Kv& kv : kvs_) {
    PutString(head, kv.key);
    Put<uint32_t>(head, kv.type);
    head.append(kv.payload);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    PutString(head, t.name);
    Put<uint32_t>(head, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) Put<uint64_t>(head, static_cast<uint64_t>(d));
    Put<uint32_t>(head, t.type_id);
    Put<uint64_t>(head, offset);
    offset += (static_cast<uint64_t>(t.bytes) + kAlign - 1) / kAlign * kAlign;
  }
  head.resize((head.size() + kAlign - 1) / kAlign * kAlign, '\0');

  LAZYLLM_ASSIGN_OR_RETURN(OutputFile f, OutputFile::Create(path));
  auto fail = [&](const std::string& why) { return DataLossError("writing '" + path + "' failed: " + why); };
  if (std::fwrite(head.data(), 1, head.size(), f.get()) != head.size()) return fail(std::strerror(errno));
  std::vector<uint8_t> data;
  static const uint8_t kZeros[kAlign] = {};
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    data.resize(static_cast<size_t>(t.bytes));
    std::string error;
    if (!t.fill(data.data(), &error)) return fail("tensor '" + t.name + "': " + error);
    if (std::fwrite(data.data(), 1, data.size(), f.get()) != data.size()) return fail(std::strerror(errno));
    const uint64_t pad = (kAlign - static_cast<uint64_t>(t.bytes) % kAlign) % kAlign;
    if (i + 1 < tensors_.size() && std::fwrite(kZeros, 1, pad, f.get()) != pad) return fail(std::strerror(errno));
  }
  return f.Commit();
}

}  // namespace lazyllm::gguf
