#include "service/caller_policy.h"

#include <grpc/grpc_security_constants.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace rollcall::service {
namespace {

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// Policy files are small; anything this large is a mistake.
constexpr std::size_t kMaxPolicyBytes = 4 << 20;

absl::Status Denied(absl::string_view caller, absl::string_view message,
                    absl::string_view user_id) {
  common::ErrorDetails details;
  details.reason = std::string(common::reason::kCallerNotAllowed);
  details.metadata["caller"] = TruncateForLog(caller, 256);
  if (!user_id.empty()) details.metadata["user_id"] = TruncateForLog(user_id, 256);
  return common::MakeError(absl::StatusCode::kPermissionDenied, message, details);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CallerPolicy>> CallerPolicy::Parse(absl::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not JSON: ", rapidjson::GetParseError_En(doc.GetParseError()),
                     " at offset ", doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return Invalid("policy", "must be a JSON object {\"callers\": [...]}");
  auto policy = std::make_shared<CallerPolicy>();
  const rapidjson::Value* callers = nullptr;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    if (key != "callers") return Invalid("policy", absl::StrCat("unknown key \"", key, "\""));
    callers = &it->value;
  }
  if (callers == nullptr || !callers->IsArray()) {
    return Invalid("policy", "\"callers\" must be an array");
  }
  for (rapidjson::SizeType i = 0; i < callers->Size(); ++i) {
    const std::string where = absl::StrCat("callers[", i, "]");
    const rapidjson::Value& entry = (*callers)[i];
    if (!entry.IsObject()) return Invalid(where, "must be an object");
    std::string identity;
    bool has_identity = false;
    bool has_users = false;
    Rule rule;
    for (auto it = entry.MemberBegin(); it != entry.MemberEnd(); ++it) {
      const std::string key(it->name.GetString(), it->name.GetStringLength());
      const rapidjson::Value& value = it->value;
      if (key == "identity") {
        if (!value.IsString() || value.GetStringLength() == 0) {
          return Invalid(where, "\"identity\" must be a non-empty string");
        }
        identity.assign(value.GetString(), value.GetStringLength());
        has_identity = true;
      } else if (key == "users") {
        if (!value.IsArray()) return Invalid(where, "\"users\" must be an array of user IDs");
        has_users = true;
        for (rapidjson::SizeType j = 0; j < value.Size(); ++j) {
          const rapidjson::Value& user = value[j];
          if (!user.IsString() || user.GetStringLength() == 0) {
            return Invalid(absl::StrCat(where, ".users[", j, "]"),
                           "must be a non-empty string");
          }
          std::string id(user.GetString(), user.GetStringLength());
          if (id == "*") {
            rule.all = true;
          } else {
            rule.users.insert(std::move(id));
          }
        }
        if (rule.all && (value.Size() != 1)) {
          return Invalid(absl::StrCat(where, ".users"),
                         "\"*\" (every user) must stand alone");
        }
      } else if (key == "virtual_events") {
        if (!value.IsBool()) return Invalid(where, "\"virtual_events\" must be true or false");
        rule.virtual_events = value.GetBool();
      } else {
        return Invalid(where, absl::StrCat("unknown key \"", key,
                                           "\" (identity, users, virtual_events)"));
      }
    }
    if (!has_identity) return Invalid(where, "\"identity\" is missing");
    if (!has_users) {
      return Invalid(where, "\"users\" is missing (use [\"*\"] for every user, [] for none)");
    }
    if (rule.all) rule.virtual_events = true;
    if (!policy->rules_.emplace(identity, std::move(rule)).second) {
      return Invalid(where, absl::StrCat("identity \"", TruncateForLog(identity, 256),
                                         "\" appears twice"));
    }
  }
  return std::shared_ptr<const CallerPolicy>(std::move(policy));
}

const CallerPolicy::Rule* CallerPolicy::Find(absl::Span<const std::string> identities) const {
  for (const std::string& identity : identities) {
    auto it = rules_.find(identity);
    if (it != rules_.end()) return &it->second;
  }
  return nullptr;
}

absl::Status CallerPolicy::Check(absl::Span<const std::string> identities,
                                 const CallerResource& resource) const {
  if (identities.empty()) {
    return Denied("", "the caller presented no client certificate; the caller policy allows "
                  "only callers it names", "");
  }
  absl::string_view name = identities.front();
  const Rule* rule = nullptr;
  for (const std::string& identity : identities) {
    auto it = rules_.find(identity);
    if (it != rules_.end()) {
      rule = &it->second;
      name = identity;
      break;
    }
  }
  if (rule == nullptr) {
    return Denied(name,
                  absl::StrCat("caller ", TruncateForLog(name, 256),
                               " is not in the caller policy"),
                  resource.user_id);
  }
  if (rule->all) return absl::OkStatus();
  if (resource.virtual_event) {
    if (rule->virtual_events) return absl::OkStatus();
    return Denied(name,
                  absl::StrCat("caller ", TruncateForLog(name, 256),
                               " may not read webinar or town hall sessions"),
                  "");
  }
  if (rule->users.contains(resource.user_id)) return absl::OkStatus();
  return Denied(name,
                absl::StrCat("caller ", TruncateForLog(name, 256),
                             " may not read the meetings of user ",
                             TruncateForLog(resource.user_id, 256)),
                resource.user_id);
}

std::vector<std::string> CallerIdentities(const grpc::AuthContext& auth) {
  std::vector<std::string> out;
  const auto add = [&](const char* property, absl::string_view prefix) {
    for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
      if (value.empty()) continue;
      out.push_back(absl::StrCat(prefix, absl::string_view(value.data(), value.size())));
    }
  };
  add(GRPC_PEER_URI_PROPERTY_NAME, "");
  add(GRPC_PEER_DNS_PROPERTY_NAME, "");
  add(GRPC_X509_SUBJECT_PROPERTY_NAME, "");
  add(GRPC_X509_CN_PROPERTY_NAME, "CN=");
  return out;
}

