#pragma once
// A GraphClient for service tests: counts calls, answers with a canned report or a canned
// error, and can hold every call until the test opens a gate.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "graph_client/graph_client.h"
#include "rollcall/v1/attendance.pb.h"
#include "tests/testing/notification.h"

namespace rollcall::service::test {

// A report like Graph's documentation sample: two records, ended long ago.
inline rollcall::v1::MeetingAttendanceReport SampleReport(bool with_records = true) {
  rollcall::v1::MeetingAttendanceReport report;
  report.set_id("c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
  report.set_total_participant_count(2);
  report.mutable_meeting_start_date_time()->set_seconds(1616094000);  // 2021-03-18T18:40:00Z
  report.mutable_meeting_end_date_time()->set_seconds(1616097600);
  if (with_records) {
    for (const char* name : {"Frederick Cormier", "Lisa Adkins"}) {
      rollcall::v1::AttendanceRecord* record = report.add_attendance_records();
      record->set_email_address(std::string(name) + "@contoso.com");
      record->set_total_attendance_in_seconds(322);
      record->set_role("Organizer");
      record->mutable_identity()->set_id("dc17674c-81d9-4adb-bfb2-8f6a442e4623");
      record->mutable_identity()->set_display_name(name);
      rollcall::v1::AttendanceInterval* interval = record->add_attendance_intervals();
      interval->mutable_join_date_time()->set_seconds(1616094100);
      interval->mutable_leave_date_time()->set_seconds(1616094422);
      interval->set_duration_in_seconds(322);
    }
  }
  return report;
}

class FakeGraphClient final : public graph::GraphClient {
 public:
  // One call of any kind: GetAttendanceReport (kind kGet), ListAttendanceReports (kList: ref
  // holds the meeting, report_id empty) or FindOnlineMeeting (kFind: ref.user_id, and
  // ref.meeting_id holds the join link).
  enum class Kind { kGet, kList, kFind };
  struct Call {
    graph::ReportRef ref;
    bool with_records;
    absl::Time deadline;
    Kind kind = Kind::kGet;
  };

  using graph::GraphClient::GetAttendanceReport;

  absl::Status GetAttendanceReport(const graph::ReportRef& ref, bool with_records,
                                   absl::Time deadline,
                                   rollcall::v1::MeetingAttendanceReport* out) override {
    out->Clear();
    if (absl::Status status = Begin(Call{ref, with_records, deadline, Kind::kGet});
        !status.ok()) {
      return status;
    }
    common::MutexLock lock(&mu_);
    out->CopyFrom(report_);
    if (!with_records) out->clear_attendance_records();
    return absl::OkStatus();
  }

  // The canned report, without records, as the one report of every meeting.
  absl::Status ListAttendanceReports(const graph::MeetingRef& ref, absl::Time deadline,
                                     rollcall::v1::ListAttendanceReportsResponse* out) override {
    out->clear_reports();
    if (absl::Status status =
            Begin(Call{{ref.user_id, ref.meeting_id, "", ref.source}, false, deadline,
                       Kind::kList});
        !status.ok()) {
      return status;
    }
    common::MutexLock lock(&mu_);
    *out->add_reports() = report_;
    out->mutable_reports(0)->clear_attendance_records();
    return absl::OkStatus();
  }

  // A meeting whose ID is "meeting-of:" + the join link.
  absl::Status FindOnlineMeeting(absl::string_view user_id, absl::string_view join_web_url,
                                 absl::Time deadline,
                                 rollcall::v1::OnlineMeeting* meeting) override {
    meeting->Clear();
    if (absl::Status status =
            Begin(Call{{std::string(user_id), std::string(join_web_url), ""}, false, deadline,
                       Kind::kFind});
        !status.ok()) {
      return status;
    }
    meeting->set_id(absl::StrCat("meeting-of:", join_web_url));
    meeting->set_join_web_url(std::string(join_web_url));
    return absl::OkStatus();
  }

  // Later calls block until `gate` is notified (null: they don't). `gate` must outlive them.
  void SetGate(rollcall::testing::Notification* gate) {
    common::MutexLock lock(&mu_);
    gate_ = gate;
  }
  void SetReport(rollcall::v1::MeetingAttendanceReport report) {
    common::MutexLock lock(&mu_);
    report_ = std::move(report);
  }
  void SetError(absl::Status error) {
    common::MutexLock lock(&mu_);
    error_ = std::move(error);
  }
  // What Stats() reports.
  void SetStats(const graph::GraphClientStats& stats) {
    common::MutexLock lock(&mu_);
    stats_ = stats;
  }
  graph::GraphClientStats Stats() const override {
    common::MutexLock lock(&mu_);
    return stats_;
  }
  int call_count() const {
    common::MutexLock lock(&mu_);
    return static_cast<int>(calls_.size());
  }
  std::vector<Call> calls() const {
    common::MutexLock lock(&mu_);
    return calls_;
  }
  // Blocks until at least `n` calls have started; false after `timeout` of real time (a safety
  // net: only a failing test waits it out, so it is on the wall clock, not a test's FakeClock).
  bool AwaitCalls(int n, absl::Duration timeout) const {
    const common::Clock* const wall = common::SystemClock();
    const absl::Time deadline = wall->Now() + timeout;
    common::MutexLock lock(&mu_);
    while (static_cast<int>(calls_.size()) < n) {
      if (wall->Now() >= deadline) return false;
      wall->WaitUntil(&call_started_, deadline);
    }
    return true;
  }

 private:
  // Records the call, waits at the gate if one is set, and returns the canned error (OK when
  // none).
  absl::Status Begin(Call call) {
    rollcall::testing::Notification* gate = nullptr;
    {
      common::MutexLock lock(&mu_);
      calls_.push_back(std::move(call));
      gate = gate_;
      call_started_.SignalAll();
    }
    if (gate != nullptr) gate->WaitForNotification();
    common::MutexLock lock(&mu_);
    return error_;
  }

  mutable common::Mutex mu_;
  // Signalled at each call, for AwaitCalls.
  mutable common::CondVar call_started_{&mu_};
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  rollcall::testing::Notification* gate_ ABSL_GUARDED_BY(mu_) = nullptr;
  rollcall::v1::MeetingAttendanceReport report_ ABSL_GUARDED_BY(mu_) = SampleReport();
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  graph::GraphClientStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rollcall::service::test
