// ReportCache: the ShardedLru, the SingleFlight and the cache's policy put together (negative
// entries, stale-if-error, the deadlines of a shared load, overload), driven through
// Lookup/LoadOrJoin with test loaders. The parts have their own tests (lru_cache_test.cc,
// single_flight_test.cc, cached_report_test.cc, report_loader_test.cc).

#include "service/report_cache.h"
#include "service/report_loader.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/mutex.h"
#include "service/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_graph_client.h"
#include "tests/service/held_thread.h"
#include "tests/testing/blocking_counter.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/notification.h"

namespace rollcall::service {
namespace {

using rollcall::testing::BlockingCounter;
using rollcall::testing::Notification;
using rollcall::v1::REPORT_VIEW_BASIC;
using rollcall::v1::REPORT_VIEW_FULL;
using rollcall::v1::REPORT_VIEW_UNSPECIFIED;
using test::HeldThread;

constexpr absl::Duration kWait = absl::Seconds(30);  // generous: only a failing test waits it

ReportKey Key(const std::string& report, rollcall::v1::ReportView view = REPORT_VIEW_FULL) {
  return ReportKey("user", "meeting", report, view);
}

// An entry for `key` with a value of exactly `size` bytes, fresh for `ttl` from `now`.
CachedReport Bytes(absl::string_view key, std::size_t size, absl::Time now,
                   absl::Duration ttl = absl::Hours(1)) {
  return CachedReport::Copy(key, std::string(size, 'b'), now, ttl);
}

// Loads `key` with `loader` and waits for the result.
absl::StatusOr<CacheResult> LoadAndWait(ReportCache& cache, const ReportKey& key,
                                        ReportCache::Loader loader,
                                        absl::Time deadline = absl::InfiniteFuture()) {
  Notification done;
  absl::StatusOr<CacheResult> result;
  cache.LoadOrJoin(key, deadline, std::move(loader), [&](absl::StatusOr<CacheResult> r) {
    result = std::move(r);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  return result;
}

// A loader that fails with `code` (and `reason`, as graph_client would).
ReportCache::Loader Failing(absl::StatusCode code, const std::string& reason,
                            std::atomic<int>* calls = nullptr) {
  return [code, reason, calls](absl::string_view, absl::Time) -> absl::StatusOr<CachedReport> {
    if (calls != nullptr) calls->fetch_add(1);
    common::ErrorDetails details;
    details.reason = reason;
    details.metadata["graph_request_id"] = "req-1";
    return common::MakeError(code, absl::StrCat("failed with ", reason), details);
  };
}

// Options with no negative caching and no stale window unless a test asks for them.
ReportCache::Options Plain(std::size_t max_bytes) {
  ReportCache::Options options;
  options.max_bytes = max_bytes;
  options.negative_ttl = absl::ZeroDuration();
  options.stale_if_error = absl::ZeroDuration();
  return options;
}

class ReportCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<ReportCache> MakeCache(std::size_t max_bytes) {
    return MakeCache(Plain(max_bytes));
  }
  std::unique_ptr<ReportCache> MakeCache(const ReportCache::Options& options) {
    return std::make_unique<ReportCache>(options, &clock_, &executor_);
  }
  // The charge of an entry for Key(report) holding `size` bytes.
  static std::size_t Charge(const std::string& report, std::size_t size) {
    return Key(report).encoded().size() + size + ReportCache::kEntryOverheadBytes;
  }

  rollcall::testing::FakeClock clock_;
  UpstreamExecutor executor_{4, 1000};
};

TEST_F(ReportCacheTest, MissThenHitSharesTheSameBytes) {
  auto cache = MakeCache(1 << 20);
  EXPECT_FALSE(cache->Lookup(Key("r1")));
  auto loaded = LoadAndWait(*cache, Key("r1"), [&](absl::string_view key, absl::Time) { return Bytes(key, 100, clock_.Now()); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CachedReport hit = cache->Lookup(Key("r1"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit, loaded->report);
  EXPECT_FALSE(loaded->stale);
  EXPECT_EQ(hit.bytes().begin(), loaded->report.bytes().begin());  // one buffer, never copied
  EXPECT_EQ(hit.bytes().size(), 100u);

  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.loads, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, Charge("r1", 100));
}

TEST_F(ReportCacheTest, EvictsLeastRecentlyUsedByBytes) {
  // Room for exactly three 1000-byte entries.
  auto cache = MakeCache(3 * Charge("r1", 1000));
  for (const char* report : {"r1", "r2", "r3"}) {
    ASSERT_TRUE(LoadAndWait(*cache, Key(report), [&](absl::string_view key, absl::Time) { return Bytes(key, 1000, clock_.Now()); }).ok());
  }
  EXPECT_EQ(cache->GetStats().entries, 3u);
  ASSERT_TRUE(cache->Lookup(Key("r1")));  // r1 is now the most recently used

  ASSERT_TRUE(LoadAndWait(*cache, Key("r4"), [&](absl::string_view key, absl::Time) { return Bytes(key, 1000, clock_.Now()); }).ok());
  EXPECT_FALSE(cache->Lookup(Key("r2")));  // the least recently used went
  EXPECT_TRUE(cache->Lookup(Key("r1")));
  EXPECT_TRUE(cache->Lookup(Key("r3")));
  EXPECT_TRUE(cache->Lookup(Key("r4")));

  // One entry worth two evicts two.
  ASSERT_TRUE(LoadAndWait(*cache, Key("r5"), [&](absl::string_view key, absl::Time) {
                return Bytes(key, 2 * Charge("r1", 1000) - Charge("r5", 0), clock_.Now());
              }).ok());
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.evictions, 3u);
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_LE(stats.bytes, 3 * Charge("r1", 1000));
  EXPECT_FALSE(cache->Lookup(Key("r1")));
  EXPECT_FALSE(cache->Lookup(Key("r3")));
  EXPECT_TRUE(cache->Lookup(Key("r4")));
  EXPECT_TRUE(cache->Lookup(Key("r5")));
}

TEST_F(ReportCacheTest, ValueLargerThanTheBoundIsServedButNotKept) {
  auto cache = MakeCache(1000);
  auto loaded = LoadAndWait(*cache, Key("big"), [&](absl::string_view key, absl::Time) { return Bytes(key, 5000, clock_.Now()); });
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->report.bytes().size(), 5000u);
  EXPECT_FALSE(cache->Lookup(Key("big")));
  EXPECT_EQ(cache->GetStats().uncacheable, 1u);
  EXPECT_EQ(cache->GetStats().bytes, 0u);
}

TEST_F(ReportCacheTest, EntriesExpireByTheirTtl) {
  auto cache = MakeCache(1 << 20);
  ASSERT_TRUE(LoadAndWait(*cache, Key("r"), [&](absl::string_view key, absl::Time) {
                return Bytes(key, 10, clock_.Now(), absl::Seconds(60));
              }).ok());
  clock_.Advance(absl::Seconds(59));
  EXPECT_TRUE(cache->Lookup(Key("r")));
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(cache->Lookup(Key("r")));
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.expirations, 1u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);

  // A zero TTL with no stale window means "serve, don't keep".
  ASSERT_TRUE(LoadAndWait(*cache, Key("z"), [&](absl::string_view key, absl::Time) {
                return Bytes(key, 10, clock_.Now(), absl::ZeroDuration());
              }).ok());
  EXPECT_FALSE(cache->Lookup(Key("z")));
  EXPECT_EQ(cache->GetStats().entries, 0u);
}

TEST_F(ReportCacheTest, RecentAndOldReportsExpireAtTheirOwnTtl) {
  auto cache = MakeCache(1 << 20);
  const TtlPolicy policy{absl::Hours(1), absl::Seconds(60), absl::Hours(1)};
  auto load = [&](const std::string& id, absl::Duration ended_ago) {
    return LoadAndWait(*cache, Key(id), [&, ended_ago](absl::string_view key, absl::Time) {
      rollcall::v1::MeetingAttendanceReport report = test::SampleReport();
      report.mutable_meeting_end_date_time()->set_seconds(
          absl::ToUnixSeconds(clock_.Now() - ended_ago));
      const absl::Duration ttl = ReportTtl(report, clock_.Now(), policy);
      return SerializeReport(key, &report, clock_.Now(), ttl);
    });
  };
  ASSERT_TRUE(load("recent", absl::Minutes(10)).ok());
  ASSERT_TRUE(load("old", absl::Hours(3)).ok());
  clock_.Advance(absl::Seconds(61));
  EXPECT_FALSE(cache->Lookup(Key("recent")));
  EXPECT_TRUE(cache->Lookup(Key("old")));
  clock_.Advance(absl::Minutes(59));
  EXPECT_FALSE(cache->Lookup(Key("old")));
}

TEST_F(ReportCacheTest, AnErrorTooLongToRememberIsStillAnswered) {
  ReportCache::Options options = Plain(1 << 20);
  options.negative_ttl = absl::Seconds(30);
  auto cache = MakeCache(options);
  common::ErrorDetails details;
  details.reason = "REPORT_NOT_FOUND";
  const absl::Status error = common::MakeError(
      absl::StatusCode::kNotFound, std::string(CachedReport::kMaxErrorBytes, 'm'), details);
  auto result = LoadAndWait(*cache, Key("r"), [&](absl::string_view, absl::Time) {
    return absl::StatusOr<CachedReport>(error);
  });
  EXPECT_EQ(result.status(), error);
  EXPECT_FALSE(cache->Lookup(Key("r")));
  EXPECT_EQ(cache->GetStats().negative_stores, 0u);
}

TEST_F(ReportCacheTest, RepliesKeepTheirEntryAfterItIsEvictedOrTheCacheIsGone) {
  auto cache = MakeCache(Charge("a", 300));  // room for one entry
  ASSERT_TRUE(LoadAndWait(*cache, Key("a"), [&](absl::string_view key, absl::Time) {
                return CachedReport::Copy(key, std::string(300, 'a'), clock_.Now(),
                                          absl::Hours(1));
              }).ok());
  const CachedReport held = cache->Lookup(Key("a"));
  ASSERT_TRUE(held);
  ASSERT_TRUE(LoadAndWait(*cache, Key("b"), [&](absl::string_view key, absl::Time) {
                return Bytes(key, 300, clock_.Now());
              }).ok());
  EXPECT_FALSE(cache->Lookup(Key("a")));  // evicted
  const CachedReport b = cache->Lookup(Key("b"));
  cache.reset();
  // Both are still whole (under ASan, a use after free would fail here).
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(held.bytes().begin()), held.bytes().size()),
            std::string(300, 'a'));
  EXPECT_EQ(held.key(), Key("a").encoded());
  EXPECT_EQ(b.bytes().size(), 300u);
  EXPECT_EQ(b.key(), Key("b").encoded());
}

