package httpproxy

import "errors"

// chunkScanner follows the chunked framing of a downstream's answer as
// its bytes pass, for the raw copy of a stream (rawcopy_linux.go): it
// hands on the body's bytes and finds where the body ends.
// It reads only the plain form (hex digits, CRLF, data, CRLF) and leaves
// every other size line to net/http's chunked reader, which then reads
// the rest of the answer: the last chunk (its trailers and the end),
// chunk extensions, whitespace, bare LFs, sizes of 16 digits or more and
// malformed lines alike. So the relay accepts nothing net/http would
// refuse, and what it refuses is refused with net/http's own error.
type chunkScanner struct {
	state uint8
	left  uint64   // data bytes left in the current chunk (scanData), or the size read so far
	line  [18]byte // the size line read so far, for net/http when it is left to it
	nline int
	data  int64 // body bytes passed
}

const (
	scanSize   = iota // reading the digits of a size line
	scanSizeLF        // its CR read, LF expected
	scanData
	scanDataCR // the data read, CRLF expected
	scanDataLF
)

// errMalformedChunk is a chunk's data not followed by CRLF (net/http's
// reader reports "malformed chunked encoding" for the same).
var errMalformedChunk = errors.New("httpproxy: malformed chunked encoding from the downstream")

// hexDigit is the value of an ASCII hex digit, or -1.
func hexDigit(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// feed consumes in and passes the body bytes it holds to emit, each run
// in one call. When it reaches a size line it leaves to net/http, it stops
// and returns that line as read so far followed by the rest of in (rest
// is then non-nil, never empty). err is emit's, or framing that cannot be
// right whoever reads it.
func (s *chunkScanner) feed(in []byte, emit func([]byte) error) (rest []byte, err error) {
	for i := 0; i < len(in); {
		switch s.state {
		case scanSize:
			b := in[i]
			if b == '\r' && s.nline > 0 {
				s.state = scanSizeLF
			} else if d := hexDigit(b); d < 0 || s.nline == 15 {
				return s.leave(in[i:]), nil
			} else {
				s.left = s.left<<4 | uint64(d)
			}
			s.line[s.nline] = b
			s.nline++
			i++
		case scanSizeLF:
			if in[i] != '\n' {
				return s.leave(in[i:]), nil
			}
			if s.left == 0 { // the last chunk: trailers and the end are net/http's
				s.line[s.nline] = '\n'
				s.nline++
				return s.leave(in[i+1:]), nil
			}
			i++
			s.nline, s.state = 0, scanData
		case scanData:
			n := int(min(uint64(len(in)-i), s.left))
			if err := emit(in[i : i+n]); err != nil {
				return nil, err
			}
			s.data += int64(n)
			s.left -= uint64(n)
			i += n
			if s.left == 0 {
				s.state = scanDataCR
			}
		case scanDataCR, scanDataLF:
			want := byte('\r')
			if s.state == scanDataLF {
				want = '\n'
			}
			if in[i] != want {
				return nil, errMalformedChunk
			}
			i++
			if s.state++; s.state > scanDataLF {
				s.state = scanSize
			}
		}
	}
	return nil, nil
}

// leave returns the size line read so far followed by tail.
func (s *chunkScanner) leave(tail []byte) []byte {
	rest := make([]byte, 0, s.nline+len(tail))
	return append(append(rest, s.line[:s.nline]...), tail...)
}
