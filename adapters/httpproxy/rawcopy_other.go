//go:build !linux

package httpproxy

// copyRaw is built for Linux only (rawcopy_linux.go): elsewhere copyTo
// copies through net/http's chunked reader.
func (b *upBody) copyRaw(*response, []byte) (bool, error) { return false, nil }
