package sentinel

import (
	"net/netip"
	"time"
)

// The encodings every store shares, so that they agree on the edge cases
// (the zero address, the zero time) without importing each other.

// FormatAddr returns a's text form, or "" for the zero (invalid) Addr,
// where netip.Addr.String would give "invalid IP".
func FormatAddr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// UnixMicros returns t as microseconds since the Unix epoch (the stores'
// resolution), or 0 for the zero Time.
func UnixMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromUnixMicros is the inverse of UnixMicros: 0 is the zero Time, any
// other value a UTC time.
func FromUnixMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
