#include "service/page_token.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "common/error_details.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rollcall::service {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "0123456789abcdef0123456789abcdef-shared-by-replicas";
constexpr char kReport[] = "o3:abc5:meet36:c9b6db1c-d5eb-427d-a5c0-20088d9b22d7full";

PageTokenSigner Signer(const std::string& key = kKey) {
  absl::StatusOr<PageTokenSigner> signer = PageTokenSigner::FromKey(key);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *std::move(signer);
}

void ExpectRefused(const absl::StatusOr<uint32_t>& opened) {
  ASSERT_FALSE(opened.ok()) << *opened;
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  const common::ErrorDetails details = common::GetErrorDetails(opened.status());
  EXPECT_EQ(details.reason, common::reason::kInvalidPageToken);
  EXPECT_EQ(details.metadata.at(std::string(common::meta::kField)), "page_token");
}

TEST(PageTokenTest, RoundTripsTheOffset) {
  const PageTokenSigner signer = Signer();
  for (uint32_t offset : {0u, 1u, 100u, 24900u, 0xffffffffu}) {
    const std::string token = signer.Mint(kReport, offset);
    EXPECT_EQ(token.size(), 28u);
    absl::StatusOr<uint32_t> opened = signer.Open(kReport, token);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, offset);
  }
}

TEST(PageTokenTest, AnotherSignerWithTheSameKeyAcceptsIt) {
  const std::string token = Signer().Mint(kReport, 300);
  absl::StatusOr<uint32_t> opened = Signer().Open(kReport, token);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, 300u);
}

TEST(PageTokenTest, AnotherKeyRefusesIt) {
  const std::string token = Signer().Mint(kReport, 300);
  ExpectRefused(Signer(std::string(kKey) + "x").Open(kReport, token));
  ExpectRefused(PageTokenSigner::Random().Open(kReport, token));
}

TEST(PageTokenTest, AnotherReportRefusesIt) {
  const PageTokenSigner signer = Signer();
  const std::string token = signer.Mint(kReport, 300);
  ExpectRefused(signer.Open(std::string(kReport) + "x", token));
  ExpectRefused(signer.Open("", token));
}

// Every single-bit change of the decoded token, re-encoded: the version, each offset bit (a
// client trying to skip ahead) and each MAC bit.
TEST(PageTokenTest, EveryAlteredBitIsRefused) {
  const PageTokenSigner signer = Signer();
  const std::string token = signer.Mint(kReport, 1200);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  for (std::size_t byte = 0; byte < raw.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string altered = raw;
      altered[byte] = static_cast<char>(altered[byte] ^ (1 << bit));
      ExpectRefused(signer.Open(kReport, absl::WebSafeBase64Escape(altered)));
    }
  }
}

TEST(PageTokenTest, MadeUpAndMalformedTokensAreRefused) {
  const PageTokenSigner signer = Signer();
  const std::string token = signer.Mint(kReport, 100);
  for (const std::string& made_up :
       {std::string("100"), std::string("next"), std::string(28, 'A'), token + "A",
        token.substr(0, 27), token.substr(0, 27) + "=", std::string(28, '/'),
        std::string("AQAAAGT") + std::string(21, '\0'), std::string(4096, 'x'),
        // The canonical token with the last character's unused low bits set: the same bytes
        // spelled differently.
        token.substr(0, 27) + static_cast<char>(token[27] == 'A' ? 'B' : token[27] ^ 1)}) {
    absl::StatusOr<uint32_t> opened = signer.Open(kReport, made_up);
    if (opened.ok()) {
      ADD_FAILURE() << "accepted " << made_up << " as offset " << *opened;
      continue;
    }
    ExpectRefused(opened);
    EXPECT_THAT(std::string(opened.status().message()), Not(HasSubstr(made_up)));
  }
}

TEST(PageTokenTest, ShortKeysAreRefusedWithoutShowingThem) {
  const std::string short_key = "only-31-bytes-of-key-material!!";
  ASSERT_EQ(short_key.size(), 31u);
  absl::StatusOr<PageTokenSigner> signer = PageTokenSigner::FromKey(short_key);
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(signer.status().message()), HasSubstr("at least 32"));
  EXPECT_THAT(std::string(signer.status().message()), Not(HasSubstr(short_key)));
}

TEST(PageTokenTest, KeyFileIsReadWithoutItsTrailingNewline) {
  const std::string path = ::testing::TempDir() + "/page_token_key";
  {
    std::ofstream out(path, std::ios::binary);
    out << kKey << "\r\n";
  }
  absl::StatusOr<PageTokenSigner> from_file = PageTokenSigner::FromFile(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  const std::string token = from_file->Mint(kReport, 7);
  absl::StatusOr<uint32_t> opened = Signer().Open(kReport, token);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, 7u);

  {
    std::ofstream out(path, std::ios::binary);
    out << "short-secret-key\n";
  }
  absl::StatusOr<PageTokenSigner> short_file = PageTokenSigner::FromFile(path);
  ASSERT_FALSE(short_file.ok());
  EXPECT_THAT(std::string(short_file.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(short_file.status().message()), Not(HasSubstr("short-secret-key")));

  absl::StatusOr<PageTokenSigner> missing = PageTokenSigner::FromFile(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("cannot read"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace rollcall::service
