// Built-in chat formatters per template family, and family detection from the Jinja text.
#include "lazyllm/chat.h"

#include <sstream>

namespace lazyllm {
namespace {

struct Named {
  ChatTemplate t;
  std::string_view name;
};

constexpr Named kNames[] = {
    {ChatTemplate::kChatml, "chatml"},
    {ChatTemplate::kLlama2, "llama2"},
    {ChatTemplate::kLlama2Sys, "llama2-sys"},
    {ChatTemplate::kLlama2SysBos, "llama2-sys-bos"},
    {ChatTemplate::kLlama2SysStrip, "llama2-sys-strip"},
    {ChatTemplate::kMistralV1, "mistral-v1"},
    {ChatTemplate::kMistralV3, "mistral-v3"},
    {ChatTemplate::kMistralV3Tekken, "mistral-v3-tekken"},
    {ChatTemplate::kMistralV7, "mistral-v7"},
    {ChatTemplate::kLlama3, "llama3"},
    {ChatTemplate::kPhi3, "phi3"},
    {ChatTemplate::kPhi4, "phi4"},
    {ChatTemplate::kGemma, "gemma"},
    {ChatTemplate::kDeepseek3, "deepseek3"},
};

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(" \t\n\r");
  return std::string(s.substr(b, e - b + 1));
}

// The [INST] families: llama2 (four variants) and mistral v1/v3/v3-tekken/v7.
void FormatInst(ChatTemplate t, const std::vector<ChatMessage>& messages, std::ostringstream& ss) {
  if (t == ChatTemplate::kMistralV1 || t == ChatTemplate::kMistralV3 || t == ChatTemplate::kMistralV3Tekken ||
      t == ChatTemplate::kMistralV7) {
    const bool v1 = t == ChatTemplate::kMistralV1, v3 = t == ChatTemplate::kMistralV3;
    const bool tekken = t == ChatTemplate::kMistralV3Tekken, v7 = t == ChatTemplate::kMistralV7;
    const std::string open = v1 ? " [INST] " : tekken ? "[INST]" : "[INST] ";
    const std::string close = v1 ? " [/INST]" : "[/INST]";
    const std::string reply = tekken ? "" : " ";
    std::string system;
    for (const ChatMessage& m : messages) {
      const std::string content = v3 ? Trim(m.content) : m.content;
      if (m.role == "system") {
        if (v7)
          ss << "[SYSTEM_PROMPT] " << content << "[/SYSTEM_PROMPT]";
        else
          system = content;
      } else if (m.role == "user") {
        ss << open;
        if (!system.empty()) ss << system << "\n\n";
        system.clear();
        ss << content << close;
      } else {
        ss << reply << content << "</s>";
      }
    }
    return;
  }
  // llama2: one [INST] open from the start; system text inside it (as <<SYS>> when supported).
  const bool sys = t != ChatTemplate::kLlama2, bos = t == ChatTemplate::kLlama2SysBos;
  const bool strip = t == ChatTemplate::kLlama2SysStrip;
  bool inside_turn = true;
  ss << "[INST] ";
  for (const ChatMessage& m : messages) {
    const std::string content = strip ? Trim(m.content) : m.content;
    if (m.role == "system") {
      if (sys)
        ss << "<<SYS>>\n" << content << "\n<</SYS>>\n\n";
      else
        ss << content << "\n";
    } else if (m.role == "user") {
      if (!inside_turn) ss << (bos ? "<s>[INST] " : "[INST] ");
      inside_turn = true;
      ss << content << " [/INST]";
    } else {
      ss << content << "</s>";
      inside_turn = false;
    }
  }
}

}  // namespace

