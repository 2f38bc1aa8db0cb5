#pragma once
// Expected messages written out in protobuf's text format, and a comparison that says what
// differs: for tests that pin a mapping field by field, independently of the mapping.

#include <string>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace rollcall::testing {

// `text` (protobuf text format) as a Message; a parse error fails the test.
template <typename Message>
Message FromText(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Fails the test with the differences when `actual` is not `expected`.
template <typename Message>
void ExpectProtoEq(const Message& actual, const Message& expected) {
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(actual, expected)) << diff << "got:\n" << actual.DebugString();
}

}  // namespace rollcall::testing
