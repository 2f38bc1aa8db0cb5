#include "service/redis_l2.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <initializer_list>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "google/rpc/status.pb.h"

namespace rollcall::service {
namespace {

constexpr char kMagic[4] = {'R', 'C', 'L', '2'};
constexpr uint8_t kFormatVersion = 1;
constexpr char kReportKind = 'R';
constexpr char kNegativeKind = 'N';
constexpr std::size_t kDigestOffset = 28;  // magic 4, version 1, kind 1, 2 zero, 8, 8, 4
constexpr std::size_t kDigestBytes = 32;
static_assert(kDigestOffset + kDigestBytes == kL2HeaderBytes);

// Deletes the lease only if it is still this replica's (another may hold it after ours
// expired).
constexpr char kReleaseScript[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

void PutBig(uint64_t value, int bytes, std::string* out) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetBig(absl::string_view in, std::size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value = (value << 8) | static_cast<unsigned char>(in[offset + static_cast<std::size_t>(i)]);
  }
  return value;
}

std::string Sha256(std::initializer_list<absl::string_view> parts) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (absl::string_view part : parts) EVP_DigestUpdate(ctx, part.data(), part.size());
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

absl::Status Refused(absl::string_view why) { return absl::DataLossError(why); }

timeval TimevalOf(absl::Duration d) {
  const int64_t micros = std::max<int64_t>(1000, absl::ToInt64Microseconds(d));
  timeval tv;
  tv.tv_sec = static_cast<time_t>(micros / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(micros % 1000000);
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// One command, binary-safe. Null when the connection failed (context->err says how).
Reply Command(redisContext* context, std::initializer_list<absl::string_view> args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (absl::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return Reply(static_cast<redisReply*>(redisCommandArgv(
      context, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

// The kind of a failed command (null reply).
RedisL2::ErrorKind FailureKind(const redisContext* context, int saved_errno) {
  if (context->err == REDIS_ERR_IO &&
      (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
       absl::StrContains(context->errstr, "temporarily unavailable"))) {
    return RedisL2::kTimeout;
  }
  return RedisL2::kIo;
}

}  // namespace

// --- URL, password file, keys ---------------------------------------------------------------

absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("must not contain spaces or control characters");
    }
  }
  RedisAddress address;
  if (absl::StartsWithIgnoreCase(url, "rediss://")) {
    return absl::InvalidArgumentError(
        "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; run a local TLS proxy "
        "(stunnel, or a sidecar) that speaks TLS to Redis and point redis_url at its "
        "redis://127.0.0.1:PORT");
  }
  if (absl::StartsWithIgnoreCase(url, "unix://")) {
    address.unix_path = std::string(url.substr(7));
    if (address.unix_path.empty() || address.unix_path[0] != '/' ||
        absl::StrContains(address.unix_path, '?')) {
      return absl::InvalidArgumentError("a unix socket URL must be unix:///absolute/path");
    }
    return address;
  }
  if (!absl::StartsWithIgnoreCase(url, "redis://")) {
    return absl::InvalidArgumentError(
        "must be redis://HOST[:PORT][/DB] or unix:///PATH (empty: no Redis)");
  }
  absl::string_view rest = url.substr(8);
  if (absl::StrContains(rest, '@')) {
    return absl::InvalidArgumentError(
        "must not hold credentials: put the password in redis_password_file");
  }
  if (absl::StrContains(rest, '?') || absl::StrContains(rest, '#')) {
    return absl::InvalidArgumentError("must be redis://HOST[:PORT][/DB] with no query");
  }
  absl::string_view authority = rest.substr(0, rest.find('/'));
  if (rest.find('/') != absl::string_view::npos) {
    absl::string_view db = rest.substr(rest.find('/') + 1);
    if (!db.empty() && (!absl::SimpleAtoi(db, &address.db) || address.db < 0 ||
                        address.db > 1000000 || !absl::ascii_isdigit(db[0]))) {
      return absl::InvalidArgumentError("the database (after the host's '/') must be a number");
    }
  }
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("an IPv6 host must be in brackets ([::1]:6379)");
    }
    address.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("must be redis://HOST[:PORT][/DB]");
      port_text = after.substr(1);
      if (port_text.empty()) return absl::InvalidArgumentError("the port is empty");
    }
  } else {
    const std::size_t colon = authority.find(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return absl::InvalidArgumentError("the port is empty");
    }
  }
  if (address.host.empty()) return absl::InvalidArgumentError("must name a host");
  if (!port_text.empty()) {
    if (!absl::SimpleAtoi(port_text, &address.port) || address.port < 1 ||
        address.port > 65535 || !absl::ascii_isdigit(port_text[0])) {
      return absl::InvalidArgumentError("the port must be a number from 1 to 65535");
    }
  }
  return address;
}

absl::StatusOr<RedisCredentials> ParseRedisPasswordFile(absl::string_view contents) {
  // Trailing line ends only: a password may begin or end with spaces.
  while (!contents.empty() && (contents.back() == '\n' || contents.back() == '\r')) {
    contents.remove_suffix(1);
  }
  RedisCredentials credentials;
  const std::size_t newline = contents.find('\n');
  if (newline == absl::string_view::npos) {
    credentials.password = std::string(contents);
  } else {
    absl::string_view user = contents.substr(0, newline);
    if (!user.empty() && user.back() == '\r') user.remove_suffix(1);
    absl::string_view password = contents.substr(newline + 1);
    if (!password.empty() && password.back() == '\r') password.remove_suffix(1);
    if (absl::StrContains(password, '\n')) {
      return absl::InvalidArgumentError(
          "holds more than two lines: one line (the password) or two (user, then password)");
    }
    if (user.empty()) return absl::InvalidArgumentError("its first of two lines (the user) is empty");
    credentials.user = std::string(user);
    credentials.password = std::string(password);
  }
  if (credentials.password.empty()) return absl::InvalidArgumentError("holds no password");
  for (char c : credentials.user + credentials.password) {
    if (c == '\0') return absl::InvalidArgumentError("holds a NUL byte");
  }
  return credentials;
}

absl::StatusOr<RedisCredentials> ReadRedisPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        "redis_password_file (--redis_password_file or ROLLCALL_REDIS_PASSWORD_FILE) cannot be "
        "read");
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  absl::StatusOr<RedisCredentials> parsed = ParseRedisPasswordFile(contents.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redis_password_file (--redis_password_file or ROLLCALL_REDIS_PASSWORD_FILE) ",
        parsed.status().message(), " (its contents are not shown)"));
  }
  return parsed;
}

