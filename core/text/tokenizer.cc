// SentencePiece-style and byte-level BPE tokenizers over a GGUF vocabulary: encoding (special
// tokens matched first, then the model's merges), decoding, and streamed decoding.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <queue>
#include <string>
#include <utility>

#include "core/text/tokenizer_impl.h"

namespace lazyllm {
namespace {

// One symbol of a word being merged: a byte range of the word, linked to its neighbours.
struct Symbol {
  int prev, next;
  size_t start, len;
};

// A candidate merge of symbols left and right (adjacent), ordered by priority then position.
struct Bigram {
  double priority;  // higher merges first
  int left, right;
  size_t len;  // combined length when queued: stale entries are detected by it
  bool operator<(const Bigram& o) const {
    if (priority != o.priority) return priority < o.priority;
    return left > o.left;  // ties: the leftmost pair first
  }
};

// Greedy pairwise merging shared by both tokenizers: symbols start as the UTF-8 characters of
// `word`; `priority(text)` returns the merge priority of a candidate (nullopt: not mergeable).
template <typename PriorityFn>
std::vector<std::string_view> MergeSymbols(std::string_view word, PriorityFn&& priority) {
  std::vector<Symbol> syms;
  for (size_t i = 0; i < word.size();) {
    const size_t n = std::min(Utf8Length(static_cast<unsigned char>(word[i])), word.size() - i);
    syms.push_back({static_cast<int>(syms.size()) - 1, static_cast<int>(syms.size()) + 1, i, n});
    i += n;
  }
  if (!syms.empty()) syms.back().next = -1;
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const size_t len = syms[l].len + syms[r].len;
    double p;
    if (priority(word.substr(syms[l].start, syms[l].len), word.substr(syms[r].start, syms[r].len),
                 word.substr(syms[l].start, len), &p))
      queue.push({p, l, r, len});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  std::vector<std::string_view> out;
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) out.push_back(word.substr(syms[i].start, syms[i].len));
  return out;
}

}  // namespace

std::optional<Tokenizer::Impl::Unencodable> Tokenizer::Impl::EncodeSentencePiece(std::string_view text,
                                                                                 std::vector<int32_t>* out,
                                                                                 bool space_prefix) const {
  constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space
  std::string norm;
  if (space_prefix) norm = kSpace;
  for (char ch : text) {
    if (ch == ' ')
      norm += kSpace;
    else
      norm.push_back(ch);
  }
  // The offset in text of norm's byte k (the prefix's bytes count as text's first), found only
  // when a byte cannot be encoded.
  auto text_offset = [&](size_t k) {
    size_t at = space_prefix ? kSpace.size() : 0, i = 0;
    for (; i < text.size(); ++i) {
      at += text[i] == ' ' ? kSpace.size() : 1;
      if (k < at) break;
    }
    return i;
  };
  auto priority = [&](std::string_view, std::string_view, std::string_view merged, double* p) {
    const int32_t id = Lookup(merged);
    if (id < 0) return false;
    *p = scores.empty() ? 0.0 : scores[id];
    return true;
  };
  for (std::string_view sym : MergeSymbols(norm, priority)) {
    const int32_t id = Lookup(sym);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    // Byte fallback: a character outside the vocabulary becomes its UTF-8 bytes.
    for (size_t j = 0; j < sym.size(); ++j) {
      const auto b = static_cast<unsigned char>(sym[j]);
      const int32_t bid = byte_tokens[b] >= 0 ? byte_tokens[b] : unk;
      if (bid < 0) return Unencodable{b, text_offset(static_cast<size_t>(sym.data() - norm.data()) + j)};
      out->push_back(bid);
    }
  }
  return std::nullopt;
}

std::optional<Tokenizer::Impl::Unencodable> Tokenizer::Impl::EncodeByteLevel(std::string_view text,
                                                                             std::vector<int32_t>* out) const {
  std::vector<std::string_view> pieces{text};
  for (const auto& re : pre_regexes) {
    std::vector<std::string_view> next;
    for (std::string_view p : pieces) re->Split(p, &next);
    pieces.swap(next);
  }
  const ByteMap& bm = Gpt2ByteMap();
  auto priority = [&](std::string_view a, std::string_view b, std::string_view, double* p) {
    std::string key;
    key.reserve(a.size() + b.size() + 1);
    key.append(a).push_back(' ');
    key.append(b);
    auto it = merge_rank.find(key);
    if (it == merge_rank.end()) return false;
    *p = -static_cast<double>(it->second);
    return true;
  };
  for (std::string_view piece : pieces) {
    std::string word;
    for (unsigned char b : piece) word += bm.byte_to_utf8[b];
    if (ignore_merges) {
      if (const int32_t id = Lookup(word); id >= 0) {
        out->push_back(id);
        continue;
      }
    }
    for (std::string_view sym : MergeSymbols(word, priority)) {
      const int32_t id = Lookup(sym);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
      // Not in the vocabulary: one token per character, each the mapped form of one byte of the
      // piece (the bytes before it in the word are as many characters).
      for (std::string_view ch : SplitUtf8(sym)) {
        const int32_t cid = Lookup(ch);
        if (cid < 0 && unk < 0) {
          const std::string_view before(word.data(), static_cast<size_t>(ch.data() - word.data()));
          const size_t byte = SplitUtf8(before).size();
          return Unencodable{static_cast<unsigned char>(piece[byte]),
                             static_cast<size_t>(piece.data() - text.data()) + byte};
        }
        out->push_back(cid >= 0 ? cid : unk);
      }
    }
  }
  return std::nullopt;
}

