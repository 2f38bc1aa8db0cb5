// The emulator's own latency for the GET that Rollcall makes on a miss, made directly with the
// same HTTP stack (libcurl, keep-alive HTTPS, verified certificates) and a bearer token from the
// same token endpoint: what a miss costs without the facade. Prints one JSON object.
//
//   bench_direct_get --graph URL --ca CA.pem --tenant T --client-id C --user U --meeting M
//                    --prefix miss- --start 1000 --count 1000 [--expand 1]
//   (the client secret comes from AZURE_CLIENT_SECRET)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "bench/latency.h"
#include "graph_client/graph_client.h"
#include "graph_client/http_transport.h"
#include "graph_client/token_credential.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"expand", "1"}, {"start", "0"}, {"count", "100"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[std::string(argv[i]).substr(2)] = argv[i + 1];
  const char* secret = std::getenv("AZURE_CLIENT_SECRET");
  if (secret == nullptr || flags["graph"].empty()) {
    std::fprintf(stderr, "see the usage at the top of direct_get.cc\n");
    return 2;
  }
  using namespace rollcall::graph;
  CurlTransportOptions transport_options;
  transport_options.ca_bundle_path = flags["ca"];
  transport_options.max_response_bytes = 256u << 20;
  std::shared_ptr<HttpTransport> transport = MakeCurlTransport(transport_options);
  TokenCredentialConfig credential_options;
  credential_options.authority_host = flags["graph"] + "/";
  credential_options.tenant_id = flags["tenant"];
  credential_options.client_id = flags["client-id"];
  credential_options.client_secret = secret;
  auto credential = MakeTokenCredential(credential_options, transport, rollcall::common::SystemClock());
  if (!credential.ok()) return 1;
  auto token = (*credential)->GetToken(absl::Now() + absl::Seconds(30));
  if (!token.ok()) return 1;

  const int start = std::atoi(flags["start"].c_str());
  const int count = std::atoi(flags["count"].c_str());
  std::vector<double> ms;
  for (int i = start; i < start + count; ++i) {
    HttpRequest request;
    request.url = flags["graph"] + "/v1.0/users/" + EncodePathSegment(flags["user"]) +
                  "/onlineMeetings/" + EncodePathSegment(flags["meeting"]) +
                  "/attendanceReports/" + EncodePathSegment(flags["prefix"] + std::to_string(i)) +
                  (flags["expand"] == "1" ? "?$expand=attendanceRecords" : "");
    request.headers = {{"Authorization", "Bearer " + token->token}, {"Accept", "application/json"}};
    const auto t0 = std::chrono::steady_clock::now();
    auto response = transport->Send(request);
    const auto t1 = std::chrono::steady_clock::now();
    if (!response.ok() || response->status != 200) {
      std::fprintf(stderr, "GET %s failed\n", request.url.c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  rollcall::bench::PrintLatencies(std::move(ms));
  return 0;
}
