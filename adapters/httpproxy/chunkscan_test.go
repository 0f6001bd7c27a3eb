package httpproxy

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scan feeds the pieces of a chunked stream to a chunkScanner and returns
// the body bytes it passed and where it stopped.
func scan(t *testing.T, pieces []string) (body, rest string, err error) {
	t.Helper()
	var s chunkScanner
	var out strings.Builder
	emit := func(p []byte) error { out.Write(p); return nil }
	for i, p := range pieces {
		r, err := s.feed([]byte(p), emit)
		if err != nil || r != nil {
			return out.String(), string(r) + strings.Join(pieces[i+1:], ""), err
		}
	}
	return out.String(), "", nil
}

// splits cuts s at every combination of one or two positions, and at
// random ones.
func splits(s string) [][]string {
	var all [][]string
	for i := 0; i <= len(s); i++ {
		for j := i; j <= len(s); j++ {
			all = append(all, []string{s[:i], s[i:j], s[j:]})
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var p []string
		for rest := s; len(rest) > 0; {
			n := 1 + r.IntN(len(rest))
			p, rest = append(p, rest[:n]), rest[n:]
		}
		all = append(all, p)
	}
	return all
}

// The scanner passes the body through at any split of the input, stops at
// the last chunk with that chunk's line and all that follows left for
// net/http, and what it leaves reads with net/http's own chunked reader to
// the same end.
func TestChunkScannerAtEverySplit(t *testing.T) {
	stream := "5\r\nhello\r\n1A\r\n" + strings.Repeat("x", 26) + "\r\n0\r\nX-Sum: 1\r\n\r\nNEXT"
	for _, pieces := range splits(stream) {
		body, rest, err := scan(t, pieces)
		require.NoError(t, err, "%q", pieces)
		require.Equal(t, "hello"+strings.Repeat("x", 26), body, "%q", pieces)
		require.Equal(t, "0\r\nX-Sum: 1\r\n\r\nNEXT", rest, "%q", pieces)
	}
}

// Lines it does not read itself go to net/http as they came, from the
// start of the line, so net/http accepts or refuses them as it always has.
func TestChunkScannerLeavesOddLinesToNetHTTP(t *testing.T) {
	for _, tc := range []struct{ in, body, rest string }{
		{"5;ext=1\r\nhello\r\n0\r\n\r\n", "", "5;ext=1\r\nhello\r\n0\r\n\r\n"},
		{"5\r\nhello\r\n3 \r\nabc\r\n0\r\n\r\n", "hello", "3 \r\nabc\r\n0\r\n\r\n"},
		{"5\nhello\r\n0\r\n\r\n", "", "5\nhello\r\n0\r\n\r\n"},
		{"\r\n5\r\nhello\r\n", "", "\r\n5\r\nhello\r\n"},
		{"zz\r\nhello\r\n", "", "zz\r\nhello\r\n"},
		{"1234567890123456\r\n", "", "1234567890123456\r\n"},
	} {
		for _, pieces := range splits(tc.in) {
			body, rest, err := scan(t, pieces)
			require.NoError(t, err)
			require.Equal(t, tc.body, body, "%q", pieces)
			require.Equal(t, tc.rest, rest, "%q", pieces)
		}
	}
}

// Chunk data not followed by CRLF is an error, at any split.
func TestChunkScannerRefusesDataWithoutCRLF(t *testing.T) {
	for _, pieces := range splits("5\r\nhelloXX0\r\n\r\n") {
		_, _, err := scan(t, pieces)
		require.ErrorIs(t, err, errMalformedChunk, "%q", pieces)
	}
}

// What the scanner passes and leaves reads, with net/http's reader for
// the rest, as the whole stream reads with net/http's reader alone.
func TestChunkScannerAgreesWithNetHTTP(t *testing.T) {
	for _, stream := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\r\n6;a=b\r\n world\r\n0\r\n\r\n",
		"3\r\nabc\r\n 4\r\ndefg\r\n0\r\n\r\n",
		"2\r\nab\r\n0\r\nTrailer: x\r\n\r\n",
	} {
		want, wantErr := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(stream)))
		for _, pieces := range splits(stream) {
			body, rest, err := scan(t, pieces)
			require.NoError(t, err)
			tail, tailErr := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(strings.NewReader(rest))))
			require.Equal(t, string(want), body+string(tail), "%q", pieces)
			require.Equal(t, wantErr == nil, tailErr == nil, "%q: %v / %v", pieces, wantErr, tailErr)
		}
	}
}
