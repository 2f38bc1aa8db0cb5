#pragma once
// The log lines that let a person follow one request from its caller to Graph and back:
//   - "rpc": one per answered RPC: method, code, cache outcome, latency_ms, the caller's
//     certificate identity (mutual TLS) and trace_id (from its W3C traceparent) when known.
//     Cache hits are written at debug, everything else at info, so that the production level
//     (info) logs each call that cost something and none of the cheap ones.
//   - "graph call": one per HTTP exchange with Graph or the token endpoint, at info: endpoint,
//     http_status (0: no answer), latency_ms, attempt, Graph's request_id and the
//     client_request_id Rollcall sent (what a Microsoft support case cites; callers receive
//     both in ErrorInfo when the call fails), and the trace_id of the caller it was made for.
// Each forwards its record to the next observer (the metrics) first. Thread-safe; cheap when
// its level is off.

#include "graph_client/graph_call_observer.h"
#include "service/log.h"
#include "service/rpc_observer.h"

namespace rollcall::service {

class RequestLog final : public RpcObserver, public graph::GraphCallObserver {
 public:
  // `logger` outlives this; `next_rpc` and `next_graph` may be null.
  RequestLog(Logger* logger, RpcObserver* next_rpc, graph::GraphCallObserver* next_graph);

  void OnRpcDone(const RpcRecord& record) override;
  void OnGraphCall(const graph::GraphCallRecord& record) override;

 private:
  Logger* const logger_;
  RpcObserver* const next_rpc_;
  graph::GraphCallObserver* const next_graph_;
};

}  // namespace rollcall::service
