package httpproxy

// DirectCopies is how many streamed answers were copied directly to a
// Server response so far (direct.go).
func DirectCopies() int64 { return directCopies.Load() }

// RawCopies is how many of them were read with raw reads (rawcopy_linux.go).
func RawCopies() int64 { return rawCopies.Load() }

// CopyBuffersOut is how many 32 KiB copy buffers are lent now.
func CopyBuffersOut() int64 { return copyBuffersOut.Load() }

// ReadersOut is how many response readers u has lent now.
func (u *Upstream) ReadersOut() int64 { return u.readersOut.Load() }
