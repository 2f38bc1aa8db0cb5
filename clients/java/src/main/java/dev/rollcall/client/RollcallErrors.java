package dev.rollcall.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.Durations;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Rollcall's error details: every error carries a google.rpc.ErrorInfo (domain rollcall.v1) in
 * the grpc-status-details-bin trailer, RESOURCE_EXHAUSTED a RetryInfo, INVALID_ID a BadRequest.
 */
public final class RollcallErrors {
  /** ErrorInfo.domain of every Rollcall error. */
  public static final String DOMAIN = "rollcall.v1";

  private RollcallErrors() {}

  /** The error's details (empty when it carries none), decoded from its trailers. */
  public static List<Any> details(Throwable error) {
    com.google.rpc.Status status = StatusProto.fromThrowable(error);
    return status == null ? List.of() : status.getDetailsList();
  }

  public static Optional<ErrorInfo> errorInfo(Throwable error) {
    return unpack(error, ErrorInfo.class);
  }

  public static Optional<RetryInfo> retryInfo(Throwable error) {
    return unpack(error, RetryInfo.class);
  }

  public static Optional<BadRequest> badRequest(Throwable error) {
    return unpack(error, BadRequest.class);
  }

  private static <T extends com.google.protobuf.Message> Optional<T> unpack(
      Throwable error, Class<T> type) {
    for (Any any : details(error)) {
      if (any.is(type)) {
        try {
          return Optional.of(any.unpack(type));
        } catch (InvalidProtocolBufferException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }

  /** What a person reads: the code and message, then each detail, one per line. */
  public static List<String> describe(Throwable error) {
    List<String> lines = new ArrayList<>();
    Status status = Status.fromThrowable(error);
    lines.add("error: " + status.getCode() + " " + status.getDescription());
    errorInfo(error)
        .ifPresent(
            info -> {
              lines.add("  reason: " + info.getReason() + " (" + info.getDomain() + ")");
              new TreeMap<>(info.getMetadataMap())
                  .forEach((key, value) -> lines.add("  " + key + ": " + value));
            });
    retryInfo(error)
        .ifPresent(
            retry -> lines.add("  retry after: " + Durations.toString(retry.getRetryDelay())));
    badRequest(error)
        .ifPresent(
            bad ->
                bad.getFieldViolationsList()
                    .forEach(
                        v -> lines.add("  field " + v.getField() + ": " + v.getDescription())));
    return lines;
  }
}
