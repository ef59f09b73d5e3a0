// What happens when a mapped model file changes under the process. Reading a page of a file that
// was truncated after it was mapped raises SIGBUS, which would kill the process with no word of
// why. Every model file's mapping is registered here; a SIGBUS whose address lies in one prints
// which file changed and exits with kMappedFileChangedExit. Other SIGBUS signals go on to the
// handler that was installed before (or the default action).
//
// What is safe: replacing a model file by writing a new file and renaming it over the old path
// (the process keeps the old inode). Truncating or rewriting the file in place while a process
// has it loaded is not: a rewrite of the same length silently changes the weights, a truncation
// ends the process here.
#pragma once

#include <cstddef>
#include <string>

namespace lazyllm::internal {

// EX_IOERR from <sysexits.h>: an input/output error.
constexpr int kMappedFileChangedExit = 74;

// Registers [base, base + size) as the mapping of `path`; installs the SIGBUS handler on first use.
// At most kMaxMappings files are registered at once; further ones are mapped unguarded.
void RegisterMapping(const void* base, size_t size, const std::string& path);
// Removes the registration of the mapping at `base` (before it is unmapped).
void UnregisterMapping(const void* base);

constexpr int kMaxMappings = 256;

}  // namespace lazyllm::internal
