#include "service/report_cache.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "graph_client/error_details.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/fake_graph_client.h"
#include "tests/testing/fake_clock.h"

namespace rollcall::service {
namespace {

using rollcall::v1::REPORT_VIEW_BASIC;
using rollcall::v1::REPORT_VIEW_FULL;
using rollcall::v1::REPORT_VIEW_UNSPECIFIED;

constexpr absl::Duration kWait = absl::Seconds(30);  // generous: only a failing test waits it

ReportKey Key(const std::string& report, rollcall::v1::ReportView view = REPORT_VIEW_FULL) {
  return ReportKey("user", "meeting", report, view);
}

// A loaded value of exactly `size` bytes, fresh for `ttl` from `now`.
LoadedReport Bytes(std::size_t size, absl::Time now, absl::Duration ttl = absl::Hours(1)) {
  return LoadedReport{grpc::Slice(std::string(size, 'b')), now, ttl};
}

// Loads `key` with `loader` and waits for the result.
absl::StatusOr<std::shared_ptr<const CachedReport>> LoadAndWait(ReportCache& cache,
                                                                const ReportKey& key,
                                                                ReportCache::Loader loader) {
  absl::Notification done;
  absl::StatusOr<std::shared_ptr<const CachedReport>> result;
  cache.LoadOrJoin(key, std::move(loader),
                   [&](absl::StatusOr<std::shared_ptr<const CachedReport>> r) {
                     result = std::move(r);
                     done.Notify();
                   });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  return result;
}

class ReportCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<ReportCache> MakeCache(std::size_t max_bytes) {
    return std::make_unique<ReportCache>(ReportCache::Options{max_bytes}, &clock_, &executor_);
  }
  // The charge of an entry for Key(report) holding `size` bytes.
  static std::size_t Charge(const std::string& report, std::size_t size) {
    return Key(report).encoded().size() + size + ReportCache::kEntryOverheadBytes;
  }

  rollcall::testing::FakeClock clock_;
  UpstreamExecutor executor_{4, 1000};
};

TEST(ReportKeyTest, EncodingIsUnambiguous) {
  EXPECT_NE(ReportKey("ab", "c", "d", REPORT_VIEW_FULL).encoded(),
            ReportKey("a", "bc", "d", REPORT_VIEW_FULL).encoded());
  EXPECT_NE(ReportKey("1:a", "b", "c", REPORT_VIEW_FULL).encoded(),
            ReportKey("1", "a1:b", "c", REPORT_VIEW_FULL).encoded());
  EXPECT_NE(ReportKey("u", "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey("u", "m", "r", REPORT_VIEW_BASIC).encoded());
  // The proto defines UNSPECIFIED as FULL: they share an entry.
  EXPECT_EQ(ReportKey("u", "m", "r", REPORT_VIEW_FULL).encoded(),
            ReportKey("u", "m", "r", REPORT_VIEW_UNSPECIFIED).encoded());
  EXPECT_TRUE(ReportKey("u", "m", "r", REPORT_VIEW_UNSPECIFIED).with_records());
  EXPECT_FALSE(ReportKey("u", "m", "r", REPORT_VIEW_BASIC).with_records());
}

TEST_F(ReportCacheTest, MissThenHitSharesTheSameBytes) {
  auto cache = MakeCache(1 << 20);
  EXPECT_EQ(cache->Lookup(Key("r1")), nullptr);
  auto loaded = LoadAndWait(*cache, Key("r1"), [&] { return Bytes(100, clock_.Now()); });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::shared_ptr<const CachedReport> hit = cache->Lookup(Key("r1"));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit, *loaded);
  EXPECT_EQ(hit->bytes.begin(), (*loaded)->bytes.begin());  // one buffer, never copied
  EXPECT_EQ(hit->bytes.size(), 100u);

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
    ASSERT_TRUE(LoadAndWait(*cache, Key(report), [&] { return Bytes(1000, clock_.Now()); }).ok());
  }
  EXPECT_EQ(cache->GetStats().entries, 3u);
  ASSERT_NE(cache->Lookup(Key("r1")), nullptr);  // r1 is now the most recently used

  ASSERT_TRUE(LoadAndWait(*cache, Key("r4"), [&] { return Bytes(1000, clock_.Now()); }).ok());
  EXPECT_EQ(cache->Lookup(Key("r2")), nullptr);  // the least recently used went
  EXPECT_NE(cache->Lookup(Key("r1")), nullptr);
  EXPECT_NE(cache->Lookup(Key("r3")), nullptr);
  EXPECT_NE(cache->Lookup(Key("r4")), nullptr);

  // One entry worth two evicts two.
  ASSERT_TRUE(LoadAndWait(*cache, Key("r5"), [&] {
                return Bytes(2 * Charge("r1", 1000) - Charge("r5", 0), clock_.Now());
              }).ok());
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.evictions, 3u);
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_LE(stats.bytes, 3 * Charge("r1", 1000));
  EXPECT_EQ(cache->Lookup(Key("r1")), nullptr);
  EXPECT_EQ(cache->Lookup(Key("r3")), nullptr);
  EXPECT_NE(cache->Lookup(Key("r4")), nullptr);
  EXPECT_NE(cache->Lookup(Key("r5")), nullptr);
}