std::string L2ValueKey(absl::string_view tenant, absl::string_view encoded_key) {
  return absl::StrCat("rollcall:v1:", tenant, ":", absl::WebSafeBase64Escape(encoded_key));
}

std::string L2LeaseKey(absl::string_view tenant, absl::string_view encoded_key) {
  return absl::StrCat(L2ValueKey(tenant, encoded_key), ":lease");
}

// --- Value codec ----------------------------------------------------------------------------

std::string EncodeL2Value(absl::string_view redis_key, const L2Entry& entry) {
  std::string out;
  out.reserve(kL2HeaderBytes + entry.payload.size());
  out.append(kMagic, sizeof(kMagic));
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(entry.negative ? kNegativeKind : kReportKind);
  out.append(2, '\0');
  PutBig(static_cast<uint64_t>(absl::ToUnixNanos(entry.fetch_time)), 8, &out);
  PutBig(static_cast<uint64_t>(absl::ToUnixNanos(entry.expires_at)), 8, &out);
  PutBig(static_cast<uint64_t>(entry.payload.size()), 4, &out);
  out += Sha256({absl::string_view(out), redis_key, entry.payload});
  out += entry.payload;
  return out;
}

absl::StatusOr<L2Entry> DecodeL2Value(absl::string_view redis_key, absl::string_view value) {
  if (value.size() < kL2HeaderBytes) return Refused("shorter than the header");
  if (value.substr(0, 4) != absl::string_view(kMagic, 4)) return Refused("not a Rollcall value");
  if (static_cast<uint8_t>(value[4]) != kFormatVersion) return Refused("unknown format version");
  const char kind = value[5];
  if ((kind != kReportKind && kind != kNegativeKind) || value[6] != 0 || value[7] != 0) {
    return Refused("unknown kind");
  }
  const uint64_t size = GetBig(value, 24, 4);
  if (size != value.size() - kL2HeaderBytes) return Refused("truncated or padded");
  const absl::string_view payload = value.substr(kL2HeaderBytes);
  if (Sha256({value.substr(0, kDigestOffset), redis_key, payload}) !=
      value.substr(kDigestOffset, kDigestBytes)) {
    return Refused("digest mismatch (corrupt, or written under another key)");
  }
  L2Entry entry;
  entry.negative = kind == kNegativeKind;
  entry.fetch_time = absl::FromUnixNanos(static_cast<int64_t>(GetBig(value, 8, 8)));
  entry.expires_at = absl::FromUnixNanos(static_cast<int64_t>(GetBig(value, 16, 8)));
  entry.payload = std::string(payload);
  return entry;
}

