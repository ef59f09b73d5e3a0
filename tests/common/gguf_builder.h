// Writes GGUF files for tests: valid ones, and hand-corrupted ones for the malformed-file suite.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace lazyllm::testing {

// Appends little-endian GGUF primitives to a byte buffer.
class GgufBytes {
 public:
  std::vector<uint8_t> bytes;

  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void Str(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  size_t size() const { return bytes.size(); }
  void Pad(size_t align) {
    while (bytes.size() % align) bytes.push_back(0);
  }
};

// A GGUF v3 file described by metadata and tensors, serialised on Build().
class GgufBuilder {
 public:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::vector<uint8_t> data;
  };

  uint32_t version = 3;
  uint32_t alignment = 32;

  // Metadata values, pre-encoded (type id + payload).
  void KvU32(const std::string& k, uint32_t v) { Kv(k, 4, Raw(v)); }
  void KvF32(const std::string& k, float v) { Kv(k, 6, Raw(v)); }
  void KvBool(const std::string& k, bool v) { Kv(k, 7, Raw<uint8_t>(v)); }
  void KvStr(const std::string& k, const std::string& v) {
    GgufBytes b;
    b.Str(v);
    Kv(k, 8, b.bytes);
  }
  void KvStrArray(const std::string& k, const std::vector<std::string>& v) {
    GgufBytes b;
    b.Put<uint32_t>(8);
    b.Put<uint64_t>(v.size());
    for (const auto& s : v) b.Str(s);
    Kv(k, 9, b.bytes);
  }
  template <typename T>
  void KvArray(const std::string& k, uint32_t elem_type, const std::vector<T>& v) {
    GgufBytes b;
    b.Put<uint32_t>(elem_type);
    b.Put<uint64_t>(v.size());
    for (const T& x : v) b.Put<T>(x);
    Kv(k, 9, b.bytes);
  }
  void Kv(const std::string& k, uint32_t type, const std::vector<uint8_t>& payload) {
    kvs_.push_back({k, type, payload});
  }

  void AddTensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, std::vector<uint8_t> data) {
    tensors_.push_back({name, std::move(dims), type, std::move(data)});
  }
  void AddF32(const std::string& name, std::vector<uint64_t> dims, const std::vector<float>& v) {
    std::vector<uint8_t> d(v.size() * 4);
    std::memcpy(d.data(), v.data(), d.size());
    AddTensor(name, std::move(dims), 0, std::move(d));
  }

  // Offsets of the sections in the last Build(), for targeted corruption.
  size_t kv_start = 0, tensor_info_start = 0, data_start = 0;

  std::vector<uint8_t> Build() {
    GgufBytes b;
    b.Put<uint32_t>(0x46554747);
    b.Put<uint32_t>(version);
    b.Put<uint64_t>(tensors_.size());
    b.Put<uint64_t>(kvs_.size());
    kv_start = b.size();
    for (const auto& kv : kvs_) {
      b.Str(kv.key);
      b.Put<uint32_t>(kv.type);
      b.bytes.insert(b.bytes.end(), kv.payload.begin(), kv.payload.end());
    }
    tensor_info_start = b.size();
    uint64_t off = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      b.Str(t.name);
      b.Put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) b.Put<uint64_t>(d);
      b.Put<uint32_t>(t.type);
      b.Put<uint64_t>(off);
      offsets.push_back(off);
      off += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    b.Pad(alignment);
    data_start = b.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      b.bytes.insert(b.bytes.end(), tensors_[i].data.begin(), tensors_[i].data.end());
      if (i + 1 < tensors_.size()) b.Pad(alignment);
    }
    return b.bytes;
  }

 private:
  struct KvEntry {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> payload;
  };
  template <typename T>
  static std::vector<uint8_t> Raw(T v) {
    std::vector<uint8_t> out(sizeof(T));
    std::memcpy(out.data(), &v, sizeof(T));
    return out;
  }
  std::vector<KvEntry> kvs_;
  std::vector<Tensor> tensors_;
};

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace lazyllm::testing