TEST_F(ReportCacheTest, ValueLargerThanTheBoundIsServedButNotKept) {
  auto cache = MakeCache(1000);
  auto loaded = LoadAndWait(*cache, Key("big"), [&] { return Bytes(5000, clock_.Now()); });
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)->bytes.size(), 5000u);
  EXPECT_EQ(cache->Lookup(Key("big")), nullptr);
  EXPECT_EQ(cache->GetStats().uncacheable, 1u);
  EXPECT_EQ(cache->GetStats().bytes, 0u);
}

TEST_F(ReportCacheTest, EntriesExpireByTheirTtl) {
  auto cache = MakeCache(1 << 20);
  ASSERT_TRUE(LoadAndWait(*cache, Key("r"), [&] {
                return Bytes(10, clock_.Now(), absl::Seconds(60));
              }).ok());
  clock_.Advance(absl::Seconds(59));
  EXPECT_NE(cache->Lookup(Key("r")), nullptr);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(cache->Lookup(Key("r")), nullptr);
  const ReportCache::Stats stats = cache->GetStats();
  EXPECT_EQ(stats.expirations, 1u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);

  // A zero TTL means "serve, don't keep".
  ASSERT_TRUE(LoadAndWait(*cache, Key("z"), [&] {
                return Bytes(10, clock_.Now(), absl::ZeroDuration());
              }).ok());
  EXPECT_EQ(cache->Lookup(Key("z")), nullptr);
}

