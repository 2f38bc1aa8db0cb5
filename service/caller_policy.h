#pragma once
// The caller policy (issue 11, inbound): which authenticated callers may read whose attendance.
// Rollcall reads Graph with a tenant-wide application permission; without a policy anyone who
// reaches the port could read any organizer's meetings through it (a confused deputy). With
// mutual TLS each caller has an identity from its client certificate, and the policy file maps
// identities to what each may read:
//
//   {"callers": [
//     {"identity": "spiffe://cluster.local/ns/hr/sa/reports", "users": ["*"]},
//     {"identity": "CN=payroll", "users": ["16664f75-11dc-4870-bec6-38c1aaa81431"],
//      "virtual_events": false}
//   ]}
//
// - identity: a URI SAN (a SPIFFE ID), a DNS SAN, the certificate's subject as gRPC prints it
//   (RFC 2253: "CN=payroll,O=Example") or "CN=<common name>". Each identity appears once.
// - users: the organizer user IDs whose meetings the caller may read (exact match), or ["*"]
//   for every user and every webinar and town hall session.
// - virtual_events (optional, default false): whether the caller may read webinar and town hall
//   sessions, which have no organizer user in the request.
// Unknown keys, a missing or empty identity, a duplicate identity, a missing users list or one
// that mixes "*" with IDs are errors. A caller whose identities the policy does not name is
// denied everything.
//
// Which identity decides: a certificate can carry several (URI SANs, DNS SANs, subject). The
// first one the policy names, in the order URI SANs, DNS SANs, subject, "CN=<common name>",
// decides; the others are not consulted.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "service/log.h"

namespace rollcall::service {

// What a request reads: an organizer's meeting (user_id) or a webinar / town hall session.
struct CallerResource {
  bool virtual_event = false;
  absl::string_view user_id;  // empty for a virtual event session
};

class CallerPolicy {
 public:
  struct Rule {
    bool all = false;             // "users": ["*"]
    bool virtual_events = false;  // all implies it
    absl::flat_hash_set<std::string> users;
  };

  // Parses the JSON form above. Errors: INVALID_ARGUMENT saying what is wrong and where
  // ("callers[2].users: ...").
  static absl::StatusOr<std::shared_ptr<const CallerPolicy>> Parse(absl::string_view json);

  // OK, or PERMISSION_DENIED (reason CALLER_NOT_ALLOWED, metadata "caller" and, when a user
  // was refused, "user_id") naming the caller's identity and what it may not read.
  // `identities` in preference order (CallerIdentities); empty: no certificate.
  absl::Status Check(absl::Span<const std::string> identities,
                     const CallerResource& resource) const;

  // The rule of the first identity the policy names; null when it names none.
  const Rule* Find(absl::Span<const std::string> identities) const;

  std::size_t size() const { return rules_.size(); }

 private:
  absl::flat_hash_map<std::string, Rule> rules_;
};

// The identities of an authenticated peer, in preference order: URI SANs (SPIFFE IDs), DNS
// SANs, the subject (RFC 2253), "CN=<common name>". Empty when it presented no certificate.
std::vector<std::string> CallerIdentities(const grpc::AuthContext& auth);

// The policy file, re-read when it changes: at most once per `poll_interval` a call stats it
// (inode, size, modification and change times; a Kubernetes ConfigMap or Secret swap changes
// them). A file that no longer parses keeps the previous policy and logs an error once per
// change. Thread-safe.
class CallerPolicyFile {
 public:
  // Reads and parses `path`. Errors: INVALID_ARGUMENT naming the file and the problem.
  static absl::StatusOr<std::unique_ptr<CallerPolicyFile>> Open(
      std::string path, const common::Clock* clock, Logger* logger,
      absl::Duration poll_interval = absl::Seconds(1));

  // The policy in force (reloaded first when the file changed and the interval has passed).
  std::shared_ptr<const CallerPolicy> Current();

  // Current()->Check with the identities of `context`'s peer; logs a denial at info.
  absl::Status Authorize(const grpc::ServerContextBase& context, const CallerResource& resource);

  const std::string& path() const { return path_; }
  // Reloads that took effect, and changes that did not parse.
  uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  uint64_t reload_errors() const { return reload_errors_.load(std::memory_order_relaxed); }

 private:
  struct Stamp {
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const Stamp& other) const {
      return inode == other.inode && size == other.size && mtime_ns == other.mtime_ns &&
             ctime_ns == other.ctime_ns;
    }
  };
  CallerPolicyFile(std::string path, const common::Clock* clock, Logger* logger,
                   absl::Duration poll_interval);
  static absl::StatusOr<std::shared_ptr<const CallerPolicy>> Read(const std::string& path,
                                                                  Stamp* stamp);
  void MaybeReload(absl::Time now);

  const std::string path_;
  const common::Clock* const clock_;
  Logger* const logger_;
  const absl::Duration poll_interval_;
  // absl::ToUnixNanos of the next time a call looks at the file; the call that moves it on
  // (compare-and-swap) is the one that looks.
  std::atomic<int64_t> next_check_ns_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reload_errors_{0};

  common::Mutex mu_;
  std::shared_ptr<const CallerPolicy> policy_ ABSL_GUARDED_BY(mu_);
  Stamp stamp_ ABSL_GUARDED_BY(mu_);         // of the file the policy came from
  Stamp bad_stamp_ ABSL_GUARDED_BY(mu_);     // of the last file that did not parse
};

}  // namespace rollcall::service
