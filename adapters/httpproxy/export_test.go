package httpproxy

// DirectCopies is how many streamed answers were copied directly to a
// Server response so far (direct.go).
func DirectCopies() int64 { return directCopies.Load() }
