// Opening and parsing GGUF files, with bounds checks on every read; see gguf.h.
#include "core/io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/base/status_macros.h"
#include "core/io/gguf_cursor.h"
#include "core/io/mapping_guard.h"
#include "simd/dtype.h"

namespace lazyllm::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint64_t kMaxKeyLength = 1 << 16;
constexpr uint64_t kMaxTensorNameLength = 1 << 12;
constexpr uint64_t kMaxAlignment = 1 << 20;
constexpr uint32_t kMaxDims = 4;

}  // namespace

File::~File() {
  if (base_ == nullptr) return;
  internal::UnregisterMapping(base_);
  munmap(const_cast<uint8_t*>(base_), size_);
}

StatusOr<std::unique_ptr<File>> File::Open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFoundError(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(path + ": not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ < 4 + 4 + 8 + 8) {
    ::close(fd);
    return DataLossError(path + ": file too small to be GGUF (" + std::to_string(f->size_) + " bytes)");
  }
  void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return InternalError(path + ": mmap failed: " + std::strerror(errno));
  f->base_ = static_cast<const uint8_t*>(p);
  internal::RegisterMapping(p, f->size_, path);
  LAZYLLM_RETURN_IF_ERROR(f->Parse());
  return f;
}

Status File::Parse() {
  Cursor c(base_, size_);
  uint64_t n_tensors = 0, n_kv = 0;
  LAZYLLM_RETURN_IF_ERROR(ReadHeader(c, &n_tensors, &n_kv));
  LAZYLLM_RETURN_IF_ERROR(ReadMetadata(c, n_kv));
  LAZYLLM_RETURN_IF_ERROR(ReadAlignment());
  LAZYLLM_RETURN_IF_ERROR(ReadTensorTable(c, n_tensors));
  LAZYLLM_RETURN_IF_ERROR(LocateTensorData(c.pos()));
  return CheckTensorsDisjoint();
}

Status File::Malformed(const Cursor& c, const std::string& what) const {
  return DataLossError(path_ + ": " + what + " (at byte " + std::to_string(c.pos()) + ")");
}

// Magic, version (2 or 3) and the counts, which must fit what the file can hold: the smallest
// key/value is 8 (key length) + 4 (type) + 1 (u8 value) bytes, the smallest tensor entry at
// least 8 + 4 + 8 + 4 + 8, so absurd counts are refused before anything is allocated.
Status File::ReadHeader(Cursor& c, uint64_t* n_tensors, uint64_t* n_kv) {
  uint32_t magic = 0;
  (void)c.Read(&magic);
  if (magic != kMagic) return DataLossError(path_ + ": not a GGUF file (bad magic)");
  (void)c.Read(&version_);
  if (version_ == 1) return UnimplementedError(path_ + ": unsupported GGUF version 1 (only 2 and 3 are read)");
  if (version_ != 2 && version_ != 3)
    return UnimplementedError(path_ + ": unsupported GGUF version " + std::to_string(version_));
  (void)c.Read(n_tensors);
  (void)c.Read(n_kv);
  if (*n_kv > c.remaining() / 13)
    return Malformed(c, "metadata count " + std::to_string(*n_kv) + " exceeds what the file can hold");
  if (*n_tensors > c.remaining() / 32)
    return Malformed(c, "tensor count " + std::to_string(*n_tensors) + " exceeds what the file can hold");
  return OkStatus();
}

// The key/value pairs: unique keys of at most kMaxKeyLength bytes, known value types, strings
// and arrays within the file, no nested arrays, bools 0 or 1.
Status File::ReadMetadata(Cursor& c, uint64_t count) {
  kv_.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    const std::string idx = "metadata entry #" + std::to_string(k);
    std::string_view key;
    uint64_t len = 0;
    if (!c.ReadString(&key, kMaxKeyLength, &len))
      return Malformed(c, idx + ": truncated or bad key length " + std::to_string(len));
    const std::string where = idx + " ('" + std::string(key) + "')";
    if (kv_index_.count(std::string(key))) return Malformed(c, where + ": duplicate key");
    uint32_t type_raw;
    if (!c.Read(&type_raw)) return Malformed(c, where + ": truncated before the value type");
    if (!KnownValueType(type_raw)) return Malformed(c, where + ": unknown value type " + std::to_string(type_raw));
    Value v;
    v.type = static_cast<ValueType>(type_raw);
    const uint64_t value_start = c.pos();
    LAZYLLM_RETURN_IF_ERROR(ReadValue(c, where, &v));
    v.raw = std::string_view(reinterpret_cast<const char*>(base_ + value_start), c.pos() - value_start);
    kv_index_.emplace(std::string(key), kv_.size());
    kv_.emplace_back(std::string(key), std::move(v));
  }
  return OkStatus();
}