TEST_F(ReportCacheTest, AnEntryForAnotherKeyIsAnInternalErrorAndNotCached) {
  auto cache = MakeCache(1 << 20);
  auto wrong = LoadAndWait(*cache, Key("asked"), [&](absl::string_view, absl::Time) {
    return Bytes(Key("other").encoded(), 10, clock_.Now());
  });
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal);
  auto none = LoadAndWait(*cache, Key("asked"), [&](absl::string_view, absl::Time) {
    return absl::StatusOr<CachedReport>(CachedReport());
  });
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(cache->Lookup(Key("asked")));
  EXPECT_FALSE(cache->Lookup(Key("other")));
  EXPECT_EQ(cache->GetStats().entries, 0u);
}

TEST_F(ReportCacheTest, SingleflightOneLoadForManyConcurrentMisses) {
  auto cache = MakeCache(1 << 20);
  constexpr int kCallers = 100;
  Notification release_loader;
  std::atomic<int> loader_calls{0};
  BlockingCounter joined(kCallers);
  BlockingCounter finished(kCallers);
  common::Mutex mu;
  std::vector<CachedReport> results;

  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&] {
      cache->LoadOrJoin(
          Key("hot"), absl::InfiniteFuture(),
          [&](absl::string_view key, absl::Time) {
            loader_calls.fetch_add(1);
            release_loader.WaitForNotification();
            return Bytes(key, 64, clock_.Now());
          },
          [&](absl::StatusOr<CacheResult> result) {
            {
              common::MutexLock lock(&mu);
              results.push_back(result.ok() ? result->report : CachedReport());
            }
            finished.DecrementCount();
          });
      joined.DecrementCount();
    });
  }
  joined.Wait();  // every LoadOrJoin has returned while the loader is held
  const ReportCache::Stats during = cache->GetStats();
  EXPECT_EQ(during.loads_in_flight, 1u);
  EXPECT_EQ(during.waiters_in_flight, static_cast<std::size_t>(kCallers));
  EXPECT_EQ(during.joins, static_cast<uint64_t>(kCallers - 1));

  release_loader.Notify();
  finished.Wait();
  for (std::thread& t : callers) t.join();

  EXPECT_EQ(loader_calls.load(), 1);
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kCallers));
  for (const CachedReport& result : results) {
    ASSERT_TRUE(result);
    EXPECT_EQ(result, results.front());  // everyone got the one value
  }
  EXPECT_EQ(cache->GetStats().loads, 1u);
  EXPECT_EQ(cache->GetStats().loads_in_flight, 0u);
}

