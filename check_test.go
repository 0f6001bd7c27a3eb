package sentinel_test

import (
	"cmp"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Small assertions for the domain's tests, which use the standard library
// only. The fatal ones stop the test; the others (check*) report and go on.

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return ": " + fmt.Sprintf(f, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

func equalValues(want, got any) bool {
	if reflect.DeepEqual(want, got) {
		return true
	}
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	if wv.IsValid() && gv.IsValid() && gv.Type().ConvertibleTo(wv.Type()) {
		return reflect.DeepEqual(want, gv.Convert(wv.Type()).Interface())
	}
	return false
}

func mustEqual(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("got %#v, want %#v%s", got, want, msg(args))
	}
}

func mustEqualValues(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !equalValues(want, got) {
		t.Fatalf("got %#v, want %#v%s", got, want, msg(args))
	}
}

func checkEqual(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("got %#v, want %#v%s", got, want, msg(args))
	}
}

func checkNotEqual(t testing.TB, notWant, got any, args ...any) {
	t.Helper()
	if reflect.DeepEqual(notWant, got) {
		t.Errorf("got %#v, want anything else%s", got, msg(args))
	}
}

func mustNoError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error %v%s", err, msg(args))
	}
}

func mustError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error%s", msg(args))
	}
}

func checkError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err == nil {
		t.Errorf("no error%s", msg(args))
	}
}

func mustTrue(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("false%s", msg(args))
	}
}

func checkTrue(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf("false%s", msg(args))
	}
}

func checkFalse(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if ok {
		t.Errorf("true%s", msg(args))
	}
}

func mustZero(t testing.TB, v any, args ...any) {
	t.Helper()
	if rv := reflect.ValueOf(v); rv.IsValid() && !rv.IsZero() {
		t.Fatalf("got %#v, want zero%s", v, msg(args))
	}
}

func mustLen(t testing.TB, v any, n int, args ...any) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		t.Fatalf("length %d, want %d%s", l, n, msg(args))
	}
}

func mustLessOrEqual[T cmp.Ordered](t testing.TB, a, b T, args ...any) {
	t.Helper()
	if a > b {
		t.Fatalf("%v > %v%s", a, b, msg(args))
	}
}

func contains(s, sub any) bool {
	ss := fmt.Sprint(s)
	if sl, ok := s.([]string); ok {
		for _, x := range sl {
			if x == fmt.Sprint(sub) {
				return true
			}
		}
		return false
	}
	return strings.Contains(ss, fmt.Sprint(sub))
}

func checkContains(t testing.TB, s, sub any, args ...any) {
	t.Helper()
	if !contains(s, sub) {
		t.Errorf("%v does not contain %v%s", s, sub, msg(args))
	}
}

func checkNotContains(t testing.TB, s, sub any, args ...any) {
	t.Helper()
	if contains(s, sub) {
		t.Errorf("%v contains %v%s", s, sub, msg(args))
	}
}

func mustNotContains(t testing.TB, s, sub any, args ...any) {
	t.Helper()
	if contains(s, sub) {
		t.Fatalf("%v contains %v%s", s, sub, msg(args))
	}
}

// eventually polls cond every tick until it holds, failing the test once
// within has passed: for state another goroutine reaches.
func eventually(t testing.TB, cond func() bool, within, tick time.Duration, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %v%s", within, msg(args))
		}
		time.Sleep(tick)
	}
}