TEST(ReportTtlTest, RecentOrUnfinishedReportsGetTheShortTtl) {
  const TtlPolicy policy{absl::Hours(1), absl::Seconds(60), absl::Hours(1)};
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  rollcall::v1::MeetingAttendanceReport report;
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Seconds(60));  // no end time (running)

  report.mutable_meeting_end_date_time()->set_seconds(absl::ToUnixSeconds(now - absl::Minutes(5)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Seconds(60));  // just ended

  report.mutable_meeting_end_date_time()->set_seconds(absl::ToUnixSeconds(now + absl::Minutes(5)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Seconds(60));  // ends in the future

  report.mutable_meeting_end_date_time()->set_seconds(absl::ToUnixSeconds(now - absl::Hours(1)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Hours(1));  // exactly old enough

  report.mutable_meeting_end_date_time()->set_seconds(
      absl::ToUnixSeconds(now - absl::Hours(24 * 400)));
  EXPECT_EQ(ReportTtl(report, now, policy), absl::Hours(1));
}

TEST_F(ReportCacheTest, RecentAndOldReportsExpireAtTheirOwnTtl) {
  auto cache = MakeCache(1 << 20);
  const TtlPolicy policy{absl::Hours(1), absl::Seconds(60), absl::Hours(1)};
  auto load = [&](const std::string& id, absl::Duration ended_ago) {
    return LoadAndWait(*cache, Key(id), [&, ended_ago] {
      rollcall::v1::MeetingAttendanceReport report = test::SampleReport();
      report.mutable_meeting_end_date_time()->set_seconds(
          absl::ToUnixSeconds(clock_.Now() - ended_ago));
      const absl::Duration ttl = ReportTtl(report, clock_.Now(), policy);
      return SerializeReport(std::move(report), clock_.Now(), ttl);
    });
  };
  ASSERT_TRUE(load("recent", absl::Minutes(10)).ok());
  ASSERT_TRUE(load("old", absl::Hours(3)).ok());
  clock_.Advance(absl::Seconds(61));
  EXPECT_EQ(cache->Lookup(Key("recent")), nullptr);
  EXPECT_NE(cache->Lookup(Key("old")), nullptr);
  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(cache->Lookup(Key("old")), nullptr);
}

TEST(SerializeReportTest, BytesAreAResponseWithoutFromCache) {
  const absl::Time fetched = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(250);
  LoadedReport loaded = SerializeReport(test::SampleReport(), fetched, absl::Seconds(1));
  rollcall::v1::GetAttendanceReportResponse response;
  ASSERT_TRUE(response.ParseFromArray(loaded.bytes.begin(), static_cast<int>(loaded.bytes.size())));
  EXPECT_EQ(response.report().SerializeAsString(), test::SampleReport().SerializeAsString());
  EXPECT_EQ(response.graph_fetch_time().seconds(), 1700000000);
  EXPECT_EQ(response.graph_fetch_time().nanos(), 250000000);
  EXPECT_FALSE(response.from_cache());
  EXPECT_EQ(loaded.fetch_time, fetched);
  EXPECT_EQ(loaded.ttl, absl::Seconds(1));
}

TEST_F(ReportCacheTest, SingleflightOneLoadForManyConcurrentMisses) {
  auto cache = MakeCache(1 << 20);
  constexpr int kCallers = 100;
  absl::Notification release_loader;
  std::atomic<int> loader_calls{0};
  absl::BlockingCounter joined(kCallers);
  absl::BlockingCounter finished(kCallers);
  absl::Mutex mu;
  std::vector<const CachedReport*> results;

  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&] {
      cache->LoadOrJoin(
          Key("hot"),
          [&] {
            loader_calls.fetch_add(1);
            release_loader.WaitForNotification();
            return Bytes(64, clock_.Now());
          },
          [&](absl::StatusOr<std::shared_ptr<const CachedReport>> result) {
            {
              absl::MutexLock lock(&mu);
              results.push_back(result.ok() ? result->get() : nullptr);
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
  for (const CachedReport* result : results) {
    ASSERT_NE(result, nullptr);
    EXPECT_EQ(result, results.front());  // everyone got the one value
  }
  EXPECT_EQ(cache->GetStats().loads, 1u);
  EXPECT_EQ(cache->GetStats().loads_in_flight, 0u);
}

TEST_F(ReportCacheTest, ErrorsGoToEveryWaiterAndAreNotCached) {
  auto cache = MakeCache(1 << 20);
  absl::Notification release_loader;
  absl::Notification loader_started;
  std::atomic<int> loader_calls{0};
  absl::BlockingCounter finished(2);
  std::vector<absl::Status> statuses(2);
  auto failing_loader = [&]() -> absl::StatusOr<LoadedReport> {
    loader_calls.fetch_add(1);
    loader_started.Notify();
    release_loader.WaitForNotification();
    return graph::MakeError(absl::StatusCode::kNotFound, "no such report",
                            {"REPORT_NOT_FOUND", {}, std::nullopt});
  };
  for (int i = 0; i < 2; ++i) {
    cache->LoadOrJoin(Key("missing"), failing_loader,
                      [&, i](absl::StatusOr<std::shared_ptr<const CachedReport>> result) {
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
    EXPECT_EQ(graph::GetErrorDetails(status).reason, "REPORT_NOT_FOUND");
  }
  EXPECT_EQ(cache->Lookup(Key("missing")), nullptr);
  EXPECT_EQ(cache->GetStats().load_errors, 1u);

  // The next miss loads again, and this time succeeds.
  auto loaded = LoadAndWait(*cache, Key("missing"), [&] {
    loader_calls.fetch_add(1);
    return Bytes(10, clock_.Now());
  });
  EXPECT_TRUE(loaded.ok());
  EXPECT_EQ(loader_calls.load(), 2);
}

TEST_F(ReportCacheTest, DifferentViewsAreDifferentEntries) {
  auto cache = MakeCache(1 << 20);
  int loads = 0;
  auto full = LoadAndWait(*cache, Key("r", REPORT_VIEW_FULL), [&] {
    ++loads;
    return Bytes(200, clock_.Now());
  });
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_BASIC)), nullptr);
  auto basic = LoadAndWait(*cache, Key("r", REPORT_VIEW_BASIC), [&] {
    ++loads;
    return Bytes(20, clock_.Now());
  });
  ASSERT_TRUE(full.ok() && basic.ok());
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_FULL))->bytes.size(), 200u);
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_UNSPECIFIED))->bytes.size(), 200u);
  EXPECT_EQ(cache->Lookup(Key("r", REPORT_VIEW_BASIC))->bytes.size(), 20u);
}

