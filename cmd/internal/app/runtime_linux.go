package app

import (
	"os"
	"strings"
	"syscall"
)

// sysmonSetting keeps the Go runtime's monitor thread (sysmon) out of its
// deep sleep. Go has no setting for this (golang/go#18236); a schedtrace
// period is the one thing that does it, and at the largest period
// (2^31-1 ms, 24.8 days) it prints nothing on a host up for less than
// that, and one scheduler line every 24.8 days on one up for longer (and
// a scheduler dump with a fatal runtime error).
//
// Why: a proxy holding many open streams goes idle between events. Each
// time every P is idle, sysmon sleeps until woken by the next system call
// made through the scheduler (accept, connect, close: one per stream
// opened or ended), and each such wake-up sets it polling every 20 µs for
// a millisecond. Without deep sleep it backs off to one tick per 10 ms
// while there is nothing to retake. Measured (docs/performance.md, round
// 4): 17 % less CPU per streamed event at 1 000 open streams, 9 % at
// 4 000, rps unchanged or better.
const sysmonSetting = "schedtrace=2147483647"

// TuneRuntime re-executes the running binary once with sysmonSetting added
// to GODEBUG, unless GODEBUG already names schedtrace (the operator's value
// wins: GODEBUG=schedtrace=0 keeps Go's default). It returns only when it
// does not re-execute (already tuned, opted out, or exec failed); the
// process keeps its PID, arguments and the rest of its environment.
func TuneRuntime() {
	env, ok := tunedEnviron(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // only returns on failure: run untuned
}

// tunedEnviron returns environ with sysmonSetting added to GODEBUG, and
// false when GODEBUG already sets schedtrace.
func tunedEnviron(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	godebug, seen := "", false
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if seen {
				continue // the runtime reads the first; later ones are dropped
			}
			godebug, seen = v, true
			for _, field := range strings.Split(v, ",") {
				if key, _, _ := strings.Cut(field, "="); strings.TrimSpace(key) == "schedtrace" {
					return environ, false
				}
			}
			continue
		}
		out = append(out, kv)
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+sysmonSetting), true
}
