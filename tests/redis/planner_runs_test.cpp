// The planner's runs as submitters start them: a resumed run's steps and a schedule's occurrence;
// a step's processor:started as a worker publishes it, and the end events it writes as text.
#include <doctest/doctest.h>

#include "core/redis/run_events.hpp"
#include "core/redis/schedules.hpp"
#include "core/redis/submitter.hpp"
#include "tests/redis/planner_support.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace planner_runs_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::planner_testing;

TEST_CASE("a resumed run's steps name the job whose result they take; its joins do not") {
  auto flow = plan(R"(
version: 1
name: f
processors:
  a: {use: set, with: {values: {a: 1}}}
  b: {use: set, with: {values: {b: 1}}}
flow:
  parallel: [a, b]
)");
  Envelope run = run_envelope();
  run.resume_of = "old1";
  OpList ops;
  Planner(*flow).start_run(state_of({}), run, ops);
  const auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "A bull:f.a:", "A bull:f.b:", "A bull:f._join:"});
  CHECK(argv[1 + 13] == job_id("old1", "n.0", ""));
  CHECK(argv[1 + 14] == flow->keys().run_record(run.run) + "\nreused:n.0");
  CHECK(argv[16 + 13] == job_id("old1", "n.1", ""));
  CHECK(argv[31 + 13].empty());  // a join is planned again from its children
  CHECK(argv[31 + 14].empty());
  CHECK(Json::parse(argv[1 + 5])["am2z"]["rs"] == "old1");

  OpList fresh;
  Planner(*flow).start_run(state_of({}), run_envelope(), fresh);
  const auto fargv = argv_of(fresh);
  CHECK(fargv[1 + 13].empty());
  CHECK(fargv[1 + 14].empty());
}

TEST_CASE("a schedule's occurrence is one group led by its claim, its run delayed until its time") {
  auto flow = plan(kFlow);
  Schedule s;
  s.id = "nightly";
  s.every_ms = 1000;
  s.input = R"({"kind":"x"})";
  const long long now = unix_ms(), at = now + 60000;
  const std::string t = std::to_string(at);
  OpList ops;
  REQUIRE(plan_occurrence(*flow, s, 5000, at, now, ops));
  const auto argv = argv_of(ops);
  // the run's record stands or falls with the claim: one group
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "K am2z:schedule:nightly", "I am2z:run:nightly-" + t + ":record",
                                                  "A bull:f.a:"});
  CHECK(argv[2] == "am2z:schedule:nightly");
  CHECK(argv[3] == "am2z:schedules");
  CHECK(argv[4] == "nightly");
  CHECK(argv[5] == "5000");  // the occurrence it claims
  CHECK(argv[6] == t);       // the next one
  CHECK(argv[7] == "nightly-" + t);
  CHECK(argv[8] == "bull:f.a:|rnightly-" + t + ".n.0\n");
  CHECK(argv[16 + 12] == t);  // its run is delayed until then
  CHECK(Json::parse(argv[16 + 4])["kind"] == "x");
  // a named session's index too: an occurrence claimed elsewhere leaves no ghost run in it
  s.session = "nightly-jobs";
  OpList named;
  REQUIRE(plan_occurrence(*flow, s, 5000, at, now, named));
  CHECK(shape(argv_of(named)) == std::vector<std::string>{"G", "K am2z:schedule:nightly", "N nightly-jobs",
                                                          "I am2z:run:nightly-" + t + ":record", "A bull:f.a:"});
  s.session.clear();
  // a period keeps its phase; missed times are skipped
  s.next_ms = 6000;
  CHECK(*occurrence_after(s, 5000) == 7000);
  CHECK(*occurrence_after(s, 6000) == 7000);
  CHECK(*occurrence_after(s, 9500) == 10000);
  s.every_ms = 0;
  s.cron = "*/2 * * * * *";
  CHECK(*occurrence_after(s, 9500) == 10000);
  s.cron = "nonsense";
  CHECK_FALSE(occurrence_after(s, 9500));
  // a corrupt input in the schedule's hash plans nothing and names the key
  s.input = "[1, 2]";
  OpList none;
  auto refused = plan_occurrence(*flow, s, 5000, at, now, none);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("am2z:schedule:nightly input") != std::string::npos);
  CHECK(argv_of(none).empty());
}