TEST_F(ReportCacheTest, ADefaultSizedCacheIsShardedAndEveryThreadFindsEveryKey) {
  auto cache = MakeCache(std::size_t{256} << 20);  // 16 shards
  constexpr int kKeys = 200;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(LoadAndWait(*cache, Key(absl::StrCat("r", i)), [&](absl::string_view key, absl::Time) {
                  return Bytes(key, 100, clock_.Now());
                }).ok());
  }
  constexpr int kThreads = 4;
  std::atomic<int> found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kKeys; ++i) {
        const CachedReport hit = cache->Lookup(Key(absl::StrCat("r", i)));
        if (hit && hit.key() == Key(absl::StrCat("r", i)).encoded()) found.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(found.load(), kThreads * kKeys);
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.hits, static_cast<uint64_t>(kThreads * kKeys));
  EXPECT_EQ(stats.entries, static_cast<std::size_t>(kKeys));
  std::size_t bytes = 0;
  for (int i = 0; i < kKeys; ++i) bytes += Charge(absl::StrCat("r", i), 100);
  EXPECT_EQ(stats.bytes, bytes);
}

// --- Deadlines of a shared load ---------------------------------------------------------

// Two callers of one key on a load held by the test: `first` starts it, `second` joins once it
// runs. The loader's calls are recorded; `outcomes` answers them in turn.
class SharedLoadDeadlineTest : public ReportCacheTest {
 protected:
  struct Caller {
    Notification done;
    absl::StatusOr<CacheResult> result;
  };

