// rollcallctl: Rollcall from the command line, for people and scripts.
//
//   rollcallctl get     --target HOST:PORT --user U --meeting M --report R [--basic]
//   rollcallctl list    --target HOST:PORT --user U --meeting M
//   rollcallctl records --target HOST:PORT --user U --meeting M --report R [--page-size N]
//   rollcallctl resolve --target HOST:PORT --user U --join-url URL
//
// A webinar or town hall session instead of --meeting: --webinar EVENT --session S, or
// --townhall EVENT --session S. Common flags: --json (the reply as proto3 JSON, errors as one JSON
// object), --deadline 30s, --tz ZONE (default: $TZ, else the system's), --ca FILE [--cert FILE
// --key FILE] for TLS (without --ca: plaintext). --target defaults to $ROLLCALL_TARGET.
// Exit codes: rollcallctl --help (ctl_format.h).

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cpp/ctl_format.h"
#include "google/protobuf/util/json_util.h"
#include "rollcall/v1/attendance.grpc.pb.h"

namespace {

namespace v1 = rollcall::v1;
using rollcall::ctl::ExitCode;

constexpr char kUsage[] = R"(usage: rollcallctl VERB --target HOST:PORT [flags]

verbs:
  get      --user U --meeting M --report R [--basic]   one attendance report and its records
  list     --user U --meeting M                        a meeting's attendance reports
  records  --user U --meeting M --report R [--page-size N]
                                                       a report's records, page by page
  resolve  --user U --join-url URL                     the meeting a join link names

  Instead of --meeting: --webinar EVENT --session S, or --townhall EVENT --session S.

flags:
  --target HOST:PORT  the Rollcall server (default: $ROLLCALL_TARGET)
  --json              print the reply as proto3 JSON (errors as {"error": {...}} on stdout)
  --deadline 30s      how long to wait for the reply
  --tz ZONE           time zone of the times shown (default: $TZ, else the system's)
  --ca FILE           the server's CA (PEM): speak TLS; without it, plaintext
  --cert FILE --key FILE
                      this client's certificate and key, for a server that asks for one

exit codes:
  0 done; 1 another error (INTERNAL, UNKNOWN, ...); 2 a bad command line, nothing sent;
  3 NOT_FOUND; 4 INVALID_ARGUMENT; 5 PERMISSION_DENIED or UNAUTHENTICATED;
  6 FAILED_PRECONDITION (the service's own setup); 7 UNAVAILABLE, RESOURCE_EXHAUSTED or
  DEADLINE_EXCEEDED (try again later)
)";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "rollcallctl: %s\n\n%s", problem.c_str(), kUsage);
  return ExitCode::kUsage;
}

struct CommandLine {
  std::string verb;
  std::map<std::string, std::string> flags;
  bool json = false;
  bool basic = false;

  std::string Get(const std::string& name) const {
    auto it = flags.find(name);
    return it == flags.end() ? "" : it->second;
  }
  bool Has(const std::string& name) const { return flags.count(name) > 0; }
};

// Parses argv; an error names the problem.
bool Parse(int argc, char** argv, CommandLine* line, std::string* problem) {
  static const std::set<std::string> kValued = {
      "target", "user", "meeting", "report", "webinar", "townhall", "session", "join-url",
      "page-size", "deadline", "tz", "ca", "cert", "key"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!absl::StartsWith(arg, "--")) {
      if (!line->verb.empty()) {
        *problem = absl::StrCat("unexpected argument \"", arg, "\"");
        return false;
      }
      line->verb = arg;
      continue;
    }
    std::string name = arg.substr(2), value;
    const std::size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "json" || name == "basic") {
      (name == "json" ? line->json : line->basic) = true;
      continue;
    }
    if (kValued.count(name) == 0) {
      *problem = absl::StrCat("unknown flag --", name);
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        *problem = absl::StrCat("--", name, " needs a value");
        return false;
      }
      value = argv[++i];
    }
    line->flags[name] = value;
  }
  return true;
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  *ok = in.good() || in.eof();
  return text.str();
}

