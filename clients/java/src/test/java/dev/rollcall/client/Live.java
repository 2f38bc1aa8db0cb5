package dev.rollcall.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.UUID;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * What the tests share: the live server (ROLLCALL_TARGET), the emulator's control endpoints over
 * HTTPS trusting its CA (ROLLCALL_GRAPH_URL, ROLLCALL_GRAPH_CA), all set by scripts/with_server,
 * and the emulator's dataset (tests/fake_graph/dataset.json).
 */
final class Live {
  static final String DOCS_USER = "16664f75-11dc-4870-bec6-38c1aaa81431";
  static final String DOCS_MEETING = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ";
  static final String DOCS_REPORT = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7";

  private static HttpClient control;

  private Live() {}

  static String env(String name) {
    String value = System.getenv(name);
    assertNotNull(value, name + " is not set: run the tests under scripts/with_server (test.sh)");
    assertFalse(value.isEmpty(), name + " is empty");
    return value;
  }

  /** A channel to the live server with the shared service config, as RollcallGet builds it. */
  static ManagedChannel channel() {
    return RollcallChannels.plaintext(
        env("ROLLCALL_TARGET"), RollcallChannels.defaultServiceConfig());
  }

  /** The repository's root (the surefire configuration passes it). */
  static Path root() {
    return Path.of(System.getProperty("rollcall.root", "../..")).toAbsolutePath().normalize();
  }

  /** The docs report as the emulator's dataset holds it (Graph's JSON). */
  static JsonObject datasetDocsReport() throws IOException {
    JsonObject dataset =
        JsonParser.parseString(
                Files.readString(root().resolve("tests/fake_graph/dataset.json")))
            .getAsJsonObject();
    return dataset
        .getAsJsonObject("users")
        .getAsJsonObject(DOCS_USER)
        .getAsJsonObject("onlineMeetings")
        .getAsJsonObject(DOCS_MEETING)
        .getAsJsonObject("attendanceReports")
        .getAsJsonObject(DOCS_REPORT);
  }

  /** An ID no other test uses, of URL-safe characters only. */
  static String uniqueId(String what) {
    return "java-" + what + "-" + UUID.randomUUID();
  }

  /** Sends a request to one of the emulator's control endpoints; returns its JSON answer. */
  static JsonElement control(String method, String path, String jsonBody)
      throws IOException, InterruptedException {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create(env("ROLLCALL_GRAPH_URL") + path))
            .timeout(Duration.ofSeconds(30));
    if (jsonBody == null) {
      request.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      request
          .header("Content-Type", "application/json")
          .method(method, HttpRequest.BodyPublishers.ofString(jsonBody));
    }
    HttpResponse<String> response =
        controlClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), method + " " + path + ": " + response.body());
    return JsonParser.parseString(response.body());
  }

  private static synchronized HttpClient controlClient() {
    if (control == null) {
      control =
          HttpClient.newBuilder()
              .sslContext(trusting(Path.of(env("ROLLCALL_GRAPH_CA"))))
              .connectTimeout(Duration.ofSeconds(10))
              .build();
    }
    return control;
  }

  /** A TLS context that trusts exactly the certificates of a PEM file. */
  static SSLContext trusting(Path pem) {
    try (InputStream in = Files.newInputStream(pem)) {
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      int i = 0;
      for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        trust.setCertificateEntry("ca-" + i++, certificate);
      }
      if (i == 0) {
        throw new IllegalStateException("no certificate in " + pem);
      }
      TrustManagerFactory factory =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(trust);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, factory.getTrustManagers(), null);
      return context;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot trust " + pem + ": " + e, e);
    }
  }

  static String utf8(byte[] bytes) {
    return new String(bytes, StandardCharsets.UTF_8);
  }
}