std::string MakeReplicaId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device random;
  return absl::StrCat(host, ":", getpid(), ":", absl::Hex(random(), absl::kZeroPad8));
}

// --- RedisL2 --------------------------------------------------------------------------------

absl::string_view RedisL2::ErrorKindName(int kind) {
  static constexpr absl::string_view kNames[kErrorKinds] = {"connect", "auth",  "timeout",
                                                            "io",      "reply", "corrupt_value"};
  return kind >= 0 && kind < kErrorKinds ? kNames[kind] : "other";
}

void RedisL2::ConnectionDeleter::operator()(redisContext* context) const { redisFree(context); }

RedisL2::RedisL2(Options options, const common::Clock* clock, Logger* logger)
    : options_(std::move(options)), clock_(clock), logger_(logger) {}

RedisL2::~RedisL2() = default;

ReportCache::Loader RedisL2::Wrap(std::shared_ptr<RedisL2> self, ReportCache::Loader inner) {
  return [self = std::move(self), inner = std::move(inner)](absl::string_view key,
                                                            absl::Time deadline) {
    return self->Load(key, deadline, inner);
  };
}

RedisL2::Stats RedisL2::GetStats() const {
  Stats stats;
  stats.hits = hits_.load(std::memory_order_relaxed);
  stats.misses = misses_.load(std::memory_order_relaxed);
  stats.writes = writes_.load(std::memory_order_relaxed);
  stats.skipped = skipped_.load(std::memory_order_relaxed);
  stats.lease_waits = lease_waits_.load(std::memory_order_relaxed);
  for (int i = 0; i < kErrorKinds; ++i) stats.errors[i] = errors_[i].load(std::memory_order_relaxed);
  return stats;
}

absl::StatusOr<CachedReport> RedisL2::Load(absl::string_view key, absl::Time deadline,
                                           const ReportCache::Loader& inner) {
  Context context = Acquire();
  if (context == nullptr) return inner(key, deadline);
  const std::string value_key = L2ValueKey(options_.tenant, key);
  const std::string lease_key = L2LeaseKey(options_.tenant, key);
  absl::StatusOr<CachedReport> out;
  Lookup got = Get(context.get(), key, value_key, &out);
  if (got == Lookup::kHit) {
    Release(std::move(context), true);
    return out;
  }
  if (got == Lookup::kError) {
    Release(std::move(context), true);  // kept only if it has no error
    return inner(key, deadline);
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  bool waited = false;
  while (true) {
    const std::optional<bool> taken = TakeLease(context.get(), lease_key);
    if (!taken.has_value()) {
      Release(std::move(context), true);  // kept only if it has no error
      return inner(key, deadline);
    }
    if (*taken) {
      // The holder may have written the value and dropped its lease between our GET and SET.
      got = waited ? Get(context.get(), key, value_key, &out) : Lookup::kMiss;
      if (got == Lookup::kHit) {
        ReleaseLease(context.get(), lease_key);
        Release(std::move(context), true);
        return out;
      }
      if (got == Lookup::kError) {
        Release(std::move(context), true);
        return inner(key, deadline);
      }
      bool healthy = true;
      out = LoadAsHolder(context.get(), key, value_key, lease_key, deadline, inner, &healthy);
      Release(std::move(context), healthy);
      return out;
    }
    // Another replica (or another load here) holds the lease: wait for its value.
    if (!waited) lease_waits_.fetch_add(1, std::memory_order_relaxed);
    waited = true;
    const absl::Time next = clock_->Now() + options_.poll_interval;
    if (next >= deadline) {
      Release(std::move(context), true);
      return absl::DeadlineExceededError(
          "the deadline passed while another replica loaded the report from Graph");
    }
    clock_->SleepUntil(next);
    got = Get(context.get(), key, value_key, &out);
    if (got == Lookup::kHit) {
      Release(std::move(context), true);
      return out;
    }
    if (got == Lookup::kError) {
      Release(std::move(context), true);  // kept only if it has no error
      return inner(key, deadline);
    }
  }
}

absl::StatusOr<CachedReport> RedisL2::LoadAsHolder(redisContext* context, absl::string_view key,
                                                   const std::string& value_key,
                                                   const std::string& lease_key,
                                                   absl::Time deadline,
                                                   const ReportCache::Loader& inner,
                                                   bool* healthy) {
  absl::StatusOr<CachedReport> loaded = inner(key, deadline);
  *healthy = Store(context, key, value_key, loaded) && ReleaseLease(context, lease_key);
  return loaded;
}

RedisL2::Lookup RedisL2::Get(redisContext* context, absl::string_view key,
                             const std::string& value_key, absl::StatusOr<CachedReport>* out) {
  Reply reply = Command(context, {"GET", value_key});
  if (reply == nullptr) {
    Fail(FailureKind(context, errno), context->errstr);
    return Lookup::kError;
  }
  if (reply->type == REDIS_REPLY_NIL) {
    Succeeded();
    return Lookup::kMiss;
  }
  if (reply->type != REDIS_REPLY_STRING) {
    Fail(kReply, reply->type == REDIS_REPLY_ERROR
                     ? absl::string_view(reply->str, reply->len)
                     : absl::string_view("GET: not a string reply"));
    return Lookup::kError;
  }
  Succeeded();
  absl::StatusOr<L2Entry> entry =
      DecodeL2Value(value_key, absl::string_view(reply->str, reply->len));
  if (!entry.ok()) {
    // Never served; the load that follows overwrites it.
    Fail(kCorrupt, entry.status().message());
    return Lookup::kMiss;
  }
  const absl::Time now = clock_->Now();
  if (entry->expires_at <= now) return Lookup::kMiss;  // Redis' own expiry lags, or clocks differ
  if (entry->negative) {
    google::rpc::Status proto;
    if (!proto.ParseFromString(entry->payload) || proto.code() != 5 /* NOT_FOUND */) {
      Fail(kCorrupt, "a negative value without a NOT_FOUND status");
      return Lookup::kMiss;
    }
    *out = common::FromRpcStatus(proto);
  } else {
    CachedReport report = CachedReport::Copy(key, entry->payload, entry->fetch_time,
                                             entry->expires_at - entry->fetch_time);
    if (!report) {
      Fail(kCorrupt, "a value over the cache entry's limits");
      return Lookup::kMiss;
    }
    *out = std::move(report);
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return Lookup::kHit;
}

std::optional<bool> RedisL2::TakeLease(redisContext* context, const std::string& lease_key) {
  const std::string ttl = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.lease_ttl)));
  Reply reply = Command(context, {"SET", lease_key, options_.replica_id, "NX", "PX", ttl});
  if (reply == nullptr) {
    Fail(FailureKind(context, errno), context->errstr);
    return std::nullopt;
  }
  if (reply->type == REDIS_REPLY_STATUS) return true;  // +OK
  if (reply->type == REDIS_REPLY_NIL) return false;    // held by another
  Fail(kReply, reply->type == REDIS_REPLY_ERROR ? absl::string_view(reply->str, reply->len)
                                                : absl::string_view("SET NX: unexpected reply"));
  return std::nullopt;
}

