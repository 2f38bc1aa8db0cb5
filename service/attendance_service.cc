#include "service/attendance_service.h"

#include <chrono>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error_details.h"
#include "graph_client/trace_context.h"
#include "service/record_pages.h"
#include "service/rpc_observer.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace rollcall::service {
namespace {

constexpr absl::string_view kMethodNames[kMethodCount] = {
    "GetAttendanceReport", "ListAttendanceReports", "ListAttendanceRecords",
    "StreamAttendanceRecords", "ResolveOnlineMeeting"};

KeyKind ReportKindOf(graph::ReportSource source) {
  switch (source) {
    case graph::ReportSource::kWebinar:
      return KeyKind::kWebinarReport;
    case graph::ReportSource::kTownHall:
      return KeyKind::kTownHallReport;
    case graph::ReportSource::kMe:
      return KeyKind::kDelegatedReport;
    case graph::ReportSource::kOnlineMeeting:
      break;
  }
  return KeyKind::kMeetingReport;
}

KeyKind ListKindOf(graph::ReportSource source) {
  switch (source) {
    case graph::ReportSource::kWebinar:
      return KeyKind::kWebinarReports;
    case graph::ReportSource::kTownHall:
      return KeyKind::kTownHallReports;
    case graph::ReportSource::kMe:
    case graph::ReportSource::kOnlineMeeting:
      break;
  }
  return KeyKind::kMeetingReports;
}

// The two IDs that name a request's source (user and meeting, or event and session), viewing
// the request.
struct SourceIds {
  graph::ReportSource source;
  absl::string_view first;
  absl::string_view second;
};

SourceIds SourceIdsOf(absl::string_view user_id, absl::string_view meeting_id,
                      const SessionFields& session) {
  if (!session.present) return {graph::ReportSource::kOnlineMeeting, user_id, meeting_id};
  return {session.kind == rollcall::v1::VIRTUAL_EVENT_KIND_TOWN_HALL
              ? graph::ReportSource::kTownHall
              : graph::ReportSource::kWebinar,
          session.event_id, session.session_id};
}

template <typename Request>
SourceIds SourceIdsOf(const Request& request) {
  return SourceIdsOf(request.user_id(), request.meeting_id(), SessionFieldsOf(request));
}

// What the caller policy checks: the organizer's user ID, or a virtual event session.
CallerResource ResourceOf(const SourceIds& ids) {
  if (ids.source == graph::ReportSource::kOnlineMeeting) return {false, ids.first};
  return {true, absl::string_view()};
}

graph::ReportRef ReportRefOf(const SourceIds& ids, absl::string_view report_id) {
  return {std::string(ids.first), std::string(ids.second), std::string(report_id), ids.source};
}

// The ListAttendanceRecords page of `entry` (a cached GetAttendanceReportResponse) that starts
// at record `offset`: at most `page_size` records, their total, the fetch time, and the token
// of the next page when records remain.
absl::StatusOr<grpc::ByteBuffer> RecordsPage(const CachedReport& entry,
                                             const PageTokenSigner& tokens,
                                             absl::string_view binding, uint32_t offset,
                                             int page_size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(entry.bytes().begin()),
                                entry.bytes().size());
  absl::StatusOr<CachedResponseParts> parts = SplitCachedResponse(bytes);
  if (!parts.ok()) return parts.status();
  RecordWalker walker(parts->report);
  RecordsReply reply(RecordsReply::Kind::kListPage);
  absl::string_view record;
  while (static_cast<uint32_t>(walker.index()) < offset && walker.Next(&record)) {
  }
  for (int taken = 0; taken < page_size && walker.Next(&record); ++taken) {
    reply.AddRecord(record);
  }
  const int next = walker.index();
  while (walker.Next(&record)) {
  }
  if (!walker.ok()) return absl::InternalError("a cached report does not parse");
  const int total = walker.index();
  // A token past the end (the report has fewer records since it was minted) gives an empty
  // last page.
  if (next < total) reply.SetNextPageToken(tokens.Mint(binding, static_cast<uint32_t>(next)));
  reply.SetTotal(total);
  reply.SetFetchTime(parts->fetch_time);
  const std::string page = reply.Take();
  grpc::Slice slice(page.data(), page.size());
  return grpc::ByteBuffer(&slice, 1);
}

// The call's deadline in the service's clock: what is left of gRPC's deadline (a wall-clock
// instant) added to `arrival` (the service's clock); arrival + `fallback` when the client set
// none.
absl::Time CallDeadline(const grpc::CallbackServerContext& context, absl::Time arrival,
                        absl::Duration fallback) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return arrival + fallback;
  return arrival + (absl::FromChrono(deadline) - absl::Now());
}

// FAILED_PRECONDITION REPORT_TOO_LARGE: a reply of `bytes` is over max_send_message_bytes.
// Refused before any of it is sent: gRPC's own cap would fail the call only after the service
// had counted it answered, with no ErrorInfo and no word on what to do instead.
absl::Status ReplyTooLarge(std::size_t bytes, std::size_t max_bytes) {
  return common::MakeError(
      absl::StatusCode::kFailedPrecondition,
      absl::StrCat("the reply would be ", bytes, " bytes, more than max_send_message_bytes (",
                   max_bytes, " bytes): page the report's records with ListAttendanceRecords "
                   "or stream them with StreamAttendanceRecords"),
      {std::string(common::reason::kReportTooLarge), {}, std::nullopt});
}

