// TaskPool: the elastic pool that runs parallel branches, batch workers and guarded work.
#include "core/task_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace am2z;
using namespace std::chrono_literals;

namespace {

/// A bounded wait for a number of events; never hangs the suite.
struct Counter {
  std::mutex mutex;
  std::condition_variable cv;
  int value = 0;
  void add() {
    {
      std::lock_guard lock(mutex);
      ++value;
    }
    cv.notify_all();
  }
  bool wait_for_at_least(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, limit, [&] { return value >= n; });
  }
};

}  // namespace

TEST_CASE("the shared pool is one instance") { CHECK(&TaskPool::shared() == &TaskPool::shared()); }

TEST_CASE("a submitted task runs, on another thread") {
  auto done = std::make_shared<Counter>();
  auto ran_on = std::make_shared<std::thread::id>();
  TaskPool::shared().submit([done, ran_on] {
    *ran_on = std::this_thread::get_id();
    done->add();
  });
  REQUIRE(done->wait_for_at_least(1, 2s));
  std::lock_guard lock(done->mutex);  // the write happened before add()
  CHECK(*ran_on != std::this_thread::get_id());
  CHECK(TaskPool::shared().threads() >= 1);
}

TEST_CASE("every task runs exactly once") {
  constexpr int kTasks = 200;
  auto hits = std::make_shared<std::vector<std::atomic<int>>>(kTasks);
  auto done = std::make_shared<Counter>();
  for (int i = 0; i < kTasks; ++i) {
    TaskPool::shared().submit([hits, done, i] {
      ++(*hits)[static_cast<std::size_t>(i)];
      done->add();
    });
  }
  REQUIRE(done->wait_for_at_least(kTasks, 5s));
  int wrong = 0;
  for (auto& h : *hits) wrong += h.load() == 1 ? 0 : 1;
  CHECK(wrong == 0);
}

TEST_CASE("blocking tasks all run at the same time: the pool grows instead of queueing") {
  // Each task waits until all of them have started; a fixed-size pool smaller than 8 would
  // leave some queued and every task would time out.
  constexpr int kTasks = 8;
  auto arrived = std::make_shared<Counter>();
  auto met = std::make_shared<std::atomic<int>>(0);
  auto finished = std::make_shared<Counter>();
  auto threads = std::make_shared<std::set<std::thread::id>>();
  auto threads_mutex = std::make_shared<std::mutex>();
  for (int i = 0; i < kTasks; ++i) {
    TaskPool::shared().submit([=] {
      {
        std::lock_guard lock(*threads_mutex);
        threads->insert(std::this_thread::get_id());
      }
      arrived->add();
      if (arrived->wait_for_at_least(kTasks, 3s)) ++*met;
      finished->add();
    });
  }
  REQUIRE(finished->wait_for_at_least(kTasks, 5s));
  CHECK(*met == kTasks);
  std::lock_guard lock(*threads_mutex);
  CHECK(threads->size() == static_cast<std::size_t>(kTasks));
  CHECK(TaskPool::shared().threads() >= static_cast<std::size_t>(kTasks));
}

TEST_CASE("a task can submit a child and wait for it without starving") {
  auto outcome = std::make_shared<Counter>();
  auto child_ran = std::make_shared<std::atomic<bool>>(false);
  TaskPool::shared().submit([outcome, child_ran] {
    auto child_done = std::make_shared<Counter>();
    TaskPool::shared().submit([child_done, child_ran] {
      *child_ran = true;
      child_done->add();
    });
    if (child_done->wait_for_at_least(1, 3s)) outcome->add();
  });
  REQUIRE(outcome->wait_for_at_least(1, 5s));
  CHECK(child_ran->load());
}

TEST_CASE("idle threads are reused for later work") {
  // Warm up: make sure at least one thread is idle.
  auto warm = std::make_shared<Counter>();
  TaskPool::shared().submit([warm] { warm->add(); });
  REQUIRE(warm->wait_for_at_least(1, 2s));
  std::this_thread::sleep_for(10ms);

  const std::size_t before = TaskPool::shared().threads();
  for (int i = 0; i < 30; ++i) {
    auto done = std::make_shared<Counter>();
    TaskPool::shared().submit([done] { done->add(); });
    REQUIRE(done->wait_for_at_least(1, 2s));
    std::this_thread::sleep_for(1ms);  // let the worker go back to waiting
  }
  // One task at a time never needs more than one extra thread (some may be busy elsewhere).
  CHECK(TaskPool::shared().threads() <= before + 1);
}

TEST_CASE("move-only tasks are accepted") {
  auto done = std::make_shared<Counter>();
  auto payload = std::make_unique<int>(41);
  auto seen = std::make_shared<std::atomic<int>>(0);
  TaskPool::shared().submit([p = std::move(payload), done, seen] {
    *seen = *p + 1;
    done->add();
  });
  REQUIRE(done->wait_for_at_least(1, 2s));
  CHECK(*seen == 42);
}

TEST_CASE("a pool of one's own runs every task before its destructor returns") {
  std::atomic<int> ran{0};
  {
    TaskPool pool;
    for (int i = 0; i < 8; ++i) {
      pool.submit([&ran] {
        std::this_thread::sleep_for(5ms);
        ++ran;
      });
    }
  }
  CHECK(ran.load() == 8);
}
