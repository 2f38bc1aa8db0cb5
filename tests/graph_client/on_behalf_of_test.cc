// OnBehalfOfGrant's request and error mapping, ReadUserIdentity, and DelegatedCredentials'
// cache (one exchange per user token, bounded), against a scripted transport.

#include "graph_client/on_behalf_of.h"

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "gmock/gmock.h"
#include "graph_client/client_authenticators.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_http_transport.h"

namespace rollcall::graph {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using rollcall::testing::FakeHttpTransport;

std::string Jwt(const std::string& payload) {
  return absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"RS256"})"), ".",
                      absl::WebSafeBase64Escape(payload), ".c2lnbmF0dXJl");
}

class OnBehalfOfTest : public ::testing::Test {
 protected:
  OnBehalfOfTest() {
    config_.authority_host = "https://login.example/";
    config_.tenant_id = "tenant-1";
    config_.client_id = "client-1";
  }
  OnBehalfOfGrant Grant(const std::string& assertion) {
    return OnBehalfOfGrant(config_, "https://graph.example/OnlineMeetingArtifact.Read.All",
                           std::make_shared<ClientSecretAuthenticator>("app-secret"), transport_,
                           &clock_, assertion);
  }
  static std::string AadError(const std::string& error, int code, const std::string& text) {
    return absl::StrCat(R"({"error":")", error, R"(","error_description":"AADSTS)", code, ": ",
                        text, R"(\r\nTrace ID: x","error_codes":[)", code, "]}");
  }

  TokenCredentialConfig config_;
  std::shared_ptr<FakeHttpTransport> transport_ = std::make_shared<FakeHttpTransport>();
  rollcall::testing::FakeClock clock_;
};

TEST_F(OnBehalfOfTest, SendsTheOnBehalfOfGrant) {
  transport_->Enqueue(FakeHttpTransport::Json(
      200, R"({"token_type":"Bearer","expires_in":3600,"access_token":"graph-token"})"));
  OnBehalfOfGrant grant = Grant("user.token.sig");
  absl::StatusOr<AccessToken> token = grant.Request(clock_.Now() + absl::Seconds(10));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token, "graph-token");
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& request = requests[0];
  EXPECT_EQ(request.url, "https://login.example/tenant-1/oauth2/v2.0/token");
  for (const char* field :
       {"client_id=client-1", "client_secret=app-secret",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        "requested_token_use=on_behalf_of", "assertion=user.token.sig",
        "scope=https%3A%2F%2Fgraph.example%2FOnlineMeetingArtifact.Read.All"}) {
    EXPECT_THAT(request.body, HasSubstr(field));
  }
}

TEST_F(OnBehalfOfTest, MapsEachRefusal) {
  struct Case {
    long status;
    std::string body;
    absl::StatusCode code;
    absl::string_view reason;
  };
  const Case cases[] = {
      {400, AadError("invalid_grant", 500133, "Assertion is not within its valid time range."),
       absl::StatusCode::kUnauthenticated, common::reason::kUserTokenExpired},
      {400, AadError("invalid_grant", 50013, "Assertion failed signature validation."),
       absl::StatusCode::kUnauthenticated, common::reason::kUserTokenRejected},
      {400, AadError("invalid_grant", 65001, "The user or administrator has not consented."),
       absl::StatusCode::kFailedPrecondition, common::reason::kConsentRequired},
      {401, AadError("invalid_client", 7000215, "Invalid client secret provided."),
       absl::StatusCode::kFailedPrecondition, common::reason::kCredentialsRejected},
      {503, "", absl::StatusCode::kUnavailable, common::reason::kTokenEndpointError},
  };
  for (const Case& c : cases) {
    transport_->Enqueue(FakeHttpTransport::Json(c.status, c.body));
    OnBehalfOfGrant grant = Grant("user.token.sig");
    absl::StatusOr<AccessToken> token = grant.Request(clock_.Now() + absl::Seconds(10));
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().code(), c.code) << c.body;
    EXPECT_EQ(common::GetErrorDetails(token.status()).reason, c.reason) << c.body;
  }
}

TEST_F(OnBehalfOfTest, NeverQuotesTheUserToken) {
  const std::string assertion = "eyJhbGciOi.eyJvaWQiOiJ1c2VyIn0.very-secret-signature";
  transport_->Enqueue(FakeHttpTransport::Json(
      400, AadError("invalid_grant", 50013, absl::StrCat("Bad assertion ", assertion))));
  OnBehalfOfGrant grant = Grant(assertion);
  absl::StatusOr<AccessToken> token = grant.Request(clock_.Now() + absl::Seconds(10));
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(std::string(token.status().message()), Not(HasSubstr("very-secret-signature")));
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("withheld"));
}

TEST(ReadUserIdentityTest, ReadsOidAndTid) {
  absl::StatusOr<UserIdentity> identity = ReadUserIdentity(Jwt(R"({"oid":"o-1","tid":"t-1"})"));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->oid, "o-1");
  EXPECT_EQ(identity->tid, "t-1");
  EXPECT_FALSE(ReadUserIdentity("opaque-token").ok());
  EXPECT_FALSE(ReadUserIdentity(Jwt(R"({"tid":"t-1"})")).ok());
}

TEST_F(OnBehalfOfTest, CachesOneExchangePerUserTokenAndBoundsTheUsers) {
  int exchanges = 0;
  transport_->SetHandler([&](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
    ++exchanges;
    const std::string oid = absl::StrContains(request.body, "assertion=a") ? "user-a" : "user-b";
    return FakeHttpTransport::Json(
        200, absl::StrCat(R"({"expires_in":3600,"access_token":")",
                          Jwt(absl::StrCat(R"({"oid":")", oid, R"("})")), R"("})"));
  });
  DelegatedOptions options;
  options.token = config_;
  options.token.background_refresh = false;
  options.scope = "https://graph.example/OnlineMeetingArtifact.Read.All";
  options.max_users = 1;
  DelegatedCredentials credentials(std::move(options),
                                   std::make_shared<ClientSecretAuthenticator>("app-secret"),
                                   transport_, &clock_);
  EXPECT_FALSE(credentials.Cached("a").has_value());
  absl::StatusOr<DelegatedUser> a = credentials.Exchange("a", clock_.Now() + absl::Seconds(5));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->identity.oid, "user-a");
  ASSERT_TRUE(credentials.Cached("a").has_value());
  EXPECT_EQ(credentials.Cached("a")->identity.oid, "user-a");
  ASSERT_TRUE(credentials.Exchange("a", clock_.Now() + absl::Seconds(5)).ok());
  EXPECT_EQ(exchanges, 1);
  absl::StatusOr<DelegatedUser> b = credentials.Exchange("b", clock_.Now() + absl::Seconds(5));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->identity.oid, "user-b");
  EXPECT_EQ(credentials.users(), 1u);  // "a" dropped
  EXPECT_FALSE(credentials.Cached("a").has_value());
  // Fresh until five minutes before expiry, then exchanged again.
  clock_.Advance(absl::Minutes(56));
  EXPECT_FALSE(credentials.Cached("b").has_value());
}

}  // namespace
}  // namespace rollcall::graph
