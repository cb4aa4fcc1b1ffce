// run_subprocess: checks the request, starts the program under a reaper of its own and hands it
// to supervise_child (plugins/subprocess_child.cpp); and the registry of live reapers that
// kill_all_subprocesses works through.
#include "plugins/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <system_error>
#include <utility>

#include "plugins/step_reaper.hpp"
#include "plugins/subprocess_child.hpp"

extern char** environ;

namespace am2z {

detail::LiveReapers& detail::live_reapers() {
  static auto* reapers = new LiveReapers;
  return *reapers;
}

namespace {

using detail::Fd;
using detail::live_reapers;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

SpawnError spawn_error(SpawnErrorKind kind, int err, std::string message) {
  return SpawnError{kind, err, std::move(message)};
}

SpawnError classify_spawn_failure(int err, const std::string& program) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return spawn_error(SpawnErrorKind::not_found, err, "'" + program + "': not found");
    case EACCES:
    case EPERM:
    case ENOEXEC:
      return spawn_error(SpawnErrorKind::not_executable, err,
                         "'" + program + "': not executable (" + errno_text(err) + ")");
    default:
      return spawn_error(SpawnErrorKind::other, err, "'" + program + "': cannot start: " + errno_text(err));
  }
}

/// A pipe whose ends are close-on-exec and above 0..2, so the child's dup2 onto 0..2 cannot
/// clobber an end it still has to duplicate.
struct Pipe {
  Fd read;
  Fd write;
};

int lift_above_stdio(int fd) {
  if (fd > 2) return fd;
  int lifted = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return lifted;
}

std::expected<Pipe, int> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(errno);
  Pipe p{Fd(lift_above_stdio(fds[0])), Fd(lift_above_stdio(fds[1]))};
  if (!p.read.is_open() || !p.write.is_open()) return std::unexpected(errno);
  return p;
}

/// The inherited environment with `extra` applied; a key given twice in `extra` takes the last value.
std::vector<std::string> build_environment(const std::vector<std::pair<std::string, std::string>>& extra) {
  auto overridden = [&](std::string_view key) {
    return std::any_of(extra.begin(), extra.end(), [&](const auto& kv) { return kv.first == key; });
  };
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (!overridden(entry.substr(0, entry.find('=')))) out.emplace_back(entry);
  }
  for (std::size_t i = 0; i < extra.size(); ++i) {
    bool later = std::any_of(extra.begin() + static_cast<std::ptrdiff_t>(i) + 1, extra.end(),
                             [&](const auto& kv) { return kv.first == extra[i].first; });
    if (!later) out.push_back(extra[i].first + "=" + extra[i].second);
  }
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

