// Package adminclient is a Go client of the Sentinel admin API, generated
// by oapi-codegen from adapters/adminapi/openapi-3.0.yaml. Do not edit
// client.gen.go; regenerate with go generate ./adminclient.
package adminclient

//go:generate go tool oapi-codegen -generate types,client -package adminclient -o client.gen.go ../adapters/adminapi/openapi-3.0.yaml
