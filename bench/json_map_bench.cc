// json_map: Rollcall's RapidJSON mapping (graph_client/json_mapping.h) against protobuf's own
// JsonStringToMessage into the same message. proto3 JSON names are Graph's property names, so
// protobuf's parser is also a correctness oracle: both must give equal messages on every shared
// example body and on the large body. Prints one JSON object per line.
//
//   bench_json_map LARGE_BODY.json EXAMPLES_DIR [seconds_per_side=3]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph_client/json_mapping.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "rollcall/v1/attendance.pb.h"

namespace {

using rollcall::v1::MeetingAttendanceReport;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Graph's annotation "@odata.type" is the proto field odata_type, whose proto3 JSON name is
// "odataType": rename it so protobuf's parser sees what Rollcall's mapping sees. Other
// annotations (@odata.context, @odata.nextLink) are metadata that both leave out.
void RenameODataType(rapidjson::Value& v, rapidjson::Document::AllocatorType& a) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (std::string(m.name.GetString()) == "@odata.type") m.name.SetString("odataType", a);
      RenameODataType(m.value, a);
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) RenameODataType(e, a);
  }
}

// The body as protobuf's parser should read it: a records page {"value": [...]} becomes a report
// holding those records.
std::string OracleJson(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  auto& a = doc.GetAllocator();
  if (doc.HasMember("value")) {
    rapidjson::Value records(doc["value"], a);
    doc.SetObject();
    doc.AddMember("attendanceRecords", records, a);
  }
  RenameODataType(doc, a);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return buffer.GetString();
}

bool ParseWithRollcall(const std::string& body, MeetingAttendanceReport* out) {
  if (body.find("\"value\"") != std::string::npos) {
    std::string next;
    out->Clear();
    return rollcall::graph::ParseAttendanceRecordsPage(body, out, &next).ok();
  }
  auto report = rollcall::graph::ParseAttendanceReport(body);
  if (!report.ok()) return false;
  *out = std::move(*report);
  return true;
}

bool ParseWithProtobuf(const std::string& oracle_json, MeetingAttendanceReport* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  out->Clear();
  return google::protobuf::util::JsonStringToMessage(oracle_json, out, options).ok();
}

template <typename Fn>
double MegabytesPerSecond(const std::string& body, double seconds, Fn parse) {
  using Clock = std::chrono::steady_clock;
  parse();  // warm-up
  int iterations = 0;
  const auto start = Clock::now();
  std::chrono::duration<double> elapsed{};
  do {
    parse();
    ++iterations;
    elapsed = Clock::now() - start;
  } while (elapsed.count() < seconds);
  return body.size() * static_cast<double>(iterations) / elapsed.count() / 1e6;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_json_map LARGE_BODY.json EXAMPLES_DIR [seconds]\n");
    return 2;
  }
  const std::string large = ReadFile(argv[1]);
  const double seconds = argc > 3 ? std::stod(argv[3]) : 3.0;

  // Correctness first: equal messages on every shared report or records body, and the large one.
  std::vector<std::string> bodies;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(argv[2])) {
    const std::string name = entry.path().filename().string();
    if ((name.rfind("get-meetingattendancereport", 0) == 0 ||
         name.rfind("list-attendancerecords", 0) == 0) &&
        entry.path().extension() == ".json") {
      names.push_back(name);
      bodies.push_back(ReadFile(entry.path().string()));
    }
  }
  names.push_back("large");
  bodies.push_back(large);
  bool all_equal = names.size() > 1;
  for (size_t i = 0; i < bodies.size(); ++i) {
    MeetingAttendanceReport ours, theirs;
    const bool ok_ours = ParseWithRollcall(bodies[i], &ours);
    const bool ok_theirs = ParseWithProtobuf(OracleJson(bodies[i]), &theirs);
    std::string diff;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    const bool equal = ok_ours && ok_theirs && differencer.Compare(ours, theirs);
    all_equal = all_equal && equal;
    std::printf("{\"measurement\":\"json_map_equal\",\"body\":\"%s\",\"equal\":%s}\n",
                names[i].c_str(), equal ? "true" : "false");
    if (!equal) std::fprintf(stderr, "%s differs:\n%s\n", names[i].c_str(), diff.c_str());
  }

  // Throughput: both parsers build a fresh message from the body each time, as a cache miss
  // does, each on a fresh protobuf arena as the server's is (protobuf parsing into one reused
  // message would keep its 10,000 records allocated and skip most of the work; parsing into a
  // heap message would pay per-object allocation that the arena saves Rollcall). Short rounds,
  // alternating, so that a noisy moment on this shared machine hits both; the speedup is the
  // median of the rounds' ratios.
  const std::string oracle = OracleJson(large);
  int records = 0;
  const auto ours = [&] {
    google::protobuf::Arena arena;
    auto* report = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
    if (!rollcall::graph::ParseAttendanceReport(large, report).ok()) std::abort();
    records = report->attendance_records_size();
  };
  const auto theirs = [&] {
    google::protobuf::Arena arena;
    auto* fresh = google::protobuf::Arena::CreateMessage<MeetingAttendanceReport>(&arena);
    if (!ParseWithProtobuf(oracle, fresh)) std::abort();
  };
  constexpr int kRounds = 7;
  const double round_seconds = std::max(0.2, seconds / kRounds);
  std::vector<double> ours_mb, theirs_mb, ratios;
  for (int round = 0; round < kRounds; ++round) {
    ours_mb.push_back(MegabytesPerSecond(large, round_seconds, ours));
    theirs_mb.push_back(MegabytesPerSecond(oracle, round_seconds, theirs));
    ratios.push_back(ours_mb.back() / theirs_mb.back());
  }
  std::printf(
      "{\"measurement\":\"json_map\",\"body_bytes\":%zu,\"records\":%d,\"rounds\":%d,"
      "\"rollcall_mb_per_s\":%.1f,\"protobuf_json_mb_per_s\":%.1f,\"speedup\":%.2f,"
      "\"speedup_min\":%.2f,\"speedup_max\":%.2f,\"equal\":%s}\n",
      large.size(), records, kRounds, Median(ours_mb), Median(theirs_mb), Median(ratios),
      *std::min_element(ratios.begin(), ratios.end()),
      *std::max_element(ratios.begin(), ratios.end()), all_equal ? "true" : "false");
  return all_equal ? 0 : 1;
}
