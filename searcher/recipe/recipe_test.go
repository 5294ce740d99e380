package recipe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/nn"
	"edgenas/quantize"
	"edgenas/searcher/internal/searchtest"
)

const tinyArch = "k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip,k3e3,skip,skip"

func testRecipe() Config {
	c := Default()
	c.Epochs, c.DataFrac, c.Batch, c.Seed, c.EvalBatch = 2, 1, 8, 1, 16
	return c
}

// A training cancelled mid-run resumes through the loop to the same
// weights and accuracies as an uninterrupted one, and its time counts both
// invocations.
func TestTrainResumesAfterInterruption(t *testing.T) {
	a, err := parseChain(tinyArch)
	if err != nil {
		t.Fatal(err)
	}
	data := searchtest.Data(48, 16, 16)
	cfg := testRecipe()
	if got := cfg.Steps(data.Train.Len()); got != 12 {
		t.Fatalf("%d steps, want 12", got)
	}
	straightDir := t.TempDir()
	want, err := Train(context.Background(), cfg, a, data, straightDir, nil)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Train(ctx, cfg, a, data, dir, func(step, total int, loss, acc float64) {
		if total != 12 {
			t.Errorf("total %d", total)
		}
		if step == 5 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "train interrupted at step 5 of 12") {
		t.Fatalf("interrupted training: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ResultFile)); !os.IsNotExist(err) {
		t.Errorf("an interrupted training wrote %s (%v)", ResultFile, err)
	}
	var steps []int
	got, err := Train(context.Background(), cfg, a, data, dir, func(step, total int, loss, acc float64) { steps = append(steps, step) })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 7 || steps[0] != 6 || steps[6] != 12 {
		t.Errorf("resumed run reported steps %v, want 6..12", steps)
	}
	if got.ValAcc != want.ValAcc || got.ValLoss != want.ValLoss || got.TestAcc != want.TestAcc || got.TestLoss != want.TestLoss || got.Steps != 12 || !(got.Seconds > 0) {
		t.Errorf("resumed result %+v, uninterrupted %+v", got, want)
	}
	a1, err := nn.LoadCheckpoint(filepath.Join(straightDir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := nn.LoadCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range a1.Tensors {
		for i := range w {
			if a2.Tensors[name][i] != w[i] {
				t.Fatalf("resumed weights differ at %s[%d]: %v vs %v", name, i, a2.Tensors[name][i], w[i])
			}
		}
	}
	res, err := ReadResult(dir)
	if err != nil || res != got {
		t.Errorf("ReadResult %+v, %v; Train returned %+v", res, err, got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("training directory holds %d files, want %s and %s only", len(ents), CheckpointFile, ResultFile)
	}
	// Another seed does not resume this training.
	cfg.Seed = 2
	if _, err := Train(context.Background(), cfg, a, data, dir, nil); err == nil || !strings.Contains(err.Error(), "checkpoint is of") {
		t.Errorf("another seed resumed: %v", err)
	}
}

func TestTrainRejects(t *testing.T) {
	a, err := parseChain(tinyArch)
	if err != nil {
		t.Fatal(err)
	}
	data := searchtest.Data(16, 8, 8)
	tests := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{name: "no epochs", edit: func(c *Config) { c.Epochs = 0 }, want: "bad recipe"},
		{name: "data fraction above 1", edit: func(c *Config) { c.DataFrac = 1.5 }, want: "bad recipe"},
		{name: "fewer images than a batch", edit: func(c *Config) { c.Batch = 32 }, want: "less than one batch of 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testRecipe()
			tc.edit(&cfg)
			if _, err := Train(context.Background(), cfg, a, data, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func parseChain(arch string) (Arch, error) { return ParseArch("spnas-fmnist", arch) }

// Chain architectures and DAG topologies train through the one recipe, and
// LoadTrained restores either from its directory to the network Train
// evaluated.
func TestTrainAndLoadBothKinds(t *testing.T) {
	data := searchtest.Data(16, 8, 8)
	tests := []struct {
		name      string
		space     string
		arch      string
		wantSpace string
	}{
		{name: "chain", space: "spnas-fmnist", arch: tinyArch, wantSpace: "spnas-fmnist"},
		{name: "dag", space: "autoshrink-fmnist", arch: "0-1,0-2,1-3,2-3", wantSpace: "autoshrink-fmnist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseArch(tc.space, tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testRecipe()
			cfg.Epochs = 1
			dir := t.TempDir()
			res, err := Train(context.Background(), cfg, a, data, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Space != tc.wantSpace || res.Arch != a.String() || res.MACs != a.MACs() || res.Params != a.Params() || res.MACs <= 0 {
				t.Errorf("result %+v for %s %s", res, tc.space, a)
			}
			tr, err := LoadTrained(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Result != res || tr.Arch.String() != a.String() {
				t.Errorf("loaded %+v %s, trained %+v %s", tr.Result, tr.Arch, res, a)
			}
			tr.Net.Loss.Smoothing = cfg.Smoothing // the recipe's loss, so the losses compare exactly
			acc, loss, err := tr.Net.Evaluate(data.Test.Images, data.Test.Labels, cfg.EvalBatch)
			if err != nil || acc != res.TestAcc || loss != res.TestLoss {
				t.Errorf("reloaded network: test %v/%v (%v), trained %v/%v", acc, loss, err, res.TestAcc, res.TestLoss)
			}
			m, err := tr.Quantize(data.Train, 4, quantize.CalibOptions{})
			if err != nil || m == nil {
				t.Fatalf("quantize: %v", err)
			}
			if _, err := tr.Quantize(data.Train, data.Train.Len()+1, quantize.CalibOptions{}); err == nil || !strings.Contains(err.Error(), "--calib") {
				t.Errorf("calibrating on more images than the split: %v", err)
			}
		})
	}
}

func TestLoadTrainedRejects(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{name: "not a training directory", setup: func(t *testing.T, dir string) {}, want: "whose training finished"},
		{name: "unknown space", setup: func(t *testing.T, dir string) {
			writeResult(t, dir, `{"space": "nope", "arch": "x"}`)
		}, want: "nope"},
		{name: "bad architecture", setup: func(t *testing.T, dir string) {
			writeResult(t, dir, `{"space": "autoshrink-fmnist", "arch": "9-9"}`)
		}, want: "load trained"},
		{name: "no checkpoint", setup: func(t *testing.T, dir string) {
			writeResult(t, dir, `{"space": "spnas-fmnist", "arch": "`+tinyArch+`"}`)
		}, want: CheckpointFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			if _, err := LoadTrained(dir); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %v, want one naming %s and %q", err, dir, tc.want)
			}
		})
	}
}

func writeResult(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ResultFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
