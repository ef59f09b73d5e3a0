// Fuzz target: chat templates. The whole input is a Jinja template to classify and a family name
// to look up; split at NUL bytes it is also a conversation (role, content, role, content, ...)
// rendered in the family that the first byte picks.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lazyllm/chat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const lazyllm::ChatTemplate detected = lazyllm::DetectChatTemplate(text);
  if (lazyllm::ChatTemplateName(detected).empty()) std::abort();
  auto named = lazyllm::ChatTemplateByName(text);
  if (named.ok() && lazyllm::ChatTemplateName(*named) != text) std::abort();
  if (size == 0) return 0;

  const auto family =
      static_cast<lazyllm::ChatTemplate>(data[0] % (static_cast<int>(lazyllm::ChatTemplate::kDeepseek3) + 1));
  std::vector<std::string> parts;
  size_t start = 1;
  for (size_t i = 1; i <= size; ++i) {
    if (i == size || data[i] == 0) {
      parts.emplace_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  std::vector<lazyllm::ChatMessage> messages;
  for (size_t i = 0; i + 1 < parts.size(); i += 2) messages.push_back({parts[i], parts[i + 1]});
  const std::string out = lazyllm::FormatChat(family, messages, /*add_generation_prompt=*/data[0] & 0x80);
  // Every user and assistant message reaches the model (trimmed, as some families trim).
  for (const auto& m : messages) {
    if (m.role != "user" && m.role != "assistant") continue;
    const size_t b = m.content.find_first_not_of(" \t\n\r");
    if (b == std::string::npos) continue;
    const size_t e = m.content.find_last_not_of(" \t\n\r");
    if (out.find(m.content.substr(b, e - b + 1)) == std::string::npos) std::abort();
  }
  return 0;
}
