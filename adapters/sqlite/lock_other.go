//go:build !unix

package sqlite

// lockFile is a no-op where flock is missing: concurrent first starts of
// several processes on one new file are then the operator's to avoid.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
