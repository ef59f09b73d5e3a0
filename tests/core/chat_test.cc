// Chat templates: family detection and formatting against llama.cpp's expected strings
// (tests/data/chat_templates.json), and DeepSeek-3 worked by hand.
#include "lazyllm/chat.h"

#include <gtest/gtest.h>

#include "common/test_paths.h"

namespace lazyllm {
namespace {

TEST(ChatTest, MatchesLlamaCppExpectedStrings) {
  const auto data = testing::ReadJson(testing::SourceDir() / "tests/data/chat_templates.json");
  std::vector<ChatMessage> conversation;
  for (const auto& m : data["conversation"]) conversation.push_back({m[0].get<std::string>(), m[1].get<std::string>()});
  int cases = 0;
  for (const auto& c : data["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const ChatTemplate t = DetectChatTemplate(c["template"].get<std::string>());
    EXPECT_EQ(ChatTemplateName(t), c["family"].get<std::string>());
    EXPECT_EQ(FormatChat(t, conversation, true), c["expected"].get<std::string>());
    ++cases;
  }
  EXPECT_GE(cases, 15);
}

TEST(ChatTest, DeepSeek3ByHandAndFallbacks) {
  const std::string tmpl = "{{'<｜User｜>' + content}}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}";
  EXPECT_EQ(DetectChatTemplate(tmpl), ChatTemplate::kDeepseek3);
  EXPECT_EQ(FormatChat(ChatTemplate::kDeepseek3,
                       {{"system", "Be brief"}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}}, true),
            "Be brief\n\n<｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜>");
  EXPECT_EQ(DetectChatTemplate(""), ChatTemplate::kUnknown);
  EXPECT_EQ(DetectChatTemplate("{{ messages }}"), ChatTemplate::kUnknown);
  EXPECT_EQ(FormatChat(ChatTemplate::kUnknown, {{"user", "Hi"}}, true),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(*ChatTemplateByName("gemma"), ChatTemplate::kGemma);
  EXPECT_FALSE(ChatTemplateByName("alpaca").ok());
}

}  // namespace
}  // namespace lazyllm