// The session a request names, when --webinar or --townhall is given.
bool SessionOf(const CommandLine& line, v1::VirtualEventSession* session, std::string* problem) {
  const bool webinar = line.Has("webinar"), townhall = line.Has("townhall");
  if (!webinar && !townhall) return true;
  if (webinar && townhall) {
    *problem = "give --webinar or --townhall, not both";
    return false;
  }
  if (line.Has("meeting")) {
    *problem = "give --meeting or a session (--webinar/--townhall with --session), not both";
    return false;
  }
  session->set_kind(webinar ? v1::VIRTUAL_EVENT_KIND_WEBINAR : v1::VIRTUAL_EVENT_KIND_TOWN_HALL);
  session->set_event_id(line.Get(webinar ? "webinar" : "townhall"));
  session->set_session_id(line.Get("session"));
  return true;
}

template <typename Response>
void PrintJson(const Response& response) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(response, &json, options);
  std::cout << json;
}

int Failed(const CommandLine& line, const grpc::Status& status) {
  if (line.json) {
    std::cout << rollcall::ctl::ErrorJson(status);
  } else {
    std::cerr << rollcall::ctl::ErrorText(status);
  }
  return rollcall::ctl::ExitCodeFor(status.error_code());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return ExitCode::kOk;
    }
  }
  CommandLine line;
  std::string problem;
  if (!Parse(argc, argv, &line, &problem)) return Usage(problem);
  static const std::set<std::string> kVerbs = {"get", "list", "records", "resolve"};
  if (line.verb.empty()) return Usage("no verb (get, list, records or resolve)");
  if (kVerbs.count(line.verb) == 0) return Usage(absl::StrCat("unknown verb \"", line.verb, "\""));
  if (!line.Has("target")) {
    if (const char* target = std::getenv("ROLLCALL_TARGET"); target != nullptr && *target) {
      line.flags["target"] = target;
    } else {
      return Usage("no --target (or $ROLLCALL_TARGET)");
    }
  }
  std::vector<std::string> required = {"user"};
  if (line.verb == "resolve") {
    required.push_back("join-url");
  } else {
    if (!line.Has("webinar") && !line.Has("townhall")) required.push_back("meeting");
    if (line.Has("webinar") || line.Has("townhall")) required.push_back("session");
    if (line.verb != "list") required.push_back("report");
  }
  for (const std::string& name : required) {
    if (!line.Has(name)) return Usage(absl::StrCat(line.verb, " needs --", name));
  }
  v1::VirtualEventSession session;
  if (!SessionOf(line, &session, &problem)) return Usage(problem);
  const bool has_session = session.kind() != v1::VIRTUAL_EVENT_KIND_UNSPECIFIED;

  absl::Duration deadline = absl::Seconds(30);
  if (line.Has("deadline") &&
      (!absl::ParseDuration(line.Get("deadline"), &deadline) || deadline <= absl::ZeroDuration())) {
    return Usage("--deadline must be a duration such as 30s or 2m");
  }
  int page_size = 0;
  if (line.Has("page-size") && (!absl::SimpleAtoi(line.Get("page-size"), &page_size) ||
                                page_size < 1 || page_size > 1000)) {
    return Usage("--page-size must be a whole number from 1 to 1000");
  }
  absl::TimeZone zone = absl::LocalTimeZone();
  if (line.Has("tz") && !absl::LoadTimeZone(line.Get("tz"), &zone)) {
    return Usage(absl::StrCat("unknown time zone \"", line.Get("tz"), "\" (an IANA name such as Europe/Berlin)"));
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (line.Has("ca")) {
    grpc::SslCredentialsOptions tls;
    bool ok = true;
    tls.pem_root_certs = ReadFile(line.Get("ca"), &ok);
    if (!ok || tls.pem_root_certs.empty()) return Usage("cannot read the --ca file");
    if (line.Has("cert") != line.Has("key")) return Usage("give --cert and --key together");
    if (line.Has("cert")) {
      tls.pem_cert_chain = ReadFile(line.Get("cert"), &ok);
      if (!ok) return Usage("cannot read the --cert file");
      tls.pem_private_key = ReadFile(line.Get("key"), &ok);
      if (!ok) return Usage("cannot read the --key file");
    }
    credentials = grpc::SslCredentials(tls);
  } else if (line.Has("cert") || line.Has("key")) {
    return Usage("--cert and --key need --ca (TLS)");
  }
  auto stub = v1::AttendanceReportService::NewStub(grpc::CreateChannel(line.Get("target"), credentials));
  const auto context_for_call = [&](grpc::ClientContext* context) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  };

  if (line.verb == "get") {
    v1::GetAttendanceReportRequest request;
    request.set_user_id(line.Get("user"));
    request.set_meeting_id(line.Get("meeting"));
    request.set_report_id(line.Get("report"));
    request.set_view(line.basic ? v1::REPORT_VIEW_BASIC : v1::REPORT_VIEW_FULL);
    if (has_session) *request.mutable_virtual_event_session() = session;
    grpc::ClientContext context;
    context_for_call(&context);
    v1::GetAttendanceReportResponse response;
    const grpc::Status status = stub->GetAttendanceReport(&context, request, &response);
    if (!status.ok()) return Failed(line, status);
    if (line.json) {
      PrintJson(response);
    } else {
      std::cout << rollcall::ctl::ReportText(response, zone);
    }
    return ExitCode::kOk;
  }

  if (line.verb == "list") {
    v1::ListAttendanceReportsRequest request;
    request.set_user_id(line.Get("user"));
    request.set_meeting_id(line.Get("meeting"));
    if (has_session) *request.mutable_virtual_event_session() = session;
    grpc::ClientContext context;
    context_for_call(&context);
    v1::ListAttendanceReportsResponse response;
    const grpc::Status status = stub->ListAttendanceReports(&context, request, &response);
    if (!status.ok()) return Failed(line, status);
    if (line.json) {
      PrintJson(response);
    } else {
      std::cout << rollcall::ctl::ReportsTable(response, zone);
    }
    return ExitCode::kOk;
  }

  if (line.verb == "records") {
    // Every page, in order; --json prints the records together as one ListAttendanceRecords
    // reply (without a next page token).
    v1::ListAttendanceRecordsRequest request;
    request.set_user_id(line.Get("user"));
    request.set_meeting_id(line.Get("meeting"));
    request.set_report_id(line.Get("report"));
    request.set_page_size(page_size);
    if (has_session) *request.mutable_virtual_event_session() = session;
    v1::ListAttendanceRecordsResponse all;
    for (;;) {
      grpc::ClientContext context;
      context_for_call(&context);
      v1::ListAttendanceRecordsResponse page;
      const grpc::Status status = stub->ListAttendanceRecords(&context, request, &page);
      if (!status.ok()) return Failed(line, status);
      all.mutable_attendance_records()->MergeFrom(page.attendance_records());
      all.set_total_records(page.total_records());
      *all.mutable_graph_fetch_time() = page.graph_fetch_time();
      if (page.next_page_token().empty()) break;
      request.set_page_token(page.next_page_token());
    }
    if (line.json) {
      PrintJson(all);
    } else {
      std::cout << rollcall::ctl::RecordsTable(all.attendance_records(), zone);
    }
    return ExitCode::kOk;
  }

  v1::ResolveOnlineMeetingRequest request;
  request.set_user_id(line.Get("user"));
  request.set_join_web_url(line.Get("join-url"));
  grpc::ClientContext context;
  context_for_call(&context);
  v1::ResolveOnlineMeetingResponse response;
  const grpc::Status status = stub->ResolveOnlineMeeting(&context, request, &response);
  if (!status.ok()) return Failed(line, status);
  if (line.json) {
    PrintJson(response);
  } else {
    std::cout << rollcall::ctl::MeetingText(response, zone);
  }
  return ExitCode::kOk;
}
