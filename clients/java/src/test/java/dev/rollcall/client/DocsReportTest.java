package dev.rollcall.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.protobuf.Timestamp;
import dev.rollcall.v1.AttendanceInterval;
import dev.rollcall.v1.AttendanceRecord;
import dev.rollcall.v1.AttendanceReportServiceGrpc;
import dev.rollcall.v1.AttendanceReportServiceGrpc.AttendanceReportServiceBlockingStub;
import dev.rollcall.v1.GetAttendanceReportRequest;
import dev.rollcall.v1.GetAttendanceReportResponse;
import dev.rollcall.v1.Identity;
import dev.rollcall.v1.MeetingAttendanceReport;
import dev.rollcall.v1.ReportView;
import io.grpc.ManagedChannel;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Graph docs' example report, over GetAttendanceReport, field by field against dataset.json. */
class DocsReportTest {
  private static ManagedChannel channel;

  @BeforeAll
  static void connect() {
    channel = Live.channel();
  }

  @AfterAll
  static void disconnect() throws InterruptedException {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static AttendanceReportServiceBlockingStub stub() {
    return AttendanceReportServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private static GetAttendanceReportRequest.Builder docsRequest() {
    return GetAttendanceReportRequest.newBuilder()
        .setUserId(Live.DOCS_USER)
        .setMeetingId(Live.DOCS_MEETING)
        .setReportId(Live.DOCS_REPORT);
  }

  @Test
  void docsReportEqualsTheDatasetFieldByField() throws Exception {
    JsonObject expected = Live.datasetDocsReport();
    GetAttendanceReportResponse response = stub().getAttendanceReport(docsRequest().build());
    MeetingAttendanceReport report = response.getReport();

    assertEquals(expected.get("id").getAsString(), report.getId());
    assertEquals(Live.DOCS_REPORT, report.getId());
    assertTrue(report.hasTotalParticipantCount());
    assertEquals(expected.get("totalParticipantCount").getAsInt(), report.getTotalParticipantCount());
    assertTime(expected, "meetingStartDateTime", report.hasMeetingStartDateTime(),
        report.getMeetingStartDateTime(), "report");
    assertTime(expected, "meetingEndDateTime", report.hasMeetingEndDateTime(),
        report.getMeetingEndDateTime(), "report");
    assertEquals(0, report.getExternalEventInformationCount());
    assertEquals(0, report.getAdditionalProperties().getFieldsCount());

    JsonArray records = expected.getAsJsonArray("attendanceRecords");
    assertEquals(records.size(), report.getAttendanceRecordsCount(), "records");
    assertEquals(1, records.size(), "the docs example has one record");
    for (int r = 0; r < records.size(); ++r) {
      JsonObject want = records.get(r).getAsJsonObject();
      AttendanceRecord got = report.getAttendanceRecords(r);
      String where = "record " + r;
      assertString(want, "id", got.hasId(), got.getId(), where);
      assertString(want, "emailAddress", got.hasEmailAddress(), got.getEmailAddress(), where);
      assertString(want, "role", got.hasRole(), got.getRole(), where);
      assertInt(want, "totalAttendanceInSeconds", got.hasTotalAttendanceInSeconds(),
          got.getTotalAttendanceInSeconds(), where);

      JsonObject wantIdentity = want.getAsJsonObject("identity");
      Identity identity = got.getIdentity();
      assertTrue(got.hasIdentity(), where + " identity");
      assertString(wantIdentity, "id", identity.hasId(), identity.getId(), where + " identity");
      assertString(wantIdentity, "displayName", identity.hasDisplayName(),
          identity.getDisplayName(), where + " identity");
      assertString(wantIdentity, "tenantId", identity.hasTenantId(), identity.getTenantId(),
          where + " identity");
      assertFalse(identity.hasOdataType(), where + " identity @odata.type");

      JsonArray intervals = want.getAsJsonArray("attendanceIntervals");
      assertEquals(intervals.size(), got.getAttendanceIntervalsCount(), where + " intervals");
      int sum = 0;
      for (int i = 0; i < intervals.size(); ++i) {
        JsonObject wantInterval = intervals.get(i).getAsJsonObject();
        AttendanceInterval interval = got.getAttendanceIntervals(i);
        String at = where + " interval " + i;
        assertTime(wantInterval, "joinDateTime", interval.hasJoinDateTime(),
            interval.getJoinDateTime(), at);
        assertTime(wantInterval, "leaveDateTime", interval.hasLeaveDateTime(),
            interval.getLeaveDateTime(), at);
        assertInt(wantInterval, "durationInSeconds", interval.hasDurationInSeconds(),
            interval.getDurationInSeconds(), at);
        sum += interval.getDurationInSeconds();
      }
      assertEquals(got.getTotalAttendanceInSeconds(), sum, where + ": the intervals add up");
    }

    // What the docs show, spelled out, so a changed dataset cannot make this test vacuous.
    AttendanceRecord frederick = report.getAttendanceRecords(0);
    assertEquals("frederick.cormier@contoso.com", frederick.getEmailAddress());
    assertEquals("Frederick Cormier", frederick.getIdentity().getDisplayName());
    assertEquals(1152, frederick.getTotalAttendanceInSeconds());
    assertEquals(3, frederick.getAttendanceIntervalsCount());
    assertEquals(Timestamp.newBuilder().setSeconds(1615921192).setNanos(278218200).build(),
        frederick.getAttendanceIntervals(0).getJoinDateTime(), "7-digit fraction, full precision");
    assertTrue(response.hasGraphFetchTime());
    assertFalse(response.getStale());
  }

  @Test
  void aRepeatedRequestIsServedFromTheCache() {
    GetAttendanceReportResponse first = stub().getAttendanceReport(docsRequest().build());
    GetAttendanceReportResponse second = stub().getAttendanceReport(docsRequest().build());
    assertTrue(second.getFromCache());
    assertEquals(first.getReport(), second.getReport());
    assertEquals(first.getGraphFetchTime(), second.getGraphFetchTime());
  }

  @Test
  void theBasicViewHasNoRecords() {
    MeetingAttendanceReport basic =
        stub().getAttendanceReport(docsRequest().setView(ReportView.REPORT_VIEW_BASIC).build())
            .getReport();
    assertEquals(Live.DOCS_REPORT, basic.getId());
    assertEquals(0, basic.getAttendanceRecordsCount());
    assertEquals(1, basic.getTotalParticipantCount());
  }

  private static boolean present(JsonObject json, String name) {
    JsonElement value = json.get(name);
    return value != null && !value.isJsonNull();
  }

  static void assertString(JsonObject json, String name, boolean has, String value, String where) {
    assertEquals(present(json, name), has, where + " " + name + " presence");
    if (has) {
      assertEquals(json.get(name).getAsString(), value, where + " " + name);
    }
  }

  static void assertInt(JsonObject json, String name, boolean has, int value, String where) {
    assertEquals(present(json, name), has, where + " " + name + " presence");
    if (has) {
      assertEquals(json.get(name).getAsInt(), value, where + " " + name);
    }
  }

  static void assertTime(JsonObject json, String name, boolean has, Timestamp value, String where) {
    assertEquals(present(json, name), has, where + " " + name + " presence");
    if (has) {
      Instant want = Instant.parse(json.get(name).getAsString());
      assertEquals(want.getEpochSecond(), value.getSeconds(), where + " " + name + " seconds");
      assertEquals(want.getNano(), value.getNanos(), where + " " + name + " nanos");
    }
  }
}
