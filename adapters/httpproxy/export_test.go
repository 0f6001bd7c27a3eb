package httpproxy

// DirectCopies is how many streamed answers were copied directly to a
// Server response so far (direct.go).
func DirectCopies() int64 { return directCopies.Load() }

// RawCopies is how many of them were read with raw reads (rawcopy_linux.go).
func RawCopies() int64 { return rawCopies.Load() }
