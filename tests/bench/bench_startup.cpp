// `am2z run` of a one-step flow, process start to exit. A small C++ launcher rather than a script:
// a child's ru_maxrss counts the pages it shared with its parent before exec, so the parent must
// be smaller than am2z for the peak RSS to be am2z's own.
// Usage: bench_startup AM2Z FLOW ITERATIONS; prints one JSON line.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_startup AM2Z FLOW ITERATIONS\n");
    return 2;
  }
  const int iterations = std::atoi(argv[3]);
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  std::vector<double> walls;
  long peak_kb = 0;
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(devnull, 1);
      char run[] = "run";
      char compact[] = "--compact";
      char quiet[] = "-q";
      char* args[] = {argv[1], run, argv[2], compact, quiet, nullptr};
      execv(argv[1], args);
      _exit(127);
    }
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    walls.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "am2z run failed (status %d)\n", status);
      return 1;
    }
    peak_kb = std::max(peak_kb, ru.ru_maxrss);
  }
  std::sort(walls.begin(), walls.end());
  const auto at = [&](double q) { return walls[static_cast<std::size_t>(q * static_cast<double>(walls.size() - 1))]; };
  std::printf(
      "{\"scenario\":\"startup_one_step\",\"iterations\":%d,\"wall_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f,"
      "\"peak_rss_kb\":%ld}\n",
      iterations, at(0.5), at(0.9), walls.front(), peak_kb);
  return 0;
}
