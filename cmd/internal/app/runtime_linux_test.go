package app

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTunedEnvironAddsTheSettingOnce(t *testing.T) {
	env, ok := tunedEnviron([]string{"PATH=/bin", "APP_PORT=1"})
	assert.True(t, ok)
	assert.Equal(t, []string{"PATH=/bin", "APP_PORT=1", "GODEBUG=" + sysmonSetting}, env)

	env, ok = tunedEnviron([]string{"GODEBUG=http2client=0", "PATH=/bin", "GODEBUG=ignored=1"})
	assert.True(t, ok)
	assert.Equal(t, []string{"PATH=/bin", "GODEBUG=http2client=0," + sysmonSetting}, env,
		"the operator's settings are kept, the one GODEBUG the runtime reads is extended")

	// Once tuned (after the exec), or when the operator chose a schedtrace
	// (schedtrace=0: Go's default), nothing changes.
	for _, g := range []string{"GODEBUG=" + sysmonSetting, "GODEBUG=x=1, schedtrace=0", "GODEBUG=schedtrace=1000"} {
		in := []string{"PATH=/bin", g}
		env, ok = tunedEnviron(in)
		assert.False(t, ok, g)
		assert.Equal(t, in, env, g)
	}
}