// RESOURCE_EXHAUSTED REPLIES_BACKLOGGED: a reply of `bytes` would take the replies clients have
// not read yet past max_reply_memory.
absl::Status RepliesBacklogged(std::size_t bytes, std::size_t max_bytes) {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kRepliesBacklogged);
  details.retry_after = absl::Seconds(1);
  return common::MakeError(
      absl::StatusCode::kResourceExhausted,
      absl::StrCat("this server already holds max_reply_memory (", max_bytes,
                   " bytes) of replies its clients have not read; this one (", bytes,
                   " bytes) must wait: retry after the delay, or page the records with "
                   "ListAttendanceRecords"),
      details);
}

// `bytes` followed by the static `suffix`, sharing bytes' buffer.
// The value of the call's `authorization` metadata, if it sent one.
std::optional<absl::string_view> AuthorizationOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

// The largest user token accepted (Entra ID's access tokens are a few KiB).
constexpr std::size_t kMaxUserTokenBytes = 16 << 10;

// The token of "Bearer <token>", or UNAUTHENTICATED USER_TOKEN_REJECTED. The message never
// quotes the header.
absl::StatusOr<std::string> BearerToken(absl::string_view header) {
  constexpr absl::string_view kScheme = "bearer ";
  absl::string_view token;
  if (header.size() > kScheme.size() &&
      absl::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    token = absl::StripAsciiWhitespace(header.substr(kScheme.size()));
  }
  bool ok = !token.empty() && token.size() <= kMaxUserTokenBytes;
  for (const char c : token) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) ok = false;
  }
  if (!ok) {
    return common::MakeError(
        absl::StatusCode::kUnauthenticated,
        "the authorization metadata must be \"Bearer <token>\": a user's access token for "
        "Rollcall's app registration (at most 16 KiB, no spaces or control characters); the "
        "value sent is not shown",
        {std::string(common::reason::kUserTokenRejected), {}, std::nullopt});
  }
  return std::string(token);
}

absl::Status InvalidForDelegated(absl::string_view field, absl::string_view message) {
  return common::MakeError(absl::StatusCode::kInvalidArgument, message,
                           {std::string(common::reason::kInvalidId),
                            {{std::string(common::meta::kField), std::string(field)}},
                            std::nullopt});
}

