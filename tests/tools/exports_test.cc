// liblazyllm.so exports the public API and nothing else: every dynamic symbol it defines
// (`nm -D --defined-only`) is a name the public headers mark LAZYLLM_API, or a member of a class
// they mark so (less its opaque Impl), or a C function of lazyllm_c.h; and each marked name is
// exported.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace lazyllm {
namespace {

// The names the public headers export: LAZYLLM_API classes and functions.
std::set<std::string> PublicNames() {
  std::set<std::string> names;
  const std::regex cls(R"((?:class|struct) LAZYLLM_API (\w+))");
  const std::regex fn(R"(LAZYLLM_API [^;{(]*?(\w+)\()");
  for (const auto& e : std::filesystem::directory_iterator(LAZYLLM_PUBLIC_INCLUDE)) {
    if (e.path().filename() == "export.h") continue;  // the macro's own definition
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (const std::regex* re : {&cls, &fn})
      for (std::sregex_iterator it(s.begin(), s.end(), *re), end; it != end; ++it) names.insert((*it)[1]);
  }
  return names;
}

std::vector<std::string> ExportedSymbols() {
  const std::string cmd = std::string("nm -D --defined-only -C ") + LAZYLLM_SHARED_LIB;
  FILE* p = popen(cmd.c_str(), "r");
  std::vector<std::string> out;
  std::array<char, 8192> line;
  while (p && std::fgets(line.data(), line.size(), p)) {
    std::string s = line.data();
    if (!s.empty() && s.back() == '\n') s.pop_back();
    // "ADDRESS TYPE NAME"
    const size_t a = s.find(' '), b = s.find(' ', a + 1);
    if (b != std::string::npos) out.push_back(s.substr(b + 1));
  }
  EXPECT_EQ(p ? pclose(p) : -1, 0) << cmd;
  return out;
}

TEST(ExportsTest, SharedLibraryExportsOnlyThePublicApi) {
  const std::set<std::string> names = PublicNames();
  ASSERT_GT(names.size(), 15u) << "the headers' LAZYLLM_API marks were not found";
  for (const char* n : {"Model", "Tokenizer", "Session", "Engine", "Sequence", "Generate", "GenerateBatch",
                        "lazyllm_model_load", "lazyllm_generate"})
    EXPECT_TRUE(names.count(n)) << n;
  const std::vector<std::string> symbols = ExportedSymbols();
  ASSERT_FALSE(symbols.empty());
  std::set<std::string> seen;
  const std::regex cpp(R"(^lazyllm::(\w+)(::\w+|::~\w+)?)");
  for (const std::string& sym : symbols) {
    std::smatch m;
    if (sym.rfind("lazyllm_", 0) == 0) {  // the C API
      EXPECT_TRUE(names.count(sym)) << "exported but not in lazyllm_c.h: " << sym;
      seen.insert(sym);
      continue;
    }
    ASSERT_TRUE(std::regex_search(sym, m, cpp)) << "exported and not in namespace lazyllm: " << sym;
    EXPECT_TRUE(names.count(m[1])) << "exported but not public API: " << sym;
    EXPECT_EQ(sym.find("::Impl"), std::string::npos) << "an internal type is exported: " << sym;
    EXPECT_EQ(sym.find("lazyllm::internal"), std::string::npos) << sym;
    seen.insert(m[1]);
  }
  for (const std::string& n : names) EXPECT_TRUE(seen.count(n)) << n << " is marked LAZYLLM_API but not exported";
}

}  // namespace
}  // namespace lazyllm
