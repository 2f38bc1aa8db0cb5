// grpc.reflection.v1: what a tool asking the current reflection version gets, answered from the
// generated pool (the contract, health, both reflection versions).

#include "service/reflection_v1.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace rollcall::service {
namespace {

namespace refl = grpc::reflection::v1;
using ::testing::Contains;
using ::testing::UnorderedElementsAre;

// The names of the files an answer carries, in order.
std::vector<std::string> FileNames(const refl::ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

TEST(ReflectionV1, ListsEveryServiceTheServerRegisters) {
  const ReflectionV1Service service(ReflectedServiceNames());
  refl::ServerReflectionRequest request;
  request.set_host("localhost");
  request.set_list_services("*");
  const refl::ServerReflectionResponse response = service.Answer(request);
  EXPECT_EQ(response.valid_host(), "localhost");
  EXPECT_EQ(response.original_request().list_services(), "*");
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, UnorderedElementsAre("rollcall.v1.AttendanceReportService",
                                          "grpc.health.v1.Health",
                                          "grpc.reflection.v1.ServerReflection",
                                          "grpc.reflection.v1alpha.ServerReflection"));
}

TEST(ReflectionV1, DescribesHealthSoToolsCanCallIt) {
  const ReflectionV1Service service(ReflectedServiceNames());
  refl::ServerReflectionRequest request;
  request.set_file_containing_symbol("grpc.health.v1.Health");
  EXPECT_THAT(FileNames(service.Answer(request)), Contains("grpc/health/v1/health.proto"));
}

TEST(ReflectionV1, AFileComesWithWhatItImports) {
  const ReflectionV1Service service(ReflectedServiceNames());
  refl::ServerReflectionRequest request;
  request.set_file_containing_symbol("rollcall.v1.AttendanceReportService.GetAttendanceReport");
  const std::vector<std::string> names = FileNames(service.Answer(request));
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names[0], "rollcall/v1/attendance.proto");
  EXPECT_THAT(names, Contains("google/protobuf/timestamp.proto"));
  EXPECT_THAT(names, Contains("google/protobuf/struct.proto"));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());

  request.set_file_by_filename("google/protobuf/timestamp.proto");
  EXPECT_THAT(FileNames(service.Answer(request)),
              UnorderedElementsAre("google/protobuf/timestamp.proto"));
}

TEST(ReflectionV1, WhatItDoesNotKnowIsNotFound) {
  const ReflectionV1Service service(ReflectedServiceNames());
  refl::ServerReflectionRequest request;
  request.set_file_containing_symbol("no.such.Service");
  refl::ServerReflectionResponse response = service.Answer(request);
  EXPECT_EQ(response.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  request.set_file_by_filename("no/such.proto");
  EXPECT_EQ(service.Answer(request).error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  request.mutable_file_containing_extension()->set_containing_type("google.protobuf.FieldOptions");
  request.mutable_file_containing_extension()->set_extension_number(99999);
  EXPECT_EQ(service.Answer(request).error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  request.set_all_extension_numbers_of_type("google.protobuf.Timestamp");
  response = service.Answer(request);
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(),
            "google.protobuf.Timestamp");
  EXPECT_EQ(response.all_extension_numbers_response().extension_number_size(), 0);
  request.Clear();
  EXPECT_EQ(service.Answer(request).error_response().error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace rollcall::service
