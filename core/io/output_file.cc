// OutputFile: mkstemp beside the target, then rename.
#include "core/io/output_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace lazyllm {

StatusOr<OutputFile> OutputFile::Create(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("output path is empty");
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return InvalidArgumentError("cannot write '" + path + "': it exists and is not a regular file");
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmpl = dir + "/." + base + ".XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) return InvalidArgumentError("cannot create '" + path + "': " + std::strerror(errno));
  FILE* f = fdopen(fd, "wb");
  if (f == nullptr) {
    const int err = errno;
    close(fd);
    unlink(name.data());
    return InvalidArgumentError("cannot create '" + path + "': " + std::strerror(err));
  }
  return OutputFile(path, name.data(), f);
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), file_(o.file_), committed_(o.committed_) {
  o.file_ = nullptr;
  o.committed_ = true;  // nothing left to clean up in the moved-from object
}

OutputFile::~OutputFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) unlink(tmp_.c_str());
}

Status OutputFile::Commit() {
  const bool flushed = std::fflush(file_) == 0 && fchmod(fileno(file_), 0644) == 0;
  int err = errno;
  const bool closed = std::fclose(file_) == 0;
  if (!closed && flushed) err = errno;
  file_ = nullptr;
  if (!flushed || !closed) return DataLossError("writing '" + path_ + "' failed: " + std::strerror(err));
  // The target may have been replaced since Create; rename never follows a link at the target.
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return InvalidArgumentError("cannot write '" + path_ + "': it exists and is not a regular file");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    return DataLossError("writing '" + path_ + "' failed: " + std::strerror(errno));
  committed_ = true;
  return OkStatus();
}

}  // namespace lazyllm
