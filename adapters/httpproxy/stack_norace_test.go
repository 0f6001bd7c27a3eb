//go:build !race

package httpproxy_test

const raceEnabled = false
