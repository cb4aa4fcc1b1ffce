#include "flows/yaml_document.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <cstdio>
#include <spanstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/json_limits.hpp"

namespace am2z {

namespace {

std::string hex_byte(unsigned char byte) {
  char text[5];
  std::snprintf(text, sizeof text, "0x%02x", byte);
  return text;
}

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

/// Length of the valid UTF-8 sequence at `at` (2 to 4), or 0 when it is not one.
std::size_t utf8_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return at + i < text.size() ? static_cast<unsigned char>(text[at + i]) : 0; };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80;  // bounds of the second byte: they exclude overlong forms, surrogates, > U+10FFFF
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (!is_continuation(byte(i))) return 0;
  }
  return length;
}

/// Stops the event pass; caught in parse_yaml_document.
struct Refused {
  YAML::Mark mark;
  std::string reason;
};

/// "!!python/object" for "tag:yaml.org,2002:python/object": the tag as it was written.
std::string written_tag(const std::string& tag) {
  constexpr std::string_view kCore = "tag:yaml.org,2002:";
  return tag.starts_with(kCore) ? "!!" + tag.substr(kCore.size()) : tag;
}

bool core_tag(const std::string& tag) {
  // "?" is a plain scalar's or untagged collection's tag, "!" a quoted scalar's.
  if (tag.empty() || tag == "?" || tag == "!") return true;
  for (const char* name : {"str", "int", "float", "bool", "null", "seq", "map"}) {
    if (tag == std::string("tag:yaml.org,2002:") + name) return true;
  }
  return false;
}

/// Walks the parser's events, refusing what the loader must never see. It keeps, per anchor, how
/// many values and levels its node holds, so an alias is counted as what it denotes without
/// expanding anything.
class Guard final : public YAML::EventHandler {
 public:
  explicit Guard(const YamlLimits& limits) : limits_(limits) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      throw Refused{mark, "a second YAML document ('---') in one file: a flow file holds exactly one document"};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, const std::string&) override {
    check_tag(mark, tag);
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    for (const auto& open : open_) {
      if (open.anchor == anchor) throw Refused{mark, "this alias is inside the value it refers to (a cycle)"};
    }
    const auto it = sizes_.find(anchor);
    if (it == sizes_.end()) throw Refused{mark, "alias to an unknown anchor"};
    add(mark, it->second.values, open_.size() + it->second.levels);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, tag, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, tag, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  /// An anchored node's size: its values (itself included) and the levels below it.
  struct Size {
    std::size_t values = 1;
    std::size_t levels = 0;
  };
  struct Open {
    YAML::anchor_t anchor;
    std::size_t values_before;  ///< values_ when it opened
    std::size_t deepest;        ///< the deepest level reached inside it
  };

  void check_tag(const YAML::Mark& mark, const std::string& tag) const {
    if (!core_tag(tag)) {
      throw Refused{mark, "unsupported YAML tag '" + written_tag(tag) +
                              "': flow files use plain YAML (only the core tags !!str, !!int, !!float, !!bool, "
                              "!!null, !!seq and !!map)"};
    }
  }

  /// Counts `values` more values reaching down to level `depth`.
  void add(const YAML::Mark& mark, std::size_t values, std::size_t depth) {
    values_ += values;
    if (values_ > limits_.max_values) {
      throw Refused{mark, "the document has more than " + std::to_string(limits_.max_values) +
                              " values (an alias counts as all the values it repeats)"};
    }
    if (depth > limits_.max_depth) {
      throw Refused{mark, "nested more than " + std::to_string(limits_.max_depth) + " levels deep"};
    }
    if (!open_.empty() && depth > open_.back().deepest) open_.back().deepest = depth;
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1, open_.size());
    if (anchor != YAML::NullAnchor) sizes_[anchor] = Size{};
  }

  void open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor) {
    check_tag(mark, tag);
    add(mark, 1, open_.size() + 1);
    open_.push_back(Open{anchor, values_ - 1, open_.size() + 1});
  }

  void close() {
    const Open done = open_.back();
    open_.pop_back();
    if (!open_.empty() && done.deepest > open_.back().deepest) open_.back().deepest = done.deepest;
    if (done.anchor != YAML::NullAnchor) {
      sizes_[done.anchor] = Size{values_ - done.values_before, done.deepest - open_.size()};
    }
  }

  const YamlLimits& limits_;
  int documents_ = 0;
  std::size_t values_ = 0;
  std::vector<Open> open_;
  std::unordered_map<YAML::anchor_t, Size> sizes_;
};

/// A yaml-cpp position for byte `offset` (yaml-cpp counts lines and columns from 0).
YAML::Mark mark_at(std::string_view text, std::size_t offset) {
  const auto [line, column] = line_and_column(text, offset);
  YAML::Mark mark;
  mark.pos = static_cast<int>(offset);
  mark.line = static_cast<int>(line - 1);
  mark.column = static_cast<int>(column - 1);
  return mark;
}

}  // namespace

std::optional<TextProblem> text_problem(std::string_view text) {
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF")) {
    return TextProblem{0, "UTF-16 text (it starts with a UTF-16 byte order mark): flow files are UTF-8"};
  }
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7F) {
        return TextProblem{i, "control character " + hex_byte(byte) + " in the file: flow files are UTF-8 text"};
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_length(text, i);
    if (length == 0) return TextProblem{i, "invalid UTF-8 (byte " + hex_byte(byte) + "): flow files are UTF-8 text"};
    i += length;
  }
  return std::nullopt;
}

std::optional<YAML::Node> parse_yaml_document(std::string_view text, Reporter& reporter, const YamlLimits& limits) {
  if (auto problem = text_problem(text)) {
    reporter.error_at(mark_at(text, problem->offset), "", problem->reason);
    return std::nullopt;
  }
  try {
    {
      std::ispanstream events(std::span<const char>(text.data(), text.size()));
      YAML::Parser parser(events);
      Guard guard(limits);
      while (parser.HandleNextDocument(guard)) {
      }
    }
    std::ispanstream in(std::span<const char>(text.data(), text.size()));
    return YAML::Load(in);
  } catch (const Refused& refused) {
    reporter.error_at(refused.mark, "", refused.reason);
  } catch (const YAML::DeepRecursion& e) {
    reporter.error_at(e.mark, "", "nested too deeply for the YAML parser");
  } catch (const YAML::Exception& e) {
    reporter.error_at(e.mark, "", e.msg);
  }
  return std::nullopt;
}

}  // namespace am2z
