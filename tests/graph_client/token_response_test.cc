// The identity platform's token-endpoint bodies (moved here from json_mapping_test.cc with
// ParseTokenResponse and ParseTokenErrorBody).

#include "graph_client/token_response.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/graph_examples.h"
#include "tests/testing/status_details.h"

namespace rollcall::graph {
namespace {

using ::rollcall::testing::ExampleNames;
using ::rollcall::testing::Message;
using ::rollcall::testing::ReadExample;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Token bodies.

TEST(TokenBodies, SharedSuccessExampleParses) {
  absl::StatusOr<TokenResponse> token =
      ParseTokenResponse(ReadExample("identity-token-success-client-credentials.json"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token_type, "Bearer");
  EXPECT_EQ(token->expires_in, absl::Seconds(3599));
  EXPECT_FALSE(token->refresh_in.has_value());
  EXPECT_EQ(token->access_token.rfind("eyJ0eXAiOiJKV1Qi", 0), 0u);
}

TEST(TokenBodies, ExpiresInAsNumberOrStringOrAbsent) {
  EXPECT_EQ(ParseTokenResponse(R"({"access_token":"t","expires_in":"3599"})")->expires_in,
            absl::Seconds(3599));
  EXPECT_EQ(ParseTokenResponse(R"({"access_token":"t","expires_in":60.5})")->expires_in,
            absl::Milliseconds(60500));
  EXPECT_EQ(ParseTokenResponse(R"({"access_token":"t"})")->expires_in, absl::Seconds(600));
  EXPECT_EQ(ParseTokenResponse(R"({"access_token":"t","token_type":"bearer","expires_in":86399,
                                   "ext_expires_in":86399,"refresh_in":43199})")
                ->refresh_in,
            absl::Seconds(43199));
}

TEST(TokenBodies, InvalidResponsesNeverEchoTheToken) {
  for (const char* text :
       {R"({"token_type":"Bearer","expires_in":3599})", R"({"access_token":""})",
        R"({"access_token":42})", R"({"access_token":"SECRET-TOKEN","token_type":"mac"})",
        R"({"access_token":"SECRET-TOKEN","expires_in":-5})",
        R"({"access_token":"SECRET-TOKEN","expires_in":0})",
        R"({"access_token":"SECRET-TOKEN","expires_in":"soon"})",
        R"({"access_token":"SECRET-TOKEN","expires_in":{}})",
        R"({"access_token":"SECRET-TOKEN","expires_in":1e12})", "[]", "{"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<TokenResponse> token = ParseTokenResponse(text);
    ASSERT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(token.status()), ::testing::Not(HasSubstr("SECRET-TOKEN")));
  }
}

TEST(TokenBodies, UnusableAccessTokensAreRefusedWithoutBeingQuoted) {
  for (const std::string& token :
       {std::string(""), std::string("eyJ\\u0000evil"), std::string("eyJ\\r\\nX-Injected: 1"),
        std::string("eyJ has space"), std::string("eyJ\\u00e9"),
        std::string(kMaxAccessTokenBytes + 1, 'a')}) {
    SCOPED_TRACE(token.substr(0, 40));
    absl::StatusOr<TokenResponse> parsed = ParseTokenResponse(
        R"({"token_type":"Bearer","expires_in":3600,"access_token":")" + token + "\"}");
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(parsed.status()), HasSubstr("access_token"));
    EXPECT_THAT(Message(parsed.status()), ::testing::Not(HasSubstr("eyJ")));
  }
  absl::StatusOr<TokenResponse> largest = ParseTokenResponse(
      R"({"access_token":")" + std::string(kMaxAccessTokenBytes, 'a') + "\"}");
  EXPECT_TRUE(largest.ok()) << largest.status();
}

TEST(TokenBodies, SharedErrorExamplesParse) {
  const auto names = ExampleNames("identity-token-error-");
  ASSERT_EQ(names.size(), 2u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    TokenErrorBody body;
    ASSERT_TRUE(ParseTokenErrorBody(ReadExample(name), &body));
    EXPECT_EQ(body.error, "invalid_scope");
    EXPECT_EQ(body.aadsts_code, "AADSTS70011");
    EXPECT_EQ(body.error_description.rfind("AADSTS70011: ", 0), 0u);
    EXPECT_FALSE(body.trace_id.empty());
    EXPECT_FALSE(body.correlation_id.empty());
  }
}

TEST(TokenBodies, AadstsCodeFallsBackToTheDescription) {
  TokenErrorBody body;
  ASSERT_TRUE(ParseTokenErrorBody(
      R"({"error":"invalid_client",
          "error_description":"AADSTS7000215: Invalid client secret provided."})",
      &body));
  EXPECT_EQ(body.aadsts_code, "AADSTS7000215");
  ASSERT_TRUE(ParseTokenErrorBody(R"({"error":"invalid_client","error_codes":[]})", &body));
  EXPECT_EQ(body.aadsts_code, "");
  ASSERT_TRUE(ParseTokenErrorBody(
      R"({"error":"invalid_client","error_codes":[700016],"error_description":"AADSTS1: x"})",
      &body));
  EXPECT_EQ(body.aadsts_code, "AADSTS700016");
  EXPECT_FALSE(ParseTokenErrorBody(R"({"error":{"code":"x"}})", &body));
  EXPECT_FALSE(ParseTokenErrorBody("{}", &body));
  EXPECT_FALSE(ParseTokenErrorBody("<html/>", &body));
}

}  // namespace
}  // namespace rollcall::graph
