package space

import (
	"slices"
	"testing"
)

func mustDAG(t testing.TB, name string) *DAGSpace {
	t.Helper()
	s, err := LookupDAG(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDAGParse(t *testing.T) {
	s := mustDAG(t, "autoshrink-fmnist")
	tests := []struct {
		name      string
		in        string
		canonical string
		edges     int
		leaves    []int
		inputs3   []int // inputs of node 3 when live
		err       bool
	}{
		{name: "small", in: "0-1,0-2,1-3", canonical: "0-1,0-2,1-3", edges: 3, leaves: []int{2, 3}, inputs3: []int{1}},
		{name: "unordered spaces", in: " 1-3 , 0-2,0-1", canonical: "0-1,0-2,1-3", edges: 3, leaves: []int{2, 3}, inputs3: []int{1}},
		{name: "dead node pruned", in: "0-1,2-3", canonical: "0-1", edges: 1, leaves: []int{1}},
		{name: "full", in: "full", edges: 28, leaves: []int{7}, inputs3: []int{0, 1, 2}},
		{name: "empty", in: "", err: true},
		{name: "self loop", in: "0-0", err: true},
		{name: "backwards", in: "3-1", err: true},
		{name: "node out of range", in: "0-8", err: true},
		{name: "repeat", in: "0-1,0-1", err: true},
		{name: "not numbers", in: "a-b", err: true},
		{name: "no dash", in: "01", err: true},
		{name: "nothing live", in: "1-2", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := s.ParseDAG(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseDAG(%q) = %s, want an error", tc.in, a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.canonical != "" && a.String() != tc.canonical {
				t.Errorf("String() = %q, want %q", a, tc.canonical)
			}
			if a.NumEdges() != tc.edges {
				t.Errorf("%d edges, want %d", a.NumEdges(), tc.edges)
			}
			if !slices.Equal(a.Leaves(), tc.leaves) {
				t.Errorf("leaves %v, want %v", a.Leaves(), tc.leaves)
			}
			for _, cn := range a.CellNodes() {
				if cn.Index == 3 && !slices.Equal(cn.Inputs, tc.inputs3) {
					t.Errorf("node 3 inputs %v, want %v", cn.Inputs, tc.inputs3)
				}
			}
			b, err := s.ParseDAG(a.String())
			if err != nil || b.Edges != a.Edges {
				t.Errorf("round trip of %q: %v %v", a, b, err)
			}
		})
	}
}

func TestDAGWithout(t *testing.T) {
	s := mustDAG(t, "autoshrink-fmnist")
	tests := []struct {
		name, from string
		edge       Edge
		want       string
		err        bool
	}{
		{name: "from full", from: "full", edge: Edge{0, 1}, want: ""},
		{name: "prunes the dead subtree", from: "0-1,1-2,2-3,0-4", edge: Edge{0, 1}, want: "0-4"},
		{name: "last edge", from: "0-1", edge: Edge{0, 1}, err: true},
		{name: "not live", from: "0-1,0-2", edge: Edge{1, 2}, err: true},
		{name: "bad edge", from: "0-1,0-2", edge: Edge{2, 1}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := s.ParseDAG(tc.from)
			if err != nil {
				t.Fatal(err)
			}
			b, err := a.Without(tc.edge)
			if tc.err {
				if err == nil {
					t.Fatalf("Without(%s) = %s, want an error", tc.edge, b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && b.String() != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
			if b.NumEdges() >= a.NumEdges() || b.Has(tc.edge) {
				t.Errorf("%s minus %s = %s", a, tc.edge, b)
			}
		})
	}
}

func TestDAGLayersAndCost(t *testing.T) {
	tests := []struct {
		space, arch string
		layers      int
		adds        int
		macs        int64
	}{
		// stem; per cell 21 merge ADDs, 7 ops, 1 leaf ADD; pool+transition
		// before cells 2 and 3; pool, fc.
		{space: "autoshrink-fmnist", arch: "full", layers: 1 + 29 + 31 + 31 + 2, adds: 3 * 22},
		// stem 28*28*16*9; sep 784*(16*9+16*16); transition 14*14*16*32;
		// sep 196*(32*9+32*32); transition 7*7*32*64; sep 49*(64*9+64*64); fc 640.
		{space: "autoshrink-fmnist", arch: "0-1", layers: 1 + 2 + 4 + 4 + 2, adds: 3,
			macs: 112896 + 313600 + 100352 + 257152 + 100352 + 228928 + 640},
		{space: "autoshrink-imagenet", arch: "0-1,0-2", layers: 1 + 18*4 + 4 + 5 + 3, adds: 18 * 2},
	}
	for _, tc := range tests {
		t.Run(tc.space+"/"+tc.arch, func(t *testing.T) {
			s := mustDAG(t, tc.space)
			a, err := s.ParseDAG(tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			ls := a.Layers()
			if len(ls) != tc.layers {
				t.Errorf("%d layers, want %d", len(ls), tc.layers)
			}
			adds := 0
			for _, l := range ls {
				if l.Kind == KindAdd {
					adds++
				}
			}
			if adds != tc.adds {
				t.Errorf("%d ADDs, want %d", adds, tc.adds)
			}
			if tc.macs != 0 && a.MACs() != tc.macs {
				t.Errorf("MACs %d, want %d", a.MACs(), tc.macs)
			}
			full := s.Full()
			if a.MACs() > full.MACs() || a.Params() > full.Params() {
				t.Errorf("%s costs more than the full DAG", a)
			}
			keys := map[string]bool{}
			for _, l := range s.UniqueKeys() {
				keys[l.Key()] = true
			}
			for _, l := range ls {
				if !keys[l.Key()] {
					t.Errorf("layer %s not among the space's unique keys", l.Key())
				}
			}
		})
	}
}

func TestDAGKeysRoundTrip(t *testing.T) {
	for _, name := range DAGNames() {
		s := mustDAG(t, name)
		for _, l := range s.UniqueKeys() {
			got, err := ParseKey(l.Key())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.Key() != l.Key() || got.MACs() != l.MACs() || got.Params() != l.Params() {
				t.Errorf("%s: key %s decodes to %+v", name, l.Key(), got)
			}
		}
	}
}

func TestDAGRandom(t *testing.T) {
	s := mustDAG(t, "autoshrink-fmnist")
	seen := map[uint64]bool{}
	for seed := uint64(0); seed < 50; seed++ {
		a := s.RandomDAGSeed(seed)
		if a.NumEdges() == 0 {
			t.Fatalf("seed %d: empty topology", seed)
		}
		b, err := s.ParseDAG(a.String())
		if err != nil || b.Edges != a.Edges {
			t.Fatalf("seed %d: %s does not round-trip: %v", seed, a, err)
		}
		if s.RandomDAGSeed(seed).Edges != a.Edges {
			t.Fatalf("seed %d: not deterministic", seed)
		}
		seen[a.Edges] = true
	}
	if len(seen) < 40 {
		t.Errorf("50 seeds gave only %d distinct topologies", len(seen))
	}
}

func FuzzParseDAG(f *testing.F) {
	for _, s := range []string{"full", "0-1,0-2,1-3", "0-1,2-3", "7-0", "0-1,0-1", "", "-,-", "0-99999999999999999999"} {
		f.Add(s)
	}
	s, err := LookupDAG("autoshrink-fmnist")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := s.ParseDAG(in)
		if err != nil {
			return
		}
		b, err := s.ParseDAG(a.String())
		if err != nil || b.Edges != a.Edges || a.NumEdges() == 0 {
			t.Fatalf("%q parsed to %s, which does not round-trip: %v", in, a, err)
		}
	})
}

func TestKeysOf(t *testing.T) {
	tests := []struct {
		name string
		keys int
		err  bool
	}{
		{name: "autoshrink-fmnist", keys: 22},
		{name: "spnas-fmnist", keys: 70},
		{name: "nope", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := KeysOf(tc.name)
			if (err != nil) != tc.err || len(ks) != tc.keys {
				t.Errorf("KeysOf(%s) = %d keys, %v; want %d, error %v", tc.name, len(ks), err, tc.keys, tc.err)
			}
		})
	}
}

// ParseKey on DAG keys (and anything else): an error or a layer whose key
// is the input, never a panic.
func FuzzParseKeyDAG(f *testing.F) {
	s, err := LookupDAG("autoshrink-fmnist")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range s.UniqueKeys() {
		f.Add(l.Key())
	}
	f.Add("add-input:0x1x2")
	f.Add("avgpool2d-input:4x4x2-output:2x2x2-kernel:2")
	f.Add("sepconv-input:1x1x1-output:1x1x1-kernel:-3-stride:1-act:relu")
	f.Fuzz(func(t *testing.T, key string) {
		l, err := ParseKey(key)
		if err == nil && l.Key() != key {
			t.Fatalf("ParseKey(%q) accepted a key whose canonical form is %q", key, l.Key())
		}
	})
}
