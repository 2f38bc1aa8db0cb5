// Issue 12's server limits, measured on the real rollcall_server and the emulator:
//   1. 200 GetAttendanceReport calls for a cached report of about 1.3 MB, started on ONE
//      connection by a client that never reads the replies: max_concurrent_streams (100) admits
//      100 of them, each stays in flight (its reply unsent), and the server's memory grows by
//      less than kMaxGrowthBytes (64 MiB). The same with the limits raised out of the way: all
//      200 are admitted, and memory still grows by less than the bound, because every reply is
//      the cache's own bytes, shared, never a copy (README, "Limits", has the figures);
//   2. a report whose reply is over max_send_message_bytes is refused at once with
//      FAILED_PRECONDITION (REPORT_TOO_LARGE), from a load and from the cache, and its records
//      still page and stream;
//   3. (DISABLED_, run by hand) the same unread calls for 200 DIFFERENT reports, each reply then
//      holding its own report after the cache evicted it: what max_concurrent_streams bounds and
//      what it does not.
//
// Every wait is on a condition (the server's /metrics, its /proc/<pid>/status), polled with a
// bounded timeout; the server's clock cannot be injected into another process.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "graph_client/http_transport.h"
#include "gtest/gtest.h"
#include "tests/integration/environment.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROLLCALL_LIMITS_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ROLLCALL_LIMITS_UNDER_ASAN 1
#endif

namespace rollcall::testing {
namespace {

using rollcall::v1::AttendanceReportService;
using rollcall::v1::GetAttendanceReportRequest;
using rollcall::v1::GetAttendanceReportResponse;

constexpr char kUser[] = "limits-user";
constexpr char kMeeting[] = "limits-meeting";
constexpr char kReport[] = "report-1-3MB";
// 8,300 generated records make a GetAttendanceReport reply of 1,296,589 bytes.
constexpr int kRecords = 8300;
constexpr int kCalls = 200;
constexpr int kDefaultMaxConcurrentStreams = 100;
// The stated bound: 200 unread 1.3 MB replies on one connection make the server's memory
// (VmRSS, its peak VmHWM included) grow by less than this.
constexpr int64_t kMaxGrowthBytes = int64_t{64} << 20;
constexpr absl::Duration kWaitLimit = absl::Seconds(60);  // only a failing test waits this long
constexpr char kMethod[] = "/rollcall.v1.AttendanceReportService/GetAttendanceReport";

double Mib(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// A field of /proc/<pid>/status in bytes (VmRSS, VmHWM); -1 if unknown.
int64_t ProcStatusBytes(pid_t pid, absl::string_view field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  const std::string prefix = absl::StrCat(field, ":");
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, prefix)) continue;
    int64_t kib = 0;
    if (std::sscanf(line.c_str() + prefix.size(), " %" SCNd64 " kB", &kib) == 1) {
      return kib * 1024;
    }
  }
  return -1;
}

// Sets the process's VmHWM to its VmRSS now (/proc/<pid>/clear_refs, "5"), so that a later
// VmHWM is the peak since this moment, whatever happened between two samples.
bool ResetPeak(pid_t pid) {
  std::ofstream clear_refs(absl::StrCat("/proc/", pid, "/clear_refs"));
  clear_refs << "5";
  clear_refs.flush();
  return clear_refs.good();
}

// Polls `done` every 50 ms until it holds or `limit` passes.
bool WaitUntil(const std::function<bool()>& done, absl::Duration limit = kWaitLimit) {
  const absl::Time give_up = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() >= give_up) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

// A large report in the emulator: `records` generated records under kUser/kMeeting/`report`.
absl::Status AddGeneratedReport(FakeGraph& graph, const std::string& report, int records) {
  return graph.PostJson("/_emulator/reports",
                        absl::StrCat(R"({"user":")", kUser, R"(","meeting":")", kMeeting,
                                     R"(","report":")", report, R"(","records":)", records, "}"));
}

