package dev.rollcall.client;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Channels to Rollcall with the service config every client shares (clients/service_config.json,
 * on the classpath as {@code dev/rollcall/client/service_config.json}): round-robin over the
 * target's addresses, a 30 s default timeout, and retries of UNAVAILABLE with backoff.
 */
public final class RollcallChannels {
  /** The classpath resource the build copies clients/service_config.json to. */
  public static final String SERVICE_CONFIG_RESOURCE = "service_config.json";

  private RollcallChannels() {}

  /** A plaintext channel (the demo's and tests' server) to {@code target} (HOST:PORT or a URI). */
  public static ManagedChannel plaintext(String target, Map<String, ?> serviceConfig) {
    return ManagedChannelBuilder.forTarget(target)
        .usePlaintext()
        .defaultServiceConfig(serviceConfig)
        .enableRetry()
        .build();
  }

  /** The shared service config, from the classpath. */
  public static Map<String, ?> defaultServiceConfig() {
    try (InputStream in = RollcallChannels.class.getResourceAsStream(SERVICE_CONFIG_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("no " + SERVICE_CONFIG_RESOURCE + " on the classpath");
      }
      return parseServiceConfig(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A service config from a file. */
  public static Map<String, ?> serviceConfigFromFile(Path file) throws IOException {
    return parseServiceConfig(Files.readString(file, StandardCharsets.UTF_8));
  }

  /**
   * Parses a service config's JSON into the form {@link ManagedChannelBuilder#defaultServiceConfig}
   * takes: objects as {@code Map<String, ?>}, arrays as {@code List<?>}, every number as a {@code
   * Double}, strings, booleans and nulls as themselves.
   */
  public static Map<String, ?> parseServiceConfig(String json) {
    JsonElement root = JsonParser.parseString(json);
    if (!root.isJsonObject()) {
      throw new IllegalArgumentException("a service config is a JSON object");
    }
    @SuppressWarnings("unchecked")
    Map<String, ?> config = (Map<String, ?>) toJava(root);
    return config;
  }

  private static Object toJava(JsonElement element) {
    if (element.isJsonNull()) {
      return null;
    }
    if (element.isJsonObject()) {
      Map<String, Object> map = new LinkedHashMap<>();
      for (Map.Entry<String, JsonElement> entry : ((JsonObject) element).entrySet()) {
        map.put(entry.getKey(), toJava(entry.getValue()));
      }
      return map;
    }
    if (element.isJsonArray()) {
      List<Object> list = new ArrayList<>();
      for (JsonElement item : (JsonArray) element) {
        list.add(toJava(item));
      }
      return list;
    }
    JsonPrimitive primitive = element.getAsJsonPrimitive();
    if (primitive.isBoolean()) {
      return primitive.getAsBoolean();
    }
    if (primitive.isNumber()) {
      return primitive.getAsDouble();
    }
    return primitive.getAsString();
  }
}