// One value of type v->type: a string, an array (ReadArray) or a scalar.
Status File::ReadValue(Cursor& c, const std::string& where, Value* v) const {
  uint64_t len = 0;
  if (v->type == ValueType::kString) {
    if (!c.ReadString(&v->str, std::numeric_limits<uint64_t>::max(), &len))
      return Malformed(c, where + ": string length " + std::to_string(len) + " runs past the end of the file");
    return OkStatus();
  }
  if (v->type == ValueType::kArray) return ReadArray(c, where, v);
  if (!ReadScalar(c, v->type, v))
    return Malformed(c, where + ": truncated or invalid " + std::string(ValueTypeName(v->type)) + " value");
  return OkStatus();
}

// An array: its element type (not an array) and count, then its strings, or its numbers kept in
// place (bools checked to be 0 or 1).
Status File::ReadArray(Cursor& c, const std::string& where, Value* v) const {
  uint32_t et;
  if (!c.Read(&et) || !c.Read(&v->count)) return Malformed(c, where + ": truncated array header");
  if (!KnownValueType(et)) return Malformed(c, where + ": unknown array element type " + std::to_string(et));
  v->elem_type = static_cast<ValueType>(et);
  if (v->elem_type == ValueType::kArray) return Malformed(c, where + ": nested arrays are not supported");
  if (v->elem_type == ValueType::kString) {
    if (v->count > c.remaining() / 8)
      return Malformed(c, where + ": array count " + std::to_string(v->count) + " exceeds what the file can hold");
    v->strings.resize(v->count);
    for (uint64_t j = 0; j < v->count; ++j) {
      uint64_t len = 0;
      if (!c.ReadString(&v->strings[j], std::numeric_limits<uint64_t>::max(), &len))
        return Malformed(c, where + ": string element " + std::to_string(j) + " of length " + std::to_string(len) +
                                " runs past the end of the file");
    }
    return OkStatus();
  }
  const uint64_t es = ScalarSize(v->elem_type);
  if (v->count > c.remaining() / es)
    return Malformed(c, where + ": array count " + std::to_string(v->count) + " exceeds what the file can hold");
  v->elems = c.Here();
  if (v->elem_type == ValueType::kBool) {
    for (uint64_t j = 0; j < v->count; ++j)
      if (v->elems[j] > 1) return Malformed(c, where + ": bool element " + std::to_string(j) + " is not 0 or 1");
  }
  c.Skip(v->count * es);
  return OkStatus();
}

// general.alignment: a u32 power of two up to kMaxAlignment (32 when absent).
Status File::ReadAlignment() {
  const Value* a = Find("general.alignment");
  if (a == nullptr) return OkStatus();
  if (a->type != ValueType::kU32)
    return DataLossError(path_ + ": general.alignment must be u32, got " + std::string(ValueTypeName(a->type)));
  if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > kMaxAlignment)
    return DataLossError(path_ + ": general.alignment " + std::to_string(a->u) + " is not a power of two up to " +
                         std::to_string(kMaxAlignment));
  alignment_ = a->u;
  return OkStatus();
}

// The tensor table: unique names, 1 to 4 dimensions of 1..2^40 elements (at most 2^50 in all), a
// known dtype whose block divides the rows, and aligned data offsets.
Status File::ReadTensorTable(Cursor& c, uint64_t count) {
  tensors_.reserve(count);
  for (uint64_t t = 0; t < count; ++t) {
    const std::string idx = "tensor #" + std::to_string(t);
    TensorInfo ti;
    std::string_view name;
    uint64_t len = 0;
    if (!c.ReadString(&name, kMaxTensorNameLength, &len))
      return Malformed(c, idx + ": truncated or bad name length " + std::to_string(len));
    ti.name = std::string(name);
    const std::string where = idx + " ('" + ti.name + "')";
    if (tensor_index_.count(ti.name)) return Malformed(c, where + ": duplicate tensor name");
    LAZYLLM_RETURN_IF_ERROR(ReadTensorShape(c, where, &ti));
    if (!c.Read(&ti.offset)) return Malformed(c, where + ": truncated before the data offset");
    if (ti.offset % alignment_ != 0)
      return Malformed(c, where + ": data offset " + std::to_string(ti.offset) +
                              " is not a multiple of the alignment " + std::to_string(alignment_));
    tensor_index_.emplace(ti.name, tensors_.size());
    tensors_.push_back(std::move(ti));
  }
  return OkStatus();
}

