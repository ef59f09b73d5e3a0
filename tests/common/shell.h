// Commands the tests run through the shell (the CLI, scripts, mpirun).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <utility>

namespace lazyllm::testing {

// Standard output of `sh -c cmd` (with cmd's own redirections) and its exit status (-1 when it
// did not exit normally).
inline std::pair<std::string, int> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {out, -1};
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace lazyllm::testing