// The server, its /metrics endpoint and its memory.
class Server {
 public:
  static std::unique_ptr<Server> Start(FakeGraph& graph, std::map<std::string, std::string> env) {
    env["ROLLCALL_METRICS_LISTEN"] = "127.0.0.1:0";
    auto process = RollcallProcess::Start(graph, env);
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return nullptr;
    auto server = std::unique_ptr<Server>(new Server(*std::move(process)));
    auto metrics = server->process_->ReadMetricsAddress();
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    if (!metrics.ok()) return nullptr;
    server->metrics_address_ = *metrics;
    return server;
  }

  RollcallProcess& process() { return *process_; }
  pid_t pid() const { return process_->process().pid(); }
  int64_t Rss() const { return ProcStatusBytes(pid(), "VmRSS"); }
  int64_t Peak() const { return ProcStatusBytes(pid(), "VmHWM"); }

  // A sample of an unlabelled family, or of one `name{labels}` line; -1 if absent or if no
  // scrape succeeds within 20 s (a busy server may time one out: it is tried again).
  double Metric(const std::string& series) {
    std::string body;
    WaitUntil(
        [&] {
          graph::HttpRequest request;
          request.url = absl::StrCat("http://", metrics_address_, "/metrics");
          request.deadline = absl::Now() + absl::Seconds(10);
          auto response = http_->Send(request);
          if (!response.ok() || response->status != 200) return false;
          body = std::move(response->body);
          return true;
        },
        absl::Seconds(20));
    for (absl::string_view line : absl::StrSplit(body, '\n')) {
      if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
    return -1;
  }
  double InFlight() { return Metric("rollcall_calls_in_flight"); }
  double AnsweredOk() { return Metric(R"(rollcall_requests_total{code="OK"})"); }

  // One GetAttendanceReport on its own connection that reads its reply (of any size).
  grpc::Status Get(const GetAttendanceReportRequest& request,
                   GetAttendanceReportResponse* response) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt("rollcall.limits_reader", next_channel_++);
    auto stub = AttendanceReportService::NewStub(grpc::CreateCustomChannel(
        process_->address(), grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return stub->GetAttendanceReport(&context, request, response);
  }

 private:
  explicit Server(std::unique_ptr<RollcallProcess> process)
      : process_(std::move(process)), http_(graph::MakeCurlTransport({})) {}

  std::unique_ptr<RollcallProcess> process_;
  std::string metrics_address_;
  std::shared_ptr<graph::HttpTransport> http_;
  int next_channel_ = 0;
};

// A client that starts GetAttendanceReport calls on ONE channel (one HTTP/2 connection) and
// never asks for their replies: no Read, no Finish. Its connection announces a 1 KiB stream
// window and no BDP probing, so gRPC's transport takes at most 1 KiB of each reply and the
// server cannot send the rest; the calls stay open on the server until they are cancelled
// (the destructor) or their 120-second deadline passes.
class UnreadClient {
 public:
  UnreadClient(const std::string& address, const std::vector<GetAttendanceReportRequest>& calls) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt("rollcall.limits_unread", 1);
    channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    // The completion queue is drained (StartCall and Write complete) so that the transport
    // runs; what never comes is a Read.
    poller_ = std::thread([this] {
      void* tag;
      bool ok;
      while (cq_.Next(&tag, &ok)) {
      }
    });
    for (const GetAttendanceReportRequest& request : calls) {
      auto context = std::make_unique<grpc::ClientContext>();
      context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
      // The request's headers go with its one message, in one batch.
      context->set_initial_metadata_corked(true);
      auto call = stub_->PrepareCall(context.get(), kMethod, &cq_);
      call->StartCall(nullptr);
      grpc::Slice slice(request.SerializeAsString());
      call->WriteLast(grpc::ByteBuffer(&slice, 1), grpc::WriteOptions(), nullptr);
      contexts_.push_back(std::move(context));
      calls_.push_back(std::move(call));
    }
  }

  // Cancels every call, then waits until the queue has handed back every batch (each ends,
  // cancelled) before the calls and their contexts go: a call object destroyed with a batch
  // still pending would free that batch's message twice.
  ~UnreadClient() {
    for (auto& context : contexts_) context->TryCancel();
    cq_.Shutdown();
    poller_.join();
    calls_.clear();
    contexts_.clear();
  }

  UnreadClient(const UnreadClient&) = delete;
  UnreadClient& operator=(const UnreadClient&) = delete;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  grpc::CompletionQueue cq_;
  std::thread poller_;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;
  std::vector<std::unique_ptr<grpc::GenericClientAsyncReaderWriter>> calls_;
};

struct Figures {
  int64_t rss_before = 0;  // VmRSS once warm, before the unread calls
  int64_t peak = 0;        // the highest VmRSS (VmHWM, or sampled) while they are open
  int64_t growth() const { return peak - rss_before; }
};

class LimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto graph = FakeGraph::Start();
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = graph->release();
    ASSERT_TRUE(AddGeneratedReport(*graph_, kReport, kRecords).ok());
  }
  static void TearDownTestSuite() {
    delete graph_;
    graph_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(graph_, nullptr); }

  // Starts `requests` as unread calls on one connection once `server` is warm; waits until the
  // server has admitted `admitted` of them (answered OK, and still in flight: their replies
  // unsent) and its memory has settled. `answered_before` is the server's OK
  // count before. Returns the memory figures; the calls stay open while `client` lives.
  static Figures OpenUnreadCalls(Server& server,
                                 const std::vector<GetAttendanceReportRequest>& requests,
                                 int admitted, double answered_before,
                                 std::unique_ptr<UnreadClient>* client,
                                 absl::Duration limit = kWaitLimit) {
    Figures figures;
    figures.rss_before = server.Rss();
    const bool peak_reset = ResetPeak(server.pid());
    *client = std::make_unique<UnreadClient>(server.process().address(), requests);
    EXPECT_TRUE(WaitUntil([&] {
      return server.InFlight() == admitted && server.AnsweredOk() == answered_before + admitted;
    }, limit)) << "in flight " << server.InFlight() << ", answered OK " << server.AnsweredOk()
        << "; expected " << admitted << " admitted";
    // Settled: two samples 200 ms apart within 256 KiB (at most 10 s).
    int64_t sampled_peak = server.Rss();
    int64_t last = -1;
    WaitUntil(
        [&] {
          const int64_t rss = server.Rss();
          sampled_peak = std::max(sampled_peak, rss);
          const bool settled = last >= 0 && std::abs(rss - last) <= (256 << 10);
          last = rss;
          if (!settled) absl::SleepFor(absl::Milliseconds(150));
          return settled;
        },
        absl::Seconds(10));
    figures.peak = peak_reset ? std::max(server.Peak(), sampled_peak) : sampled_peak;
    // Still exactly `admitted`: the others wait in the client, and none of these finished.
    EXPECT_EQ(server.InFlight(), admitted);
    EXPECT_EQ(server.AnsweredOk(), answered_before + admitted);
    return figures;
  }

  // Two reads of the report: one loads it, one is a hit; both read in full.
  static void Warm(Server& server, int64_t* reply_bytes) {
    for (int i = 0; i < 2; ++i) {
      GetAttendanceReportResponse response;
      const grpc::Status status =
          server.Get(ReportRequest(kUser, kMeeting, kReport), &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      ASSERT_EQ(response.report().attendance_records_size(), kRecords);
      EXPECT_EQ(response.from_cache(), i == 1);
      *reply_bytes = static_cast<int64_t>(response.ByteSizeLong());
    }
  }

  // Scenario 1 with `env` on top of the issue's settings (a 16 MiB cache).
  void MeasureUnreadReplies(const std::map<std::string, std::string>& env, int admitted,
                            const std::string& label) {
    std::map<std::string, std::string> full_env = {{"ROLLCALL_CACHE_MAX_BYTES", "16MiB"}};
    for (const auto& [name, value] : env) full_env[name] = value;
    std::unique_ptr<Server> server = Server::Start(*graph_, full_env);
    ASSERT_NE(server, nullptr);
    int64_t reply_bytes = 0;
    Warm(*server, &reply_bytes);
    if (HasFatalFailure()) return;
    EXPECT_GT(reply_bytes, 1200000);
    EXPECT_LT(reply_bytes, 1400000);
    ASSERT_EQ(server->AnsweredOk(), 2);

    std::unique_ptr<UnreadClient> client;
    const std::vector<GetAttendanceReportRequest> requests(
        kCalls, ReportRequest(kUser, kMeeting, kReport));
    const Figures figures = OpenUnreadCalls(*server, requests, admitted, 2, &client);
    const std::string summary = absl::StrFormat(
        "%s: %d unread calls of %d-byte replies on one connection, %d admitted: VmRSS %.1f MiB "
        "before, peak %.1f MiB, growth %.1f MiB (bound %.0f MiB)",
        label, kCalls, reply_bytes, admitted, Mib(figures.rss_before), Mib(figures.peak),
        Mib(figures.growth()), Mib(kMaxGrowthBytes));
    std::printf("%s\n", summary.c_str());
    RecordProperty("rss_growth_mib", absl::StrFormat("%.1f", Mib(figures.growth())));
    ASSERT_GT(figures.rss_before, 0);
#ifdef ROLLCALL_LIMITS_UNDER_ASAN
    // AddressSanitizer keeps freed memory in quarantine, so RSS is no measure here.
    std::printf("RSS bound not checked under AddressSanitizer\n");
#else
    EXPECT_LT(figures.growth(), kMaxGrowthBytes) << summary;
#endif

    // Cancelled, every call ends on the server, which serves as before.
    client.reset();
    EXPECT_TRUE(WaitUntil([&] { return server->InFlight() == 0; }))
        << "in flight " << server->InFlight();
    GetAttendanceReportResponse response;
    const grpc::Status status = server->Get(ReportRequest(kUser, kMeeting, kReport), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.from_cache());
  }

  static FakeGraph* graph_;
};
FakeGraph* LimitsTest::graph_ = nullptr;