// A tensor's dimensions and dtype, and the bytes they make.
Status File::ReadTensorShape(Cursor& c, const std::string& where, TensorInfo* ti) const {
  if (!c.Read(&ti->n_dims)) return Malformed(c, where + ": truncated before n_dims");
  if (ti->n_dims == 0 || ti->n_dims > kMaxDims)
    return Malformed(c, where + ": n_dims " + std::to_string(ti->n_dims) + " is outside 1..4");
  uint64_t elems = 1;
  for (uint32_t d = 0; d < ti->n_dims; ++d) {
    uint64_t ne;
    if (!c.Read(&ne)) return Malformed(c, where + ": truncated dimensions");
    if (ne == 0 || ne > (uint64_t{1} << 40))
      return Malformed(c, where + ": dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is out of range");
    if (elems > (uint64_t{1} << 50) / ne) return Malformed(c, where + ": element count overflows");
    elems *= ne;
    ti->ne[d] = static_cast<int64_t>(ne);
  }
  ti->num_elements = static_cast<int64_t>(elems);
  if (!c.Read(&ti->type_id)) return Malformed(c, where + ": truncated before the dtype");
  const simd::DTypeInfo* tt = simd::FindDType(ti->type_id);
  if (tt == nullptr) return Malformed(c, where + ": unknown dtype id " + std::to_string(ti->type_id));
  if (ti->ne[0] % tt->block_elems != 0)
    return Malformed(c, where + ": row length " + std::to_string(ti->ne[0]) + " is not a multiple of the " + tt->name +
                            " block size " + std::to_string(tt->block_elems));
  ti->num_bytes = static_cast<int64_t>(elems / static_cast<uint64_t>(tt->block_elems)) * tt->block_bytes;
  return OkStatus();
}

// The data section starts at the next multiple of the alignment after the tensor table; every
// tensor's bytes must lie inside it, at a multiple of what its dtype's kernels read (floats,
// fp16 scales), which a file with general.alignment < 4 need not give.
Status File::LocateTensorData(uint64_t table_end) {
  const uint64_t data_start = (table_end + alignment_ - 1) / alignment_ * alignment_;
  if (!tensors_.empty() && data_start > size_)
    return DataLossError(path_ + ": data section starts at byte " + std::to_string(data_start) +
                         ", past the end of the file (" + std::to_string(size_) + " bytes)");
  const uint64_t data_size = tensors_.empty() ? 0 : size_ - data_start;
  for (TensorInfo& ti : tensors_) {
    const auto bytes = static_cast<uint64_t>(ti.num_bytes);
    if (ti.offset > data_size || bytes > data_size - ti.offset)
      return DataLossError(path_ + ": tensor '" + ti.name + "' data [" + std::to_string(ti.offset) + ", +" +
                           std::to_string(bytes) + ") runs past the end of the file (data section holds " +
                           std::to_string(data_size) + " bytes)");
    const simd::DTypeInfo* tt = simd::FindDType(ti.type_id);
    const auto block = static_cast<uint64_t>(tt->block_bytes);
    const uint64_t need = std::min<uint64_t>(block & (~block + 1), 8);  // the largest power of two dividing it
    if ((data_start + ti.offset) % need != 0)
      return DataLossError(path_ + ": tensor '" + ti.name + "' data at file offset " +
                           std::to_string(data_start + ti.offset) + " is not aligned to the " + std::to_string(need) +
                           " bytes its dtype " + std::string(tt->name) + " needs (general.alignment " +
                           std::to_string(alignment_) + ")");
    ti.data = base_ + data_start + ti.offset;
  }
  return OkStatus();
}

// Tensors may not share bytes: a file whose tensors overlap is corrupt or crafted (two weights
// that alias each other would be read as independent).
Status File::CheckTensorsDisjoint() const {
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const TensorInfo& ti : tensors_) by_offset.push_back(&ti);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& cur = *by_offset[i];
    if (prev.num_bytes > 0 && cur.offset < prev.offset + static_cast<uint64_t>(prev.num_bytes))
      return DataLossError(path_ + ": tensor '" + cur.name + "' data at offset " + std::to_string(cur.offset) +
                           " overlaps tensor '" + prev.name + "' [" + std::to_string(prev.offset) + ", +" +
                           std::to_string(prev.num_bytes) + ")");
  }
  return OkStatus();
}

}  // namespace lazyllm::gguf
