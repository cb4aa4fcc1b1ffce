// parse_yaml_document: what a flow file's text must be before any of it is looked at.
#include "flows/yaml_document.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace am2z;

namespace {

/// The single diagnostic parsing `text` gives, as "line:col: message".
std::string refusal(const std::string& text, const YamlLimits& limits = {}) {
  Reporter reporter("f.yaml");
  const auto doc = parse_yaml_document(text, reporter, limits);
  CHECK_FALSE(doc);
  auto diagnostics = reporter.take();
  REQUIRE(diagnostics.size() == 1);
  const Diagnostic& d = diagnostics[0];
  return std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message;
}

/// A billion laughs: `levels` anchors, each a list of `width` aliases of the one before.
std::string laughs(int levels, int width) {
  std::string text = "a0: &a0 [lol]\n";
  for (int i = 1; i <= levels; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < width; ++j) text += (j ? ", *a" : "*a") + std::to_string(i - 1);
    text += "]\n";
  }
  return text;
}

}  // namespace

TEST_CASE("plain YAML parses, anchors and aliases included") {
  Reporter reporter("f.yaml");
  auto doc = parse_yaml_document("base: &b {x: 1}\nuse: *b\nlist: [!!str 5, !!int 6]\n", reporter);
  REQUIRE(doc);
  CHECK((*doc)["use"]["x"].as<int>() == 1);
  CHECK(reporter.count() == 0);
  auto empty = parse_yaml_document("", reporter);
  REQUIRE(empty);
  CHECK(empty->IsNull());
  auto bom = parse_yaml_document("\xEF\xBB\xBFkey: value\n", reporter);
  REQUIRE(bom);
  CHECK((*bom)["key"].as<std::string>() == "value");
}

TEST_CASE("bytes that are not UTF-8 text are refused by value, never quoted") {
  CHECK(refusal(std::string("a: 1\nb: \"x\0y\"\n", 14)) ==
        "2:6: control character 0x00 in the file: flow files are UTF-8 text");
  CHECK(refusal("k: secret\xff\n") == "1:10: invalid UTF-8 (byte 0xff): flow files are UTF-8 text");
  CHECK(refusal("k: \xc0\xaf\n") == "1:4: invalid UTF-8 (byte 0xc0): flow files are UTF-8 text");      // overlong
  CHECK(refusal("k: \xed\xa0\x80\n") == "1:4: invalid UTF-8 (byte 0xed): flow files are UTF-8 text");  // surrogate
  CHECK(refusal("k: \xe2\x82\n") == "1:4: invalid UTF-8 (byte 0xe2): flow files are UTF-8 text");      // truncated
  CHECK(refusal("\xff\xfek\0:\0") == "1:1: UTF-16 text (it starts with a UTF-16 byte order mark): flow files are UTF-8");
  CHECK(refusal("a: \x1b[31m\n") == "1:4: control character 0x1b in the file: flow files are UTF-8 text");
  CHECK_FALSE(text_problem("tabs\tand\r\nlines \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"));
}

TEST_CASE("one document per file") {
  CHECK(refusal("a: 1\n---\nb: 2\n") ==
        "2:1: a second YAML document ('---') in one file: a flow file holds exactly one document");
  CHECK(refusal("a: 1\n...\nb: 2\n").find("a second YAML document") != std::string::npos);
  Reporter reporter("f.yaml");
  CHECK(parse_yaml_document("---\na: 1\n...\n", reporter));  // explicit markers around one document are fine
}

TEST_CASE("tags beyond YAML's core schema are refused") {
  CHECK(refusal("a: !!python/object:os.system ls\n") ==
        "1:4: unsupported YAML tag '!!python/object:os.system': flow files use plain YAML (only the core tags "
        "!!str, !!int, !!float, !!bool, !!null, !!seq and !!map)");
  CHECK(refusal("a: !!binary aGVsbG8=\n").find("unsupported YAML tag '!!binary'") != std::string::npos);
  CHECK(refusal("a: !custom {x: 1}\n").find("unsupported YAML tag '!custom'") != std::string::npos);
  CHECK(refusal("a: !!set {x, y}\n").find("unsupported YAML tag '!!set'") != std::string::npos);
}

TEST_CASE("alias bombs are counted, not expanded") {
  // 9^9 = 387 million values from 10 lines.
  CHECK(refusal(laughs(9, 9)).find("more than 100000 values (an alias counts as all the values it repeats)") !=
        std::string::npos);
  Reporter reporter("f.yaml");
  CHECK(parse_yaml_document(laughs(4, 9), reporter));  // 9^4 = 6561: a big but honest document
  CHECK(refusal(laughs(4, 9), YamlLimits{1000, 256}).starts_with("4:"));
}

TEST_CASE("an alias inside the value it names is a cycle") {
  CHECK(refusal("a: &a [1, *a]\n") == "1:11: this alias is inside the value it refers to (a cycle)");
  CHECK(refusal("a: &a {b: {c: *a}}\n") == "1:15: this alias is inside the value it refers to (a cycle)");
}

TEST_CASE("nesting is bounded, through aliases too") {
  const std::string deep = "a: " + std::string(10000, '[') + std::string(10000, ']') + "\n";
  CHECK(refusal(deep) == "1:259: nested more than 256 levels deep");
  std::string block = "a:\n";
  for (int i = 0; i < 300; ++i) block += std::string(static_cast<std::size_t>(i) + 1, ' ') + "k:\n";
  CHECK(refusal(block).find("nested more than 256 levels deep") != std::string::npos);
  // 150 levels behind an anchor, used 150 levels down: 300 in all.
  const std::string half = std::string(150, '[') + std::string(150, ']');
  CHECK(refusal("a: &d " + half + "\nb: " + std::string(150, '[') + "*d" + std::string(150, ']') + "\n")
            .find("nested more than 256 levels deep") != std::string::npos);
  Reporter reporter("f.yaml");
  CHECK(parse_yaml_document("a: &d " + half + "\nb: *d\n", reporter));
}

TEST_CASE("syntax errors keep yaml-cpp's message and position") {
  CHECK(refusal("a: [1, 2\nb: 3\n") == "2:2: end of sequence flow not found");
  CHECK(refusal("a: *nowhere\n").find("the referenced anchor is not defined") != std::string::npos);
}