TEST_CASE("processor:started, as a worker publishes it when a step of a run with events starts") {
  Envelope run = run_envelope();
  run.session = "tenant-a";
  const std::string text = started_event(run, "charge", "exec", "rr1.n.0", 3);
  CHECK(text.find('\n') == std::string::npos);  // one line of the stream's entry
  const Json e = Json::parse(text);
  CHECK(e["event"] == "processor:started");
  CHECK(e["runId"] == "r1");
  CHECK(e["sessionId"] == "tenant-a");
  CHECK(e["processor"] == "charge");
  CHECK(e["type"] == "exec");
  CHECK(e["jobId"] == "rr1.n.0");
  CHECK(e["attempt"] == 3);
  // stamped as a local run's events: UTC, milliseconds
  const std::string ts = e["ts"];
  CHECK(ts.size() == 24);
  CHECK(ts[10] == 'T');
  CHECK(ts.ends_with("Z"));
}

TEST_CASE("a step's end event with its members written as text: the same JSON a local run writes") {
  Envelope run = run_envelope();
  run.session = "tenant \"a\"";  // escaped where it must be
  OpList ops;
  add_run_event(ops, run, "processor:completed",
                EventMembers()
                    .number("durationMs", 12)
                    .text("processor", "charge\n")
                    .json("error", Json{{"message", "x"}})
                    .number("attempt", -1));
  const std::vector<std::string> argv = argv_of(ops);
  const auto e_op = std::find(argv.begin(), argv.end(), "E");
  REQUIRE(e_op != argv.end());
  REQUIRE(std::distance(e_op, argv.end()) >= 3);
  CHECK(*(e_op + 1) == "1");
  const std::string& text = *(e_op + 2);
  CHECK(text.find('\n') == std::string::npos);  // one line of the stream's entry
  const Json e = Json::parse(text);
  CHECK(e["event"] == "processor:completed");
  CHECK(e["runId"] == "r1");
  CHECK(e["sessionId"] == "tenant \"a\"");
  CHECK(e["durationMs"] == 12);
  CHECK(e["processor"] == "charge\n");
  CHECK(e["error"] == Json{{"message", "x"}});
  CHECK(e["attempt"] == -1);
  CHECK(e["ts"].get<std::string>().size() == 24);
  // the JSON form gives the same members
  OpList same;
  add_run_event(same, run, "processor:completed",
                Json{{"durationMs", 12}, {"processor", "charge\n"}, {"error", {{"message", "x"}}}, {"attempt", -1}});
  const std::vector<std::string> other = argv_of(same);
  Json f = Json::parse(*(std::find(other.begin(), other.end(), "E") + 2));
  f.erase("ts");
  Json g = e;
  g.erase("ts");
  CHECK(f == g);
}

TEST_CASE("a run that ends with the step that finished takes the state text its finish wrote into its outcome") {
  auto flow = plan(R"(
version: 1
name: f
processors:
  a: {use: set, with: {values: {a: 1}}}
flow: a
)");
  Envelope self = run_envelope();
  self.node = "n";
  State s = state_of(Json{{"a", 1}, {"q\"", "line\nbreak"}});
  const std::string text = s.to_text();
  OpList written;
  written.begin_group();
  Planner(*flow).finished(self, "bull:f.a:x", s, written);
  OpList reused;
  reused.begin_group();
  Planner(*flow).finished(self, "bull:f.a:x", s, reused, text);
  const auto a = argv_of(written);
  const auto b = argv_of(reused);
  CHECK(a == b);  // the same outcome, the state not written twice
  REQUIRE(shape(b).size() >= 2);
  CHECK(b[1] == "O");
  CHECK(b[3] == R"({"ok":true,"run":")" + self.run + R"(","state":)" + text + "}");
  CHECK(Json::parse(b[3]) == outcome_payload(self.run, s));
  // the text given is the one used: the caller vouches that it is the state's
  OpList given;
  given.begin_group();
  Planner(*flow).finished(self, "bull:f.a:x", s, given, R"({"given":true})");
  CHECK(argv_of(given)[3] == R"({"ok":true,"run":")" + self.run + R"(","state":{"given":true}})");
}

}  // namespace planner_runs_test
