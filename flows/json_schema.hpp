#pragma once
// JSON Schema (draft-07) validation through valijson: processor `with:` parameters and flow inputs
// are checked by the schema they publish, so there is no second hand-written validator to drift.
#include <memory>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/json_path.hpp"
#include "core/result.hpp"

namespace valijson {
class Schema;
}

namespace am2z {

/// One way a value breaks a schema: where (inside the value) and why, in words for flow authors.
struct SchemaViolation {
  std::vector<JsonPath::Segment> at;
  std::string message;

  /// JSON pointer of the offending value: "/lines/0/sku"; "" for the value itself.
  std::string pointer() const;
  /// The same place as a field path: "lines[0].sku"; "" for the value itself.
  std::string field() const;
};

/// A compiled schema. Immutable after compile(); validate() may run on several threads.
class JsonSchema {
 public:
  /// Compiles `schema`; a malformed one is a ValidationError naming what is wrong with it
  /// (context.reason) and, when it can tell, where inside the schema (context.at: "properties.id.type").
  static Result<JsonSchema> compile(const Json& schema);

  /// Every violation, most specific first per failing value; empty when `value` conforms.
  std::vector<SchemaViolation> validate(const Json& value) const;
  /// The schema as given.
  const Json& source() const { return *source_; }

 private:
  std::shared_ptr<const Json> source_;
  std::shared_ptr<const valijson::Schema> schema_;
};

}  // namespace am2z
