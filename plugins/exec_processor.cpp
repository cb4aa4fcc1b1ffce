#include "plugins/exec_processor.hpp"

#include <string.h>  // sigabbrev_np

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/json_limits.hpp"
#include "plugins/exec_params.hpp"
#include "plugins/exec_protocol.hpp"
#include "plugins/params.hpp"
#include "plugins/subprocess.hpp"
#include "plugins/typed_error.hpp"

namespace am2z {

namespace {

// Stdout is held whole, then parsed into a document of about the same size or more: the default
// bounds that memory; a step that needs more says so with `max_output`.
constexpr std::size_t kDefaultMaxOutput = 64u << 20;
constexpr std::size_t kQuotedStdout = 200;             // bytes of bad stdout quoted in the error
constexpr std::size_t kStderrInMessage = 1000;         // bytes of stderr in the message; context has the whole tail

/// Child output can be any bytes, but JSON text (so Error::to_json) must be valid UTF-8:
/// invalid sequences become U+FFFD.
std::string valid_utf8(const std::string& bytes) {
  return Json::parse(Json(bytes).dump(-1, ' ', false, Json::error_handler_t::replace)).get<std::string>();
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

/// The state as the program reads it: State::to_json() text, without first copying the data
/// into a new document (states can be large).
std::string state_document(const State& state) {
  constexpr auto kReplace = Json::error_handler_t::replace;
  if (!state.data.is_object() || state.data.contains("metadata")) return state.to_json().dump(-1, ' ', false, kReplace);
  std::string data = state.data.dump(-1, ' ', false, kReplace);
  std::string doc = "{\"metadata\":" + state.metadata_json().dump(-1, ' ', false, kReplace);
  if (data.size() > 2) doc += ",";
  doc.append(data, 1);  // data without its opening brace
  return doc;
}

/// Milliseconds from `started` to `deadline`, rounded up: the budget a timeout message names.
long long budget_ms(Deadline deadline, SteadyClock::time_point started) {
  if (deadline <= started) return 0;
  return std::chrono::ceil<Millis>(deadline - started).count();
}

std::string quote_start(std::string_view text) {
  std::string head(text.substr(0, kQuotedStdout));
  return valid_utf8(head) + (text.size() > kQuotedStdout ? "..." : "");
}

class ExecProcessor final : public Processor {
 public:
  ExecProcessor(std::vector<ExecValue> argv, ExecEnv env, std::string cwd, Millis kill_grace, std::size_t max_output)
      : program_(argv.front().literal),
        argv_(std::move(argv)),
        env_(std::move(env)),
        cwd_(std::move(cwd)),
        kill_grace_(kill_grace),
        max_output_(max_output) {}

  Status process(State& state, Context& ctx) const override {
    auto started = SteadyClock::now();
    SubprocessOptions options;
    for (std::size_t i = 0; i < argv_.size(); ++i) {
      auto arg = argv_[i].resolve(state.data, "argv[" + std::to_string(i) + "]");
      if (!arg) return fail(arg.error());
      options.argv.push_back(std::move(*arg));
    }
    for (const auto& [name, value] : env_) {
      auto text = value.resolve(state.data, "env." + name);
      if (!text) return fail(text.error());
      options.env.emplace_back(name, std::move(*text));
    }
    // Last, so a flow's `env:` cannot fake the engine's identifiers.
    options.env.emplace_back("AM2Z_SESSION_ID", ctx.session_id());
    options.env.emplace_back("AM2Z_EXECUTION_ID", ctx.execution_id());
    options.env.emplace_back("AM2Z_ATTEMPT", std::to_string(ctx.attempt()));
    options.cwd = cwd_;
    options.kill_grace = kill_grace_;
    options.max_output = max_output_;
    options.input = state_document(state);
    options.deadline = ctx.deadline();
    options.cancel = &ctx.cancel_token();
    options.on_stderr_line = [this, &ctx](std::string_view line) { return take_stderr_line(line, ctx); };

    auto run = run_subprocess(options);
    if (!run) return fail(spawn_failure(ctx, run.error()));
    SubprocessResult& r = *run;
    if (r.output_too_large) {
      Error e = errors::resource(std::string(ctx.processor_name()) + " stdout", static_cast<long long>(max_output_),
                                 static_cast<long long>(max_output_) + 1);
      e.message = "stdout of '" + program_ + "' exceeded the " + byte_size_text(max_output_) +
                  " limit (max_output); the program was stopped";
      e.retryable = false;
      return fail(std::move(e));
    }
    if (r.cancelled) return fail(errors::cancelled(ctx.cancel_token().reason()));
    if (r.timed_out)
      return fail(errors::timeout(std::string(ctx.processor_name()), budget_ms(ctx.deadline(), started)));
    if (!r.killed && r.term_signal == 0 && r.exit_code == kTypedErrorExit) {
      if (auto reported = reported_error(trim(r.out.view()))) {
        return fail(typed_error(*reported, ctx.processor_name(), "exec:" + program_));
      }
    }
    if (!r.succeeded()) return fail(exit_failure(ctx, r));
    return apply_output(state, std::move(r.out), ctx);
  }

 private:
  /// A stderr line as it comes: an event line becomes a custom event (a malformed one is logged,
  /// never passed as stderr); any other goes to the log at info, prefixed by the step, and stays
  /// in the tail a failure quotes (false).
  bool take_stderr_line(std::string_view line, const Context& ctx) const {
    if (!line.starts_with(kEventPrefix)) {
      if (ctx.log().should_log(spdlog::level::info)) ctx.log().info("{}: {}", ctx.processor_name(), line);
      return false;
    }
    if (auto event = parse_event(line.substr(kEventPrefix.size()))) {
      ctx.emit(event->name, std::move(event->data));
    } else {
      ctx.log().warn("{}: '{}' wrote a malformed event line (expected {}{{\"event\": \"name\", \"data\": ...}}): {}",
                     ctx.processor_name(), program_, kEventPrefix, quote_start(line));
    }
    return true;
  }

  Error spawn_failure(const Context& ctx, const SpawnError& e) const {
    const std::string what = e.kind == SpawnErrorKind::bad_cwd ? "cannot start '" + program_ + "' in " + e.message
                                                               : "cannot run " + e.message;
    Error error = errors::execution(std::string(ctx.processor_name()), what);
    // Running it again will not make the program appear.
    error.retryable = e.kind == SpawnErrorKind::other;
    if (!error.context.is_object()) error.context = Json::object();
    error.context["program"] = program_;
    error.context["reason"] = std::string(to_string(e.kind));
    return error;
  }

  Error exit_failure(const Context& ctx, const SubprocessResult& r) const {
    std::string message = "'" + program_ + "' ";
    if (r.term_signal != 0) {
      const char* abbrev = ::sigabbrev_np(r.term_signal);
      message += "was killed by signal " + std::to_string(r.term_signal) +
                 (abbrev != nullptr ? std::string(" (SIG") + abbrev + ")" : std::string());
    } else {
      message += "exited with code " + std::to_string(r.exit_code);
    }
    std::string stderr_tail = valid_utf8(r.err_tail);
    std::string_view shown = trim(stderr_tail);
    if (!shown.empty()) {
      if (shown.size() > kStderrInMessage) shown = shown.substr(shown.size() - kStderrInMessage);
      message += ": ";
      message += shown;
    }
    Error error = errors::execution(std::string(ctx.processor_name()), message);
    if (!error.context.is_object()) error.context = Json::object();
    error.context["exitCode"] = r.term_signal != 0 ? Json(nullptr) : Json(r.exit_code);
    if (r.term_signal != 0) error.context["signal"] = r.term_signal;
    error.context["stderr"] = std::move(stderr_tail);
    return error;
  }

  /// Parses stdout in place and frees it before the new data replaces the old, so at most the
  /// text, the parsed document and the old state are held at once.
  Status apply_output(State& state, OutputBuffer out, const Context& ctx) const {
    std::string_view text = trim(out.view());
    if (text.empty()) return {};  // nothing printed: the state stays as it was
    auto parsed = parse_outside_json(text);
    std::string problem;
    if (!parsed) {
      // The reason may quote the offending bytes, which need not be UTF-8.
      problem = "stdout of '" + program_ + "' is not JSON (" + valid_utf8(parsed.error().reason);
      // nlohmann's syntax errors name their line and column; the depth check only has an offset.
      if (parsed.error().offset != std::string_view::npos && parsed.error().reason.find(" line ") == std::string::npos) {
        auto [line, column] = line_and_column(text, parsed.error().offset);
        problem += " at line " + std::to_string(line) + ", column " + std::to_string(column);
      }
      problem += "): ";
    } else if (!parsed->is_object()) {
      problem = "stdout of '" + program_ + "' must be a JSON object, not " + std::string(parsed->type_name()) + ": ";
    }
    if (!problem.empty()) {
      std::string quoted = quote_start(text);
      Error error = errors::execution(std::string(ctx.processor_name()), problem + quoted);
      if (!error.context.is_object()) error.context = Json::object();
      error.context["stdout"] = std::move(quoted);
      return fail(std::move(error));
    }
    out.release();
    parsed->erase("metadata");  // the engine owns metadata; a program cannot rewrite it
    state.data = std::move(*parsed);
    return {};
  }

  std::string program_;  ///< argv[0], always literal
  std::vector<ExecValue> argv_;
  ExecEnv env_;
  std::string cwd_;
  Millis kill_grace_;
  std::size_t max_output_;
};

Result<std::unique_ptr<Processor>> create_exec(const Json& with) {
  if (auto ok = params::check_keys(with, {"argv", "env", "cwd", "kill_grace", "max_output"}); !ok)
    return fail(ok.error());
  auto argv = read_exec_argv(with);
  if (!argv) return fail(argv.error());
  auto env = read_exec_env(with);
  if (!env) return fail(env.error());
  std::string cwd;
  if (const Json* v = params::find(with, "cwd")) {
    auto s = params::as_string(*v, "cwd", /*non_empty=*/true);
    if (!s) return fail(s.error());
    cwd = std::move(*s);
  }
  Millis kill_grace{2000};
  if (const Json* v = params::find(with, "kill_grace")) {
    auto d = params::as_duration(*v, "kill_grace");
    if (!d) return fail(d.error());
    kill_grace = *d;
  }
  std::size_t max_output = kDefaultMaxOutput;
  if (const Json* v = params::find(with, "max_output")) {
    auto size = read_byte_size(*v, "max_output");
    if (!size) return fail(size.error());
    max_output = *size;
  }
  return std::make_unique<ExecProcessor>(std::move(*argv), std::move(*env), std::move(cwd), kill_grace, max_output);
}

Json exec_schema() {
  return Json{
      {"type", "object"},
      {"properties",
       {{"argv",
         {{"type", "array"},
          {"minItems", 1},
          {"items", {{"anyOf", Json::array({{{"type", "string"}}, state_value_schema()})}}},
          {"description",
           "program and arguments, run without a shell; argv[0] is searched in PATH; {path: .a.b} passes a "
           "state value"}}},
        {"env",
         {{"type", "object"},
          {"additionalProperties",
           {{"anyOf", Json::array({{{"type", Json::array({"string", "number", "boolean"})}}, state_value_schema()})}}},
          {"description",
           "environment variables added to the inherited environment; {path: .a.b} passes a state value"}}},
        {"cwd", {{"type", "string"}, {"minLength", 1}, {"description", "working directory"}}},
        {"max_output",
         byte_size_schema("stdout beyond which the program is stopped and the step fails (RESOURCE_EXHAUSTED, not "
                          "retryable); default 64MiB")},
        {"kill_grace",
         params::duration_schema("delay between SIGTERM and SIGKILL on timeout or cancellation; default 2s")}}},
      {"required", Json::array({"argv"})},
      {"additionalProperties", false}};
}

}  // namespace

ProcessorType exec_processor_type() {
  ProcessorType type;
  type.name = "exec";
  type.description =
      "Runs a program: the state (with metadata) goes to its stdin as JSON; a JSON object on its stdout "
      "becomes the new data, empty stdout keeps the state; a non-zero exit fails the step (exit 3 with "
      "{\"error\": {...}} on stdout: a typed error); stderr lines '::am2z-event {json}' are custom events";
  type.params_schema = exec_schema();
  type.create = create_exec;
  type.flow_dir_param = "cwd";
  return type;
}

}  // namespace am2z
