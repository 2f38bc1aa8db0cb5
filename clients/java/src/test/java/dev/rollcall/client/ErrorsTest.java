package dev.rollcall.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.protobuf.util.Durations;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import dev.rollcall.v1.AttendanceReportServiceGrpc;
import dev.rollcall.v1.GetAttendanceReportRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Errors carry google.rpc details in grpc-status-details-bin, decoded with StatusProto. */
class ErrorsTest {
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

  private static StatusRuntimeException failGet(GetAttendanceReportRequest request) {
    return assertThrows(StatusRuntimeException.class,
        () -> AttendanceReportServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .getAttendanceReport(request));
  }

  private static ErrorInfo errorInfo(StatusRuntimeException e) {
    ErrorInfo info = RollcallErrors.errorInfo(e)
        .orElseThrow(() -> new AssertionError("no ErrorInfo in " + e.getStatus()));
    assertEquals(RollcallErrors.DOMAIN, info.getDomain());
    return info;
  }

  @Test
  void anUnknownReportIsNotFound() {
    StatusRuntimeException e = failGet(GetAttendanceReportRequest.newBuilder()
        .setUserId(Live.DOCS_USER).setMeetingId(Live.DOCS_MEETING)
        .setReportId(Live.uniqueId("missing")).build());
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    assertEquals("REPORT_NOT_FOUND", errorInfo(e).getReason());
    com.google.rpc.Status details = io.grpc.protobuf.StatusProto.fromThrowable(e);
    assertEquals(Status.Code.NOT_FOUND.value(), details.getCode());
    assertEquals(e.getStatus().getDescription(), details.getMessage());
  }

  @Test
  void anEmptyIdIsInvalidWithAFieldViolation() {
    for (String field : new String[] {"user_id", "meeting_id", "report_id"}) {
      GetAttendanceReportRequest.Builder request = GetAttendanceReportRequest.newBuilder()
          .setUserId(Live.DOCS_USER).setMeetingId(Live.DOCS_MEETING).setReportId(Live.DOCS_REPORT);
      switch (field) {
        case "user_id": request.clearUserId(); break;
        case "meeting_id": request.clearMeetingId(); break;
        default: request.clearReportId(); break;
      }
      StatusRuntimeException e = failGet(request.build());
      assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), field);
      ErrorInfo info = errorInfo(e);
      assertEquals("INVALID_ID", info.getReason(), field);
      assertEquals(field, info.getMetadataOrDefault("field", ""), field);
      BadRequest bad = RollcallErrors.badRequest(e)
          .orElseThrow(() -> new AssertionError("no BadRequest for " + field));
      assertEquals(1, bad.getFieldViolationsCount(), field);
      assertEquals(field, bad.getFieldViolations(0).getField());
      assertTrue(bad.getFieldViolations(0).getDescription().contains(field),
          bad.getFieldViolations(0).getDescription());
    }
  }

  @Test
  void graphThrottlingIsResourceExhaustedWithRetryInfo() throws Exception {
    String user = Live.uniqueId("user");
    String meeting = Live.uniqueId("meeting");
    String report = Live.uniqueId("throttled");
    Live.control("POST", "/_emulator/reports", "{\"user\":\"" + user + "\",\"meeting\":\""
        + meeting + "\",\"report\":\"" + report + "\",\"records\":3}");
    // Graph throttles this report's reads, asking for a pause longer than the server waits
    // (graph_max_backoff, 30s): the server passes the delay on at once instead of retrying.
    // Count: the server's default graph_max_attempts, so that no retry could get through.
    Live.control("POST", "/_emulator/faults", "{\"kind\":\"report\",\"path_contains\":\"" + report
        + "\",\"count\":4,\"status\":429,\"retry_after\":\"60\"}");
    try {
      StatusRuntimeException e = failGet(GetAttendanceReportRequest.newBuilder()
          .setUserId(user).setMeetingId(meeting).setReportId(report).build());
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.toString());
      assertEquals("GRAPH_THROTTLED", errorInfo(e).getReason());
      RetryInfo retry = RollcallErrors.retryInfo(e)
          .orElseThrow(() -> new AssertionError("no RetryInfo in " + e.getStatus()));
      assertEquals(Durations.fromSeconds(60), retry.getRetryDelay());
    } finally {
      JsonObject cleared = Live.control("DELETE", "/_emulator/faults", null).getAsJsonObject();
      assertTrue(cleared.get("cleared").getAsInt() <= 3, cleared.toString());
    }
  }
}