  ReportCache::Loader Loader() {
    return [this](absl::string_view key, absl::Time deadline) -> absl::StatusOr<CachedReport> {
      int call;
      {
        common::MutexLock lock(&mu_);
        call = static_cast<int>(deadlines_.size());
        deadlines_.push_back(deadline);
      }
      if (call == 0) {
        running_.Notify();
        release_.WaitForNotification();
      }
      if (call < static_cast<int>(outcomes_.size()) && !outcomes_[call].ok()) {
        return outcomes_[call];
      }
      return Bytes(key, 10, clock_.Now());
    };
  }

  void Run(ReportCache& cache, absl::Time first_deadline, absl::Time second_deadline) {
    cache.LoadOrJoin(Key("r"), first_deadline, Loader(), Done(&first_));
    ASSERT_TRUE(running_.WaitForNotificationWithTimeout(kWait));
    cache.LoadOrJoin(Key("r"), second_deadline, Loader(), Done(&second_));
    release_.Notify();
    ASSERT_TRUE(first_.done.WaitForNotificationWithTimeout(kWait));
    ASSERT_TRUE(second_.done.WaitForNotificationWithTimeout(kWait));
  }

  static ReportCache::Done Done(Caller* caller) {
    return [caller](absl::StatusOr<CacheResult> result) {
      caller->result = std::move(result);
      caller->done.Notify();
    };
  }

  std::vector<absl::Time> Deadlines() {
    common::MutexLock lock(&mu_);
    return deadlines_;
  }

  common::Mutex mu_;
  std::vector<absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> outcomes_;  // set before Run
  Notification running_;
  Notification release_;
  Caller first_;
  Caller second_;
};

TEST_F(SharedLoadDeadlineTest, ACallerWithMoreTimeGetsAnotherTryWhenTheLoadRunsOut) {
  auto cache = MakeCache(1 << 20);
  outcomes_ = {absl::DeadlineExceededError("Graph did not answer in time"), absl::OkStatus()};
  const absl::Time short_deadline = clock_.Now() + absl::Milliseconds(200);
  const absl::Time long_deadline = clock_.Now() + absl::Seconds(30);
  Run(*cache, short_deadline, long_deadline);

  EXPECT_EQ(first_.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(second_.result.ok()) << second_.result.status();
  EXPECT_FALSE(second_.result->stale);
  EXPECT_EQ(Deadlines(), (std::vector<absl::Time>{short_deadline, long_deadline}));
  EXPECT_TRUE(cache->Lookup(Key("r")));
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.loads, 1u);
  EXPECT_EQ(stats.reloads, 1u);
  EXPECT_EQ(stats.joins, 1u);
  EXPECT_EQ(stats.loads_in_flight, 0u);
}

