// Files lazyllm writes (synth, quantize): created under a unique temporary name in the target's
// folder and renamed over the target when complete.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "lazyllm/status.h"

namespace lazyllm {

// The temporary is made with mkstemp (O_CREAT | O_EXCL, an unpredictable name), so a name or a
// symbolic link planted beside the target is never opened. The target must be absent or a regular
// file (a symbolic link, device node, FIFO or folder is refused, never replaced). A reader never
// sees a half-written file, and one that has the old file mapped keeps its inode.
class OutputFile {
 public:
  static StatusOr<OutputFile> Create(const std::string& path);
  OutputFile(OutputFile&&) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  // Removes the temporary unless Commit succeeded.
  ~OutputFile();

  FILE* get() const { return file_; }
  // Flushes, closes and renames the temporary over the target (mode 0644).
  Status Commit();

 private:
  OutputFile(std::string path, std::string tmp, FILE* file)
      : path_(std::move(path)), tmp_(std::move(tmp)), file_(file) {}
  std::string path_, tmp_;
  FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace lazyllm
