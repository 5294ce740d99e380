package lut

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"edgenas/internal/refdata"
	"edgenas/space"
)

func openRef(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(refdata.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestImportPublishedTables(t *testing.T) {
	tests := []struct {
		file    string
		imp     func(*os.File, ImportOptions) ([]Entry, ImportReport, error)
		total   int
		mapped  int
		reasons map[string]int
		// one mapped key with its expected mean (ms) and std (ms)
		key       string
		mean, std float64
	}{
		{
			file:  "ofa_note10_224_lookup_table.yaml",
			imp:   func(f *os.File, o ImportOptions) ([]Entry, ImportReport, error) { return ImportOFA(f, o) },
			total: 96, mapped: 42,
			reasons: map[string]int{ReasonSE: 54},
			key:     "mbconv-input:112x112x24-output:56x56x32-expand:6-kernel:5-stride:2-idskip:0-se:0-act:relu6",
			mean:    6.585063492063491, std: 0.21637063094840722,
		},
		{
			file:  "proxylessnas_mobile_trim.yaml",
			imp:   func(f *os.File, o ImportOptions) ([]Entry, ImportReport, error) { return ImportProxyless(f, o) },
			total: 72, mapped: 71,
			reasons: map[string]int{ReasonFusedPool: 1},
			key:     "conv-input:224x224x3-output:112x112x32-kernel:3-stride:2-act:relu6",
			mean:    4.083755600814664, std: math.Sqrt(0.2502372872758427),
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			opt := ImportOptions{Device: "dev", Backend: "tflite", Source: "test"}
			es, rep, err := tc.imp(openRef(t, tc.file), opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if rep.Total != tc.total || rep.Mapped != tc.mapped || len(es) != tc.mapped {
				t.Errorf("total %d mapped %d (%d entries), want %d / %d", rep.Total, rep.Mapped, len(es), tc.total, tc.mapped)
			}
			if rep.Mapped+len(rep.Unmapped) != rep.Total {
				t.Errorf("mapped %d + unmapped %d != total %d: keys dropped silently", rep.Mapped, len(rep.Unmapped), rep.Total)
			}
			got := rep.ReasonCounts()
			for r, n := range tc.reasons {
				if got[r] != n {
					t.Errorf("reason %q: %d, want %d (all: %v)", r, got[r], n, got)
				}
			}
			if len(got) != len(tc.reasons) {
				t.Errorf("reasons %v, want only %v", got, tc.reasons)
			}
			found := false
			for _, e := range es {
				if err := e.Validate(); err != nil {
					t.Errorf("imported entry invalid: %v", err)
				}
				if e.Source != "import:test" || e.Threads != 1 {
					t.Errorf("entry %s: source %q threads %d", e.Key, e.Source, e.Threads)
				}
				if l, err := space.ParseKey(e.Key); err != nil || l.Key() != e.Key {
					t.Errorf("imported key %s is not canonical: %v", e.Key, err)
				}
				if e.Key == tc.key {
					found = true
					if math.Abs(e.Millis()-tc.mean) > 1e-12 || math.Abs(e.Stats.Mean/1000-tc.mean) > 1e-12 ||
						math.Abs(e.Stats.Std/1000-tc.std) > 1e-12 {
						t.Errorf("%s: p50 %g mean %g std %g ms, want %g / %g", e.Key, e.Millis(), e.Stats.Mean/1000,
							e.Stats.Std/1000, tc.mean, tc.std)
					}
				}
			}
			if !found {
				t.Errorf("key %s not imported", tc.key)
			}
			// The entries go into a store as they are.
			s := openTemp(t)
			if err := s.Put(es...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// ProxylessNAS's mobile space is Single-Path NAS's without SE: its table
// covers every non-SE layer of spnas-imagenet except pooling and the
// classifier, which it times together.
func TestProxylessCoversSPNASImageNet(t *testing.T) {
	es, _, err := ImportProxyless(openRef(t, "proxylessnas_mobile_trim.yaml"),
		ImportOptions{Device: "pixel1", Backend: "tflite", Source: "proxylessnas-mobile"})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := NewTable("pixel1", "tflite", 1, es)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range space.MustLookup("spnas-imagenet").UniqueKeys() {
		if !l.SE() {
			want = append(want, l.Key())
		}
	}
	missing := tbl.Missing(want)
	if len(want) != 46 || len(missing) != 2 ||
		!strings.HasPrefix(missing[0], "avgpool-") || !strings.HasPrefix(missing[1], "fc-") {
		t.Errorf("%d non-SE keys, missing %v; want 46 keys missing only avgpool and fc", len(want), missing)
	}
}

func TestImportRejectsBadFiles(t *testing.T) {
	opt := ImportOptions{Device: "d", Backend: "b", Source: "s"}
	tests := []struct {
		name string
		yaml string
		opt  ImportOptions
		want string
	}{
		{"no options", "Conv-input:8x8x3-output:4x4x8:\n  count: 1\n  mean: 1\n  std: 0\n", ImportOptions{}, "must be set"},
		{"list", "- a\n", opt, "line 1"},
		{"not a number", "Conv-input:8x8x3-output:4x4x8:\n  count: 1\n  mean: fast\n", opt, "line 3"},
		{"duplicate key", "A:\n  mean: 1\nA:\n  mean: 2\n", opt, "already defined on line 1"},
		{"orphan field", "  mean: 1\n", opt, "before any key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ImportOFA(strings.NewReader(tc.yaml), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestImportReportsUnmappable(t *testing.T) {
	yaml := `expanded_conv-input:28x28x40-output:28x28x40-expand:100-kernel:3-stride:1-idskip:1-se:0-hs:0:
  count: 10
  mean: 1.5
  std: 0.1
expanded_conv-input:28x28x40-output:14x14x40-expand:120-kernel:3-stride:1-idskip:0-se:0-hs:0:
  count: 10
  mean: 1.5
  std: 0.1
Mystery-input:1x1x1-output:1x1x1:
  count: 10
  mean: 1
  std: 0
Conv-input:8x8x3-output:4x4x8:
  count: 0
  mean: 1
  std: 0
expanded_conv-input:28x28x40-output:28x28x40-expand:120-kernel:5-stride:1-idskip:1-se:0-hs:1:
  count: 10
  mean: 2.5
  std: 0.1
`
	es, rep, err := ImportOFA(strings.NewReader(yaml), ImportOptions{Device: "d", Backend: "b", Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ReasonRatio: 1, ReasonShape: 1, ReasonUnknown: 1, ReasonBadNumbers: 1}
	got := rep.ReasonCounts()
	for r, n := range want {
		if got[r] != n {
			t.Errorf("reason %s: %d, want %d (%v)", r, got[r], n, rep.Unmapped)
		}
	}
	if len(es) != 1 || es[0].Key != "mbconv-input:28x28x40-output:28x28x40-expand:3-kernel:5-stride:1-idskip:1-se:0-act:hswish" {
		t.Errorf("mapped %v", es)
	}
}

// The whole pipeline: import, export to JSON and CSV, read back, same entries.
func TestExchangeRoundTrip(t *testing.T) {
	es, _, err := ImportOFA(openRef(t, "ofa_note10_224_lookup_table.yaml"),
		ImportOptions{Device: "note10", Backend: "tflite", Source: "ofa-note10"})
	if err != nil {
		t.Fatal(err)
	}
	es = append(es, sampleEntry("pixel", 0), sampleEntry("pixel", 1))
	dir := t.TempDir()
	formats := []struct {
		name  string
		write func(*os.File, []Entry) error
		read  func(*os.File) ([]Entry, error)
	}{
		{"json", func(f *os.File, e []Entry) error { return WriteJSON(f, e) }, func(f *os.File) ([]Entry, error) { return ReadJSON(f) }},
		{"csv", func(f *os.File, e []Entry) error { return WriteCSV(f, e) }, func(f *os.File) ([]Entry, error) { return ReadCSV(f) }},
	}
	for _, ft := range formats {
		t.Run(ft.name, func(t *testing.T) {
			p := filepath.Join(dir, "t."+ft.name)
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := ft.write(f, es); err != nil {
				t.Fatal(err)
			}
			f.Close()
			f, err = os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ft.read(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(es) {
				t.Fatalf("%d entries back, want %d", len(got), len(es))
			}
			for i := range es {
				if !entriesEqual(got[i], es[i]) {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], es[i])
				}
			}
		})
	}
}

func TestExchangeRejectsBadInput(t *testing.T) {
	good := "device,backend,threads,key,count,min_us,p10_us,p50_us,p90_us,max_us,mean_us,std_us,mad_us,cv,ci_rel,unstable,measured_at,tool_version,source,conditions\n"
	row := "d,b,1,k,5,1,2,3,4,5,3,1,1,0.3,0.01,false,,v,,{}\n"
	tests := []struct {
		name, in, want string
		csv            bool
	}{
		{"csv ok", good + row, "", true},
		{"csv header", strings.Replace(good, "p50_us", "median", 1) + row, "header column 8", true},
		{"csv number", good + strings.Replace(row, ",3,4,", ",x,4,", 1), "line 2: column p50_us", true},
		{"csv invalid entry", good + strings.Replace(row, "d,b,1", "d,b,0", 1), "line 2: entry k: threads 0", true},
		{"json format", `{"format":"other","version":1,"entries":[]}`, "format \"other\"", false},
		{"json unknown field", `{"format":"edgenas-lut","version":1,"entries":[],"extra":1}`, "unknown field", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.csv {
				_, err = ReadCSV(strings.NewReader(tc.in))
			} else {
				_, err = ReadJSON(strings.NewReader(tc.in))
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// entriesEqual compares entries, times by instant (JSON and CSV keep UTC).
func entriesEqual(a, b Entry) bool {
	if !a.MeasuredAt.Equal(b.MeasuredAt) {
		return false
	}
	a.MeasuredAt = b.MeasuredAt
	return reflect.DeepEqual(a, b)
}
