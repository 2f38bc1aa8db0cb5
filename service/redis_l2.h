#pragma once
// The second cache tier (L2), in Redis, shared by every replica: behind the loader seam
// (ReportCache::Loader), so it runs only on the UpstreamExecutor's threads, never on a gRPC
// reactor, and the L1 cache, its single-flight, negative entries and stale-if-error stay as
// they are.
//
// On an L1 miss the wrapped loader (RedisL2::Wrap):
//   1. GETs the entry's value key; a valid, unexpired value becomes the CachedReport (or, for a
//      remembered 404, the NOT_FOUND) with no Graph call;
//   2. otherwise takes the key's lease (SET <key>:lease <replica-id> NX PX redis_lease_ttl):
//      the holder loads from Graph, writes the value (SET <key> <value> PX <remaining TTL>) and
//      deletes its lease (only if still its own); the other replicas poll the value key every
//      kPollInterval, within their deadline, and use it when it appears; when the lease is
//      gone and no value came (the holder failed or died), one of them takes it and loads.
// Redis trouble is never an outage: any Redis error (refused, timed out, full, a reply not
// expected) sends the load to Graph as if there were no L2, is counted by kind, logged at most
// once per log interval, and trips a short circuit breaker (no Redis call for a backoff that
// doubles from breaker_initial to breaker_max while Redis keeps failing), so a dead Redis is
// not tried on every miss; connections are re-made on their own.
//
// Keys: rollcall:v1:<namespace>:<ReportKey::encoded() in unpadded base64url> (and ":lease"),
// the namespace being "<tenant>:<graph_version>" as the server sets it. The
// "v1" is the key schema's version: bumping it orphans every older value (they expire).
//
// Values: a 60-byte header and the payload (EncodeL2Value):
//   magic "RCL2" | format version (1 byte, 1) | kind ('R' report, 'N' 404) | 2 zero bytes |
//   fetch time (int64 Unix ns, big-endian) | expiry (int64 Unix ns) | payload size (uint32) |
//   SHA-256 of (the 28 header bytes before it, the Redis key, the payload)
// The payload is the entry's serialized reply (what L1 holds), or a 404's serialized
// google.rpc.Status. The digest covers the key, so a value copied under another key is
// refused like a corrupt, truncated or foreign one: never served, counted, and overwritten by
// the next load.
//
// Thread-safe: Wrap's loaders run on any number of executor threads; connections come from a
// small pool (at most one per running load), each used by one thread at a time.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "service/log.h"
#include "service/report_cache.h"

struct redisContext;

namespace rollcall::service {

// Where Redis is: redis://HOST[:PORT][/DB] (port 6379 and DB 0 by default; an IPv6 host in
// brackets) or unix:///PATH (DB 0).
struct RedisAddress {
  std::string host;  // empty for a unix socket
  int port = 6379;
  std::string unix_path;
  int db = 0;
};

// Parses redis_url. INVALID_ARGUMENT, never quoting the text: rediss:// (hiredis 0.14 has no
// TLS: run a local TLS proxy and point redis_url at it), credentials in the URL (use
// redis_password_file), anything else that is not one of the two forms.
absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url);

// What redis_password_file holds: one line, the password (AUTH <password>, the default user;
// a ':' in it is part of the password); or two lines, an ACL user name then its password (AUTH
// <user> <password>). A trailing newline (and CR) is ignored. Errors never quote the file.
struct RedisCredentials {
  std::string user;  // empty: the default user
  std::string password;
};
absl::StatusOr<RedisCredentials> ParseRedisPasswordFile(absl::string_view contents);
// Reads and parses the file at `path`; errors name the setting, never the path's contents.
absl::StatusOr<RedisCredentials> ReadRedisPasswordFile(const std::string& path);

// The key scheme.
std::string L2ValueKey(absl::string_view tenant, absl::string_view encoded_key);
std::string L2LeaseKey(absl::string_view tenant, absl::string_view encoded_key);

// One decoded value.
struct L2Entry {
  bool negative = false;  // a remembered 404: payload is a serialized google.rpc.Status
  absl::Time fetch_time;
  absl::Time expires_at;
  std::string payload;
};

inline constexpr std::size_t kL2HeaderBytes = 60;

// The value stored under `redis_key` for `entry`.
std::string EncodeL2Value(absl::string_view redis_key, const L2Entry& entry);
// The entry `value` holds, if it is a whole, intact value of this format written under
// `redis_key`. DATA_LOSS otherwise (the message says which check failed, never the bytes).
absl::StatusOr<L2Entry> DecodeL2Value(absl::string_view redis_key, absl::string_view value);

