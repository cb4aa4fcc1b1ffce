#include "cli/progress_display.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>

#include "core/units.hpp"

namespace am2z::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedraw = std::chrono::milliseconds(250);
constexpr auto kRateWindow = std::chrono::seconds(5);
constexpr auto kDefaultInterval = std::chrono::seconds(10);

/// The terminal's progress line, shared by the display and the log sink.
std::mutex& line_mutex() {
  static std::mutex m;
  return m;
}
bool line_shown = false;  // guarded by line_mutex()

void clear_line_locked() {
  if (!line_shown) return;
  std::fputs("\r\033[K", stderr);
  line_shown = false;
}

bool stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) == 1 && !(term != nullptr && std::string_view(term) == "dumb");
}

std::size_t terminal_width() {
  winsize w{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}

std::string duration_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

class ProgressAwareSink final : public spdlog::sinks::sink {
 public:
  explicit ProgressAwareSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}
  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard lock(line_mutex());
    clear_line_locked();
    inner_->log(msg);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

Result<std::optional<std::chrono::milliseconds>> env_progress_interval() {
  const char* text = std::getenv("AM2Z_PROGRESS_INTERVAL");
  if (text == nullptr || *text == '\0') return std::optional<std::chrono::milliseconds>{};
  auto parsed = parse_duration(text);
  if (!parsed) {
    return fail(errors::configuration("AM2Z_PROGRESS_INTERVAL",
                                      parsed.error().context.value("reason", parsed.error().message)));
  }
  return std::optional<std::chrono::milliseconds>{*parsed};
}

std::string progress_text(const ProgressSample& now, const ProgressSample& before, std::chrono::milliseconds elapsed,
                          bool plain) {
  std::string out = plain ? "progress: " : "";
  if (now.steps_known) {
    fmt::format_to(std::back_inserter(out), "{} step{} done", now.steps, now.steps == 1 ? "" : "s");
    if (now.failed > 0) fmt::format_to(std::back_inserter(out), " ({} failed)", now.failed);
  }
  const double span = std::chrono::duration<double>(now.at - before.at).count();
  if (now.items_total > 0) {
    fmt::format_to(std::back_inserter(out), "{}batch items {}/{} ({}%)", now.steps_known ? ", " : "", now.items_done,
                   now.items_total, now.items_done * 100 / now.items_total);
    const double rate = span > 0 ? static_cast<double>(now.items_done - before.items_done) / span : 0;
    if (rate > 0) {
      fmt::format_to(std::back_inserter(out), ", {:.0f} items/s, ETA {}", rate,
                     duration_text(static_cast<double>(now.items_total - now.items_done) / rate));
    }
  } else if (!now.steps_known) {
    out += "no batch items queued yet";
  } else if (span > 0 && now.steps > before.steps) {
    fmt::format_to(std::back_inserter(out), ", {:.0f} steps/s", static_cast<double>(now.steps - before.steps) / span);
  }
  fmt::format_to(std::back_inserter(out), ", {} elapsed", duration_text(std::chrono::duration<double>(elapsed).count()));
  return out;
}

std::shared_ptr<spdlog::sinks::sink> progress_aware_sink(std::shared_ptr<spdlog::sinks::sink> inner) {
  return std::make_shared<ProgressAwareSink>(std::move(inner));
}

std::unique_ptr<ProgressDisplay> ProgressDisplay::start(std::shared_ptr<const RunProgress> progress) {
  if (!spdlog::default_logger()->should_log(spdlog::level::info)) return nullptr;
  const bool terminal = stderr_is_terminal();
  std::chrono::milliseconds every = kDefaultInterval;
  if (auto env = env_progress_interval(); env && *env) every = **env;  // checked before the command ran
  if (!terminal && every.count() <= 0) return nullptr;
  return std::unique_ptr<ProgressDisplay>(new ProgressDisplay(std::move(progress), terminal, every));
}

ProgressDisplay::ProgressDisplay(std::shared_ptr<const RunProgress> progress, bool terminal,
                                 std::chrono::milliseconds every)
    : progress_(std::move(progress)), terminal_(terminal), every_(every), started_(Clock::now()) {
  thread_ = std::thread([this] { loop(); });
}

ProgressDisplay::~ProgressDisplay() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::lock_guard lock(line_mutex());
  clear_line_locked();
  std::fflush(stderr);
}

ProgressSample ProgressDisplay::sample() const {
  ProgressSample s;
  s.at = Clock::now();
  s.steps = progress_->steps_done.load(std::memory_order_relaxed);
  s.failed = progress_->steps_failed.load(std::memory_order_relaxed);
  s.items_total = progress_->items_total.load(std::memory_order_relaxed);
  s.items_done = progress_->items_done.load(std::memory_order_relaxed);
  s.steps_known = progress_->counts_steps.load(std::memory_order_relaxed);
  return s;
}

void ProgressDisplay::loop() {
  std::deque<ProgressSample> window{sample()};
  const auto pause = terminal_ ? std::chrono::milliseconds(kRedraw) : every_;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, pause, [this] { return stopping_; })) {
    const ProgressSample now = sample();
    // the rate over the last few seconds (a plain line: since the line before)
    while (window.size() > 1 && now.at - window[1].at >= std::max<Clock::duration>(kRateWindow, every_)) {
      window.pop_front();
    }
    if (!terminal_) window.assign(1, window.back());
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now.at - started_);
    std::string text = progress_text(now, window.front(), elapsed, !terminal_);
    window.push_back(now);
    if (!terminal_) {
      spdlog::info("{}", text);
      continue;
    }
    if (const std::size_t width = terminal_width(); text.size() >= width) text.resize(width - 1);
    std::lock_guard line(line_mutex());
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    line_shown = true;
  }
}

}  // namespace am2z::cli
