#include "service/caller_policy.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;

constexpr char kUserA[] = "16664f75-11dc-4870-bec6-38c1aaa81431";
constexpr char kUserB[] = "dc17674c-81d9-4adb-bfb2-8f6a442e4622";

constexpr char kPolicy[] = R"({
  "callers": [
    {"identity": "spiffe://cluster.local/ns/hr/sa/reports", "users": ["*"]},
    {"identity": "CN=payroll", "users": ["16664f75-11dc-4870-bec6-38c1aaa81431"]},
    {"identity": "events.example.test", "users": [], "virtual_events": true},
    {"identity": "CN=nobody", "users": []}
  ]
})";

std::shared_ptr<const CallerPolicy> MustParse(absl::string_view json) {
  auto policy = CallerPolicy::Parse(json);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : nullptr;
}

CallerResource User(absl::string_view user) { return {false, user}; }
const CallerResource kSession{true, ""};

void ExpectDenied(const absl::Status& status, absl::string_view caller, absl::string_view says) {
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  const common::ErrorDetails details = common::GetErrorDetails(status);
  EXPECT_EQ(details.reason, common::reason::kCallerNotAllowed);
  EXPECT_EQ(details.metadata.count("caller") ? details.metadata.at("caller") : "?", caller);
  EXPECT_THAT(std::string(status.message()), HasSubstr(says));
}

TEST(CallerPolicyTest, EveryoneReadsWhatTheirRuleLists) {
  auto policy = MustParse(kPolicy);
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->size(), 4u);
  const std::vector<std::string> hr = {"spiffe://cluster.local/ns/hr/sa/reports"};
  EXPECT_TRUE(policy->Check(hr, User(kUserA)).ok());
  EXPECT_TRUE(policy->Check(hr, User(kUserB)).ok());
  EXPECT_TRUE(policy->Check(hr, kSession).ok());  // "*" covers sessions too

  const std::vector<std::string> payroll = {"CN=payroll"};
  EXPECT_TRUE(policy->Check(payroll, User(kUserA)).ok());
  absl::Status denied = policy->Check(payroll, User(kUserB));
  ExpectDenied(denied, "CN=payroll", absl::StrCat("may not read the meetings of user ", kUserB));
  EXPECT_EQ(common::GetErrorDetails(denied).metadata.at("user_id"), kUserB);
  ExpectDenied(policy->Check(payroll, kSession), "CN=payroll", "webinar or town hall");

  const std::vector<std::string> events = {"events.example.test"};
  EXPECT_TRUE(policy->Check(events, kSession).ok());
  ExpectDenied(policy->Check(events, User(kUserA)), "events.example.test", "may not read");

  ExpectDenied(policy->Check({"CN=nobody"}, User(kUserA)), "CN=nobody", "may not read");
}

TEST(CallerPolicyTest, UnknownCallersAndCallersWithoutCertificateAreDenied) {
  auto policy = MustParse(kPolicy);
  ASSERT_NE(policy, nullptr);
  ExpectDenied(policy->Check({"spiffe://cluster.local/ns/x/sa/y", "CN=y"}, User(kUserA)),
               "spiffe://cluster.local/ns/x/sa/y", "is not in the caller policy");
  ExpectDenied(policy->Check({}, User(kUserA)), "", "no client certificate");
  // Identities are compared exactly.
  ExpectDenied(policy->Check({"cn=payroll"}, User(kUserA)), "cn=payroll", "not in");
  ExpectDenied(policy->Check({"CN=payroll,O=Example"}, User(kUserA)), "CN=payroll,O=Example",
               "not in");
}

TEST(CallerPolicyTest, TheFirstIdentityThePolicyNamesDecides) {
  auto policy = MustParse(kPolicy);
  ASSERT_NE(policy, nullptr);
  // A URI SAN the policy does not name, then the subject it does: the subject's rule.
  const std::vector<std::string> ids = {"spiffe://other/x", "CN=payroll"};
  EXPECT_TRUE(policy->Check(ids, User(kUserA)).ok());
  ExpectDenied(policy->Check(ids, User(kUserB)), "CN=payroll", "may not read");
  // Both named: the first (URI SAN, everything) wins over the later one.
  const std::vector<std::string> both = {"spiffe://cluster.local/ns/hr/sa/reports",
                                         "CN=payroll"};
  EXPECT_TRUE(policy->Check(both, User(kUserB)).ok());
  EXPECT_EQ(policy->Find(both), policy->Find({both[0]}));
  EXPECT_EQ(policy->Find({"CN=stranger"}), nullptr);
}