class RedisL2 {
 public:
  struct Options {
    RedisAddress address;
    // redis_password_file: read (ParseRedisPasswordFile) for each new connection, so a rotated
    // password needs no restart; empty: no AUTH.
    std::string password_file;
    // Connect and command timeout (each).
    absl::Duration timeout = absl::Milliseconds(100);
    // How long a lease holds before others may load themselves.
    absl::Duration lease_ttl = absl::Seconds(10);
    // How long a remembered 404 is kept in Redis; zero keeps none.
    absl::Duration negative_ttl = absl::Seconds(30);
    // The keys' namespace: the server gives "<AZURE_TENANT_ID>:<graph_version>".
    std::string tenant;
    // The lease's value: who holds it (for operators reading Redis).
    std::string replica_id;
    // How often a replica waiting on another's lease looks for the value.
    absl::Duration poll_interval = absl::Milliseconds(20);
    // The circuit breaker: no Redis call for this long after a failure, doubling to the max.
    absl::Duration breaker_initial = absl::Milliseconds(500);
    absl::Duration breaker_max = absl::Seconds(5);
    // At most one "Redis unavailable" log line per interval.
    absl::Duration log_interval = absl::Seconds(30);
    // Idle connections kept for reuse.
    std::size_t max_idle_connections = 16;
  };

  // Error kinds counted in Stats::errors (rollcall_redis_errors_total{kind}).
  enum ErrorKind {
    kConnect,   // could not connect (refused, unreachable, connect timeout)
    kAuth,      // AUTH or SELECT refused
    kTimeout,   // a command timed out
    kIo,        // the connection broke (reset, closed)
    kReply,     // Redis answered with an error (OOM, READONLY, ...) or an unexpected reply
    kCorrupt,   // a value that is not one of ours, truncated, corrupt or for another key
    kErrorKinds
  };
  static absl::string_view ErrorKindName(int kind);

  struct Stats {
    uint64_t hits = 0;        // loads answered from Redis (a waiter's included)
    uint64_t misses = 0;      // lookups that found no usable value
    uint64_t writes = 0;      // values written
    uint64_t skipped = 0;     // loads that did not try Redis: the circuit breaker was open
    uint64_t lease_waits = 0; // loads that waited on another replica's lease
    uint64_t errors[kErrorKinds] = {};
  };

  // `clock` and `logger` must outlive the object. Connects lazily (the first load).
  RedisL2(Options options, const common::Clock* clock, Logger* logger);
  ~RedisL2();
  RedisL2(const RedisL2&) = delete;
  RedisL2& operator=(const RedisL2&) = delete;

  // `inner` (the Graph load) behind Redis, as described above. The returned loader holds
  // `self` (which must be this object's owner).
  static ReportCache::Loader Wrap(std::shared_ptr<RedisL2> self, ReportCache::Loader inner);

  Stats GetStats() const;

 private:
  struct ConnectionDeleter {
    void operator()(redisContext* context) const;
  };
  using Context = std::unique_ptr<redisContext, ConnectionDeleter>;
  enum class Lookup { kHit, kMiss, kError };

  absl::StatusOr<CachedReport> Load(absl::string_view key, absl::Time deadline,
                                    const ReportCache::Loader& inner);
  // Holds the lease: loads from Graph, writes the outcome, releases the lease.
  absl::StatusOr<CachedReport> LoadAsHolder(redisContext* context, absl::string_view key,
                                            const std::string& value_key,
                                            const std::string& lease_key, absl::Time deadline,
                                            const ReportCache::Loader& inner, bool* healthy);
  // GET value_key: kHit with *out set, kMiss, or kError (counted; the connection is bad).
  Lookup Get(redisContext* context, absl::string_view key, const std::string& value_key,
             absl::StatusOr<CachedReport>* out);
  // SET lease_key NX PX: true when taken; nullopt on an error.
  std::optional<bool> TakeLease(redisContext* context, const std::string& lease_key);
  bool Store(redisContext* context, absl::string_view key, const std::string& value_key,
             const absl::StatusOr<CachedReport>& loaded);
  bool ReleaseLease(redisContext* context, const std::string& lease_key);

  // A connection from the pool or a new one; null while the breaker is open or when
  // connecting failed (counted, breaker tripped).
  Context Acquire();
  void Release(Context context, bool healthy);
  Context Connect();
  // Counts `kind`, trips the breaker for connection-level kinds, logs (rate-limited).
  void Fail(ErrorKind kind, absl::string_view detail);
  void Succeeded();

  const Options options_;
  const common::Clock* const clock_;
  Logger* const logger_;

  std::atomic<uint64_t> hits_{0}, misses_{0}, writes_{0}, skipped_{0}, lease_waits_{0};
  std::atomic<uint64_t> errors_[kErrorKinds] = {};

  mutable common::Mutex mu_;
  std::vector<Context> idle_ ABSL_GUARDED_BY(mu_);
  absl::Time open_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  bool down_ ABSL_GUARDED_BY(mu_) = false;  // the last call failed (for the recovery line)
  absl::Time last_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;  // failures not logged since the last line
};

// A replica ID for leases: host name, process ID and a random suffix.
std::string MakeReplicaId();

}  // namespace rollcall::service