TEST_F(LimitsTest, UnreadRepliesOnOneConnectionAreCappedAt100StreamsAndHoldLittleMemory) {
  MeasureUnreadReplies({}, kDefaultMaxConcurrentStreams, "limits at their defaults");
}

// The same with every limit out of the way: all 200 are admitted, and memory still stays under
// the bound. What keeps it there is that a reply is the cached report's bytes (a reference,
// never a copy), not the limits: max_concurrent_streams bounds how many replies one connection
// holds, which matters when each holds its own bytes (DISABLED_ test below).
TEST_F(LimitsTest, WithoutLimitsAll200AreAdmittedAndStillShareTheCachedBytes) {
  MeasureUnreadReplies({{"ROLLCALL_MAX_CONCURRENT_STREAMS", "2147483647"},
                        {"ROLLCALL_GRPC_MEMORY_QUOTA", "1024GiB"}},
                       kCalls, "limits raised out of the way");
}

TEST_F(LimitsTest, AReplyOverTheSendCapIsAClearErrorNotAHang) {
  std::unique_ptr<Server> server =
      Server::Start(*graph_, {{"ROLLCALL_MAX_SEND_MESSAGE_BYTES", "1MiB"}});
  ASSERT_NE(server, nullptr);
  // From the load, then from the cache: refused at once, well inside the 30 s deadline.
  for (int i = 0; i < 2; ++i) {
    GetAttendanceReportResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = server->Get(ReportRequest(kUser, kMeeting, kReport), &response);
    EXPECT_LT(absl::Now() - start, absl::Seconds(20));
    ASSERT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << status.error_message();
    EXPECT_EQ(ErrorInfoOf(status).reason(), "REPORT_TOO_LARGE");
    EXPECT_TRUE(absl::StrContains(status.error_message(),
                                  "more than max_send_message_bytes (1048576 bytes)"))
        << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "ListAttendanceRecords"));
  }
  EXPECT_EQ(server->Metric(R"(rollcall_requests_total{code="FAILED_PRECONDITION"})"), 2);
  // Both calls end on the server (OnDone may come a moment after the client has its answer).
  EXPECT_TRUE(WaitUntil([&] { return server->InFlight() == 0; }))
      << "in flight " << server->InFlight();

  // The report is cached all the same: its records page and stream, in messages under the cap.
  grpc::ChannelArguments args;
  args.SetInt("rollcall.limits_pages", 1);
  auto stub = AttendanceReportService::NewStub(grpc::CreateCustomChannel(
      server->process().address(), grpc::InsecureChannelCredentials(), args));
  int paged = 0;
  std::string token;
  do {
    rollcall::v1::ListAttendanceRecordsRequest request;
    request.set_user_id(kUser);
    request.set_meeting_id(kMeeting);
    request.set_report_id(kReport);
    request.set_page_size(1000);
    request.set_page_token(token);
    rollcall::v1::ListAttendanceRecordsResponse page;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    const grpc::Status status = stub->ListAttendanceRecords(&context, request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    paged += page.attendance_records_size();
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(paged, kRecords);

  rollcall::v1::StreamAttendanceRecordsRequest request;
  request.set_user_id(kUser);
  request.set_meeting_id(kMeeting);
  request.set_report_id(kReport);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto reader = stub->StreamAttendanceRecords(&context, request);
  rollcall::v1::StreamAttendanceRecordsResponse message;
  int streamed = 0;
  while (reader->Read(&message)) streamed += message.attendance_records_size();
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(streamed, kRecords);
}

// Unread calls for DIFFERENT reports: each reply is its own report once the 16 MiB cache has
// evicted it, so max_concurrent_streams alone lets one connection pin 100 of them (about 130
// MB; the DISABLED_ test below measures it). max_reply_memory counts the bytes of every whole
// reply of 64 KiB and more until its call ends: with it at 16 MiB, at most 12 of these
// 1.3 MB replies are held and the rest are refused at once (RESOURCE_EXHAUSTED,
// REPLIES_BACKLOGGED), and memory grows by less than kMaxGrowthBytes; with it raised, all are
// held and memory grows by more than 48 MB, so the bound is what holds it.
TEST_F(LimitsTest, MaxReplyMemoryBoundsUnreadRepliesOfDifferentReports) {
  constexpr int kReports = 48;
  std::vector<GetAttendanceReportRequest> requests;
  for (int i = 0; i < kReports; ++i) {
    const std::string report = absl::StrCat("held-", i);
    ASSERT_TRUE(AddGeneratedReport(*graph_, report, kRecords).ok());
    requests.push_back(ReportRequest(kUser, kMeeting, report));
  }
  for (const bool bounded : {true, false}) {
    SCOPED_TRACE(bounded ? "max_reply_memory 16MiB" : "max_reply_memory 1GiB");
    std::unique_ptr<Server> server =
        Server::Start(*graph_, {{"ROLLCALL_CACHE_MAX_BYTES", "16MiB"},
                                // One load at a time, so that what loads hold while they parse
                                // (max_report_memory each) does not hide what replies hold.
                                {"ROLLCALL_UPSTREAM_CONCURRENCY", "1"},
                                {"ROLLCALL_UPSTREAM_QUEUE", "64"},
                                {"ROLLCALL_MAX_REPLY_MEMORY", bounded ? "16MiB" : "1GiB"}});
    ASSERT_NE(server, nullptr);
    int64_t reply_bytes = 0;
    Warm(*server, &reply_bytes);
    if (HasFatalFailure()) return;
    const int64_t rss_before = server->Rss();
    const bool peak_reset = ResetPeak(server->pid());
    auto client = std::make_unique<UnreadClient>(server->process().address(), requests);
    const auto refused = [&] {
      return server->Metric(R"(rollcall_requests_total{code="RESOURCE_EXHAUSTED"})");
    };
    // Every call answered: the held ones OK (and still in flight), the others refused.
    ASSERT_TRUE(WaitUntil([&] {
      return server->AnsweredOk() - 2 + refused() == kReports &&
             server->InFlight() == server->AnsweredOk() - 2;
    }, absl::Minutes(2))) << "answered OK " << server->AnsweredOk() << ", refused "
                          << refused() << ", in flight " << server->InFlight();
    const double held = server->InFlight();
    const int64_t peak = peak_reset ? server->Peak() : server->Rss();
    std::printf("max_reply_memory %s: %d unread calls for different %" PRId64
                "-byte reports: %.0f held, %.0f refused, held bytes %.1f MiB, RSS growth "
                "%.1f MiB\n",
                bounded ? "16MiB" : "1GiB", kReports, reply_bytes, held, refused(),
                Mib(static_cast<int64_t>(server->Metric("rollcall_held_reply_bytes"))),
                Mib(peak - rss_before));
    if (bounded) {
      EXPECT_LE(held, (16 << 20) / reply_bytes);
      EXPECT_GE(held, (16 << 20) / reply_bytes - 1);
      EXPECT_LE(server->Metric("rollcall_held_reply_bytes"), 16 << 20);
      EXPECT_EQ(server->Metric("rollcall_replies_refused_total"), kReports - held);
#ifndef ROLLCALL_LIMITS_UNDER_ASAN
      EXPECT_LT(peak - rss_before, kMaxGrowthBytes);
#endif
    } else {
      EXPECT_EQ(held, kReports);
      EXPECT_EQ(refused(), 0);
#ifndef ROLLCALL_LIMITS_UNDER_ASAN
      EXPECT_GT(peak - rss_before, int64_t{48} << 20);
#endif
    }
    client.reset();  // cancels them: the held bytes are given back
    EXPECT_TRUE(WaitUntil([&] {
      return server->InFlight() == 0 && server->Metric("rollcall_held_reply_bytes") == 0;
    })) << "held " << server->Metric("rollcall_held_reply_bytes");
  }
}

// Run by hand (it loads 200 reports of 1.3 MB from the emulator three times, over a minute):
//   build/tests/integration/integration_tests --gtest_also_run_disabled_tests \
//     --gtest_filter='LimitsTest.DISABLED_*'
// 200 unread calls on one connection, each for a different report: the 16 MiB cache keeps a
// dozen, and every reply holds its own report until it is sent. max_concurrent_streams halves
// what one connection can pin; gRPC's memory quota does not see it (README, "Limits"). It
// prints its figures and checks only that the calls were admitted and stayed unsent.
TEST_F(LimitsTest, DISABLED_UnreadRepliesOfDifferentReportsEachHoldTheirOwn) {
  constexpr int kReports = kCalls;
  std::vector<GetAttendanceReportRequest> requests;
  for (int i = 0; i < kReports; ++i) {
    const std::string report = absl::StrCat("distinct-", i);
    ASSERT_TRUE(AddGeneratedReport(*graph_, report, kRecords).ok());
    requests.push_back(ReportRequest(kUser, kMeeting, report));
  }
  struct Run {
    std::string label;
    std::string streams;
    std::string quota;
  };
  for (const Run& run : {Run{"max_concurrent_streams 100", "100", "256MiB"},
                         Run{"no stream limit", "2147483647", "1024GiB"},
                         Run{"no stream limit, grpc_memory_quota 64MiB", "2147483647", "64MiB"}}) {
    std::unique_ptr<Server> server = Server::Start(
        *graph_, {{"ROLLCALL_CACHE_MAX_BYTES", "16MiB"},
                  {"ROLLCALL_MAX_CONCURRENT_STREAMS", run.streams},
                  {"ROLLCALL_GRPC_MEMORY_QUOTA", run.quota}});
    ASSERT_NE(server, nullptr);
    int64_t reply_bytes = 0;
    Warm(*server, &reply_bytes);
    if (HasFatalFailure()) return;
    const int admitted = std::min(kReports, std::stoi(run.streams));
    std::unique_ptr<UnreadClient> client;
    const Figures figures =
        OpenUnreadCalls(*server, requests, admitted, 2, &client, absl::Minutes(3));
    std::printf("%s: %d unread calls for %d different reports on one connection, %d admitted: "
                "VmRSS %.1f MiB before, peak %.1f MiB, growth %.1f MiB\n",
                run.label.c_str(), kCalls, kReports, admitted, Mib(figures.rss_before),
                Mib(figures.peak), Mib(figures.growth()));
  }
}

}  // namespace
}  // namespace rollcall::testing
