package adminapi

import "testing"

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"/v1/models":        "/v1/models",
		`=HYPERLINK("x")`:   `'=HYPERLINK("x")`,
		"+1":                "'+1",
		"-2+3":              "'-2+3",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"\rx":               "'\rx",
		"  =1+1":            "'  =1+1",
		"＝HYPERLINK(\"x\")": "'＝HYPERLINK(\"x\")",
		"curl/8.0 (=)":      "curl/8.0 (=)",
		"   ":               "   ",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
