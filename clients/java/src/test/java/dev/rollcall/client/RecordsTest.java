package dev.rollcall.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.rollcall.v1.AttendanceRecord;
import dev.rollcall.v1.AttendanceReportServiceGrpc;
import dev.rollcall.v1.GetAttendanceReportRequest;
import dev.rollcall.v1.ListAttendanceRecordsRequest;
import dev.rollcall.v1.ListAttendanceRecordsResponse;
import dev.rollcall.v1.StreamAttendanceRecordsRequest;
import dev.rollcall.v1.StreamAttendanceRecordsResponse;
import io.grpc.ManagedChannel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** ListAttendanceRecords' pages and StreamAttendanceRecords' messages hold the report's records. */
class RecordsTest {
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

  private static List<AttendanceRecord> reportRecords(String user, String meeting, String report) {
    return AttendanceReportServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(30, TimeUnit.SECONDS)
        .getAttendanceReport(
            GetAttendanceReportRequest.newBuilder()
                .setUserId(user).setMeetingId(meeting).setReportId(report).build())
        .getReport()
        .getAttendanceRecordsList();
  }

  /** Every page, asking pageSize records a time (0: the default, 100); checks each page. */
  private static List<AttendanceRecord> pagedRecords(
      String user, String meeting, String report, int pageSize, int total) {
    int perPage = pageSize == 0 ? 100 : pageSize;
    int expectedPages = Math.max(1, (total + perPage - 1) / perPage);
    List<AttendanceRecord> records = new ArrayList<>();
    Set<String> tokens = new HashSet<>();
    String token = "";
    int pages = 0;
    do {
      ListAttendanceRecordsResponse page =
          AttendanceReportServiceGrpc.newBlockingStub(channel)
              .withDeadlineAfter(30, TimeUnit.SECONDS)
              .listAttendanceRecords(
                  ListAttendanceRecordsRequest.newBuilder()
                      .setUserId(user).setMeetingId(meeting).setReportId(report)
                      .setPageSize(pageSize).setPageToken(token).build());
      ++pages;
      assertEquals(total, page.getTotalRecords(), "total_records on page " + pages);
      assertTrue(page.hasGraphFetchTime());
      records.addAll(page.getAttendanceRecordsList());
      token = page.getNextPageToken();
      if (!token.isEmpty()) {
        assertEquals(perPage, page.getAttendanceRecordsCount(), "a full page before the last");
        assertTrue(tokens.add(token), "a new token for each page");
      }
      assertTrue(pages <= expectedPages, "more pages than " + expectedPages);
    } while (!token.isEmpty());
    assertEquals(expectedPages, pages, "pages");
    return records;
  }

  /** Every message of the stream, in order. */
  private static List<StreamAttendanceRecordsResponse> streamed(
      String user, String meeting, String report) {
    Iterator<StreamAttendanceRecordsResponse> messages =
        AttendanceReportServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .streamAttendanceRecords(
                StreamAttendanceRecordsRequest.newBuilder()
                    .setUserId(user).setMeetingId(meeting).setReportId(report).build());
    List<StreamAttendanceRecordsResponse> all = new ArrayList<>();
    messages.forEachRemaining(all::add);
    return all;
  }

  private static List<AttendanceRecord> recordsOf(List<StreamAttendanceRecordsResponse> messages,
      int total) {
    List<AttendanceRecord> records = new ArrayList<>();
    for (StreamAttendanceRecordsResponse message : messages) {
      assertEquals(total, message.getTotalRecords(), "total_records on every message");
      assertTrue(message.hasGraphFetchTime(), "graph_fetch_time on every message");
      records.addAll(message.getAttendanceRecordsList());
    }
    return records;
  }

  @Test
  void docsReportPagedAndStreamedEqualsItsRecords() {
    List<AttendanceRecord> report =
        reportRecords(Live.DOCS_USER, Live.DOCS_MEETING, Live.DOCS_REPORT);
    assertEquals(1, report.size());
    assertEquals(report,
        pagedRecords(Live.DOCS_USER, Live.DOCS_MEETING, Live.DOCS_REPORT, 1, 1));
    assertEquals(report,
        pagedRecords(Live.DOCS_USER, Live.DOCS_MEETING, Live.DOCS_REPORT, 0, 1));
    List<StreamAttendanceRecordsResponse> messages =
        streamed(Live.DOCS_USER, Live.DOCS_MEETING, Live.DOCS_REPORT);
    assertEquals(report, recordsOf(messages, 1));
  }

  @Test
  void aLargeReportPagedAndStreamedEqualsItsRecords() throws Exception {
    String user = Live.uniqueId("user");
    String meeting = Live.uniqueId("meeting");
    String reportId = Live.uniqueId("report");
    int count = 1_000;
    JsonObject added = Live.control("POST", "/_emulator/reports",
        "{\"user\":\"" + user + "\",\"meeting\":\"" + meeting + "\",\"report\":\"" + reportId
            + "\",\"records\":" + count + "}").getAsJsonObject();
    assertEquals(count, added.get("records").getAsInt());

    List<AttendanceRecord> report = reportRecords(user, meeting, reportId);
    assertEquals(count, report.size());
    assertEquals("record-00000", report.get(0).getId());
    assertEquals("record-00999", report.get(count - 1).getId());

    assertEquals(report, pagedRecords(user, meeting, reportId, 128, count));
    assertEquals(report, pagedRecords(user, meeting, reportId, 1_000, count));

    List<StreamAttendanceRecordsResponse> messages = streamed(user, meeting, reportId);
    assertTrue(messages.size() > 1, "about 32 KiB a message: " + messages.size() + " message(s)");
    assertEquals(report, recordsOf(messages, count));
    assertFalse(messages.get(messages.size() - 1).getAttendanceRecordsList().isEmpty());
  }
}