ChatTemplate DetectChatTemplate(std::string_view tmpl) {
  auto has = [&](std::string_view s) { return tmpl.find(s) != std::string_view::npos; };
  if (tmpl.empty()) return ChatTemplate::kUnknown;
  if (has("<|im_start|>")) return has("<|im_sep|>") ? ChatTemplate::kPhi4 : ChatTemplate::kChatml;
  if (has("[INST]")) {
    if (has("[SYSTEM_PROMPT]")) return ChatTemplate::kMistralV7;
    // Mistral's official v1/v3 templates (the v1 system-message join, or tool support).
    if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
      if (has(" [INST]")) return ChatTemplate::kMistralV1;
      if (has("\"[INST]\"")) return ChatTemplate::kMistralV3Tekken;
      return ChatTemplate::kMistralV3;
    }
    if (has("content.strip()")) return ChatTemplate::kLlama2SysStrip;
    if (has("bos_token + '[INST]")) return ChatTemplate::kLlama2SysBos;
    if (has("<<SYS>>")) return ChatTemplate::kLlama2Sys;
    return ChatTemplate::kLlama2;
  }
  if (has("<|assistant|>") && has("<|end|>")) return ChatTemplate::kPhi3;
  if (has("<start_of_turn>")) return ChatTemplate::kGemma;
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatTemplate::kLlama3;
  if (has("<｜Assistant｜>") && has("<｜User｜>")) return ChatTemplate::kDeepseek3;
  return ChatTemplate::kUnknown;
}

StatusOr<ChatTemplate> ChatTemplateByName(std::string_view name) {
  std::string names;
  for (const Named& n : kNames) {
    if (n.name == name) return n.t;
    names += (names.empty() ? "" : ", ") + std::string(n.name);
  }
  return InvalidArgumentError("unknown chat template '" + std::string(name) + "' (expected one of " + names + ")");
}

std::string_view ChatTemplateName(ChatTemplate t) {
  for (const Named& n : kNames)
    if (n.t == t) return n.name;
  return "unknown";
}

std::string FormatChat(ChatTemplate t, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::ostringstream ss;
  switch (t) {
    case ChatTemplate::kLlama2:
    case ChatTemplate::kLlama2Sys:
    case ChatTemplate::kLlama2SysBos:
    case ChatTemplate::kLlama2SysStrip:
    case ChatTemplate::kMistralV1:
    case ChatTemplate::kMistralV3:
    case ChatTemplate::kMistralV3Tekken:
    case ChatTemplate::kMistralV7:
      FormatInst(t, messages, ss);
      break;
    case ChatTemplate::kLlama3:
      for (const ChatMessage& m : messages)
        ss << "<|start_header_id|>" << m.role << "<|end_header_id|>\n\n" << Trim(m.content) << "<|eot_id|>";
      if (add_generation_prompt) ss << "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatTemplate::kPhi3:
      for (const ChatMessage& m : messages) ss << "<|" << m.role << "|>\n" << m.content << "<|end|>\n";
      if (add_generation_prompt) ss << "<|assistant|>\n";
      break;
    case ChatTemplate::kPhi4:
      for (const ChatMessage& m : messages) ss << "<|im_start|>" << m.role << "<|im_sep|>" << m.content << "<|im_end|>";
      if (add_generation_prompt) ss << "<|im_start|>assistant<|im_sep|>";
      break;
    case ChatTemplate::kGemma: {
      // No system role: the system text opens the next user turn.
      std::string system;
      for (const ChatMessage& m : messages) {
        if (m.role == "system") {
          system = m.content;
          continue;
        }
        ss << "<start_of_turn>" << (m.role == "assistant" ? "model" : m.role) << "\n";
        if (!system.empty() && m.role == "user") {
          ss << system << "\n\n";
          system.clear();
        }
        ss << Trim(m.content) << "<end_of_turn>\n";
      }
      if (add_generation_prompt) ss << "<start_of_turn>model\n";
      break;
    }
    case ChatTemplate::kDeepseek3:
      for (const ChatMessage& m : messages) {
        if (m.role == "system")
          ss << m.content << "\n\n";
        else if (m.role == "user")
          ss << "<｜User｜>" << m.content;
        else
          ss << "<｜Assistant｜>" << m.content << "<｜end▁of▁sentence｜>";
      }
      if (add_generation_prompt) ss << "<｜Assistant｜>";
      break;
    case ChatTemplate::kChatml:
    case ChatTemplate::kUnknown:
      for (const ChatMessage& m : messages) ss << "<|im_start|>" << m.role << "\n" << m.content << "<|im_end|>\n";
      if (add_generation_prompt) ss << "<|im_start|>assistant\n";
      break;
  }
  return ss.str();
}

}  // namespace lazyllm
