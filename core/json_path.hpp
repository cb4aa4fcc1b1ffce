#pragma once
// Paths into a JSON state: ".", ".status", ".lines[0].sku", ".a.b[2]".
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace am2z {

class JsonPath {
 public:
  using Segment = std::variant<std::string, std::size_t>;

  /// Parses a path; a malformed one is a ValidationError whose reason says where it breaks.
  static Result<JsonPath> parse(std::string_view text);

  bool is_root() const { return segments_.empty(); }
  const std::vector<Segment>& segments() const { return segments_; }
  const std::string& text() const { return text_; }

  /// The value at the path, or null when any segment is missing.
  const Json* find(const Json& doc) const;
  /// Sets the value, creating objects (and padding arrays with null) along the way. A segment
  /// that meets a value of the wrong type is a ValidationError.
  Status assign(Json& doc, Json value) const;
  /// Removes the value; false when it was not there.
  bool erase(Json& doc) const;

 private:
  std::vector<Segment> segments_;
  std::string text_;
};

}  // namespace am2z