CallerPolicyFile::CallerPolicyFile(std::string path, const common::Clock* clock, Logger* logger,
                                   absl::Duration poll_interval)
    : path_(std::move(path)), clock_(clock), logger_(logger), poll_interval_(poll_interval) {}

absl::StatusOr<std::shared_ptr<const CallerPolicy>> CallerPolicyFile::Read(
    const std::string& path, Stamp* stamp) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("caller_policy_file ", path, " cannot be read (missing?)"));
  }
  stamp->inode = st.st_ino;
  stamp->size = st.st_size;
  stamp->mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  stamp->ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  if (!S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "caller_policy_file ", path, " is not a regular file of at most 4 MiB"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("caller_policy_file ", path, " cannot be read"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::shared_ptr<const CallerPolicy>> policy = CallerPolicy::Parse(text.str());
  if (!policy.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("caller_policy_file ", path, ": ", policy.status().message()));
  }
  return policy;
}

absl::StatusOr<std::unique_ptr<CallerPolicyFile>> CallerPolicyFile::Open(
    std::string path, const common::Clock* clock, Logger* logger, absl::Duration poll_interval) {
  Stamp stamp;
  absl::StatusOr<std::shared_ptr<const CallerPolicy>> policy = Read(path, &stamp);
  if (!policy.ok()) return policy.status();
  auto file = absl::WrapUnique(new CallerPolicyFile(std::move(path), clock, logger,
                                                    poll_interval));
  {
    common::MutexLock lock(&file->mu_);
    file->policy_ = *std::move(policy);
    file->stamp_ = stamp;
  }
  file->next_check_ns_.store(absl::ToUnixNanos(clock->Now() + poll_interval),
                             std::memory_order_relaxed);
  return file;
}

void CallerPolicyFile::MaybeReload(absl::Time now) {
  const int64_t now_ns = absl::ToUnixNanos(now);
  int64_t next = next_check_ns_.load(std::memory_order_relaxed);
  if (now_ns < next) return;
  // One caller per interval looks at the file; the others go on with the policy in force.
  if (!next_check_ns_.compare_exchange_strong(next, absl::ToUnixNanos(now + poll_interval_),
                                              std::memory_order_relaxed)) {
    return;
  }
  struct stat st {};
  Stamp seen;
  seen.size = -2;  // gone: differs from every stamp of a file read, and from "none yet"
  if (stat(path_.c_str(), &st) == 0) {
    seen.inode = st.st_ino;
    seen.size = st.st_size;
    seen.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    seen.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  }
  {
    common::MutexLock lock(&mu_);
    if (seen == stamp_ || seen == bad_stamp_) return;
  }
  Stamp stamp;
  absl::StatusOr<std::shared_ptr<const CallerPolicy>> policy = Read(path_, &stamp);
  common::MutexLock lock(&mu_);
  if (!policy.ok()) {
    bad_stamp_ = seen;
    reload_errors_.fetch_add(1, std::memory_order_relaxed);
    logger_->Error("the caller policy file changed but cannot be used; keeping the previous "
                   "policy",
                   {{"error", policy.status().message()}});
    return;
  }
  policy_ = *std::move(policy);
  stamp_ = stamp;
  bad_stamp_ = Stamp();
  reloads_.fetch_add(1, std::memory_order_relaxed);
  logger_->Info("caller policy reloaded",
                {{"file", path_}, {"callers", absl::StrCat(policy_->size())}});
}

std::shared_ptr<const CallerPolicy> CallerPolicyFile::Current() {
  MaybeReload(clock_->Now());
  common::MutexLock lock(&mu_);
  return policy_;
}

absl::Status CallerPolicyFile::Authorize(const grpc::ServerContextBase& context,
                                         const CallerResource& resource) {
  const std::shared_ptr<const CallerPolicy> policy = Current();
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const std::vector<std::string> identities =
      auth == nullptr ? std::vector<std::string>() : CallerIdentities(*auth);
  absl::Status status = policy->Check(identities, resource);
  if (!status.ok() && logger_->Enabled(LogLevel::kInfo)) {
    logger_->Info("caller denied", {{"peer", context.peer()},
                                    {"error", TruncateForLog(status.message(), 512)}});
  }
  return status;
}

}  // namespace rollcall::service
