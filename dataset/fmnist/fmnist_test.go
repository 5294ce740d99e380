package fmnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func idxImages(magic, n, rows, cols uint32, pixels int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, [4]uint32{magic, n, rows, cols})
	for i := 0; i < pixels; i++ {
		b.WriteByte(byte(i))
	}
	return b.Bytes()
}

func idxLabels(magic, n uint32, labels []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, [2]uint32{magic, n})
	b.Write(labels)
	return b.Bytes()
}

func TestReadImages(t *testing.T) {
	cases := []struct {
		name, err string
		data      []byte
	}{
		{"ok", "", idxImages(2051, 2, 28, 28, 2*784)},
		{"bad magic", "magic 2049", idxImages(2049, 2, 28, 28, 2*784)},
		{"bad dims", "are 32x28", idxImages(2051, 2, 32, 28, 2*784)},
		{"zero count", "count 0", idxImages(2051, 0, 28, 28, 0)},
		{"truncated pixels", "truncated", idxImages(2051, 2, 28, 28, 784+100)},
		{"truncated header", "truncated", idxImages(2051, 2, 28, 28, 0)[:7]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadImages(bytes.NewReader(c.data))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2*784 || got[1] != 1.0/255 || got[255] != 1 {
				t.Fatalf("decoded %d pixels, [1]=%v [255]=%v", len(got), got[1], got[255])
			}
		})
	}
}

