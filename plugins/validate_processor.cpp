#include "plugins/validate_processor.hpp"

// Without this valijson aborts the process on a schema it cannot read.
#define VALIJSON_USE_EXCEPTIONS 1
#include <exception>
#include <locale>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "plugins/params.hpp"

namespace am2z {

namespace {

constexpr std::size_t kMaxListed = 20;  // failures named in the message; context lists them all

/// valijson's context ["<root>", "[order]", "[0]"] as a JSON pointer "/order/0".
std::string json_pointer(const std::vector<std::string>& context) {
  std::string out;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string token =
        part.size() >= 2 && part.front() == '[' && part.back() == ']' ? part.substr(1, part.size() - 2) : part;
    out += '/';
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return out;
}

class ValidateProcessor final : public Processor {
 public:
  ValidateProcessor(std::shared_ptr<const valijson::Schema> schema, JsonPath path)
      : schema_(std::move(schema)), path_(std::move(path)) {}

  Status process(State& state, Context& /*ctx*/) const override {
    const Json* target = path_.find(state.data);
    if (target == nullptr) {
      return fail(errors::validation(path_.text(), nullptr, "is not in the state; nothing to validate"));
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter adapter(*target);
    if (validator.validate(*schema_, adapter, &results)) return {};

    Json failures = Json::array();
    std::set<std::string> listed;
    std::string summary;
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
      std::string pointer = json_pointer(error.context);
      failures.push_back(Json{{"pointer", pointer}, {"message", error.description}});
      if (listed.size() < kMaxListed && listed.insert(pointer).second) {
        summary += (summary.empty() ? "" : "; ") + (pointer.empty() ? std::string("(root)") : pointer) + ": " +
                   error.description;
      }
    }
    Error e = errors::validation(path_.text(), nullptr, "does not match the schema: " + summary);
    e.context["failures"] = std::move(failures);
    return fail(std::move(e));
  }

 private:
  std::shared_ptr<const valijson::Schema> schema_;
  JsonPath path_;
};

/// valijson compiles a `pattern` with std::regex on each validation, and libstdc++'s
/// std::ctype<char>::narrow fills its cache lazily: steps validating at once on several threads
/// wrote that cache at the same time (the same bytes, but a data race all the same; TSan reports
/// it). Filled once, here, before any step runs, it is only read afterwards.
void fill_narrow_cache() {
  static std::once_flag filled;
  std::call_once(filled, [] {
    const auto& ctype = std::use_facet<std::ctype<char>>(std::locale());
    for (int c = 1; c < 256; ++c) (void)ctype.narrow(static_cast<char>(c), '\0');
  });
}

Result<std::unique_ptr<Processor>> create_validate(const Json& with) {
  if (auto ok = params::check_keys(with, {"schema", "path"}); !ok) return fail(ok.error());
  fill_narrow_cache();
  const Json* schema_json = params::find(with, "schema");
  if (schema_json == nullptr) return fail(params::missing("schema"));
  if (!schema_json->is_object())
    return fail(errors::validation("schema", *schema_json, "must be a JSON Schema object"));
  auto schema = std::make_shared<valijson::Schema>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(*schema_json);
    parser.populateSchema(adapter, *schema);
  } catch (const std::exception& e) {
    return fail(errors::validation("schema", *schema_json, std::string("is not a valid JSON Schema: ") + e.what()));
  }
  JsonPath path = *JsonPath::parse(".");
  if (const Json* v = params::find(with, "path")) {
    auto p = params::as_path(*v, "path", /*allow_root=*/true);
    if (!p) return fail(p.error());
    path = std::move(*p);
  }
  return std::make_unique<ValidateProcessor>(std::move(schema), std::move(path));
}

}  // namespace

ProcessorType validate_processor_type() {
  ProcessorType type;
  type.name = "validate";
  type.description =
      "Checks the state (or a path in it) against a JSON Schema (draft 7); a mismatch is a ValidationError "
      "listing the failing JSON pointers";
  type.params_schema =
      Json{{"type", "object"},
           {"properties",
            {{"schema", {{"type", "object"}, {"description", "the JSON Schema the value must match"}}},
             {"path", params::path_schema("the value to check; default: the whole state without metadata")}}},
           {"required", Json::array({"schema"})},
           {"additionalProperties", false}};
  type.create = create_validate;
  return type;
}

}  // namespace am2z
