package dev.rollcall.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The example command, run in process against the live server. */
class RollcallGetTest {
  private static final class Run {
    final int status;
    final String out;
    final String err;

    Run(String... args) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      status = RollcallGet.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
          new PrintStream(err, true, StandardCharsets.UTF_8));
      this.out = out.toString(StandardCharsets.UTF_8);
      this.err = err.toString(StandardCharsets.UTF_8);
    }
  }

  @Test
  void printsTheDocsReport() {
    Run run = new Run("--target", Live.env("ROLLCALL_TARGET"), "--user", Live.DOCS_USER,
        "--meeting", Live.DOCS_MEETING, "--report", Live.DOCS_REPORT, "--deadline", "20s");
    assertEquals(0, run.status, run.err);
    assertTrue(run.out.contains("report " + Live.DOCS_REPORT + ": 1 participants"), run.out);
    assertTrue(run.out.contains("Frederick Cormier"), run.out);
    assertTrue(run.out.contains("2021-03-16T18:59:52.278218200Z .. 2021-03-16T19:06:47.721849100Z (415s)"),
        run.out);
    assertTrue(run.out.contains("\"totalAttendanceInSeconds\": 1152"), run.out);
    assertTrue(run.out.contains("\"emailAddress\": \"frederick.cormier@contoso.com\""), run.out);
  }

  @Test
  void printsTheErrorDetails() {
    Run run = new Run("--target", Live.env("ROLLCALL_TARGET"), "--user", Live.DOCS_USER,
        "--meeting", Live.DOCS_MEETING, "--report", "");
    assertEquals(1, run.status, run.out);
    assertTrue(run.err.startsWith("error: INVALID_ARGUMENT "), run.err);
    assertTrue(run.err.contains("  reason: INVALID_ID (rollcall.v1)"), run.err);
    assertTrue(run.err.contains("  field: report_id"), run.err);
    assertTrue(run.err.contains("  field report_id: "), run.err);
  }

  @Test
  void refusesBadArguments() {
    assertEquals(2, new Run("--target", "127.0.0.1:1").status);
    assertEquals(2, new Run("--target", "x", "--user", "u", "--meeting", "m", "--report", "r",
        "--deadline", "soon").status);
    assertEquals(0, new Run("--help").status);
  }

  @Test
  void theSharedServiceConfigParses() {
    Map<String, ?> config = RollcallChannels.defaultServiceConfig();
    assertTrue(config.containsKey("methodConfig"), config.toString());
    Map<String, ?> parsed = RollcallChannels.parseServiceConfig(
        "{\"a\": [1, 2.5, true, null, \"s\"], \"b\": {\"c\": 3}}");
    assertEquals(java.util.Arrays.asList(1.0, 2.5, true, null, "s"), parsed.get("a"));
    assertEquals(Map.of("c", 3.0), parsed.get("b"));
  }
}