TEST_F(SharedLoadDeadlineTest, NoOtherTryWhenNobodyHasMoreTime) {
  auto cache = MakeCache(1 << 20);
  outcomes_ = {absl::DeadlineExceededError("Graph did not answer in time")};
  const absl::Time deadline = clock_.Now() + absl::Seconds(1);
  Run(*cache, deadline, deadline - absl::Milliseconds(1));
  EXPECT_EQ(first_.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(second_.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Deadlines().size(), 1u);
  EXPECT_EQ(cache->GetStats().reloads, 0u);
  EXPECT_EQ(cache->GetStats().loads_in_flight, 0u);
}

TEST_F(SharedLoadDeadlineTest, OtherErrorsGoToEveryCallerWhateverTheirTime) {
  auto cache = MakeCache(1 << 20);
  outcomes_ = {absl::UnavailableError("Graph is down")};
  Run(*cache, clock_.Now() + absl::Seconds(1), clock_.Now() + absl::Seconds(30));
  EXPECT_EQ(first_.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second_.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Deadlines().size(), 1u);
  EXPECT_EQ(cache->GetStats().reloads, 0u);
}

TEST_F(SharedLoadDeadlineTest, AStaleCopyAnswersEveryCallerInsteadOfAnotherTry) {
  ReportCache::Options options = Plain(1 << 20);
  options.stale_if_error = absl::Hours(1);
  auto cache = MakeCache(options);
  ASSERT_TRUE(LoadAndWait(*cache, Key("r"), [&](absl::string_view key, absl::Time) {
                return Bytes(key, 10, clock_.Now(), absl::Minutes(1));
              }).ok());
  clock_.Advance(absl::Minutes(2));
  outcomes_ = {absl::DeadlineExceededError("Graph did not answer in time")};
  Run(*cache, clock_.Now() + absl::Seconds(1), clock_.Now() + absl::Seconds(30));
  ASSERT_TRUE(first_.result.ok());
  ASSERT_TRUE(second_.result.ok());
  EXPECT_TRUE(first_.result->stale);
  EXPECT_TRUE(second_.result->stale);
  EXPECT_EQ(Deadlines().size(), 1u);
  EXPECT_EQ(cache->GetStats().reloads, 0u);
}

TEST_F(ReportCacheTest, AQueuedLoadRunsWithTheLatestDeadlineOfItsWaiters) {
  UpstreamExecutor busy(1, 10);
  ReportCache cache(Plain(1 << 20), &clock_, &busy);
  HeldThread held(&busy);
  common::Mutex mu;
  std::vector<absl::Time> deadlines;
  BlockingCounter finished(3);
  const absl::Time now = clock_.Now();
  for (const absl::Duration timeout : {absl::Seconds(1), absl::Seconds(20), absl::Seconds(5)}) {
    cache.LoadOrJoin(
        Key("r"), now + timeout,
        [&](absl::string_view key, absl::Time deadline) {
          common::MutexLock lock(&mu);
          deadlines.push_back(deadline);
          return Bytes(key, 10, clock_.Now());
        },
        [&](absl::StatusOr<CacheResult> result) {
          EXPECT_TRUE(result.ok());
          finished.DecrementCount();
        });
  }
  held.Release();
  finished.Wait();
  common::MutexLock lock(&mu);
  EXPECT_EQ(deadlines, std::vector<absl::Time>{now + absl::Seconds(20)});
  EXPECT_TRUE(busy.Shutdown());
}

TEST_F(ReportCacheTest, ErrorsGoToEveryWaiterAndAreNotCached) {
  auto cache = MakeCache(1 << 20);  // no negative caching
  Notification release_loader;
  Notification loader_started;
  std::atomic<int> loader_calls{0};
  BlockingCounter finished(2);
  std::vector<absl::Status> statuses(2);
  auto failing_loader = [&](absl::string_view, absl::Time) -> absl::StatusOr<CachedReport> {
    loader_calls.fetch_add(1);
    loader_started.Notify();
    release_loader.WaitForNotification();
    return common::MakeError(absl::StatusCode::kNotFound, "no such report",
                            {"REPORT_NOT_FOUND", {}, std::nullopt});
  };
  for (int i = 0; i < 2; ++i) {
    cache->LoadOrJoin(Key("missing"), absl::InfiniteFuture(), failing_loader,
                      [&, i](absl::StatusOr<CacheResult> result) {
                        statuses[i] = result.status();
                        finished.DecrementCount();
                      });
  }
  ASSERT_TRUE(loader_started.WaitForNotificationWithTimeout(kWait));
  release_loader.Notify();
  finished.Wait();
  EXPECT_EQ(loader_calls.load(), 1);
  for (const absl::Status& status : statuses) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(common::GetErrorDetails(status).reason, "REPORT_NOT_FOUND");
  }
  EXPECT_FALSE(cache->Lookup(Key("missing")));
  EXPECT_EQ(cache->GetStats().load_errors, 1u);

  // The next miss loads again, and this time succeeds.
  auto loaded = LoadAndWait(*cache, Key("missing"), [&](absl::string_view key, absl::Time) {
    loader_calls.fetch_add(1);
    return Bytes(key, 10, clock_.Now());
  });
  EXPECT_TRUE(loaded.ok());
  EXPECT_EQ(loader_calls.load(), 2);
}

TEST_F(ReportCacheTest, DifferentViewsAreDifferentEntries) {
  auto cache = MakeCache(1 << 20);
  int loads = 0;
  auto full = LoadAndWait(*cache, Key("r", REPORT_VIEW_FULL), [&](absl::string_view key, absl::Time) {
    ++loads;
    return Bytes(key, 200, clock_.Now());
  });
  EXPECT_FALSE(cache->Lookup(Key("r", REPORT_VIEW_BASIC)));
  auto basic = LoadAndWait(*cache, Key("r", REPORT_VIEW_BASIC), [&](absl::string_view key, absl::Time) {
    ++loads;
    return Bytes(key, 20, clock_.Now());
  });
  ASSERT_TRUE(full.ok() && basic.ok());
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_FULL)).bytes().size(), 200u);
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_UNSPECIFIED)).bytes().size(), 200u);
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_BASIC)).bytes().size(), 20u);
}

TEST_F(ReportCacheTest, LoadOrJoinAnswersAtOnceWhenAnEntryAppearedSinceLookup) {
  auto cache = MakeCache(1 << 20);
  ASSERT_TRUE(LoadAndWait(*cache, Key("r"), [&](absl::string_view key, absl::Time) { return Bytes(key, 10, clock_.Now()); }).ok());
  bool called_inline = false;
  cache->LoadOrJoin(
      Key("r"), absl::InfiniteFuture(), [&](absl::string_view, absl::Time) -> absl::StatusOr<CachedReport> { return absl::InternalError("unused"); },
      [&](absl::StatusOr<CacheResult> result) { called_inline = result.ok(); });
  EXPECT_TRUE(called_inline);
  EXPECT_EQ(cache->GetStats().loads, 1u);
  EXPECT_EQ(cache->GetStats().joins, 1u);
}

