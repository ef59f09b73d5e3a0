// Chat formatting for instruct models: the conversation rendered as the model's chat template
// family expects, detected from the GGUF's tokenizer.chat_template.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lazyllm/status.h"

namespace lazyllm {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplate {
  kUnknown,
  kChatml,           // <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM2, most finetunes)
  kLlama2,           // [INST] ... [/INST] ...</s>, system text inside the first turn
  kLlama2Sys,        // with <<SYS>> blocks
  kLlama2SysBos,     // and <s> before each later turn
  kLlama2SysStrip,   // and messages trimmed
  kMistralV1,        // " [INST] ... [/INST] ...</s>"
  kMistralV3,        // "[INST] ...[/INST] ...</s>", messages trimmed
  kMistralV3Tekken,  // "[INST]...[/INST]...</s>"
  kMistralV7,        // [SYSTEM_PROMPT] ... [/SYSTEM_PROMPT][INST] ...[/INST] ...</s>
  kLlama3,           // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  kPhi3,             // <|role|>\n...<|end|>\n
  kPhi4,             // <|im_start|>role<|im_sep|>...<|im_end|>
  kGemma,            // <start_of_turn>user|model\n...<end_of_turn>\n, system merged into the first user turn
  kDeepseek3,        // <｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>
};

// The family of a Jinja chat template, from the markers that distinguish the families; kUnknown
// when none matches.
LAZYLLM_API ChatTemplate DetectChatTemplate(std::string_view jinja_template);
// A family by name ("chatml", "llama3", "mistral-v7", ...); InvalidArgument naming the choices.
LAZYLLM_API StatusOr<ChatTemplate> ChatTemplateByName(std::string_view name);
LAZYLLM_API std::string_view ChatTemplateName(ChatTemplate t);

// The conversation as the model sees it; with add_generation_prompt the opening of the
// assistant's turn follows. The text contains the family's special-token strings: tokenize it
// with parse_special. kUnknown formats as chatml.
LAZYLLM_API std::string FormatChat(ChatTemplate t, const std::vector<ChatMessage>& messages,
                                   bool add_generation_prompt);

}  // namespace lazyllm
