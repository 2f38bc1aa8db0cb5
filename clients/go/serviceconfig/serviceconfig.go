// Package serviceconfig holds the gRPC service config that Rollcall's clients dial with
// (clients/service_config.json: round_robin balancing, a 30s default deadline, retries of
// UNAVAILABLE), for grpc.WithDefaultServiceConfig.
//
// go:embed cannot reach files outside the module, so service_config.json here is a copy of
// clients/service_config.json; a test fails when the two differ.
package serviceconfig

import _ "embed"

// JSON is clients/service_config.json.
//
//go:embed service_config.json
var JSON string
