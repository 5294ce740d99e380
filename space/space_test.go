package space

import (
	"fmt"
	"strings"
	"testing"
)

func TestSpacesShape(t *testing.T) {
	tests := []struct {
		name       string
		slots      int
		skippable  int
		lastH      int
		firstKey   string
		uniqueKeys int
	}{
		{"spnas-imagenet", 20, 15, 7, "conv-input:224x224x3-output:112x112x32-kernel:3-stride:2-act:relu6", 0},
		{"spnas-fmnist", 12, 8, 4, "conv-input:28x28x1-output:28x28x16-kernel:3-stride:1-act:relu6", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := MustLookup(tc.name)
			slots := s.Slots()
			if len(slots) != tc.slots || s.NumSearchable() != tc.slots {
				t.Fatalf("slots = %d, want %d", len(slots), tc.slots)
			}
			n := 0
			for _, sl := range slots {
				if sl.Skippable {
					n++
				}
			}
			if n != tc.skippable {
				t.Errorf("skippable slots = %d, want %d", n, tc.skippable)
			}
			ls := s.Uniform(Choice{Kernel: 5, Expand: 6}).Layers()
			if got := ls[0].Key(); got != tc.firstKey {
				t.Errorf("stem key = %s, want %s", got, tc.firstKey)
			}
			pool := ls[len(ls)-2]
			if pool.InH != tc.lastH || pool.Kind != KindPool {
				t.Errorf("pool layer %+v, want input %dx%d", pool, tc.lastH, tc.lastH)
			}
			// Distinct keys: per slot 8 MBConv variants, and slots in a stage after the
			// first share a shape, so count 2 distinct positions per stage (first, rest).
			keys := s.UniqueKeys()
			want := 2 + 4 + len(s.Stages)*2*8
			if len(keys) != want {
				t.Errorf("unique keys = %d, want %d", len(keys), want)
			}
		})
	}
}

func TestImageNetKeys(t *testing.T) {
	s := MustLookup("spnas-imagenet")
	a, err := s.Parse(strings.Repeat("k5e6,", 19) + "k5e6")
	if err != nil {
		t.Fatal(err)
	}
	ls := a.Layers()
	// Slot 4 is the first layer of stage 2 (56x56x24 -> 28x28x40).
	got := ls[2+4].Key()
	want := "mbconv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0-se:0-act:relu6"
	if got != want {
		t.Fatalf("key = %s, want %s", got, want)
	}
	if got := ls[2+5].Key(); !strings.Contains(got, "idskip:1") {
		t.Errorf("second layer of a stage should be residual: %s", got)
	}
	want = []string{"mbconv-input:7x7x192-output:7x7x320-expand:6-kernel:3-stride:1-idskip:0-se:0-act:relu6",
		"conv-input:7x7x320-output:7x7x1280-kernel:1-stride:1-act:relu6",
		"avgpool-input:7x7x1280-output:1x1x1280", "fc-input:1280-output:1000"}[0]
	if got := ls[len(ls)-4].Key(); got != want {
		t.Errorf("last block key = %s, want %s", got, want)
	}
	if s.Size() < 3e13 || s.Size() > 1e20 {
		t.Errorf("size %g", s.Size())
	}
}

func TestParseErrors(t *testing.T) {
	s := MustLookup("spnas-fmnist")
	good := "k5e6,k3e3+se,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6+se"
	a, err := s.Parse(good)
	if err != nil {
		t.Fatalf("parse %q: %v", good, err)
	}
	if a.String() != good {
		t.Fatalf("round trip %q -> %q", good, a.String())
	}
	tests := []struct{ in, want string }{
		{"k5e6", "needs 12"},
		{"skip,k3e3+se,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6", "layer 0 token \"skip\": skip not allowed"},
		{"k5e6,k3e3+se,skip,k3e6,k5e3,skip,k7e6,k5e6,skip,k3e3,skip,k3e6", "layer 6: token \"k7e6\""},
		{"k5e6,k3e3+se,skip,k3e6,k5e3,skip,k5e6,,skip,k3e3,skip,k3e6", "layer 7: token \"\""},
		{"k5e6,k3e3+SE,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6", "layer 1: token \"k3e3+SE\""},
	}
	for _, tc := range tests {
		_, err := s.Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want containing %q", tc.in, err, tc.want)
		}
	}
}