TEST(CallerPolicyTest, StrictParsing) {
  struct Bad {
    const char* json;
    const char* says;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"", "not JSON"},
           {"{", "not JSON"},
           {R"({"callers": []} x)", "not JSON"},
           {"[]", "must be a JSON object"},
           {R"({})", "\"callers\" must be an array"},
           {R"({"callers": {}})", "\"callers\" must be an array"},
           {R"({"callers": [], "extra": 1})", "unknown key \"extra\""},
           {R"({"callers": [1]})", "callers[0]: must be an object"},
           {R"({"callers": [{"users": ["*"]}]})", "callers[0]: \"identity\" is missing"},
           {R"({"callers": [{"identity": "", "users": ["*"]}]})", "non-empty string"},
           {R"({"callers": [{"identity": 7, "users": ["*"]}]})", "non-empty string"},
           {R"({"callers": [{"identity": "a"}]})", "\"users\" is missing"},
           {R"({"callers": [{"identity": "a", "users": "*"}]})", "must be an array"},
           {R"({"callers": [{"identity": "a", "users": [1]}]})", "callers[0].users[0]"},
           {R"({"callers": [{"identity": "a", "users": ["*", "u"]}]})", "must stand alone"},
           {R"({"callers": [{"identity": "a", "users": [], "virtual_events": "yes"}]})",
            "true or false"},
           {R"({"callers": [{"identity": "a", "users": [], "user": []}]})",
            "callers[0]: unknown key \"user\""},
           {R"({"callers": [{"identity": "a", "users": []}, {"identity": "a", "users": []}]})",
            "callers[1]: identity \"a\" appears twice"},
       }) {
    auto policy = CallerPolicy::Parse(bad.json);
    ASSERT_FALSE(policy.ok()) << bad.json;
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(policy.status().message()), HasSubstr(bad.says)) << bad.json;
  }
  EXPECT_NE(MustParse(R"({"callers": []})"), nullptr);
}

class CallerPolicyFileTest : public ::testing::Test {
 protected:
  CallerPolicyFileTest()
      : path_(absl::StrCat(::testing::TempDir(), "/rollcall_callers_",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                           ".json")),
        logger_(LogLevel::kInfo, &clock_, [this](absl::string_view line) {
          common::MutexLock lock(&mu_);
          log_ += std::string(line);
        }) {}
  ~CallerPolicyFileTest() override { std::remove(path_.c_str()); }

  // Written beside and renamed over, as Kubernetes swaps a mounted file.
  void Write(const std::string& text) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
  }
  std::string Log() {
    common::MutexLock lock(&mu_);
    return log_;
  }

  const std::string path_;
  rollcall::testing::FakeClock clock_;
  common::Mutex mu_;
  std::string log_;
  Logger logger_;
};

TEST_F(CallerPolicyFileTest, ABadFileAtStartIsAnErrorNamingIt) {
  auto missing = CallerPolicyFile::Open(path_, &clock_, &logger_);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(path_));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("caller_policy_file"));

  Write(R"({"callers": [{"identity": "a"}]})");
  auto bad = CallerPolicyFile::Open(path_, &clock_, &logger_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(path_));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"users\" is missing"));
}

TEST_F(CallerPolicyFileTest, ReloadsAChangeAndKeepsThePolicyWhenTheChangeIsBad) {
  Write(R"({"callers": [{"identity": "CN=a", "users": ["u1"]}]})");
  auto file = CallerPolicyFile::Open(path_, &clock_, &logger_, absl::Seconds(1));
  ASSERT_TRUE(file.ok()) << file.status();
  CallerPolicyFile& policy = **file;
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u1")).ok());
  EXPECT_FALSE(policy.Current()->Check({"CN=a"}, User("u2")).ok());

  // A change is seen once the poll interval has passed, not before.
  Write(R"({"callers": [{"identity": "CN=a", "users": ["u2"]}]})");
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u1")).ok());
  clock_.Advance(absl::Milliseconds(600));
  EXPECT_FALSE(policy.Current()->Check({"CN=a"}, User("u1")).ok());
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u2")).ok());
  EXPECT_EQ(policy.reloads(), 1u);

  // A broken file: the previous policy stays, one error is logged.
  Write(R"({"callers": [{"identity": "CN=a", "users": ["u3"], "bogus": 1}]})");
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u2")).ok());
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u2")).ok());
  EXPECT_EQ(policy.reload_errors(), 1u);
  EXPECT_THAT(Log(), HasSubstr("keeping the previous policy"));
  EXPECT_THAT(Log(), HasSubstr("unknown key"));

  // A removed file keeps it too; a good file again takes effect.
  std::remove(path_.c_str());
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u2")).ok());
  EXPECT_EQ(policy.reload_errors(), 2u);
  Write(R"({"callers": [{"identity": "CN=a", "users": ["*"]}]})");
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(policy.Current()->Check({"CN=a"}, User("u9")).ok());
  EXPECT_EQ(policy.reloads(), 2u);
}

}  // namespace
}  // namespace rollcall::service
