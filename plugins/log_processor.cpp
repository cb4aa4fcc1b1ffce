#include "plugins/log_processor.hpp"

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "core/json_path.hpp"
#include "plugins/params.hpp"

namespace am2z {

namespace {

constexpr std::array<std::string_view, 4> kLevels = {"debug", "info", "warn", "error"};

/// Literal text followed by an optional `{path}` placeholder.
struct Piece {
  std::string literal;
  std::optional<JsonPath> path;
};

std::string render_value(const Json* value) {
  if (value == nullptr) return "null";
  if (value->is_string()) return value->get<std::string>();
  return value->dump(-1, ' ', false, Json::error_handler_t::replace);
}

class LogProcessor final : public Processor {
 public:
  LogProcessor(std::vector<Piece> pieces, spdlog::level::level_enum level)
      : pieces_(std::move(pieces)), level_(level) {}

  Status process(State& state, Context& ctx) const override {
    if (!ctx.log().should_log(level_)) return {};  // no formatting for a message nobody sees
    std::string text;
    std::optional<Json> metadata;  // built only if a placeholder reads it
    for (const auto& piece : pieces_) {
      text += piece.literal;
      if (!piece.path) continue;
      const auto& segments = piece.path->segments();
      bool in_metadata = !segments.empty() && std::holds_alternative<std::string>(segments.front()) &&
                         std::get<std::string>(segments.front()) == "metadata";
      if (in_metadata) {
        // Metadata lives outside `data`; look it up in the full document's shape.
        if (!metadata) metadata = Json{{"metadata", state.metadata_json()}};
        text += render_value(piece.path->find(*metadata));
      } else {
        text += render_value(piece.path->find(state.data));
      }
    }
    ctx.log().log(level_, "{}", text);
    return {};
  }

 private:
  std::vector<Piece> pieces_;
  spdlog::level::level_enum level_;
};

/// Splits "order {.order.id} is {.status}" into literals and paths. Only `{` followed by `.`
/// opens a placeholder, so other braces (JSON snippets, say) print as they are.
Result<std::vector<Piece>> parse_template(const std::string& message) {
  std::vector<Piece> pieces;
  std::string literal;
  std::size_t i = 0;
  while (i < message.size()) {
    if (message[i] == '{' && i + 1 < message.size() && message[i + 1] == '.') {
      auto close = message.find('}', i);
      if (close == std::string::npos) {
        return fail(errors::validation("message", message,
                                       "placeholder at offset " + std::to_string(i) + " has no closing '}'"));
      }
      std::string text = message.substr(i + 1, close - i - 1);
      auto path = JsonPath::parse(text);
      if (!path)
        return fail(
            errors::validation("message", message, "placeholder {" + text + "}: " + params::reason_of(path.error())));
      pieces.push_back(Piece{std::move(literal), std::move(*path)});
      literal.clear();
      i = close + 1;
    } else {
      literal += message[i++];
    }
  }
  if (!literal.empty()) pieces.push_back(Piece{std::move(literal), std::nullopt});
  return pieces;
}

spdlog::level::level_enum to_level(const std::string& name) {
  if (name == "debug") return spdlog::level::debug;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return spdlog::level::info;
}

Result<std::unique_ptr<Processor>> create_log(const Json& with) {
  // The schema vouches for the keys and their types; the placeholders are left to parse.
  auto pieces = parse_template(params::text(with, "message"));
  if (!pieces) return fail(pieces.error());
  return std::make_unique<LogProcessor>(std::move(*pieces), to_level(params::text(with, "level", "info")));
}

}  // namespace

ProcessorType log_processor_type() {
  ProcessorType type;
  type.name = "log";
  type.description = "Logs a message; {.path} placeholders show values from the state (strings without quotes)";
  Json levels = Json::array();
  for (std::string_view l : kLevels) levels.push_back(l);
  type.params_schema =
      Json{{"type", "object"},
           {"properties",
            {{"message",
              {{"type", "string"}, {"description", "text with {.path} placeholders, e.g. \"order {.order.id}\""}}},
             {"level", {{"type", "string"}, {"enum", levels}, {"default", "info"}}}}},
           {"required", Json::array({"message"})},
           {"additionalProperties", false}};
  type.create = create_log;
  return type;
}

}  // namespace am2z
