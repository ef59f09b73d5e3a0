// GGUF (versions 2 and 3) reader: memory-mapped, strictly validated metadata and tensor table.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lazyllm/status.h"

namespace lazyllm::gguf {

class Cursor;  // gguf.cc: bounds-checked reads of the mapped bytes

enum class ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
std::string_view ValueTypeName(ValueType t);

// One metadata value. Scalars are widened into u/i/f; strings and string arrays point into
// the mapped file; numeric arrays keep a pointer to their little-endian elements.
struct Value {
  ValueType type = ValueType::kU8;
  uint64_t u = 0;  // unsigned integers and bool
  int64_t i = 0;   // signed integers
  double f = 0.0;  // floats
  std::string_view str;
  // Arrays only.
  ValueType elem_type = ValueType::kU8;
  uint64_t count = 0;
  const uint8_t* elems = nullptr;         // numeric element data (unaligned)
  std::vector<std::string_view> strings;  // string elements
  // The value's bytes as stored after its type id (for copying a value into another file).
  std::string_view raw;

  bool IsInteger() const;
  bool IsFloat() const { return type == ValueType::kF32 || type == ValueType::kF64; }
};

struct TensorInfo {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
  uint32_t type_id = 0;
  uint64_t offset = 0;  // relative to the start of the data section
  int64_t num_elements = 0;
  int64_t num_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping
};

// A GGUF v3 file written from metadata and tensors, tensor data aligned to 32 bytes. Tensor data
// is produced row block by row block by a callback, so a model larger than memory streams through.
class Writer {
 public:
  // Metadata, in order. CopyValue copies a value parsed from another file as it is.
  void CopyValue(std::string_view key, const Value& v);
  void SetU32(std::string_view key, uint32_t v);
  void SetF32(std::string_view key, float v);
  void SetString(std::string_view key, std::string_view v);
  // Arrays of strings, f32 and i32.
  void SetStrings(std::string_view key, const std::vector<std::string>& v);
  void SetF32s(std::string_view key, const std::vector<float>& v);
  void SetI32s(std::string_view key, const std::vector<int32_t>& v);
  // Drops a key set or copied before (no-op when absent).
  void Remove(std::string_view key);

  // A tensor of `dims` (ne[0] first) in GGML type `type_id`, `bytes` long; `fill(out)` writes its
  // bytes when the file is written and returns false (with a message in *error) on failure.
  using Fill = std::function<bool(uint8_t* out, std::string* error)>;
  void AddTensor(std::string name, std::vector<int64_t> dims, uint32_t type_id, int64_t bytes, Fill fill);

  // Writes the file under a temporary name and renames it into place; errors name the path.
  Status Write(const std::string& path) const;

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::string payload;
  };
  void Set(std::string_view key, ValueType type, std::string payload);

  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    uint32_t type_id;
    int64_t bytes;
    Fill fill;
  };
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

class File {
 public:
  // Maps and parses `path`. Every count, length, offset and type is checked against the file
  // size and sane limits first; errors name the file, the item and the value.
  static StatusOr<std::unique_ptr<File>> Open(const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  uint64_t alignment() const { return alignment_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* Find(std::string_view key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

  // Typed getters: NotFound when missing, InvalidArgument naming the key and the actual type
  // when the type does not fit.
  StatusOr<int64_t> GetInt(std::string_view key) const;
  StatusOr<double> GetFloat(std::string_view key) const;  // accepts integers too
  StatusOr<bool> GetBool(std::string_view key) const;
  StatusOr<std::string_view> GetString(std::string_view key) const;
  StatusOr<const std::vector<std::string_view>*> GetStringArray(std::string_view key) const;
  // Numeric arrays converted element-wise.
  StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  // Getters with a default for a missing key (a present key of the wrong type is still an error).
  StatusOr<int64_t> GetIntOr(std::string_view key, int64_t def) const;
  StatusOr<double> GetFloatOr(std::string_view key, double def) const;
  StatusOr<bool> GetBoolOr(std::string_view key, bool def) const;

 private:
  File() = default;
  // Parse's phases, in order: the header, the metadata, general.alignment, the tensor table, the
  // tensors' data, and that no two tensors overlap. Errors name the file, the item and the value.
  Status Parse();
  Status ReadHeader(Cursor& c, uint64_t* n_tensors, uint64_t* n_kv);
  Status ReadMetadata(Cursor& c, uint64_t count);
  Status ReadValue(Cursor& c, const std::string& where, Value* v) const;
  Status ReadArray(Cursor& c, const std::string& where, Value* v) const;
  Status ReadAlignment();
  Status ReadTensorTable(Cursor& c, uint64_t count);
  Status ReadTensorShape(Cursor& c, const std::string& where, TensorInfo* ti) const;
  Status LocateTensorData(uint64_t table_end);
  Status CheckTensorsDisjoint() const;
  // A DataLoss error at the cursor's byte.
  Status Malformed(const Cursor& c, const std::string& what) const;
  std::string Where(std::string_view key) const;

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace lazyllm::gguf