grpc::ByteBuffer WithSuffix(const grpc::Slice& bytes, const ReplySuffix& suffix) {
  const grpc::Slice slices[2] = {
      bytes, grpc::Slice(suffix.data(), suffix.size, grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace

absl::string_view MethodName(Method method) {
  const auto index = static_cast<std::size_t>(method);
  return index < std::size(kMethodNames) ? kMethodNames[index] : "other";
}

// The answering side of one call, safe to hold after the call is gone: the first Finish
// through any handle (or the call's OnCancel) sends the reply, later ones do nothing. The call
// stays alive until that first Finish (gRPC calls OnDone only after it), so the winner may
// still use it.
class AttendanceReportServiceImpl::CallHandle {
 public:
  CallHandle(Call* call, std::shared_ptr<std::atomic<bool>> finished)
      : call_(call), finished_(std::move(finished)) {}

  // Replies OK with `reply` as the response bytes.
  void FinishOk(grpc::ByteBuffer reply, CacheOutcome outcome) const;
  void FinishError(const grpc::Status& status, CacheOutcome outcome) const;

 private:
  Call* call_;
  std::shared_ptr<std::atomic<bool>> finished_;
};

// One GetAttendanceReport call. Created by the handler, owned by gRPC until OnDone.
class AttendanceReportServiceImpl::Call final : public grpc::ServerUnaryReactor {
 public:
  Call(AttendanceReportServiceImpl* service, Method method, grpc::CallbackServerContext* context,
       grpc::ByteBuffer* response, absl::Time arrival)
      : service_(service),
        method_(method),
        context_(context),
        response_(response),
        arrival_(arrival) {
    service_->CallStarted();
  }

  // Answers on the handler's thread, before any handle exists: nothing else can answer yet
  // (gRPC calls OnCancel only once the handler has returned the call).
  // The status is taken by value and moved into gRPC's Finish: an OK one built in place costs
  // nothing, where copying grpc::Status::OK copied its two strings on every hit.
  void FinishNow(grpc::ByteBuffer* reply, grpc::Status status, CacheOutcome outcome) {
    local_finished_.store(true, std::memory_order_relaxed);
    answered_on_arrival_.store(true, std::memory_order_relaxed);
    Send(reply, std::move(status), outcome);
  }

  // Whether gRPC may run this call's OnDone and OnCancel on the thread that completes the call
  // instead of handing them to its executor (grpc_core::Executor::Run: a futex wake of an
  // executor thread and a context switch to it, per call). Without it every call answered on
  // arrival (cache hits above all) woke an executor thread just to delete the Call: about 0.6
  // voluntary switches per hit, and as many involuntary ones of the thread that polls, which
  // is what put hits at 0.65-0.72 of a bare gRPC server (issue #9).
  //
  // True only for a call answered on arrival (FinishNow): then OnCancel does nothing (the call
  // is finished) and OnDone only deletes the call and decrements an atomic (taking mu_ briefly
  // while a drain waits): trivial reactions that never block, as gRPC requires of an inlineable
  // reactor (CallbackServerContext::DefaultReactor, the baseline's reactor, is inlineable for
  // the same reason). A miss keeps gRPC's default: its OnCancel answers the call (observer,
  // Finish), which stays off gRPC's completion path.
  //
  // gRPC marks this hook "not API" (server_callback.h); `override` makes a gRPC without it fail
  // to compile rather than silently hop threads again. gRPC reads it only once the handler has
  // returned (SetupReactor, then the completion callbacks), after FinishNow wrote it on the
  // handler's thread; relaxed is enough (an atomic only so that TSan, which cannot see the
  // ordering gRPC's uninstrumented core provides, has nothing to report).
  bool InternalInlineable() override {
    return answered_on_arrival_.load(std::memory_order_relaxed);
  }

  // For answers from elsewhere (a load's callback), made by the handler before it returns.
  // The flag they share outlives the call.
  CallHandle handle() {
    if (shared_finished_ == nullptr) {
      shared_finished_ = std::make_shared<std::atomic<bool>>(false);
    }
    return CallHandle(this, shared_finished_);
  }

  // Only through a CallHandle that won the race to answer, or FinishNow.
  void Send(grpc::ByteBuffer* reply, grpc::Status status, CacheOutcome outcome) {
    if (reply != nullptr) {
      // A large reply is counted against max_reply_memory until the call ends (OnDone).
      if (const std::size_t size = reply->Length();
          ABSL_PREDICT_FALSE(size >= kHeldReplyBytes)) {
        if (service_->HoldReply(size)) {
          held_reply_bytes_ = size;
        } else {
          reply = nullptr;
          status = ToGrpcStatus(RepliesBacklogged(size, service_->options_.max_reply_memory));
        }
      }
    }
    if (reply != nullptr) response_->Swap(reply);
    service_->Answered(method_, status.error_code(), outcome, arrival_, *context_);
    Finish(std::move(status));
  }

  // The client went away, its deadline passed, or the server is cancelling what is left at
  // shutdown. Answer now (nobody will read it) so that the call ends without waiting for its
  // load. (A call answered on arrival is finished already: only a miss answers here.)
  void OnCancel() override {
    std::atomic<bool>& finished =
        shared_finished_ != nullptr ? *shared_finished_ : local_finished_;
    if (finished.exchange(true)) return;
    const bool expired = std::chrono::system_clock::now() >= context_->deadline();
    Send(nullptr,
         expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                "the deadline passed before the answer")
                 : grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"),
         CacheOutcome::kMiss);
  }

  void OnDone() override {
    AttendanceReportServiceImpl* service = service_;
    const std::size_t held = held_reply_bytes_;
    delete this;
    if (held > 0) service->ReleaseReply(held);
    service->CallDone();
  }

 private:
  AttendanceReportServiceImpl* const service_;
  const Method method_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  const absl::Time arrival_;  // the service's clock
  // Whether the call is answered: local_finished_ until the handler makes a handle (a miss),
  // the shared flag after. Written only on the handler's thread, before gRPC can call
  // OnCancel.
  std::atomic<bool> local_finished_{false};
  std::shared_ptr<std::atomic<bool>> shared_finished_;
  // See InternalInlineable. Written only by FinishNow, on the handler's thread.
  std::atomic<bool> answered_on_arrival_{false};
  // What this call's reply counts against max_reply_memory (0: nothing); set in Send, read in
  // OnDone, which gRPC runs after the Finish that Send makes.
  std::size_t held_reply_bytes_ = 0;
};

void AttendanceReportServiceImpl::CallHandle::FinishOk(grpc::ByteBuffer reply,
                                                       CacheOutcome outcome) const {
  if (finished_->exchange(true)) return;
  call_->Send(&reply, grpc::Status(), outcome);
}

void AttendanceReportServiceImpl::CallHandle::FinishError(const grpc::Status& status,
                                                          CacheOutcome outcome) const {
  if (finished_->exchange(true)) return;
  call_->Send(nullptr, status, outcome);
}

// One StreamAttendanceRecords call: the report's records from its cache entry, a message of a
// few records at a time, the next one built only when gRPC has taken the last (OnWriteDone).
// So a slow reader makes the server hold one message and a reference to the cached entry (the
// cache's own copy, shared), never a copy of the report.
//
// Lifetime as for unary calls: gRPC deletes it (OnDone) only after Finish; whoever first sets
// `started_` (the load's callback, or OnCancel) owns the call from then on, and the loser does
// nothing but read the flag, which outlives the call.
class AttendanceReportServiceImpl::Stream final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  Stream(AttendanceReportServiceImpl* service, grpc::CallbackServerContext* context,
         absl::Time arrival)
      : service_(service),
        context_(context),
        arrival_(arrival),
        started_(std::make_shared<std::atomic<bool>>(false)) {
    service_->CallStarted();
  }

  // What the load's callback holds: the flag, and the stream (valid while the flag is unset).
  struct Handle {
    Stream* stream;
    std::shared_ptr<std::atomic<bool>> started;
  };
  Handle handle() { return Handle{this, started_}; }

  // Streams `entry`'s records, or ends with its error. On arrival (before any handle acts), or
  // through a Handle that won `started`.
  void Start(const absl::StatusOr<CachedReport>& entry, CacheOutcome outcome) {
    started_->store(true, std::memory_order_relaxed);
    outcome_ = outcome;
    if (!entry.ok()) {
      End(ToGrpcStatus(entry.status()));
      return;
    }
    entry_ = *entry;
    const absl::string_view bytes(reinterpret_cast<const char*>(entry_.bytes().begin()),
                                  entry_.bytes().size());
    absl::StatusOr<CachedResponseParts> parts = SplitCachedResponse(bytes);
    absl::StatusOr<int> total =
        parts.ok() ? CountRecords(parts->report) : absl::StatusOr<int>(parts.status());
    if (!total.ok()) {
      End(ToGrpcStatus(total.status()));
      return;
    }
    parts_ = *parts;
    total_ = *total;
    walker_.emplace(parts_.report);
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The client went away or the call was cancelled: nothing more will be read.
      End(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
      return;
    }
    WriteNext();
  }

  void OnCancel() override {
    if (started_->exchange(true)) return;  // streaming: the pending write fails instead
    const bool expired = std::chrono::system_clock::now() >= context_->deadline();
    End(expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                               "the deadline passed before the records were ready")
                : grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
  }

  void OnDone() override {
    AttendanceReportServiceImpl* service = service_;
    delete this;
    service->CallDone();
  }

 private:
  // Writes the next message, or ends the stream after the last one. At least one message,
  // even for a report without records (it carries the total and the fetch time).
  void WriteNext() {
    RecordsReply reply(RecordsReply::Kind::kStreamMessage);
    absl::string_view record;
    int records = 0;
    while (reply.size() < service_->options_.stream_message_bytes && walker_->Next(&record)) {
      reply.AddRecord(record);
      ++records;
    }
    if (!walker_->ok()) {
      End(grpc::Status(grpc::StatusCode::INTERNAL, "a cached report does not parse"));
      return;
    }
    if (records == 0 && written_ > 0) {
      End(grpc::Status::OK);
      return;
    }
    reply.SetTotal(total_);
    reply.SetFetchTime(parts_.fetch_time);
    const std::string bytes = reply.Take();
    grpc::Slice slice(bytes.data(), bytes.size());
    message_ = grpc::ByteBuffer(&slice, 1);
    ++written_;
    StartWrite(&message_);
  }

  void End(const grpc::Status& status) {
    service_->Answered(Method::kStream, status.error_code(), outcome_, arrival_, *context_);
    Finish(status);
  }

  AttendanceReportServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time arrival_;
  const std::shared_ptr<std::atomic<bool>> started_;
  CacheOutcome outcome_ = CacheOutcome::kMiss;
  // The entry streamed (a reference: the cache's bytes), its parts and where the walk is.
  CachedReport entry_;
  CachedResponseParts parts_;
  int total_ = 0;
  std::optional<RecordWalker> walker_;
  int written_ = 0;
  // The message in flight: gRPC reads it until OnWriteDone.
  grpc::ByteBuffer message_;
};

AttendanceReportServiceImpl::AttendanceReportServiceImpl(const ServiceOptions& options,
                                                         std::shared_ptr<graph::GraphClient> graph,
                                                         ReportCache* cache,
                                                         const common::Clock* clock, Logger* logger,
                                                         RpcObserver* observer)
    : options_(options),
      cache_(cache),
      clock_(clock),
      logger_(logger),
      observer_(observer),
      suffixes_(GetCachedReplySuffixes()),
      page_tokens_(options.page_tokens != nullptr
                       ? options.page_tokens
                       : std::make_shared<const PageTokenSigner>(PageTokenSigner::Random())),
      caller_policy_(options.caller_policy.get()),
      loader_(std::move(graph), options.ttl, clock, logger) {}

bool AttendanceReportServiceImpl::CallerDenied(Call* call,
                                               const grpc::CallbackServerContext& context,
                                               const CallerResource& resource) {
  const absl::Status status = caller_policy_->Authorize(context, resource);
  if (status.ok()) return false;
  counters_.Add(kCallerDenied);
  call->FinishNow(nullptr, ToGrpcStatus(status), CacheOutcome::kNone);
  return true;
}

bool AttendanceReportServiceImpl::Refused(Call* call, Method method,
                                          const grpc::CallbackServerContext& context,
                                          const absl::Status& parsed) {
  const absl::Status status = Admit(method, context, parsed);
  if (status.ok()) return false;
  call->FinishNow(nullptr, ToGrpcStatus(status), CacheOutcome::kNone);
  return true;
}

absl::Status AttendanceReportServiceImpl::Admit(Method method,
                                                const grpc::CallbackServerContext& context,
                                                const absl::Status& parsed) {
  if (draining_.load(std::memory_order_acquire)) {
    counters_.Add(kRefusedDraining);
    return ShuttingDownError();
  }
  if (parsed.ok()) return parsed;
  counters_.Add(kInvalidRequests);
  if (logger_->Enabled(LogLevel::kDebug)) {
    logger_->Debug("invalid request", {{"method", MethodName(method)},
                                       {"peer", context.peer()},
                                       {"error", TruncateForLog(parsed.message(), 256)}});
  }
  return parsed;
}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::GetAttendanceReport(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  // The one reading of the clock on arrival: the lookup, the deadline and the latency use it.
  const absl::Time arrival = clock_->Now();
  counters_.Add(kRequests);
  Call* call = new Call(this, Method::kGet, context, response, arrival);
  // The IDs view the request's own bytes: nothing is copied unless the call misses.
  grpc::Slice request_bytes;
  RequestFields parsed;
  absl::Status status = ParseRequest(*request, &request_bytes, &parsed);
  // Delegated mode: a user's token, and user_id "me" or empty.
  std::optional<std::string> user_token;
  const bool me = parsed.user_id.empty() || parsed.user_id == "me";
  // Without delegated mode a request naming its organizer never needs the metadata, which
  // gRPC turns into a map on first reading: not on a cache hit's path.
  if (status.ok() && (me || options_.delegated_mode)) {
    if (const std::optional<absl::string_view> authorization = AuthorizationOf(*context);
        ABSL_PREDICT_FALSE(authorization.has_value())) {
      if (!options_.delegated_mode || options_.delegated == nullptr) {
        // Without delegated mode the metadata is not Rollcall's business, unless the request
        // asks for the signed-in user's meeting.
        if (me && !parsed.session.present) {
          status = common::MakeError(
              absl::StatusCode::kFailedPrecondition,
              "this call carries a user's token and asks for user_id \"me\", but delegated "
              "mode is off on this server (setting delegated_mode); name the organizer in "
              "user_id instead, or ask the operator to turn delegated mode on",
              {std::string(common::reason::kDelegatedModeOff), {}, std::nullopt});
        }
      } else if (parsed.session.present) {
        status = InvalidForDelegated(
            "virtual_event_session",
            "with a user's token (delegated mode) only online meetings are read, through /me: "
            "send meeting_id and report_id, without virtual_event_session");
      } else if (!me) {
        status = InvalidForDelegated(
            "user_id",
            "with a user's token (delegated mode) user_id must be empty or \"me\": the "
            "signed-in user reads only the meetings they organized");
      } else {
        absl::StatusOr<std::string> token = BearerToken(*authorization);
        if (token.ok()) {
          user_token = *std::move(token);
          parsed.user_id = "me";
        } else {
          status = token.status();
        }
      }
    }
  }
  if (status.ok()) status = ValidateRequest(parsed);
  if (ABSL_PREDICT_FALSE(!status.ok() || draining_.load(std::memory_order_acquire)) &&
      Refused(call, Method::kGet, *context, status)) {
    return call;
  }
  if (ABSL_PREDICT_FALSE(user_token.has_value())) {
    // No caller policy: the user's own rights decide what is read, not Rollcall's.
    DelegatedGet(call, *std::move(user_token),
                 DelegatedRequest{std::string(parsed.meeting_id), std::string(parsed.report_id),
                                  parsed.view, arrival,
                                  CallDeadline(*context, arrival, options_.default_deadline),
                                  std::string(TraceparentOf(*context))});
    return call;
  }

  const SourceIds ids = SourceIdsOf(parsed.user_id, parsed.meeting_id, parsed.session);
  if (ABSL_PREDICT_FALSE(caller_policy_ != nullptr) &&
      CallerDenied(call, *context, ResourceOf(ids))) {
    return call;
  }
  const ReportKey key(ReportKindOf(ids.source), ids.first, ids.second, parsed.report_id,
                      parsed.view);
  if (AnswerFromCache(call, key, arrival)) return call;
  Miss(call, key, arrival, *context,
       ReportLoad(ReportRefOf(ids, parsed.report_id), key.with_records()));
  return call;
}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::ListAttendanceReports(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  const absl::Time arrival = clock_->Now();
  counters_.Add(kRequests);
  Call* call = new Call(this, Method::kListReports, context, response, arrival);
  rollcall::v1::ListAttendanceReportsRequest parsed;
  absl::Status status = ParseMessage(*request, &parsed);
  if (status.ok()) status = ValidateRequest(parsed);
  if (Refused(call, Method::kListReports, *context, status)) return call;

  const SourceIds ids = SourceIdsOf(parsed);
  if (caller_policy_ != nullptr && CallerDenied(call, *context, ResourceOf(ids))) return call;
  const ReportKey key(ListKindOf(ids.source), ids.first, ids.second, "",
                      rollcall::v1::REPORT_VIEW_BASIC);
  if (AnswerFromCache(call, key, arrival)) return call;
  graph::MeetingRef ref{std::string(ids.first), std::string(ids.second), ids.source};
  Miss(call, key, arrival, *context,
       [loader = &loader_, ref = std::move(ref), ttl = options_.reports_list_ttl](
           absl::string_view key, absl::Time deadline) {
         return loader->LoadReportsList(key, ref, ttl, deadline);
       });
  return call;
}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::ResolveOnlineMeeting(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  const absl::Time arrival = clock_->Now();
  counters_.Add(kRequests);
  Call* call = new Call(this, Method::kResolve, context, response, arrival);
  rollcall::v1::ResolveOnlineMeetingRequest parsed;
  absl::Status status = ParseMessage(*request, &parsed);
  if (status.ok()) status = ValidateRequest(parsed);
  if (Refused(call, Method::kResolve, *context, status)) return call;
  if (caller_policy_ != nullptr &&
      CallerDenied(call, *context, CallerResource{false, parsed.user_id()})) {
    return call;
  }

  const ReportKey key(KeyKind::kJoinLink, parsed.user_id(), parsed.join_web_url(), "",
                      rollcall::v1::REPORT_VIEW_BASIC);
  if (AnswerFromCache(call, key, arrival)) return call;
  Miss(call, key, arrival, *context,
       [loader = &loader_, user = parsed.user_id(), url = parsed.join_web_url(),
        ttl = options_.meeting_lookup_ttl](absl::string_view key, absl::Time deadline) {
         return loader->LoadMeeting(key, user, url, ttl, deadline);
       });
  return call;
}

grpc::ServerUnaryReactor* AttendanceReportServiceImpl::ListAttendanceRecords(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  const absl::Time arrival = clock_->Now();
  counters_.Add(kRequests);
  Call* call = new Call(this, Method::kListRecords, context, response, arrival);
  rollcall::v1::ListAttendanceRecordsRequest parsed;
  absl::Status status = ParseMessage(*request, &parsed);
  if (status.ok()) status = ValidateRequest(parsed);
  const SourceIds ids = SourceIdsOf(parsed);
  // The records come from the report's FULL entry, the one GetAttendanceReport fills.
  const ReportKey key(ReportKindOf(ids.source), ids.first, ids.second, parsed.report_id(),
                      rollcall::v1::REPORT_VIEW_FULL);
  uint32_t offset = 0;
  if (status.ok() && !parsed.page_token().empty()) {
    absl::StatusOr<uint32_t> opened = page_tokens_->Open(key.encoded(), parsed.page_token());
    if (opened.ok()) {
      offset = *opened;
    } else {
      status = opened.status();
    }
  }
  if (Refused(call, Method::kListRecords, *context, status)) return call;
  if (caller_policy_ != nullptr && CallerDenied(call, *context, ResourceOf(ids))) return call;

  const int page_size = parsed.page_size() > 0 ? parsed.page_size() : kDefaultPageSize;
  if (const CachedReport hit = cache_->Lookup(key, arrival)) {
    counters_.Add(kCacheHits);
    if (hit.negative()) {
      call->FinishNow(nullptr, hit.grpc_error(), CacheOutcome::kNegativeHit);
      return call;
    }
    absl::StatusOr<grpc::ByteBuffer> page =
        RecordsPage(hit, *page_tokens_, key.encoded(), offset, page_size);
    call->FinishNow(page.ok() ? &*page : nullptr,
                    page.ok() ? grpc::Status() : ToGrpcStatus(page.status()),
                    CacheOutcome::kHit);
    return call;
  }
  Reply reply = [tokens = page_tokens_, binding = std::string(key.encoded()), offset,
                 page_size](const CallHandle& handle, const CacheResult& result) {
    absl::StatusOr<grpc::ByteBuffer> page =
        RecordsPage(result.report, *tokens, binding, offset, page_size);
    const CacheOutcome outcome = result.stale ? CacheOutcome::kStale : CacheOutcome::kMiss;
    if (page.ok()) {
      handle.FinishOk(*std::move(page), outcome);
    } else {
      handle.FinishError(ToGrpcStatus(page.status()), outcome);
    }
  };
  Miss(call, key, arrival, *context, ReportLoad(ReportRefOf(ids, parsed.report_id()), true),
       std::move(reply));
  return call;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AttendanceReportServiceImpl::StreamAttendanceRecords(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  const absl::Time arrival = clock_->Now();
  counters_.Add(kRequests);
  auto* stream = new Stream(this, context, arrival);
  rollcall::v1::StreamAttendanceRecordsRequest parsed;
  absl::Status status = ParseMessage(*request, &parsed);
  if (status.ok()) status = ValidateRequest(parsed);
  status = Admit(Method::kStream, *context, status);
  if (!status.ok()) {
    stream->Start(status, CacheOutcome::kNone);
    return stream;
  }
  const SourceIds ids = SourceIdsOf(parsed);
  if (caller_policy_ != nullptr) {
    status = caller_policy_->Authorize(*context, ResourceOf(ids));
    if (!status.ok()) {
      counters_.Add(kCallerDenied);
      stream->Start(status, CacheOutcome::kNone);
      return stream;
    }
  }
  const ReportKey key(ReportKindOf(ids.source), ids.first, ids.second, parsed.report_id(),
                      rollcall::v1::REPORT_VIEW_FULL);
  if (const CachedReport hit = cache_->Lookup(key, arrival)) {
    counters_.Add(kCacheHits);
    if (hit.negative()) {
      stream->Start(hit.error(), CacheOutcome::kNegativeHit);
    } else {
      stream->Start(hit, CacheOutcome::kHit);
    }
    return stream;
  }
  cache_->LoadOrJoin(
      key, CallDeadline(*context, arrival, options_.default_deadline),
      Traced(*context, WithL2(ReportLoad(ReportRefOf(ids, parsed.report_id()), true))),
      [handle = stream->handle()](absl::StatusOr<CacheResult> result) {
        if (handle.started->exchange(true)) return;  // cancelled first
        if (!result.ok()) {
          handle.stream->Start(result.status(), CacheOutcome::kMiss);
        } else {
          handle.stream->Start(result->report,
                               result->stale ? CacheOutcome::kStale : CacheOutcome::kMiss);
        }
      });
  return stream;
}

bool AttendanceReportServiceImpl::AnswerFromCache(Call* call, const ReportKey& key,
                                                  absl::Time arrival) {
  const CachedReport hit = cache_->Lookup(key, arrival);
  if (!hit) return false;
  counters_.Add(kCacheHits);
  if (hit.negative()) {
    // The stored google.rpc.Status is the reply's details, as it is.
    call->FinishNow(nullptr, hit.grpc_error(), CacheOutcome::kNegativeHit);
  } else if (const std::size_t size = hit.bytes().size() + suffixes_.from_cache.size;
             ABSL_PREDICT_FALSE(size > options_.max_reply_bytes)) {
    call->FinishNow(nullptr, ToGrpcStatus(ReplyTooLarge(size, options_.max_reply_bytes)),
                    CacheOutcome::kHit);
  } else {
    grpc::ByteBuffer reply = WithSuffix(hit.bytes(), suffixes_.from_cache);
    call->FinishNow(&reply, grpc::Status(), CacheOutcome::kHit);
  }
  return true;
}

ReportCache::Loader AttendanceReportServiceImpl::Traced(const grpc::ServerContextBase& context,
                                                        ReportCache::Loader loader) {
  std::string traceparent(TraceparentOf(context));
  if (traceparent.empty()) return loader;
  return [traceparent = std::move(traceparent), loader = std::move(loader)](
             absl::string_view key, absl::Time deadline) {
    const graph::TraceContextScope scope(traceparent);
    return loader(key, deadline);
  };
}

ReportCache::Loader AttendanceReportServiceImpl::WithL2(ReportCache::Loader loader) const {
  if (options_.l2 == nullptr) return loader;
  return RedisL2::Wrap(options_.l2, std::move(loader));
}

ReportCache::Loader AttendanceReportServiceImpl::ReportLoad(graph::ReportRef ref,
                                                            bool with_records) {
  // Runs with the latest deadline of the callers waiting for it, not only this one's.
  return [loader = &loader_, ref = std::move(ref), with_records](absl::string_view key,
                                                                 absl::Time deadline) {
    return loader->Load(key, ref, with_records, deadline);
  };
}

void AttendanceReportServiceImpl::Miss(Call* call, const ReportKey& key, absl::Time arrival,
                                       const grpc::CallbackServerContext& context,
                                       ReportCache::Loader loader, Reply reply) {
  const absl::Time deadline = CallDeadline(context, arrival, options_.default_deadline);
  cache_->LoadOrJoin(key, deadline, Traced(context, WithL2(std::move(loader))),
                     AnswerWhenLoaded(call->handle(), std::move(reply)));
}

void AttendanceReportServiceImpl::DelegatedGet(Call* call, std::string user_token,
                                               DelegatedRequest request) {
  const CallHandle handle = call->handle();
  if (std::optional<graph::DelegatedUser> user = options_.delegated->Cached(user_token)) {
    AnswerDelegated(handle, *user, request);
    return;
  }
  ExchangeDone done = [this, handle, request](
                          const absl::StatusOr<graph::DelegatedUser>& user) {
    if (!user.ok()) {
      handle.FinishError(ToGrpcStatus(user.status()), CacheOutcome::kMiss);
      return;
    }
    AnswerDelegated(handle, *user, request);
  };
  // One exchange per user token for every call waiting on it, run off gRPC's threads.
  const auto joined = exchanges_.Join(user_token, request.deadline, done, [&] {
    return options_.exchange_executor->Schedule([this, token = user_token]() {
      const absl::Time deadline = exchanges_.Deadline(token);
      const absl::StatusOr<graph::DelegatedUser> user =
          options_.delegated->Exchange(token, deadline);
      bool again = false;
      for (ExchangeDone& waiter : exchanges_.Take(token, deadline, false, &again)) waiter(user);
    });
  });
  if (joined == SingleFlight<ExchangeDone>::Joined::kNotStarted) {
    common::ErrorDetails details;
    details.reason = std::string(common::reason::kUpstreamOverloaded);
    details.retry_after = absl::Seconds(1);
    handle.FinishError(
        ToGrpcStatus(common::MakeError(absl::StatusCode::kResourceExhausted,
                                       "too many Graph calls and token exchanges are in "
                                       "progress or queued; retry with backoff",
                                       details)),
        CacheOutcome::kNone);
  }
}

void AttendanceReportServiceImpl::AnswerDelegated(const CallHandle& handle,
                                                  const graph::DelegatedUser& user,
                                                  const DelegatedRequest& request) {
  // The user's oid, from what Entra ID returned, keys the report: never another user's copy.
  const ReportKey key(KeyKind::kDelegatedReport, user.identity.oid, request.meeting_id,
                      request.report_id, request.view);
  if (const CachedReport hit = cache_->Lookup(key, clock_->Now())) {
    counters_.Add(kCacheHits);
    if (hit.negative()) {
      handle.FinishError(hit.grpc_error(), CacheOutcome::kNegativeHit);
    } else if (const std::size_t size = hit.bytes().size() + suffixes_.from_cache.size;
               size > options_.max_reply_bytes) {
      handle.FinishError(ToGrpcStatus(ReplyTooLarge(size, options_.max_reply_bytes)),
                         CacheOutcome::kHit);
    } else {
      handle.FinishOk(WithSuffix(hit.bytes(), suffixes_.from_cache), CacheOutcome::kHit);
    }
    return;
  }
  graph::ReportRef ref{"me", request.meeting_id, request.report_id, graph::ReportSource::kMe};
  ReportCache::Loader loader = [loader = &loader_, graph = user.graph, ref = std::move(ref),
                                with_records = key.with_records()](absl::string_view key,
                                                                   absl::Time deadline) {
    return loader->Load(key, ref, with_records, deadline, graph.get());
  };
  if (!request.traceparent.empty()) {
    loader = [traceparent = request.traceparent, loader = std::move(loader)](
                 absl::string_view key, absl::Time deadline) {
      const graph::TraceContextScope scope(traceparent);
      return loader(key, deadline);
    };
  }
  cache_->LoadOrJoin(key, request.deadline, WithL2(std::move(loader)),
                     AnswerWhenLoaded(handle, nullptr));
}

ReportCache::Done AttendanceReportServiceImpl::AnswerWhenLoaded(CallHandle handle,
                                                                Reply reply) const {
  const ReplySuffix* const stale_suffix = &suffixes_.from_cache_stale;
  return
      // Runs on the executor (or at once: a load finished since the Lookup, or the executor
      // refused this one).
      [handle = std::move(handle), stale_suffix, max_bytes = options_.max_reply_bytes,
       reply = std::move(reply)](absl::StatusOr<CacheResult> result) {
        if (!result.ok()) {
          handle.FinishError(ToGrpcStatus(result.status()), CacheOutcome::kMiss);
        } else if (reply != nullptr) {
          reply(handle, *result);
        } else if (const std::size_t size =
                       result->report.bytes().size() + (result->stale ? stale_suffix->size : 0);
                   size > max_bytes) {
          handle.FinishError(ToGrpcStatus(ReplyTooLarge(size, max_bytes)),
                             result->stale ? CacheOutcome::kStale : CacheOutcome::kMiss);
        } else if (result->stale) {
          handle.FinishOk(WithSuffix(result->report.bytes(), *stale_suffix),
                          CacheOutcome::kStale);
        } else {
          handle.FinishOk(grpc::ByteBuffer(&result->report.bytes(), 1), CacheOutcome::kMiss);
        }
      };
}

void AttendanceReportServiceImpl::Answered(Method method, grpc::StatusCode code,
                                           CacheOutcome outcome, absl::Time arrival,
                                           const grpc::ServerContextBase& context) {
  const int index = static_cast<int>(code);
  if (index >= 0 && index < kStatusCodes) counters_.Add(kReplies + index);
  if (observer_ != nullptr) {
    RpcRecord record;
    record.method = MethodName(method);
    record.code = code;
    record.cache = outcome;
    record.latency = clock_->Now() - arrival;
    record.context = &context;
    observer_->OnRpcDone(record);
  }
}

void AttendanceReportServiceImpl::StartDraining() {
  draining_.store(true, std::memory_order_release);
}

bool AttendanceReportServiceImpl::AwaitNoCallsInFlight(absl::Time deadline) const {
  drain_waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool none = false;
  {
    common::MutexLock lock(&mu_);
    while (!(none = calls_in_flight_.load(std::memory_order_seq_cst) == 0) &&
           clock_->Now() < deadline) {
      clock_->WaitUntil(&no_calls_, deadline);
    }
  }
  drain_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return none;
}

void AttendanceReportServiceImpl::AbandonPendingLoads() { loader_.Abandon(); }

void AttendanceReportServiceImpl::CallStarted() {
  calls_in_flight_.fetch_add(1, std::memory_order_relaxed);
}

void AttendanceReportServiceImpl::CallDone() {
  // With AwaitNoCallsInFlight: either its check sees this decrement, or its waiter count is
  // seen here and it is woken under mu_, which it holds from its check until it waits.
  if (calls_in_flight_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      drain_waiters_.load(std::memory_order_seq_cst) > 0) {
    common::MutexLock lock(&mu_);
    no_calls_.SignalAll();
  }
}

bool AttendanceReportServiceImpl::HoldReply(std::size_t bytes) {
  const std::size_t before = held_reply_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (before + bytes <= options_.max_reply_memory) return true;
  held_reply_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  counters_.Add(kRepliesRefused);
  return false;
}

void AttendanceReportServiceImpl::ReleaseReply(std::size_t bytes) {
  held_reply_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
}

AttendanceReportServiceImpl::Stats AttendanceReportServiceImpl::GetStats() const {
  Stats stats;
  stats.requests = counters_.Get(kRequests);
  stats.invalid_requests = counters_.Get(kInvalidRequests);
  stats.cache_hits = counters_.Get(kCacheHits);
  stats.refused_draining = counters_.Get(kRefusedDraining);
  stats.caller_denied = counters_.Get(kCallerDenied);
  stats.replies_refused = counters_.Get(kRepliesRefused);
  stats.held_reply_bytes = held_reply_bytes_.load(std::memory_order_relaxed);
  for (int i = 0; i < kStatusCodes; ++i) stats.replies_by_code[i] = counters_.Get(kReplies + i);
  const ReportLoader::Stats loader = loader_.GetStats();
  stats.graph_fetches = loader.graph_fetches;
  stats.graph_errors = loader.graph_errors;
  stats.graph_errors_by_reason = loader.graph_errors_by_reason;
  stats.calls_in_flight = calls_in_flight_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace rollcall::service