void Tokenizer::Impl::Partition(const std::vector<int32_t>& ids, std::vector<Fragment>* frags) const {
  for (int32_t id : ids) {
    const std::string& t = tokens[id];
    if (t.empty()) continue;
    std::vector<Fragment> next;
    for (const Fragment& f : *frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t start = 0;
      for (size_t at; (at = f.raw.find(t, start)) != std::string_view::npos; start = at + t.size()) {
        if (at > start) next.push_back({f.raw.substr(start, at - start)});
        next.push_back({{}, id});
      }
      if (start < f.raw.size()) next.push_back({f.raw.substr(start)});
    }
    frags->swap(next);
  }
}

std::string Tokenizer::Impl::Bytes(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(tokens.size())) return "";
  const int32_t type = TypeOf(id);
  if (type == kControl || type == kUnknown || type == kUnused) return "";
  const std::string& t = tokens[id];
  if (kind == Kind::kSentencePiece) {
    if (type == kByte) {
      for (int b = 0; b < 256; ++b)
        if (byte_tokens[b] == id) return std::string(1, static_cast<char>(b));
    }
    std::string s;
    for (size_t i = 0; i < t.size();) {
      if (t.compare(i, 3, "\xe2\x96\x81") == 0) {
        s.push_back(' ');
        i += 3;
      } else {
        s.push_back(t[i++]);
      }
    }
    return s;
  }
  if (type == kUserDefined) return t;
  std::string s;
  const ByteMap& bm = Gpt2ByteMap();
  for (size_t i = 0; i < t.size();) {
    const auto lead = static_cast<unsigned char>(t[i]);
    const size_t n = std::min(Utf8Length(lead), t.size() - i);
    uint32_t cp = n == 1 ? lead : lead & (0x7f >> n);
    for (size_t j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(t[i + j]) & 0x3f);
    auto it = bm.cp_to_byte.find(cp);
    if (it != bm.cp_to_byte.end())
      s.push_back(static_cast<char>(it->second));
    else
      s.append(t, i, n);
    i += n;
  }
  return s;
}

StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && impl_->add_bos) out.push_back(impl_->bos);
  std::vector<Impl::Fragment> frags;
  if (!text.empty()) frags.push_back({text});
  if (parse_special) impl_->Partition(impl_->control, &frags);
  impl_->Partition(impl_->user_defined, &frags);
  // SentencePiece puts its space prefix before the text, and again after each matched token.
  bool after_token = true;
  for (const Impl::Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_token = true;
      continue;
    }
    const std::optional<Impl::Unencodable> missing =
        impl_->kind == Kind::kSentencePiece
            ? impl_->EncodeSentencePiece(f.raw, &out, impl_->add_space_prefix && after_token)
            : impl_->EncodeByteLevel(f.raw, &out);
    if (missing.has_value()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", missing->byte);
      return InvalidArgumentError("byte " + std::string(hex) + " at offset " +
                                  std::to_string(static_cast<size_t>(f.raw.data() - text.data()) + missing->offset) +
                                  " has no token in the vocabulary, which has no unknown token either");
    }
    after_token = false;
  }
  if (add_special && impl_->add_eos) out.push_back(impl_->eos);
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string s;
  bool first = true;
  for (int32_t id : ids) {
    std::string piece = impl_->Bytes(id);
    if (piece.empty()) continue;
    if (first && impl_->kind == Kind::kSentencePiece && impl_->add_space_prefix && piece[0] == ' ') piece.erase(0, 1);
    first = false;
    s += piece;
  }
  return s;
}

std::string Tokenizer::TokenBytes(int32_t id) const { return impl_->Bytes(id); }

namespace {

// Bytes at the end of `s` that start a UTF-8 character the string does not finish (0 when the
// last character is complete, or when the tail is not UTF-8 at all, which is passed on as is).
size_t IncompleteUtf8Tail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return len > back ? back : 0;
  }
  return 0;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

std::string StreamDecoder::Next(int32_t id) {
  std::string piece = tokenizer_.impl_->Bytes(id);
  if (piece.empty()) return "";
  const Tokenizer::Impl& t = *tokenizer_.impl_;
  if (first_ && t.kind == Tokenizer::Kind::kSentencePiece && t.add_space_prefix && piece[0] == ' ') piece.erase(0, 1);
  first_ = false;
  pending_ += piece;
  const size_t hold = IncompleteUtf8Tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::Flush() { return std::exchange(pending_, std::string()); }
Tokenizer::Kind Tokenizer::kind() const { return impl_->kind; }
std::string_view Tokenizer::kind_name() const { return impl_->model_name; }
std::string_view Tokenizer::pre_tokenizer() const { return impl_->pre; }
int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(impl_->end_of_generation.begin(), impl_->end_of_generation.end(), id);
}
std::string_view Tokenizer::TokenText(int32_t id) const {
  return id >= 0 && id < vocab_size() ? std::string_view(impl_->tokens[id]) : std::string_view();
}

}  // namespace lazyllm
