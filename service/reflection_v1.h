#pragma once
// grpc.reflection.v1.ServerReflection, beside the v1alpha service gRPC's plugin serves: the
// same answers under the name current tools ask first (grpcurl, Postman, grpcui, Evans). Debian's
// gRPC 1.51 serves only v1alpha. Descriptors come from protobuf's generated pool, which holds the
// contract, grpc.health.v1 (linked in for this: gRPC's own health service carries no protobuf
// descriptors, so without it a tool lists Health but cannot call it) and both reflection
// versions.

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace rollcall::service {

class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // `services`: the full names list_services answers with.
  explicit ReflectionV1Service(std::vector<std::string> services);

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>* stream) override;

  // One request's answer (what the stream writes), for tests.
  grpc::reflection::v1::ServerReflectionResponse Answer(
      const grpc::reflection::v1::ServerReflectionRequest& request) const;

 private:
  const std::vector<std::string> services_;
};

// The names of the services every Rollcall server registers, as list_services gives them.
std::vector<std::string> ReflectedServiceNames();

}  // namespace rollcall::service
