package dev.rollcall.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import com.google.protobuf.util.Timestamps;
import dev.rollcall.v1.AttendanceInterval;
import dev.rollcall.v1.AttendanceRecord;
import dev.rollcall.v1.AttendanceReportServiceGrpc;
import dev.rollcall.v1.GetAttendanceReportRequest;
import dev.rollcall.v1.GetAttendanceReportResponse;
import dev.rollcall.v1.MeetingAttendanceReport;
import dev.rollcall.v1.ReportView;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Asks a Rollcall server for one attendance report and prints it, first as a short table of
 * attendees, then as JSON whose property names are Graph's own. On an error it prints the gRPC
 * code, the message and the google.rpc details (ErrorInfo, RetryInfo, BadRequest) and exits 1.
 *
 * <pre>
 * RollcallGet --target 127.0.0.1:50051 --user U --meeting M --report R
 *             [--view full|basic] [--deadline 30s] [--service-config FILE] [--json-only]
 * </pre>
 */
public final class RollcallGet {
  static final String USAGE =
      "usage: RollcallGet --target HOST:PORT --user USER_ID --meeting MEETING_ID --report REPORT_ID"
          + " [--view full|basic] [--deadline 30s] [--service-config FILE] [--json-only]";

  private RollcallGet() {}

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** Runs the command; returns its exit status (0 done, 1 the call failed, 2 bad arguments). */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Map<String, String> flags = new HashMap<>(Map.of("view", "full", "deadline", "30s"));
    boolean jsonOnly = false;
    for (int i = 0; i < args.length; ++i) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        out.println(USAGE);
        return 0;
      }
      if (arg.equals("--json-only")) {
        jsonOnly = true;
        continue;
      }
      if (!arg.startsWith("--") || i + 1 >= args.length) {
        err.println(USAGE);
        return 2;
      }
      flags.put(arg.substring(2), args[++i]);
    }
    for (String required : List.of("target", "user", "meeting", "report")) {
      if (!flags.containsKey(required)) {
        err.println("missing --" + required);
        err.println(USAGE);
        return 2;
      }
    }
    Duration deadline = parseDuration(flags.get("deadline"));
    if (deadline == null) {
      err.println("bad --deadline " + flags.get("deadline") + " (e.g. 30s, 500ms, 2m)");
      return 2;
    }
    ReportView view;
    switch (flags.get("view")) {
      case "full":
        view = ReportView.REPORT_VIEW_FULL;
        break;
      case "basic":
        view = ReportView.REPORT_VIEW_BASIC;
        break;
      default:
        err.println("bad --view " + flags.get("view") + " (full or basic)");
        return 2;
    }
    Map<String, ?> serviceConfig;
    try {
      serviceConfig =
          flags.containsKey("service-config")
              ? RollcallChannels.serviceConfigFromFile(Path.of(flags.get("service-config")))
              : RollcallChannels.defaultServiceConfig();
    } catch (IOException | RuntimeException e) {
      err.println("cannot read the service config: " + e.getMessage());
      return 2;
    }

    GetAttendanceReportRequest request =
        GetAttendanceReportRequest.newBuilder()
            .setUserId(flags.get("user"))
            .setMeetingId(flags.get("meeting"))
            .setReportId(flags.get("report"))
            .setView(view)
            .build();
    ManagedChannel channel = RollcallChannels.plaintext(flags.get("target"), serviceConfig);
    try {
      GetAttendanceReportResponse response =
          AttendanceReportServiceGrpc.newBlockingStub(channel)
              .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
              .getAttendanceReport(request);
      if (!jsonOnly) {
        printTable(response, out);
      }
      out.println(JsonFormat.printer().print(response));
      return 0;
    } catch (StatusRuntimeException e) {
      RollcallErrors.describe(e).forEach(err::println);
      return 1;
    } catch (InvalidProtocolBufferException e) {
      err.println("cannot print the reply as JSON: " + e.getMessage());
      return 1;
    } finally {
      channel.shutdownNow();
    }
  }

  /** "30s", "500ms", "2m", "1.5s"; null when it is none of these. */
  static Duration parseDuration(String text) {
    Matcher m = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m)").matcher(text);
    if (!m.matches()) {
      return null;
    }
    double value = Double.parseDouble(m.group(1));
    double millis = value * (m.group(2).equals("ms") ? 1 : m.group(2).equals("s") ? 1e3 : 60e3);
    return millis >= 1 ? Duration.ofMillis((long) millis) : null;
  }

  private static String time(boolean present, Timestamp timestamp) {
    return present ? Timestamps.toString(timestamp) : "-";
  }

  static void printTable(GetAttendanceReportResponse response, PrintStream out) {
    MeetingAttendanceReport report = response.getReport();
    out.printf(
        "report %s: %s participants, meeting %s .. %s%n",
        report.getId(),
        report.hasTotalParticipantCount() ? report.getTotalParticipantCount() : "?",
        time(report.hasMeetingStartDateTime(), report.getMeetingStartDateTime()),
        time(report.hasMeetingEndDateTime(), report.getMeetingEndDateTime()));
    out.printf(
        "fetched from Graph at %s; served from cache: %s%n",
        time(response.hasGraphFetchTime(), response.getGraphFetchTime()),
        response.getFromCache() ? "yes" : "no");
    for (AttendanceRecord record : report.getAttendanceRecordsList()) {
      out.printf(
          "  %-24s %-32s %-10s %6ss in %d interval(s)%n",
          record.getIdentity().getDisplayName(),
          record.getEmailAddress(),
          record.getRole(),
          record.hasTotalAttendanceInSeconds() ? record.getTotalAttendanceInSeconds() : "?",
          record.getAttendanceIntervalsCount());
      for (AttendanceInterval interval : record.getAttendanceIntervalsList()) {
        out.printf(
            "      %s .. %s (%ds)%n",
            time(interval.hasJoinDateTime(), interval.getJoinDateTime()),
            time(interval.hasLeaveDateTime(), interval.getLeaveDateTime()),
            interval.getDurationInSeconds());
      }
    }
  }
}