func TestReadLabels(t *testing.T) {
	cases := []struct {
		name, err string
		data      []byte
	}{
		{"ok", "", idxLabels(2049, 3, []byte{0, 9, 4})},
		{"bad magic", "magic 2051", idxLabels(2051, 3, []byte{0, 9, 4})},
		{"label out of range", "label 1 is 10", idxLabels(2049, 3, []byte{0, 10, 4})},
		{"truncated", "truncated", idxLabels(2049, 5, []byte{0, 9, 4})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadLabels(bytes.NewReader(c.data))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want containing %q", err, c.err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, []byte{0, 9, 4}) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func writeGz(t *testing.T, path string, data []byte, gz bool) {
	t.Helper()
	var b bytes.Buffer
	if gz {
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	} else {
		b.Write(data)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	good := func(dir string) {
		writeGz(t, filepath.Join(dir, TrainImagesFile), idxImages(2051, 4, 28, 28, 4*784), true)
		writeGz(t, filepath.Join(dir, TrainLabelsFile), idxLabels(2049, 4, []byte{1, 2, 3, 4}), true)
		writeGz(t, filepath.Join(dir, TestImagesFile), idxImages(2051, 4, 28, 28, 4*784), true)
		writeGz(t, filepath.Join(dir, TestLabelsFile), idxLabels(2049, 4, []byte{1, 2, 3, 4}), true)
	}
	cases := []struct {
		name  string
		setup func(dir string)
		err   string
	}{
		{"missing dir", nil, "install Debian package dataset-fashion-mnist"},
		{"missing file", func(dir string) { good(dir); os.Remove(filepath.Join(dir, TrainLabelsFile)) }, "train-labels-idx1-ubyte.gz not found: install Debian package"},
		{"not gzip", func(dir string) {
			good(dir)
			writeGz(t, filepath.Join(dir, TrainLabelsFile), idxLabels(2049, 4, []byte{1, 2, 3, 4}), false)
		}, "not a gzip file"},
		{"trailing data", func(dir string) {
			good(dir)
			writeGz(t, filepath.Join(dir, TrainLabelsFile), idxLabels(2049, 3, []byte{1, 2, 3, 4}), true)
		}, "trailing data"},
		{"wrong count", good, "4 images, want 60000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fm")
			if c.setup != nil {
				os.Mkdir(dir, 0o755)
				c.setup(dir)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want containing %q", err, c.err)
			}
		})
	}
}

func TestLoadReal(t *testing.T) {
	if _, err := os.Stat(DefaultDir); err != nil {
		t.Skipf("%s not installed (make deps)", DefaultDir)
	}
	d, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.Len() != 50000 || d.Val.Len() != 10000 || d.Test.Len() != 10000 {
		t.Fatalf("split %d/%d/%d, want 50000/10000/10000", d.Train.Len(), d.Val.Len(), d.Test.Len())
	}
	var hist [Classes]int
	for _, l := range d.Val.Labels {
		hist[l]++
	}
	for c, n := range hist {
		if n < 800 || n > 1200 {
			t.Errorf("validation class %d has %d images; split not balanced", c, n)
		}
	}
	// First training image of the published file is an ankle boot (label 9).
	if d.Train.Labels[0] != 9 {
		t.Errorf("train[0] label %d, want 9", d.Train.Labels[0])
	}
	// A larger hold-out ends with the standard validation part and keeps
	// the test set; the standard one is Load's split.
	h, sp, err := d.Holdout(20000)
	if err != nil || sp.ValFirst != 40000 || h.Train.Len() != 40000 || h.Test != d.Test ||
		string(h.Val.Slice(10000, 20000).Labels) != string(d.Val.Labels) || string(h.Val.Slice(0, 10000).Labels) != string(d.Train.Labels[40000:]) {
		t.Errorf("holdout 20000: %+v %v", sp, err)
	}
	if h, _, err := d.Holdout(ValCount); err != nil || h.Train != d.Train || h.Val != d.Val {
		t.Errorf("holdout %d is not Load's split (%v)", ValCount, err)
	}
}

func TestBatcher(t *testing.T) {
	set := &Set{Images: make([]float32, 10*Pixels), Labels: make([]uint8, 10)}
	for i := range set.Labels {
		set.Labels[i] = uint8(i)
		set.Images[i*Pixels] = float32(i)
	}
	run := func(b *Batcher, steps int) []int {
		var out []int
		x, y := make([]float32, 4*Pixels), make([]int, 4)
		for s := 0; s < steps; s++ {
			b.Next(x, y)
			for i, l := range y {
				if x[i*Pixels] != float32(l) {
					t.Fatalf("image/label mismatch")
				}
			}
			out = append(out, y...)
		}
		return out
	}
	a, _ := NewBatcher(set, 4, 7)
	full := run(a, 6) // 2 batches per epoch (2 images dropped), 3 epochs
	seen := map[int]bool{}
	for _, l := range full[:8] {
		if seen[l] {
			t.Fatalf("label %d repeated within an epoch: %v", l, full[:8])
		}
		seen[l] = true
	}
	if a.Epoch != 2 {
		t.Errorf("epoch %d after 6 steps, want 2", a.Epoch)
	}
	// Resume from the state after 3 steps gives the same continuation.
	b, _ := NewBatcher(set, 4, 7)
	run(b, 3)
	ep, pos := b.Epoch, b.Pos
	c, _ := NewBatcher(set, 4, 7)
	if err := c.SetState(ep, pos); err != nil {
		t.Fatal(err)
	}
	if got, want := run(c, 3), full[12:]; !equalInts(got, want) {
		t.Fatalf("resumed %v, want %v", got, want)
	}
	other, _ := NewBatcher(set, 4, 8)
	if equalInts(run(other, 6), full) {
		t.Errorf("different seeds gave the same order")
	}
	if _, err := NewBatcher(set, 0, 1); err == nil {
		t.Errorf("batch 0 accepted")
	}
	if err := c.SetState(0, 11); err == nil {
		t.Errorf("pos beyond set accepted")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// idSet is n images whose first pixel holds first+i (their identity).
func idSet(first, n int) *Set {
	s := &Set{Images: make([]float32, n*Pixels), Labels: make([]uint8, n)}
	for i := range n {
		s.Images[i*Pixels] = float32(first + i)
		s.Labels[i] = uint8((first + i) % Classes)
	}
	return s
}

func ids(s *Set) []int {
	out := make([]int, s.Len())
	for i := range out {
		out[i] = int(s.Image(i)[0])
	}
	return out
}

// Holdout takes the last n training-file images as validation and all
// before them as training, disjoint and together the whole file, the test
// set untouched, whether the training file is one array (as Load leaves
// it) or two separate sets.
func TestHoldout(t *testing.T) {
	file := idSet(0, 60)
	loaded := &Data{Train: file.Slice(0, 50), Val: file.Slice(50, 60), Test: idSet(1000, 10), trainFile: file}
	separate := &Data{Train: idSet(0, 50), Val: idSet(50, 10), Test: idSet(1000, 10)}
	tests := []struct {
		name string
		d    *Data
		n    int
		err  string
	}{
		{name: "standard split", d: loaded, n: 10},
		{name: "larger, loaded", d: loaded, n: 25},
		{name: "smaller, loaded", d: loaded, n: 4},
		{name: "larger, separate sets", d: separate, n: 25},
		{name: "smaller, separate sets", d: separate, n: 4},
		{name: "zero", d: loaded, n: 0, err: "want 1 to 59"},
		{name: "everything", d: loaded, n: 60, err: "want 1 to 59"},
		{name: "no data", d: &Data{}, n: 5, err: "no training and validation sets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, sp, err := tc.d.Holdout(tc.n)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Split{TrainFirst: 0, TrainCount: 60 - tc.n, ValFirst: 60 - tc.n, ValCount: tc.n}
			if sp != want || h.Train.Len() != want.TrainCount || h.Val.Len() != tc.n || h.Test != tc.d.Test {
				t.Fatalf("split %+v (train %d, val %d), want %+v", sp, h.Train.Len(), h.Val.Len(), want)
			}
			seen := map[int]string{}
			for name, s := range map[string]*Set{"train": h.Train, "val": h.Val, "test": h.Test} {
				for i, id := range ids(s) {
					if prev, dup := seen[id]; dup {
						t.Errorf("image %d is in both %s and %s", id, prev, name)
					}
					seen[id] = name
					if int(s.Labels[i]) != id%Classes {
						t.Errorf("%s image %d carries label %d, want %d", name, id, s.Labels[i], id%Classes)
					}
				}
			}
			for id := range 60 {
				if want := map[bool]string{true: "val", false: "train"}[id >= 60-tc.n]; seen[id] != want {
					t.Errorf("training-file image %d is in %q, want %q", id, seen[id], want)
				}
			}
		})
	}
}