func TestRandomRoundTripAndCoverage(t *testing.T) {
	for _, name := range Names() {
		s := MustLookup(name)
		seen := map[string]bool{}
		for seed := uint64(0); seed < 300; seed++ {
			a := s.RandomSeed(seed)
			b, err := s.Parse(a.String())
			if err != nil {
				t.Fatalf("%s seed %d: %v", name, seed, err)
			}
			if b.String() != a.String() {
				t.Fatalf("round trip differs")
			}
			for _, c := range a.Choices {
				seen[c.String()] = true
			}
		}
		if len(seen) != 9 {
			t.Errorf("%s: 300 samples used %d distinct tokens, want all 9", name, len(seen))
		}
		if s.RandomSeed(7).String() != s.RandomSeed(7).String() {
			t.Errorf("same seed, different architecture")
		}
	}
}

func TestParseKeyRoundTrip(t *testing.T) {
	for _, name := range Names() {
		s := MustLookup(name)
		for _, l := range s.UniqueKeys() {
			got, err := ParseKey(l.Key())
			if err != nil {
				t.Fatalf("ParseKey(%s): %v", l.Key(), err)
			}
			if got.Key() != l.Key() || got.MACs() != l.MACs() {
				t.Fatalf("ParseKey(%s) = %+v", l.Key(), got)
			}
		}
	}
	for _, bad := range []string{"", "mbconv", "mbconv-input:1x2", "conv-input:0x1x1-output:1x1x1-kernel:3-stride:1-act:relu6", "lstm-input:3"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestMACs(t *testing.T) {
	// MobileNetV2-like budgets: the all-k5e6 ImageNet model is a few hundred MMACs.
	s := MustLookup("spnas-imagenet")
	big := s.Uniform(Choice{Kernel: 5, Expand: 6}).MACs()
	small := s.Uniform(Choice{Kernel: 3, Expand: 3}).MACs()
	if !(small < big) || big < 200e6 || big > 1500e6 {
		t.Errorf("MACs k5e6=%d k3e3=%d", big, small)
	}
	l := Layer{Kind: KindMBConv, InH: 56, InW: 56, InC: 24, OutH: 28, OutW: 28, OutC: 40, Kernel: 5, Stride: 2, Expand: 6}
	want := int64(56*56*24*144 + 28*28*144*25 + 28*28*144*40)
	if l.MACs() != want {
		t.Errorf("block MACs = %d, want %d", l.MACs(), want)
	}
}

// TestSEEncodingKeys checks that SE blocks are keyed by the SE encoding and
// that a key of the legacy encoding is refused with an error saying so.
func TestSEEncodingKeys(t *testing.T) {
	const base = "mbconv-input:14x14x16-output:14x14x16-expand:3-kernel:3-stride:1-idskip:1-se:%d-act:relu6"
	cases := []struct {
		name    string
		se      int
		wantSE  bool
		wantErr string
	}{
		{name: "no SE", se: 0},
		{name: "current encoding", se: SEEncoding, wantSE: true},
		{name: "legacy FULLY_CONNECTED encoding", se: 1, wantErr: "SE encoding 1 (FULLY_CONNECTED keep_num_dims)"},
		{name: "unknown encoding", se: 7, wantErr: "SE encoding 7 unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf(base, tc.se)
			l, err := ParseKey(key)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKey(%s) error %v, want one containing %q", key, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.SE() != tc.wantSE || l.Key() != key {
				t.Errorf("ParseKey(%s): SE %v key %s", key, l.SE(), l.Key())
			}
		})
	}
}