/// posix_spawn's attribute objects, destroyed on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    ::posix_spawn_file_actions_init(&actions_);
    ::posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  /// Returns 0 or the error of the failing call.
  int configure(int in_fd, int out_fd, int err_fd, const std::string& cwd) {
    int rc = 0;
    auto step = [&rc](int r) {
      if (rc == 0) rc = r;
    };
    step(::posix_spawn_file_actions_adddup2(&actions_, in_fd, STDIN_FILENO));
    step(::posix_spawn_file_actions_adddup2(&actions_, out_fd, STDOUT_FILENO));
    step(::posix_spawn_file_actions_adddup2(&actions_, err_fd, STDERR_FILENO));
    // O_CLOEXEC covers our pipes; this covers descriptors other code opened without it.
    step(::posix_spawn_file_actions_addclosefrom_np(&actions_, 3));
    if (!cwd.empty()) step(::posix_spawn_file_actions_addchdir_np(&actions_, cwd.c_str()));

    // Its own group, so SIGTERM reaches the whole tree it forks; a clean signal mask (the reaper
    // blocks everything) and default SIGPIPE (the host may ignore it).
    sigset_t empty;
    sigemptyset(&empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    step(::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    step(::posix_spawnattr_setpgroup(&attr_, 0));
    step(::posix_spawnattr_setsigmask(&attr_, &empty));
    step(::posix_spawnattr_setsigdefault(&attr_, &defaults));
    return rc;
  }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

}  // namespace

std::string_view to_string(SpawnErrorKind kind) {
  switch (kind) {
    case SpawnErrorKind::not_found:
      return "not found";
    case SpawnErrorKind::not_executable:
      return "not executable";
    case SpawnErrorKind::bad_cwd:
      return "bad working directory";
    case SpawnErrorKind::shutting_down:
      return "shutting down";
    case SpawnErrorKind::other:
      break;
  }
  return "cannot start";
}

std::expected<SubprocessResult, SpawnError> run_subprocess(const SubprocessOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return std::unexpected(spawn_error(SpawnErrorKind::other, 0, "empty argv: no program to run"));
  }
  const std::string& program = options.argv[0];
  if (!options.cwd.empty()) {
    // Checked here because a failed chdir in the child reports ENOENT, which would read as
    // "program not found".
    struct stat st {};
    if (::stat(options.cwd.c_str(), &st) != 0) {
      int err = errno;
      return std::unexpected(
          spawn_error(SpawnErrorKind::bad_cwd, err, "working directory '" + options.cwd + "': " + errno_text(err)));
    }
    if (!S_ISDIR(st.st_mode)) {
      return std::unexpected(
          spawn_error(SpawnErrorKind::bad_cwd, ENOTDIR, "working directory '" + options.cwd + "': not a directory"));
    }
  }

  // Nothing to do when it is already over; saves starting a process only to kill it.
  SubprocessResult early;
  early.cancelled = options.cancel != nullptr && options.cancel->cancelled();
  early.timed_out = !early.cancelled && options.deadline != kNoDeadline && SteadyClock::now() >= options.deadline;
  if (early.cancelled || early.timed_out) return early;

  {
    auto& live = live_reapers();
    std::lock_guard lock(live.mutex);
    if (live.shutting_down) {
      return std::unexpected(spawn_error(SpawnErrorKind::shutting_down, 0, "'" + program + "': shutting down"));
    }
  }

  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  for (const auto* p : {&in, &out, &err}) {
    if (!*p) return std::unexpected(spawn_error(SpawnErrorKind::other, p->error(), "pipe: " + errno_text(p->error())));
  }

  SpawnSetup setup;
  if (int rc = setup.configure(in->read.get(), out->write.get(), err->write.get(), options.cwd); rc != 0) {
    return std::unexpected(spawn_error(SpawnErrorKind::other, rc, "posix_spawn setup: " + errno_text(rc)));
  }
  std::vector<std::string> argv_storage(options.argv);
  std::vector<char*> argv = c_strings(argv_storage);
  std::vector<std::string> env_storage = build_environment(options.env);
  std::vector<char*> envp = c_strings(env_storage);

  detail::ReaperLaunch launch;
  launch.program = program.c_str();
  launch.argv = argv.data();
  launch.envp = envp.data();
  launch.actions = setup.actions();
  launch.attr = setup.attr();
  launch.stdio[0] = in->read.get();
  launch.stdio[1] = out->write.get();
  launch.stdio[2] = err->write.get();
  // Returns once the program runs; exec failures (ENOENT, EACCES) come back as the error.
  auto reaper = detail::start_reaper(launch);
  if (!reaper) return std::unexpected(classify_spawn_failure(reaper.error(), program));

  {
    auto& live = live_reapers();
    std::lock_guard lock(live.mutex);
    live.channels.emplace(reaper->reaper, reaper->channel);
    // kill_all_subprocesses ran between our check and the spawn.
    if (live.shutting_down) detail::send_order(reaper->channel, detail::ReaperOrder::kill);
  }

  // The program's ends must close here, or we would never see EOF on stdout/stderr.
  in->read.reset();
  out->write.reset();
  err->write.reset();
  return detail::supervise_child(options, *reaper, std::move(in->write), std::move(out->read), std::move(err->read));
}

void kill_all_subprocesses() {
  auto& live = live_reapers();
  std::lock_guard lock(live.mutex);
  live.shutting_down = true;
  for (const auto& [reaper, channel] : live.channels) detail::send_order(channel, detail::ReaperOrder::kill);
}

std::size_t live_subprocess_count() {
  auto& live = live_reapers();
  std::lock_guard lock(live.mutex);
  return live.channels.size();
}

}  // namespace am2z
