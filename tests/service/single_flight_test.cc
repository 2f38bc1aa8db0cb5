// SingleFlight on its own: who starts a flight, who joins it, to what deadline it runs, and
// who is answered when it ends.

#include "service/single_flight.h"

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rollcall::service {
namespace {

using Done = std::function<void(int)>;
using Flights = SingleFlight<Done>;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

// A waiter that records the value it is answered with into `out`.
Done Recorder(std::vector<std::string>* out, std::string name) {
  return [out, name](int value) { out->push_back(name + "=" + std::to_string(value)); };
}

TEST(SingleFlightTest, TheFirstCallerStartsAndTheOthersJoin) {
  Flights flights;
  int starts = 0;
  std::vector<std::string> answered;
  Done a = Recorder(&answered, "a");
  Done b = Recorder(&answered, "b");
  Done c = Recorder(&answered, "c");
  EXPECT_EQ(flights.Join("k", kT0, a, [&] { return ++starts, true; }), Flights::Joined::kStarted);
  EXPECT_EQ(flights.Join("k", kT0, b, [&] { return ++starts, true; }), Flights::Joined::kJoined);
  EXPECT_EQ(flights.Join("other", kT0, c, [&] { return ++starts, true; }),
            Flights::Joined::kStarted);
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(flights.flights(), 2u);
  EXPECT_EQ(flights.waiters(), 3u);

  bool again = true;
  std::vector<Done> done = flights.Take("k", kT0, /*keep_later=*/false, &again);
  EXPECT_FALSE(again);
  ASSERT_EQ(done.size(), 2u);
  for (Done& d : done) d(7);
  EXPECT_EQ(answered, (std::vector<std::string>{"a=7", "b=7"}));  // in the order they joined
  EXPECT_EQ(flights.flights(), 1u);
  EXPECT_EQ(flights.waiters(), 1u);
  // The flight is gone: the next caller starts another.
  Done d = Recorder(&answered, "d");
  EXPECT_EQ(flights.Join("k", kT0, d, [] { return true; }), Flights::Joined::kStarted);
}

TEST(SingleFlightTest, ARefusedStartLeavesNoFlightAndTheCallerKeepsItsDone) {
  Flights flights;
  std::vector<std::string> answered;
  Done a = Recorder(&answered, "a");
  EXPECT_EQ(flights.Join("k", kT0, a, [] { return false; }), Flights::Joined::kNotStarted);
  EXPECT_EQ(flights.flights(), 0u);
  EXPECT_EQ(flights.waiters(), 0u);
  ASSERT_TRUE(a);  // not moved from
  a(1);
  EXPECT_EQ(answered, std::vector<std::string>{"a=1"});
  // `start` runs under the lock: nobody can join in between, so the next caller starts.
  Done b = Recorder(&answered, "b");
  EXPECT_EQ(flights.Join("k", kT0, b, [] { return true; }), Flights::Joined::kStarted);
}

TEST(SingleFlightTest, TheDeadlineIsTheLatestOfTheWaiters) {
  Flights flights;
  std::vector<std::string> answered;
  EXPECT_EQ(flights.Deadline("k"), absl::InfinitePast());
  for (const absl::Duration d : {absl::Seconds(1), absl::Seconds(20), absl::Seconds(5)}) {
    Done done = Recorder(&answered, "w");
    flights.Join("k", kT0 + d, done, [] { return true; });
  }
  EXPECT_EQ(flights.Deadline("k"), kT0 + absl::Seconds(20));
  EXPECT_EQ(flights.Deadline("other"), absl::InfinitePast());
}

TEST(SingleFlightTest, KeepLaterKeepsOnlyTheWaitersWithMoreTime) {
  Flights flights;
  std::vector<std::string> answered;
  Done early = Recorder(&answered, "early");
  Done same = Recorder(&answered, "same");
  Done late = Recorder(&answered, "late");
  flights.Join("k", kT0 + absl::Seconds(1), early, [] { return true; });
  flights.Join("k", kT0 + absl::Seconds(2), same, [] { return true; });
  flights.Join("k", kT0 + absl::Seconds(30), late, [] { return true; });

  // A run to +2s ran out of time: those with no more time than that are answered.
  bool again = false;
  std::vector<Done> done = flights.Take("k", kT0 + absl::Seconds(2), true, &again);
  EXPECT_TRUE(again);
  for (Done& d : done) d(0);
  EXPECT_EQ(answered, (std::vector<std::string>{"early=0", "same=0"}));
  EXPECT_EQ(flights.flights(), 1u);
  EXPECT_EQ(flights.waiters(), 1u);
  EXPECT_EQ(flights.Deadline("k"), kT0 + absl::Seconds(30));

  // The run again, to +30s, ends the flight whatever keep_later says: nobody has more time.
  done = flights.Take("k", kT0 + absl::Seconds(30), true, &again);
  EXPECT_FALSE(again);
  for (Done& d : done) d(1);
  EXPECT_EQ(answered, (std::vector<std::string>{"early=0", "same=0", "late=1"}));
  EXPECT_EQ(flights.flights(), 0u);
  EXPECT_EQ(flights.waiters(), 0u);
}

TEST(SingleFlightTest, TakingAnUnknownKeyGivesNobody) {
  Flights flights;
  bool again = true;
  EXPECT_TRUE(flights.Take("k", kT0, true, &again).empty());
  EXPECT_FALSE(again);
}

}  // namespace
}  // namespace rollcall::service
