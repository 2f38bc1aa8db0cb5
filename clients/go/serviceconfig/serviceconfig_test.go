package serviceconfig

import (
	"encoding/json"
	"os"
	"testing"
)

func TestEmbeddedCopyEqualsClientsServiceConfig(t *testing.T) {
	want, err := os.ReadFile("../../service_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if JSON != string(want) {
		t.Fatal("clients/go/serviceconfig/service_config.json differs from clients/service_config.json: " +
			"cp clients/service_config.json clients/go/serviceconfig/")
	}
	if !json.Valid([]byte(JSON)) {
		t.Fatal("service_config.json is not JSON")
	}
}
