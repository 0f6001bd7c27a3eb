//go:build !linux

package app

// TuneRuntime does nothing off Linux: the proxy's measurements, and the
// reason for its setting (runtime_linux.go), are Linux's.
func TuneRuntime() {}