bool RedisL2::Store(redisContext* context, absl::string_view key, const std::string& value_key,
                    const absl::StatusOr<CachedReport>& loaded) {
  const absl::Time now = clock_->Now();
  L2Entry entry;
  entry.fetch_time = now;
  if (loaded.ok()) {
    entry.expires_at = loaded->expires_at();
    const grpc::Slice& bytes = loaded->bytes();
    entry.payload.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  } else if (IsNegativelyCacheable(loaded.status()) &&
             options_.negative_ttl > absl::ZeroDuration()) {
    entry.negative = true;
    entry.expires_at = now + options_.negative_ttl;
    entry.payload = common::ToRpcStatus(loaded.status()).SerializeAsString();
  } else {
    return true;  // nothing to remember
  }
  const int64_t ttl_ms = absl::ToInt64Milliseconds(entry.expires_at - now);
  if (ttl_ms < 1) return true;
  (void)key;
  const std::string value = EncodeL2Value(value_key, entry);
  Reply reply = Command(context, {"SET", value_key, value, "PX", absl::StrCat(ttl_ms)});
  if (reply == nullptr) {
    Fail(FailureKind(context, errno), context->errstr);
    return false;
  }
  if (reply->type != REDIS_REPLY_STATUS) {
    // OOM (maxmemory with noeviction), READONLY (a replica), ...: Redis is alive.
    Fail(kReply, reply->type == REDIS_REPLY_ERROR ? absl::string_view(reply->str, reply->len)
                                                  : absl::string_view("SET: unexpected reply"));
    return true;
  }
  writes_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool RedisL2::ReleaseLease(redisContext* context, const std::string& lease_key) {
  Reply reply =
      Command(context, {"EVAL", kReleaseScript, "1", lease_key, options_.replica_id});
  if (reply == nullptr) {
    Fail(FailureKind(context, errno), context->errstr);
    return false;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    Fail(kReply, absl::string_view(reply->str, reply->len));
  }
  return true;
}

// --- Connections, breaker, logs ---------------------------------------------------------------

RedisL2::Context RedisL2::Acquire() {
  {
    common::MutexLock lock(&mu_);
    if (clock_->Now() < open_until_) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    if (!idle_.empty()) {
      Context context = std::move(idle_.back());
      idle_.pop_back();
      return context;
    }
  }
  return Connect();
}

void RedisL2::Release(Context context, bool healthy) {
  if (context == nullptr || !healthy || context->err != 0) return;
  common::MutexLock lock(&mu_);
  if (idle_.size() < options_.max_idle_connections && clock_->Now() >= open_until_) {
    idle_.push_back(std::move(context));
  }
}

RedisL2::Context RedisL2::Connect() {
  const timeval tv = TimevalOf(options_.timeout);
  const RedisAddress& address = options_.address;
  Context context(address.unix_path.empty()
                      ? redisConnectWithTimeout(address.host.c_str(), address.port, tv)
                      : redisConnectUnixWithTimeout(address.unix_path.c_str(), tv));
  if (context == nullptr) {
    Fail(kConnect, "cannot allocate a connection");
    return nullptr;
  }
  if (context->err != 0) {
    Fail(kConnect, context->errstr);
    return nullptr;
  }
  if (redisSetTimeout(context.get(), tv) != REDIS_OK) {
    Fail(kConnect, "cannot set the socket timeout");
    return nullptr;
  }
  if (address.unix_path.empty()) redisEnableKeepAlive(context.get());
  if (!options_.password_file.empty()) {
    absl::StatusOr<RedisCredentials> credentials = ReadRedisPasswordFile(options_.password_file);
    if (!credentials.ok()) {
      Fail(kAuth, credentials.status().message());
      return nullptr;
    }
    Reply reply = credentials->user.empty()
                      ? Command(context.get(), {"AUTH", credentials->password})
                      : Command(context.get(), {"AUTH", credentials->user, credentials->password});
    if (reply == nullptr) {
      Fail(FailureKind(context.get(), errno), context->errstr);
      return nullptr;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      // Redis' message (WRONGPASS ..., or no password set) never repeats the password.
      Fail(kAuth, absl::string_view(reply->str, reply->len));
      return nullptr;
    }
  }
  if (address.db != 0) {
    Reply reply = Command(context.get(), {"SELECT", absl::StrCat(address.db)});
    if (reply == nullptr) {
      Fail(FailureKind(context.get(), errno), context->errstr);
      return nullptr;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      Fail(kAuth, absl::string_view(reply->str, reply->len));
      return nullptr;
    }
  }
  return context;
}

void RedisL2::Fail(ErrorKind kind, absl::string_view detail) {
  errors_[kind].fetch_add(1, std::memory_order_relaxed);
  const bool trips = kind == kConnect || kind == kAuth || kind == kTimeout || kind == kIo;
  std::vector<Context> dropped;  // freed after the lock
  const absl::Time now = clock_->Now();
  bool log = false;
  uint64_t suppressed = 0;
  absl::Duration backoff;
  {
    common::MutexLock lock(&mu_);
    if (trips) {
      backoff_ = backoff_ == absl::ZeroDuration()
                     ? options_.breaker_initial
                     : std::min(backoff_ * 2, options_.breaker_max);
      open_until_ = now + backoff_;
      down_ = true;
      dropped.swap(idle_);
    }
    backoff = backoff_;
    if (now - last_log_ >= options_.log_interval) {
      log = true;
      last_log_ = now;
      suppressed = suppressed_;
      suppressed_ = 0;
    } else {
      ++suppressed_;
    }
  }
  if (!log || logger_ == nullptr) return;
  const std::string text = TruncateForLog(detail, 256);
  if (trips) {
    logger_->Warn("redis unavailable: loads go to Graph until it answers again",
                  {{"kind", ErrorKindName(kind)},
                   {"error", text},
                   {"retry_in_ms", absl::ToInt64Milliseconds(backoff)},
                   {"unlogged_errors", static_cast<int64_t>(suppressed)}});
  } else {
    logger_->Warn(kind == kCorrupt ? "redis value refused: not served, the load overwrites it"
                                   : "redis refused a command: the load goes on without it",
                  {{"kind", ErrorKindName(kind)},
                   {"error", text},
                   {"unlogged_errors", static_cast<int64_t>(suppressed)}});
  }
}

void RedisL2::Succeeded() {
  bool recovered = false;
  {
    common::MutexLock lock(&mu_);
    if (down_) {
      down_ = false;
      recovered = true;
    }
    backoff_ = absl::ZeroDuration();
  }
  if (recovered && logger_ != nullptr) logger_->Info("redis reachable again: L2 in use");
}

}  // namespace rollcall::service
