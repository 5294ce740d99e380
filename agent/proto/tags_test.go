package proto

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseTag(t *testing.T) {
	tests := []struct {
		name, in   string
		key, value string
		err        string
	}{
		{name: "plain", in: "soc=tensor-g1", key: "soc", value: "tensor-g1"},
		{name: "dots and underscores", in: "os_ver=14.1", key: "os_ver", value: "14.1"},
		{name: "no equals", in: "soc", err: "want KEY=VALUE"},
		{name: "empty key", in: "=x", err: "tag key"},
		{name: "empty value", in: "soc=", err: `tag soc: value ""`},
		{name: "value with equals", in: "a=b=c", err: `value "b=c"`},
		{name: "wildcard key", in: "s+c=x", err: `tag key "s+c"`},
		{name: "space in value", in: "soc=a b", err: `value "a b"`},
		{name: "long value", in: "soc=" + strings.Repeat("v", 65), err: "1-64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, v, err := ParseTag(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTag(%q) = %q, %q, %v; want error %q", tc.in, k, v, err, tc.err)
				}
				return
			}
			if err != nil || k != tc.key || v != tc.value {
				t.Fatalf("ParseTag(%q) = %q, %q, %v; want %q, %q", tc.in, k, v, err, tc.key, tc.value)
			}
		})
	}
}

func TestAddTagAndMatch(t *testing.T) {
	var tags map[string]string
	for _, s := range []string{"soc=g1", "rack=r1"} {
		if err := AddTag(&tags, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := AddTag(&tags, "soc=g2"); err == nil || !strings.Contains(err.Error(), "soc given twice") {
		t.Errorf("repeated key: %v", err)
	}
	if got := FormatTags(tags); got != "rack=r1,soc=g1" {
		t.Errorf("FormatTags = %q", got)
	}
	for i := len(tags); i < MaxTags; i++ {
		if err := AddTag(&tags, fmt.Sprintf("k%d=v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := AddTag(&tags, "one=more"); err == nil || !strings.Contains(err.Error(), "more than 16") {
		t.Errorf("tag %d: %v", MaxTags+1, err)
	}
	matches := []struct {
		name string
		want map[string]string
		ok   bool
	}{
		{name: "none wanted", ok: true},
		{name: "subset", want: map[string]string{"soc": "g1"}, ok: true},
		{name: "all", want: map[string]string{"soc": "g1", "rack": "r1"}, ok: true},
		{name: "other value", want: map[string]string{"soc": "g2"}},
		{name: "missing key", want: map[string]string{"soc": "g1", "lab": "x"}},
	}
	for _, tc := range matches {
		if got := HasTags(tags, tc.want); got != tc.ok {
			t.Errorf("%s: HasTags = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestDecodeInfoTags: an info message's tags are checked on decode.
func TestDecodeInfoTags(t *testing.T) {
	many := map[string]string{}
	for i := range MaxTags + 1 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name string
		tags map[string]string
		err  string
	}{
		{name: "tagged", tags: map[string]string{"soc": "tensor-g1"}},
		{name: "too many", tags: many, err: "17 tags, at most 16"},
		{name: "bad key", tags: map[string]string{"a/b": "x"}, err: `tag key "a/b"`},
		{name: "bad value", tags: map[string]string{"soc": "#"}, err: `tag soc: value "#"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Info{Agent: "a1", Class: "c", OS: "linux", Arch: "arm64", Tags: tc.tags}
			m, err := Decode(Topic("a1", KindInfo), mustEncode(t, in))
			if tc.err == "" {
				if err != nil || len(m.(*Info).Tags) != len(tc.tags) {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("decode: %v; want a rejection naming %q", err, tc.err)
			}
		})
	}
}

// FuzzParseTag: any string is either refused or a tag that formats back to
// itself and passes ValidTags.
func FuzzParseTag(f *testing.F) {
	for _, s := range []string{"soc=tensor-g1", "=", "a==b", "k=v\x00", "", strings.Repeat("k", 70) + "=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := ParseTag(s)
		if err != nil {
			return
		}
		tags := map[string]string{k: v}
		if ValidTags(tags) != nil || FormatTags(tags) != s {
			t.Fatalf("ParseTag(%q) = %q, %q: not a valid tag that formats back", s, k, v)
		}
	})
}
