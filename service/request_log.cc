#include "service/request_log.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "graph_client/trace_context.h"
#include "service/caller_policy.h"
#include "service/metrics.h"

namespace rollcall::service {
namespace {

double Milliseconds(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

absl::string_view TraceparentOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("traceparent");
  if (it == metadata.end()) return {};
  const absl::string_view value(it->second.data(), it->second.size());
  return graph::IsValidTraceparent(value) ? value : absl::string_view();
}

RequestLog::RequestLog(Logger* logger, RpcObserver* next_rpc,
                       graph::GraphCallObserver* next_graph)
    : logger_(logger), next_rpc_(next_rpc), next_graph_(next_graph) {}

void RequestLog::OnRpcDone(const RpcRecord& record) {
  if (next_rpc_ != nullptr) next_rpc_->OnRpcDone(record);
  const bool hit =
      record.cache == CacheOutcome::kHit || record.cache == CacheOutcome::kNegativeHit;
  const LogLevel level = hit ? LogLevel::kDebug : LogLevel::kInfo;
  if (!logger_->Enabled(level)) return;
  std::vector<LogField> fields = {{"method", record.method},
                                  {"code", GrpcCodeName(static_cast<int>(record.code))},
                                  {"cache", CacheOutcomeName(record.cache)},
                                  {"latency_ms", Milliseconds(record.latency)}};
  std::string caller;
  absl::string_view trace_id;
  if (record.context != nullptr) {
    trace_id = graph::TraceIdOf(TraceparentOf(*record.context));
    if (const auto auth = record.context->auth_context();
        auth != nullptr && auth->IsPeerAuthenticated()) {
      const std::vector<std::string> identities = CallerIdentities(*auth);
      if (!identities.empty()) caller = TruncateForLog(identities.front());
    }
  }
  if (!caller.empty()) fields.emplace_back("caller", caller);
  if (!trace_id.empty()) fields.emplace_back("trace_id", trace_id);
  logger_->Log(level, "rpc", fields);
}

void RequestLog::OnGraphCall(const graph::GraphCallRecord& record) {
  if (next_graph_ != nullptr) next_graph_->OnGraphCall(record);
  if (!logger_->Enabled(LogLevel::kInfo)) return;
  std::vector<LogField> fields = {{"endpoint", record.endpoint},
                                  {"http_status", static_cast<int64_t>(record.http_status)},
                                  {"latency_ms", Milliseconds(record.latency)},
                                  {"attempt", record.attempt}};
  const std::string request_id = TruncateForLog(record.request_id);
  const std::string client_request_id = TruncateForLog(record.client_request_id);
  if (!request_id.empty()) fields.emplace_back("graph_request_id", request_id);
  if (!client_request_id.empty()) fields.emplace_back("graph_client_request_id", client_request_id);
  const absl::string_view trace_id = graph::TraceIdOf(graph::CurrentTraceparent());
  if (!trace_id.empty()) fields.emplace_back("trace_id", trace_id);
  logger_->Info("graph call", fields);
}

}  // namespace rollcall::service
