package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"0", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"12h", 12 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{" 5m ", 5 * time.Minute, ""},
		{"12x", 0, `"12x" is not a duration (use e.g. 90s, 12h, 30d)`},
		{"30", 0, "is not a duration"},
		{"", 0, "is not a duration"},
		{"d", 0, "is not a duration"},
		{"1.5d", 0, "is not a duration"},
		{"-1d", 0, "is not a duration"},
		{"99999999999999d", 0, "is not a duration"},
		{"-5s", 0, `"-5s" is negative`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("UnmarshalText(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || time.Duration(d) != tc.want {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", tc.in, time.Duration(d), err, tc.want)
			}
		})
	}
}

func TestDurationStringIsReadableAndParsesBack(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{90 * time.Second, "1m30s"},
		{12 * time.Hour, "12h"},
		{90 * time.Minute, "1h30m"},
		{30 * 24 * time.Hour, "30d"},
		{36 * time.Hour, "36h"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			got := Duration(tc.d).String()
			if got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			back, err := ParseDuration(got)
			if err != nil || time.Duration(back) != tc.d {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, tc.d)
			}
		})
	}
}