// --- Negative entries -------------------------------------------------------------------

TEST_F(ReportCacheTest, NotFoundIsRememberedForTheNegativeTtl) {
  ReportCache::Options options = Plain(1 << 20);
  options.negative_ttl = absl::Seconds(30);
  auto cache = MakeCache(options);
  std::atomic<int> calls{0};
  auto first = LoadAndWait(*cache, Key("missing"),
                           Failing(absl::StatusCode::kNotFound, "REPORT_NOT_FOUND", &calls));
  ASSERT_EQ(first.status().code(), absl::StatusCode::kNotFound);

  // Answered from the cache with the very same error, details included; no load.
  CachedReport hit = cache->Lookup(Key("missing"));
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit.negative());
  EXPECT_EQ(hit.error(), first.status());
  EXPECT_EQ(common::GetErrorDetails(hit.error()).metadata.at("graph_request_id"), "req-1");
  EXPECT_EQ(hit.bytes().size(), 0u);
  clock_.Advance(absl::Seconds(29));
  EXPECT_TRUE(cache->Lookup(Key("missing")));
  // LoadOrJoin, racing a Lookup, answers with the error too.
  auto joined = LoadAndWait(*cache, Key("missing"),
                            Failing(absl::StatusCode::kNotFound, "REPORT_NOT_FOUND", &calls));
  EXPECT_EQ(joined.status(), first.status());
  EXPECT_EQ(calls.load(), 1);

  ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.negative_hits, 2u);
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.negative_stores, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.negative_entries, 1u);
  EXPECT_GT(stats.bytes, 0u);

  // Past the TTL: gone, and the next miss asks again.
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(cache->Lookup(Key("missing")));
  stats = cache->GetStats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.negative_entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  auto loaded = LoadAndWait(*cache, Key("missing"), [&](absl::string_view key, absl::Time) { return Bytes(key, 10, clock_.Now()); });
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(cache->Lookup(Key("missing")).negative());
}

TEST_F(ReportCacheTest, OnlyReportNotFoundIsRemembered) {
  ReportCache::Options options = Plain(1 << 20);
  options.negative_ttl = absl::Seconds(30);
  auto cache = MakeCache(options);
  const struct {
    absl::StatusCode code;
    const char* reason;
  } kNotRemembered[] = {
      {absl::StatusCode::kNotFound, "SOMETHING_ELSE"},
      {absl::StatusCode::kUnavailable, "GRAPH_UNAVAILABLE"},
      {absl::StatusCode::kInternal, "GRAPH_BAD_RESPONSE"},
      {absl::StatusCode::kResourceExhausted, "GRAPH_THROTTLED"},
      {absl::StatusCode::kPermissionDenied, "GRAPH_FORBIDDEN"},
      {absl::StatusCode::kFailedPrecondition, "CREDENTIALS_REJECTED"},
  };
  for (const auto& error : kNotRemembered) {
    const ReportKey key = Key(error.reason);
    EXPECT_FALSE(LoadAndWait(*cache, key, Failing(error.code, error.reason)).ok());
    EXPECT_FALSE(cache->Lookup(key)) << error.reason;
  }
  EXPECT_EQ(cache->GetStats().entries, 0u);
}

TEST_F(ReportCacheTest, ZeroNegativeTtlRemembersNothing) {
  auto cache = MakeCache(1 << 20);
  EXPECT_FALSE(
      LoadAndWait(*cache, Key("r"), Failing(absl::StatusCode::kNotFound, "REPORT_NOT_FOUND")).ok());
  EXPECT_FALSE(cache->Lookup(Key("r")));
  EXPECT_EQ(cache->GetStats().entries, 0u);
}

// --- Stale-if-error ---------------------------------------------------------------------

class StaleIfErrorTest : public ReportCacheTest {
 protected:
  void SetUp() override {
    ReportCache::Options options = Plain(1 << 20);
    options.negative_ttl = absl::Seconds(30);
    options.stale_if_error = absl::Hours(24);
    cache_ = MakeCache(options);
    // Fresh for a minute, then kept for a day.
    auto loaded = LoadAndWait(*cache_, Key("r"), [&](absl::string_view key, absl::Time) {
      return Bytes(key, 100, clock_.Now(), absl::Minutes(1));
    });
    ASSERT_TRUE(loaded.ok());
    original_ = loaded->report;
    clock_.Advance(absl::Minutes(5));
  }

  std::unique_ptr<ReportCache> cache_;
  CachedReport original_;
};

TEST_F(StaleIfErrorTest, AnExpiredEntryIsAMissButStaysKept) {
  EXPECT_FALSE(cache_->Lookup(Key("r")));
  const ReportCache::Stats stats = cache_->GetStats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.expirations, 0u);
}

