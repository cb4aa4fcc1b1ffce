// The loader never crashes on damaged input: thousands of mutated copies of the example flows
// either load or come back with diagnostics that point into the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "flows/loader.hpp"
#include "plugins/builtins.hpp"

using namespace am2z;

namespace {

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(AM2Z_SOURCE_DIR) + "/" + relative);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// One random edit: delete a range, insert YAML punctuation, duplicate or drop a line.
std::string mutate(const std::string& text, std::mt19937& gen) {
  static const std::string kPunctuation = ":-[]{}, \n'\"&*!|>#%@?.0123456789ab\t";
  std::string out = text;
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n == 0 ? 0 : n - 1)(gen); };
  switch (pick(4)) {
    case 0: {
      const std::size_t at = pick(out.size());
      out.erase(at, 1 + pick(12));
      break;
    }
    case 1: {
      const std::size_t at = pick(out.size() + 1);
      std::string junk;
      for (std::size_t i = 0, n = 1 + pick(4); i < n; ++i) junk.push_back(kPunctuation[pick(kPunctuation.size())]);
      out.insert(at, junk);
      break;
    }
    case 2: {
      const std::size_t start = out.rfind('\n', pick(out.size()));
      const std::size_t from = start == std::string::npos ? 0 : start + 1;
      const std::size_t end = out.find('\n', from);
      out.insert(from, out.substr(from, end == std::string::npos ? std::string::npos : end - from + 1));
      break;
    }
    default: {
      const std::size_t start = out.rfind('\n', pick(out.size()));
      const std::size_t from = start == std::string::npos ? 0 : start + 1;
      const std::size_t end = out.find('\n', from);
      out.erase(from, end == std::string::npos ? std::string::npos : end - from + 1);
      break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("mutated example flows load or report diagnostics, never crash") {
  ProcessorRegistry registry;
  register_builtins(registry);
  const std::vector<std::string> sources = {"examples/flows/order/order.yaml", "examples/flows/batch/invoices.yaml"};
  std::mt19937 gen(20261127);  // fixed seed: a failure reproduces
  int loaded = 0;
  int rejected = 0;
  for (const auto& source : sources) {
    const std::string original = read_source(source);
    REQUIRE(!original.empty());
    REQUIRE(load_flow_text(original, "flow.yaml", registry).ok());
    for (int i = 0; i < 1500; ++i) {
      std::string text = original;
      for (int edits = 1 + i % 3; edits > 0; --edits) text = mutate(text, gen);
      LoadResult result;
      REQUIRE_NOTHROW(result = load_flow_text(text, "flow.yaml", registry));
      if (result.ok()) {
        ++loaded;
        CHECK(result.flow->root != nullptr);
        continue;
      }
      ++rejected;
      CHECK(result.flow == nullptr);
      REQUIRE(!result.diagnostics.empty());
      const auto lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 2;
      for (const auto& d : result.diagnostics) {
        CHECK(d.file == "flow.yaml");
        CHECK(!d.message.empty());
        CHECK(d.line >= 0);
        CHECK(d.line <= lines);
      }
    }
  }
  // Both outcomes must actually occur, or the mutations are not exercising the loader.
  CHECK(loaded > 0);
  CHECK(rejected > 100);
}
