// Soak: concurrent clients against a Graph that keeps misbehaving, for ROLLCALL_SOAK_SECONDS
// (default 20). The emulator serves ~20 reports (some with hundreds of records, paged) and, in a
// fixed pattern from a seeded RNG, throttles (429 with a short Retry-After), fails (503),
// stalls and resets connections. Short cache TTLs keep the server going back to Graph the whole
// time, so retries, stale-if-error, negative caching and load shedding all run concurrently.
//
// Every call must end with exactly the right report (equal to what the emulator stores, mapped
// independently of the server's cache) or with an allowed error code: zero wrong reports, the
// server alive at the end and exiting 0 on SIGTERM, and its resident memory flat after warm-up.
// One summary line (stdout, and soak-summary.txt in the working directory) gives the counts.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"
#include "tests/testing/protobuf_oracle.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROLLCALL_SOAK_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ROLLCALL_SOAK_UNDER_ASAN 1
#endif

namespace rollcall::testing {
namespace {

using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;
using rollcall::v1::MeetingAttendanceReport;

constexpr int kReports = 20;
constexpr int kClientThreads = 12;
constexpr uint32_t kSeed = 20240501;
// Growth of the server's VmRSS from the end of warm-up to the end that counts as a leak.
constexpr int64_t kMaxRssGrowthBytes = int64_t{16} << 20;

int SoakSeconds() {
  const char* text = std::getenv("ROLLCALL_SOAK_SECONDS");
  const int seconds = text != nullptr ? std::atoi(text) : 0;
  return seconds > 0 ? seconds : 20;
}

// A report as Graph stores it: `records` attendance records, each with 1..3 intervals.
std::string SoakReportJson(const std::string& id, int records, std::mt19937& random) {
  std::string json = absl::StrCat(
      R"({"id":")", id, R"(","totalParticipantCount":)", records,
      R"(,"meetingStartDateTime":"2023-03-01T09:00:00.1234567Z",)"
      R"("meetingEndDateTime":"2023-03-01T10:00:00Z","attendanceRecords":[)");
  for (int i = 0; i < records; ++i) {
    const int intervals = 1 + static_cast<int>(random() % 3);
    absl::StrAppend(&json, i == 0 ? "" : ",", R"({"id":")", id, "-", i,
                    R"(","emailAddress":"person)", i, R"(@contoso.com","totalAttendanceInSeconds":)",
                    random() % 3600, R"(,"role":")", i % 7 == 0 ? "Presenter" : "Attendee",
                    R"(","identity":{"id":")", random(), R"(","displayName":"Person )", i,
                    R"(","tenantId":null},"attendanceIntervals":[)");
    for (int k = 0; k < intervals; ++k) {
      absl::StrAppend(&json, k == 0 ? "" : ",",
                      R"({"joinDateTime":"2023-03-01T09:0)", k, R"(:00Z","leaveDateTime":"2023-03-01T09:0)",
                      k, R"(:30.5Z","durationInSeconds":30})");
    }
    json += "]}";
  }
  json += "]}";
  return json;
}

struct SoakReport {
  std::string meeting;
  std::string id;
  MeetingAttendanceReport full;   // with records
  MeetingAttendanceReport basic;  // REPORT_VIEW_BASIC: without
};

struct Counts {
  common::Mutex mu;
  int64_t calls ABSL_GUARDED_BY(mu) = 0;
  int64_t ok ABSL_GUARDED_BY(mu) = 0;
  int64_t stale ABSL_GUARDED_BY(mu) = 0;
  int64_t from_cache ABSL_GUARDED_BY(mu) = 0;
  int64_t wrong ABSL_GUARDED_BY(mu) = 0;
  std::map<grpc::StatusCode, int64_t> errors ABSL_GUARDED_BY(mu);
  // The first few, for the failure message.
  std::vector<std::string> problems ABSL_GUARDED_BY(mu);
};

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "ok";
    case grpc::StatusCode::CANCELLED: return "cancelled";
    case grpc::StatusCode::UNKNOWN: return "unknown";
    case grpc::StatusCode::INVALID_ARGUMENT: return "invalid_argument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "deadline_exceeded";
    case grpc::StatusCode::NOT_FOUND: return "not_found";
    case grpc::StatusCode::PERMISSION_DENIED: return "permission_denied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "resource_exhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "failed_precondition";
    case grpc::StatusCode::UNAVAILABLE: return "unavailable";
    case grpc::StatusCode::INTERNAL: return "internal";
    default: return "other";
  }
}

bool AllowedTransient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// One fault from the seeded pattern: mostly short windows or small counts of each kind.
FaultSpec NextFault(std::mt19937& random) {
  FaultSpec fault;
  fault.kind = random() % 4 == 0 ? "graph" : "report";  // "graph" also hits record pages
  switch (random() % 5) {
    case 0:  // throttled for a moment, as Graph does under load
      fault.status = 429;
      fault.retry_after = "0.05";
      fault.seconds = 0.1 + (random() % 4) * 0.1;
      break;
    case 1:
      fault.status = 503;
      fault.count = 1 + random() % 4;
      break;
    case 2:
      fault.status = random() % 2 ? 504 : 503;
      fault.seconds = 0.2 + (random() % 3) * 0.2;  // long enough to exhaust some retries
      break;
    case 3:
      fault.action = "delay";
      fault.delay_ms = 50 + random() % 1200;  // sometimes past the clients' deadline
      fault.count = 1 + random() % 3;
      break;
    default:
      fault.action = "reset";
      fault.count = 1 + random() % 3;
      break;
  }
  return fault;
}