class StaleOnOutageTest : public StaleIfErrorTest,
                          public ::testing::WithParamInterface<
                              std::pair<absl::StatusCode, std::string>> {};  // printed, not an address, in test names

TEST_P(StaleOnOutageTest, WaitersGetTheExpiredEntryMarkedStale) {
  const auto [code, why] = GetParam();
  // Two waiters on one failing load: both get the same stale entry.
  Notification release;
  BlockingCounter finished(2);
  std::vector<absl::StatusOr<CacheResult>> results(2);
  for (int i = 0; i < 2; ++i) {
    cache_->LoadOrJoin(
        Key("r"), absl::InfiniteFuture(),
        [&, code = code, why = why](absl::string_view key, absl::Time) -> absl::StatusOr<CachedReport> {
          release.WaitForNotification();
          return Failing(code, why)(key, absl::InfiniteFuture());
        },
        [&, i](absl::StatusOr<CacheResult> result) {
          results[i] = std::move(result);
          finished.DecrementCount();
        });
  }
  release.Notify();
  finished.Wait();
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->stale);
    EXPECT_EQ(result->report, original_);  // the same bytes, not a copy
  }
  const ReportCache::Stats stats = cache_->GetStats();
  EXPECT_EQ(stats.stale_served, 2u);
  EXPECT_EQ(stats.load_errors, 1u);
  EXPECT_EQ(stats.entries, 1u);  // still kept for the next failure
}

INSTANTIATE_TEST_SUITE_P(
    OutageErrors, StaleOnOutageTest,
    ::testing::Values(std::make_pair(absl::StatusCode::kUnavailable, std::string("GRAPH_UNAVAILABLE")),
                      std::make_pair(absl::StatusCode::kDeadlineExceeded, std::string("GRAPH_UNAVAILABLE")),
                      std::make_pair(absl::StatusCode::kResourceExhausted, std::string("GRAPH_THROTTLED")),
                      std::make_pair(absl::StatusCode::kInternal, std::string("GRAPH_BAD_RESPONSE")),
                      std::make_pair(absl::StatusCode::kUnavailable, std::string("TOKEN_ENDPOINT_ERROR"))));

TEST_F(StaleIfErrorTest, NotFoundIsNotMaskedAndDropsTheCopy) {
  auto result = LoadAndWait(*cache_, Key("r"),
                            Failing(absl::StatusCode::kNotFound, "REPORT_NOT_FOUND"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  // The negative entry replaced the report: a later outage has nothing stale to serve.
  CachedReport hit = cache_->Lookup(Key("r"));
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit.negative());
  clock_.Advance(absl::Seconds(30));
  result = LoadAndWait(*cache_, Key("r"), Failing(absl::StatusCode::kUnavailable, "X"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache_->GetStats().stale_served, 0u);
}

TEST_F(StaleIfErrorTest, PermissionAndCredentialErrorsAreNotMasked) {
  for (const auto& [code, why] :
       {std::make_pair(absl::StatusCode::kPermissionDenied, "GRAPH_FORBIDDEN"),
        std::make_pair(absl::StatusCode::kFailedPrecondition, "CREDENTIALS_REJECTED"),
        std::make_pair(absl::StatusCode::kFailedPrecondition, "GRAPH_UNAUTHORIZED"),
        std::make_pair(absl::StatusCode::kInvalidArgument, "GRAPH_BAD_REQUEST")}) {
    auto result = LoadAndWait(*cache_, Key("r"), Failing(code, why));
    EXPECT_EQ(result.status().code(), code) << why;
  }
  EXPECT_EQ(cache_->GetStats().stale_served, 0u);
  EXPECT_EQ(cache_->GetStats().entries, 1u);
}

TEST_F(StaleIfErrorTest, BeyondTheStaleWindowTheErrorGoesThrough) {
  // Expired 1m after the fetch, kept 24h more; 5m have passed.
  clock_.Advance(absl::Hours(24) - absl::Minutes(4) - absl::Seconds(1));
  auto result = LoadAndWait(*cache_, Key("r"), Failing(absl::StatusCode::kUnavailable, "X"));
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->stale);
  clock_.Advance(absl::Seconds(1));
  result = LoadAndWait(*cache_, Key("r"), Failing(absl::StatusCode::kUnavailable, "X"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(cache_->Lookup(Key("r")));
  const ReportCache::Stats stats = cache_->GetStats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.expirations, 1u);
}

TEST_F(StaleIfErrorTest, ASuccessfulLoadReplacesTheEntry) {
  auto result = LoadAndWait(*cache_, Key("r"), [&](absl::string_view key, absl::Time) {
    return Bytes(key, 200, clock_.Now(), absl::Minutes(1));
  });
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->stale);
  CachedReport hit = cache_->Lookup(Key("r"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit.bytes().size(), 200u);
  EXPECT_EQ(cache_->GetStats().entries, 1u);
}

// Graph did not fail, it was not asked: `stale` would say otherwise.
TEST_F(StaleIfErrorTest, ARefusedLoadIsRefusedEvenWithAnExpiredEntry) {
  UpstreamExecutor busy(1, 0);
  ReportCache::Options options = Plain(1 << 20);
  options.stale_if_error = absl::Hours(1);
  ReportCache cache(options, &clock_, &busy);
  ASSERT_TRUE(LoadAndWait(cache, Key("r"), [&](absl::string_view key, absl::Time) {
                return Bytes(key, 10, clock_.Now(), absl::ZeroDuration());  // expires at once
              }).ok());
  ASSERT_TRUE(busy.AwaitIdle(kWait));
  HeldThread held(&busy);
  absl::StatusOr<CacheResult> result;
  cache.LoadOrJoin(Key("r"), absl::InfiniteFuture(), [&](absl::string_view key, absl::Time) { return Bytes(key, 10, clock_.Now()); },
                   [&](absl::StatusOr<CacheResult> r) { result = std::move(r); });
  // Answered at once, on this thread.
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(common::GetErrorDetails(result.status()).reason, common::reason::kUpstreamOverloaded);
  EXPECT_EQ(cache.GetStats().rejected, 1u);
  EXPECT_EQ(cache.GetStats().stale_served, 0u);
  EXPECT_EQ(cache.GetStats().entries, 1u);  // still kept for a load that fails
  held.Release();
  EXPECT_TRUE(busy.Shutdown());
}

TEST_F(ReportCacheTest, ZeroTtlEntriesAreKeptForTheStaleWindowAndStillBounded) {
  ReportCache::Options options = Plain(2 * Charge("a", 1000));
  options.stale_if_error = absl::Hours(1);
  auto cache = MakeCache(options);
  for (const char* report : {"a", "b", "c"}) {
    ASSERT_TRUE(LoadAndWait(*cache, Key(report), [&](absl::string_view key, absl::Time) {
                  return Bytes(key, 1000, clock_.Now(), absl::ZeroDuration());
                }).ok());
  }
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.entries, 2u);  // expired at once, kept, and LRU-bounded all the same
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_FALSE(cache->Lookup(Key("c")));  // never fresh
  auto stale = LoadAndWait(*cache, Key("c"), Failing(absl::StatusCode::kUnavailable, "X"));
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->stale);
  auto evicted = LoadAndWait(*cache, Key("a"), Failing(absl::StatusCode::kUnavailable, "X"));
  EXPECT_EQ(evicted.status().code(), absl::StatusCode::kUnavailable);
}


