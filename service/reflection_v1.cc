#include "service/reflection_v1.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "rollcall/v1/attendance.grpc.pb.h"

namespace rollcall::service {
namespace {

namespace pb = google::protobuf;
namespace refl = grpc::reflection::v1;

// Adds `file` and, before it is needed, each file it imports, once each per answer.
void AddFile(const pb::FileDescriptor* file, std::set<std::string>* sent,
             refl::FileDescriptorResponse* out) {
  if (!sent->insert(file->name()).second) return;
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  out->add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) AddFile(file->dependency(i), sent, out);
}

void NotFound(const std::string& what, refl::ServerReflectionResponse* response) {
  response->mutable_error_response()->set_error_code(
      static_cast<int32_t>(grpc::StatusCode::NOT_FOUND));
  response->mutable_error_response()->set_error_message(what);
}

}  // namespace

std::vector<std::string> ReflectedServiceNames() {
  // Referring to a health message keeps its generated descriptors linked into the binary.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  return {rollcall::v1::AttendanceReportService::service_full_name(), "grpc.health.v1.Health",
          refl::ServerReflection::service_full_name(),
          "grpc.reflection.v1alpha.ServerReflection"};
}

ReflectionV1Service::ReflectionV1Service(std::vector<std::string> services)
    : services_(std::move(services)) {}

refl::ServerReflectionResponse ReflectionV1Service::Answer(
    const refl::ServerReflectionRequest& request) const {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  refl::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  std::set<std::string> sent;
  switch (request.message_request_case()) {
    case refl::ServerReflectionRequest::kFileByFilename: {
      const pb::FileDescriptor* file = pool->FindFileByName(request.file_by_filename());
      if (file == nullptr) {
        NotFound(absl::StrCat("no file ", request.file_by_filename()), &response);
      } else {
        AddFile(file, &sent, response.mutable_file_descriptor_response());
      }
      break;
    }
    case refl::ServerReflectionRequest::kFileContainingSymbol: {
      const pb::FileDescriptor* file =
          pool->FindFileContainingSymbol(request.file_containing_symbol());
      if (file == nullptr) {
        NotFound(absl::StrCat("no symbol ", request.file_containing_symbol()), &response);
      } else {
        AddFile(file, &sent, response.mutable_file_descriptor_response());
      }
      break;
    }
    case refl::ServerReflectionRequest::kFileContainingExtension: {
      const auto& wanted = request.file_containing_extension();
      const pb::Descriptor* type = pool->FindMessageTypeByName(wanted.containing_type());
      const pb::FieldDescriptor* extension =
          type == nullptr ? nullptr
                          : pool->FindExtensionByNumber(type, wanted.extension_number());
      if (extension == nullptr) {
        NotFound(absl::StrCat("no extension ", wanted.extension_number(), " of ",
                              wanted.containing_type()),
                 &response);
      } else {
        AddFile(extension->file(), &sent, response.mutable_file_descriptor_response());
      }
      break;
    }
    case refl::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type =
          pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        NotFound(absl::StrCat("no type ", request.all_extension_numbers_of_type()), &response);
        break;
      }
      std::vector<const pb::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const pb::FieldDescriptor* extension : extensions) {
        numbers->add_extension_number(extension->number());
      }
      break;
    }
    case refl::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    default:
      response.mutable_error_response()->set_error_code(
          static_cast<int32_t>(grpc::StatusCode::UNIMPLEMENTED));
      response.mutable_error_response()->set_error_message("unknown reflection request");
      break;
  }
  return response;
}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext* /*context*/,
    grpc::ServerReaderWriter<refl::ServerReflectionResponse, refl::ServerReflectionRequest>*
        stream) {
  refl::ServerReflectionRequest request;
  while (stream->Read(&request)) {
    if (!stream->Write(Answer(request))) break;
  }
  return grpc::Status::OK;
}

}  // namespace rollcall::service