TEST(SoakTest, ConcurrentClientsAgainstAMisbehavingGraph) {
  const int seconds = SoakSeconds();
  const absl::Duration duration = absl::Seconds(seconds);
  const absl::Duration warm_up = std::max(absl::Seconds(3), duration / 4);

  // The reports, and what each must come back as: read from the stored JSON by protobuf's own
  // JSON parser (tests/testing/protobuf_oracle.h), independently of graph_client's mapping, of
  // the server's cache and of any fault. (Before any process starts:
  // an assertion here leaves nothing running.)
  std::mt19937 random(kSeed);
  std::vector<SoakReport> reports;
  std::vector<std::string> report_json;
  for (int i = 0; i < kReports; ++i) {
    SoakReport report;
    report.meeting = absl::StrCat("soak-meeting-", i % 3);
    report.id = absl::StrCat("soak-report-", i);
    const int records = i % 5 == 0 ? 300 + i * 10 : 1 + static_cast<int>(random() % 40);
    report_json.push_back(SoakReportJson(report.id, records, random));
    auto full = OracleReport(report_json.back());
    ASSERT_TRUE(full.ok()) << full.status();
    ASSERT_EQ(full->attendance_records_size(), records);
    report.full = *full;
    report.basic = *full;
    report.basic.clear_attendance_records();
    reports.push_back(std::move(report));
  }

  auto graph_or = FakeGraph::Start({"--records-page-size", "100"});
  ASSERT_TRUE(graph_or.ok()) << graph_or.status();
  FakeGraph& graph = **graph_or;
  for (int i = 0; i < kReports; ++i) {
    ASSERT_TRUE(graph.AddReport(kDocsUser, reports[i].meeting, reports[i].id, report_json[i]).ok());
  }

  auto server_or = RollcallProcess::Start(
      graph, {{"ROLLCALL_CACHE_TTL", "300ms"},
              {"ROLLCALL_CACHE_TTL_RECENT", "300ms"},
              {"ROLLCALL_NEGATIVE_CACHE_TTL", "300ms"},
              {"ROLLCALL_STALE_IF_ERROR", "1h"},
              {"ROLLCALL_GRAPH_MAX_ATTEMPTS", "3"},
              {"ROLLCALL_GRAPH_INITIAL_BACKOFF", "20ms"},
              {"ROLLCALL_GRAPH_MAX_BACKOFF", "200ms"},
              {"ROLLCALL_UPSTREAM_CONCURRENCY", "4"},
              {"ROLLCALL_UPSTREAM_QUEUE", "8"},
              {"ROLLCALL_SHUTDOWN_GRACE", "10s"}});
  ASSERT_TRUE(server_or.ok()) << server_or.status();
  RollcallProcess& server = **server_or;

  Counts counts;
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::atomic<bool> stop_faults{false};
  std::atomic<int> faults_registered{0};

  // Faults: one every 200 ms, from the seeded pattern.
  std::thread injector([&] {
    std::mt19937 fault_random(kSeed + 1);
    while (!stop_faults.load() && absl::Now() < end) {
      const FaultSpec fault = NextFault(fault_random);
      if (graph.AddFault(fault).ok()) faults_registered.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(200));
    }
  });

  std::vector<std::thread> clients;
  for (int t = 0; t < kClientThreads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 client_random(kSeed + 100 + t);
      auto stub = server.NewStub();
      while (absl::Now() < end) {
        GetAttendanceReportRequest request;
        request.set_user_id(kDocsUser);
        const bool missing = client_random() % 20 == 0;
        const SoakReport& report = reports[client_random() % reports.size()];
        request.set_meeting_id(report.meeting);
        request.set_report_id(missing ? report.id + "-missing" : report.id);
        const bool basic = client_random() % 4 == 0;
        if (basic) request.set_view(rollcall::v1::REPORT_VIEW_BASIC);

        // Deadlines from 0.2 s to 2 s: some calls give up while their load is at Graph, and the
        // server must finish those loads (and cache them) all the same.
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(
            absl::Now() + absl::Milliseconds(200 + client_random() % 1800)));
        GetAttendanceReportResponse response;
        const grpc::Status status = stub->GetAttendanceReport(&context, request, &response);

        std::string problem;
        if (status.ok()) {
          const MeetingAttendanceReport& expected = basic ? report.basic : report.full;
          if (missing) {
            problem = "a report for an ID Graph does not have";
          } else if (!google::protobuf::util::MessageDifferencer::Equals(response.report(),
                                                                         expected)) {
            problem = absl::StrCat("wrong report for ", request.report_id(),
                                   basic ? " (basic)" : "", ": got id ", response.report().id(),
                                   " with ", response.report().attendance_records_size(),
                                   " records");
          }
        } else if (!AllowedTransient(status.error_code()) &&
                   !(missing && status.error_code() == grpc::StatusCode::NOT_FOUND)) {
          problem = absl::StrCat("code ", status.error_code(), " for ", request.report_id(), ": ",
                                 status.error_message());
        }

        common::MutexLock lock(&counts.mu);
        ++counts.calls;
        if (status.ok()) {
          ++counts.ok;
          counts.stale += response.stale();
          counts.from_cache += response.from_cache();
        } else {
          ++counts.errors[status.error_code()];
        }
        if (!problem.empty()) {
          ++counts.wrong;
          if (counts.problems.size() < 10) counts.problems.push_back(problem);
        }
      }
    });
  }

  absl::SleepFor(warm_up);
  const int64_t rss_after_warm_up = server.ResidentBytes();
  for (auto& client : clients) client.join();
  stop_faults = true;
  injector.join();
  const int64_t rss_at_end = server.ResidentBytes();

  // Graph behaves again: the server is alive and serves every report exactly.
  ASSERT_TRUE(graph.ClearFaults().ok());
  ASSERT_EQ(kill(server.process().pid(), 0), 0) << "rollcall_server died";
  for (const SoakReport& report : reports) {
    GetAttendanceReportRequest request;
    request.set_user_id(kDocsUser);
    request.set_meeting_id(report.meeting);
    request.set_report_id(report.id);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    GetAttendanceReportResponse response;
    const grpc::Status status = server.stub().GetAttendanceReport(&context, request, &response);
    ASSERT_TRUE(status.ok()) << report.id << ": " << status.error_message();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(response.report(), report.full))
        << report.id;
  }

  const int graph_requests =
      graph.Counter("report") + graph.Counter("records") + graph.Counter("reports_list");
  const int token_requests = graph.Counter("token");
  const int faults_applied = graph.Counter("fault");
  const std::optional<int> exit_status = server.process().Stop(absl::Seconds(15));

  auto mib = [](int64_t bytes) { return absl::StrFormat("%.1f", bytes / 1048576.0); };
  // Every client has joined; the lock is for the analysis (counts' members are guarded by it).
  common::MutexLock counts_lock(&counts.mu);
  std::string summary = absl::StrCat(
      "SOAK seconds=", seconds, " threads=", kClientThreads, " reports=", kReports,
      " calls=", counts.calls, " ok=", counts.ok, " stale=", counts.stale,
      " from_cache=", counts.from_cache);
  for (grpc::StatusCode code :
       {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::RESOURCE_EXHAUSTED,
        grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::NOT_FOUND}) {
    absl::StrAppend(&summary, " ", CodeName(code), "=", counts.errors[code]);
  }
  int64_t other_errors = 0;
  for (const auto& [code, n] : counts.errors) {
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::RESOURCE_EXHAUSTED &&
        code != grpc::StatusCode::DEADLINE_EXCEEDED && code != grpc::StatusCode::NOT_FOUND) {
      other_errors += n;
    }
  }
  absl::StrAppend(&summary, " other_errors=", other_errors, " wrong=", counts.wrong,
                  " graph_requests=", graph_requests, " token_requests=", token_requests,
                  " faults_registered=", faults_registered.load(),
                  " faults_applied=", faults_applied, " rss_after_warmup_mib=",
                  mib(rss_after_warm_up), " rss_end_mib=", mib(rss_at_end),
                  " rss_growth_mib=", mib(rss_at_end - rss_after_warm_up), " exit=",
                  exit_status.has_value() && WIFEXITED(*exit_status)
                      ? absl::StrCat(WEXITSTATUS(*exit_status))
                      : std::string("killed"));
  std::cout << summary << std::endl;
  std::ofstream("soak-summary.txt") << summary << "\n";

  for (const std::string& problem : counts.problems) ADD_FAILURE() << problem;
  EXPECT_EQ(counts.wrong, 0);
  EXPECT_GT(counts.ok, counts.calls / 4) << "the server hardly ever answered";
  EXPECT_GT(faults_applied, 0) << "no fault was ever applied: the soak proved little";
  ASSERT_TRUE(exit_status.has_value()) << "did not exit after SIGTERM within the grace period";
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0);
  ASSERT_GT(rss_after_warm_up, 0);
  ASSERT_GT(rss_at_end, 0);
#ifdef ROLLCALL_SOAK_UNDER_ASAN
  // AddressSanitizer keeps freed memory in quarantine, so RSS is no measure here; the server's
  // LeakSanitizer check at exit (exit status 0 above) stands in for it.
  std::cout << "RSS bound not checked under AddressSanitizer" << std::endl;
#else
  EXPECT_LT(rss_at_end - rss_after_warm_up, kMaxRssGrowthBytes)
      << "the server's memory grew after warm-up";
#endif
}

}  // namespace
}  // namespace rollcall::testing
