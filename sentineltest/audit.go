package sentineltest

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
)

// AuditedStores are the ports of one store that the audit contract needs:
// the binding store (or a cache chain over it) and the audit log it writes.
type AuditedStores struct {
	Bindings sentinel.BindingStore // must be a sentinel.AuditedBindingDeleter
	Audit    sentinel.AuditStore
	Settings sentinel.SettingsStore // optional
}

// TestAuditedStore runs the contract of audit entries written with the
// change they describe (BindingUpdate.Audit, AuditedBindingDeleter,
// SettingsStore.SaveSettings) against stores made by open, fresh and empty
// for each subtest.
func TestAuditedStore(t *testing.T, open func(t *testing.T) AuditedStores) {
	ctx := context.Background()
	entry := func(a sentinel.AuditAction, target string) *sentinel.AuditEntry {
		return &sentinel.AuditEntry{Actor: "session-1", ClientIP: netip.MustParseAddr("192.0.2.9"), Action: a,
			Target: target, At: time.Now().UTC().Truncate(time.Microsecond)}
	}
	list := func(t *testing.T, s sentinel.AuditStore) []sentinel.AuditEntry {
		t.Helper()
		es, total, err := s.ListAudit(ctx, sentinel.AuditFilter{})
		require.NoError(t, err)
		require.Equal(t, len(es), total)
		return es
	}
	field := func(t *testing.T, raw json.RawMessage, name string) any {
		t.Helper()
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		return m[name]
	}

	t.Run("update writes its entry with before and after", func(t *testing.T) {
		s := open(t)
		b := NewBinding(t, Key("a"), "192.0.2.1")
		_, _, err := s.Bindings.CreateBinding(ctx, b)
		require.NoError(t, err)
		banned := sentinel.StatusBanned
		_, err = s.Bindings.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned, Audit: entry(sentinel.AuditBan, b.Key.String())})
		require.NoError(t, err)
		es := list(t, s.Audit)
		require.Len(t, es, 1)
		require.Equal(t, sentinel.AuditBan, es[0].Action)
		require.Equal(t, "session-1", es[0].Actor)
		require.Equal(t, "192.0.2.9", es[0].ClientIP.String())
		require.Equal(t, b.Key.String(), es[0].Target)
		require.Equal(t, "active", field(t, es[0].Before, "status"))
		require.Equal(t, "banned", field(t, es[0].After, "status"))
		require.NotZero(t, es[0].ID)
	})

	t.Run("failed update writes nothing", func(t *testing.T) {
		s := open(t)
		banned := sentinel.StatusBanned
		_, err := s.Bindings.UpdateBinding(ctx, Key("missing"), sentinel.BindingUpdate{Status: &banned, Audit: entry(sentinel.AuditBan, "x")})
		RequireCode(t, sentinel.ENOTFOUND, err)
		b := NewBinding(t, Key("a"), "192.0.2.1")
		_, _, err = s.Bindings.CreateBinding(ctx, b)
		require.NoError(t, err)
		bad := sentinel.Rule{Kind: sentinel.RuleSingle}
		_, err = s.Bindings.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Rule: &bad, Audit: entry(sentinel.AuditSetRule, "x")})
		RequireCode(t, sentinel.EINVALID, err)
		require.Empty(t, list(t, s.Audit))
	})

	t.Run("audited delete removes and records in one go", func(t *testing.T) {
		s := open(t)
		d, ok := s.Bindings.(sentinel.AuditedBindingDeleter)
		require.True(t, ok, "the store cannot audit deletions")
		b := NewBinding(t, Key("a"), "192.0.2.1")
		_, _, err := s.Bindings.CreateBinding(ctx, b)
		require.NoError(t, err)
		_, err = d.DeleteBindingAudited(ctx, b.Key, 0, *entry(sentinel.AuditUnbind, b.Key.String()))
		require.NoError(t, err)
		_, err = s.Bindings.FindBinding(ctx, b.Key)
		RequireCode(t, sentinel.ENOTFOUND, err)
		es := list(t, s.Audit)
		require.Len(t, es, 1)
		require.Equal(t, sentinel.AuditUnbind, es[0].Action)
		require.Equal(t, b.Key.String(), field(t, es[0].Before, "id"))
		require.True(t, len(es[0].After) == 0 || string(es[0].After) == "null")

		_, err = d.DeleteBindingAudited(ctx, b.Key, 0, *entry(sentinel.AuditUnbind, b.Key.String()))
		RequireCode(t, sentinel.ENOTFOUND, err)
		require.Len(t, list(t, s.Audit), 1, "a failed delete writes nothing")
	})

	t.Run("settings save with its entry and a growing version", func(t *testing.T) {
		s := open(t)
		if s.Settings == nil {
			t.Skip("no settings store")
		}
		p, v, err := s.Settings.StoredSettings(ctx)
		require.NoError(t, err)
		require.True(t, p.IsZero())
		mode := sentinel.ModeMonitor
		a := entry(sentinel.AuditSettings, "settings")
		a.Before, a.After = json.RawMessage(`{"enforce_mode":"enforce"}`), json.RawMessage(`{"enforce_mode":"monitor"}`)
		v2, err := s.Settings.SaveSettings(ctx, sentinel.SettingsPatch{EnforceMode: &mode}, a)
		require.NoError(t, err)
		require.Greater(t, v2, v)
		days := 7
		v3, err := s.Settings.SaveSettings(ctx, sentinel.SettingsPatch{ArchiveDays: &days}, nil)
		require.NoError(t, err)
		require.Greater(t, v3, v2)
		got, ver, err := s.Settings.StoredSettings(ctx)
		require.NoError(t, err)
		require.Equal(t, v3, ver)
		require.Equal(t, sentinel.ModeMonitor, *got.EnforceMode)
		require.Equal(t, 7, *got.ArchiveDays)
		require.Nil(t, got.FailsafeMode)
		pv, err := s.Settings.SettingsVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, v3, pv)
		es := list(t, s.Audit)
		require.Len(t, es, 1)
		require.Equal(t, "monitor", field(t, es[0].After, "enforce_mode"))
	})
}