TEST_F(ReportCacheTest, LoadOrJoinAnswersAtOnceWhenAnEntryAppearedSinceLookup) {
  auto cache = MakeCache(1 << 20);
  ASSERT_TRUE(LoadAndWait(*cache, Key("r"), [&] { return Bytes(10, clock_.Now()); }).ok());
  bool called_inline = false;
  cache->LoadOrJoin(
      Key("r"), [&]() -> absl::StatusOr<LoadedReport> { return absl::InternalError("unused"); },
      [&](absl::StatusOr<std::shared_ptr<const CachedReport>> result) {
        called_inline = result.ok();
      });
  EXPECT_TRUE(called_inline);
  EXPECT_EQ(cache->GetStats().loads, 1u);
}

TEST(ReportCacheOverloadTest, RefusedLoadsFailWithUnavailable) {
  rollcall::testing::FakeClock clock;
  UpstreamExecutor executor(1, 1);  // one thread, one queued task
  ReportCache cache(ReportCache::Options{}, &clock, &executor);
  absl::Notification release;
  absl::Notification first_running;
  absl::BlockingCounter finished(2);
  // Occupies the only thread ...
  cache.LoadOrJoin(
      Key("a"),
      [&] {
        first_running.Notify();
        release.WaitForNotification();
        return Bytes(1, clock.Now());
      },
      [&](auto) { finished.DecrementCount(); });
  ASSERT_TRUE(first_running.WaitForNotificationWithTimeout(kWait));
  // ... fills the queue ...
  cache.LoadOrJoin(Key("b"), [&] { return Bytes(1, clock.Now()); },
                   [&](auto) { finished.DecrementCount(); });
  // ... so the third is refused, at once.
  absl::Status refused;
  cache.LoadOrJoin(Key("c"), [&] { return Bytes(1, clock.Now()); },
                   [&](absl::StatusOr<std::shared_ptr<const CachedReport>> result) {
                     refused = result.status();
                   });
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(graph::GetErrorDetails(refused).reason, kUpstreamOverloadedReason);
  EXPECT_EQ(cache.GetStats().loads_in_flight, 2u);
  release.Notify();
  finished.Wait();
}

TEST(UpstreamExecutorTest, RunsQueuedTasksBeforeShutdownReturns) {
  UpstreamExecutor executor(2, 100);
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(executor.Schedule([&] { ran.fetch_add(1); }));
  executor.Shutdown();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_FALSE(executor.Schedule([&] { ran.fetch_add(1); }));
  executor.Shutdown();  // idempotent
}

}  // namespace
}  // namespace rollcall::service
