package ident

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestCheckSHA256(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	good := hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "digest", in: good, ok: true},
		{name: "upper case", in: strings.ToUpper(good), ok: false},
		{name: "short", in: good[:63], ok: false},
		{name: "long", in: good + "0", ok: false},
		{name: "not hex", in: "g" + good[1:], ok: false},
		{name: "trailing newline", in: good[:63] + "\n", ok: false},
		{name: "path", in: "../" + good[3:], ok: false},
		{name: "empty", in: "", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSHA256(tc.in)
			if (err == nil) != tc.ok || IsSHA256(tc.in) != tc.ok {
				t.Fatalf("CheckSHA256(%q) = %v, IsSHA256 = %v, want ok=%v", tc.in, err, IsSHA256(tc.in), tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "64 lower-case hex digits") {
				t.Errorf("error %q does not say what a digest looks like", err)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "linux arm64", in: "linux/arm64", ok: true},
		{name: "linux amd64", in: "linux/amd64", ok: true},
		{name: "no arch", in: "arm64", ok: false},
		{name: "three parts", in: "linux/arm/v7", ok: false},
		{name: "upper case", in: "Linux/arm64", ok: false},
		{name: "flag injection", in: "linux/arm64 -x", ok: false},
		{name: "empty arch", in: "linux/", ok: false},
		{name: "empty", in: "", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTarget(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckTarget(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "want GOOS/GOARCH") {
				t.Errorf("error %q does not say what a target looks like", err)
			}
		})
	}
}

// FuzzIsSHA256 holds IsSHA256 to its definition: exactly the strings that
// are the lower-case hex encoding of 32 bytes.
func FuzzIsSHA256(f *testing.F) {
	sum := sha256.Sum256(nil)
	for _, s := range []string{hex.EncodeToString(sum[:]), "", "abc", strings.Repeat("A", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := hex.DecodeString(s)
		want := err == nil && len(b) == sha256.Size && hex.EncodeToString(b) == s
		if got := IsSHA256(s); got != want {
			t.Errorf("IsSHA256(%q) = %v, want %v", s, got, want)
		}
	})
}
