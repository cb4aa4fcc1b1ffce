// fan_out: the caller and pool helpers claim pieces of work in turn (parallel branches, batch items).
#include "core/fan_out.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using namespace am2z;
using namespace std::chrono_literals;

TEST_CASE("every piece runs exactly once, whatever the thread limit") {
  for (std::size_t n : {0u, 1u, 2u, 7u, 100u, 5000u}) {
    for (std::size_t threads : {0u, 1u, 2u, 8u, 64u}) {
      std::vector<std::atomic<int>> runs(n);
      fan_out(TaskPool::shared(), n, threads, [&](std::size_t i) { runs[i].fetch_add(1); });
      for (std::size_t i = 0; i < n; ++i) CHECK(runs[i].load() == 1);
    }
  }
}

TEST_CASE("blocking pieces all run at once up to the limit, never more") {
  std::mutex mutex;
  int running = 0;
  int most = 0;
  auto piece = [&](std::size_t) {
    {
      std::lock_guard lock(mutex);
      most = std::max(most, ++running);
    }
    std::this_thread::sleep_for(50ms);
    std::lock_guard lock(mutex);
    --running;
  };
  fan_out(TaskPool::shared(), 12, 4, piece);
  CHECK(most == 4);
  CHECK(running == 0);  // returned only once every piece had ended
  most = 0;
  fan_out(TaskPool::shared(), 6, 6, piece);
  CHECK(most == 6);  // a parallel's blocking branches all start: helpers start helpers
}

TEST_CASE("with one thread the caller runs every piece itself, in order") {
  std::vector<std::size_t> order;
  const auto caller = std::this_thread::get_id();
  bool all_here = true;
  fan_out(TaskPool::shared(), 50, 1, [&](std::size_t i) {
    order.push_back(i);
    all_here = all_here && std::this_thread::get_id() == caller;
  });
  CHECK(all_here);
  REQUIRE(order.size() == 50);
  CHECK(std::is_sorted(order.begin(), order.end()));
}

TEST_CASE("the caller takes part: it claims pieces itself, not only hands them to helpers") {
  // Helpers hold their piece until the caller has run one (or 5 s pass), so they cannot claim
  // every piece between them however fast they wake: a fan-out whose caller only handed work
  // off would leave on_caller at 0. (Counting the caller's share of instant pieces instead
  // depends on how fast pool threads wake, which under TSan can be faster than the caller.)
  for (std::size_t threads : {2u, 4u, 8u}) {
    std::atomic<int> on_caller{0};
    const auto caller = std::this_thread::get_id();
    fan_out(TaskPool::shared(), 8, threads, [&](std::size_t) {
      if (std::this_thread::get_id() == caller) {
        on_caller.fetch_add(1);
        return;
      }
      const auto give_up = std::chrono::steady_clock::now() + 5s;
      while (on_caller.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
    });
    CHECK(on_caller.load() > 0);
  }
}