TEST(ReportCacheOverloadTest, RefusedLoadsFailAtOnceWithUpstreamOverloaded) {
  rollcall::testing::FakeClock clock;
  UpstreamExecutor executor(1, 1);  // one thread, one queued task
  ReportCache cache(Plain(1 << 20), &clock, &executor);
  Notification release;
  Notification first_running;
  BlockingCounter finished(3);
  // Occupies the only thread ...
  cache.LoadOrJoin(
      Key("a"), absl::InfiniteFuture(),
      [&](absl::string_view key, absl::Time) {
        first_running.Notify();
        release.WaitForNotification();
        return Bytes(key, 1, clock.Now());
      },
      [&](auto) { finished.DecrementCount(); });
  ASSERT_TRUE(first_running.WaitForNotificationWithTimeout(kWait));
  // ... fills the queue ...
  cache.LoadOrJoin(Key("b"), absl::InfiniteFuture(), [&](absl::string_view key, absl::Time) { return Bytes(key, 1, clock.Now()); },
                   [&](auto) { finished.DecrementCount(); });
  // ... a joiner of a load in flight is never refused ...
  cache.LoadOrJoin(Key("b"), absl::InfiniteFuture(), [&](absl::string_view key, absl::Time) { return Bytes(key, 1, clock.Now()); },
                   [&](auto) { finished.DecrementCount(); });
  // ... so only a third distinct miss is refused, at once.
  absl::Status refused;
  cache.LoadOrJoin(Key("c"), absl::InfiniteFuture(), [&](absl::string_view key, absl::Time) { return Bytes(key, 1, clock.Now()); },
                   [&](absl::StatusOr<CacheResult> result) { refused = result.status(); });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  const common::ErrorDetails details = common::GetErrorDetails(refused);
  EXPECT_EQ(details.reason, common::reason::kUpstreamOverloaded);
  ASSERT_TRUE(details.retry_after.has_value());
  EXPECT_EQ(*details.retry_after, absl::Seconds(1));
  const ReportCache::Stats stats = cache.GetStats();
  EXPECT_EQ(stats.loads_in_flight, 2u);
  EXPECT_EQ(stats.rejected, 1u);
  EXPECT_EQ(stats.joins, 1u);
  release.Notify();
  finished.Wait();
}

}  // namespace
}  // namespace rollcall::service
