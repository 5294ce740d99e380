package recipe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/nn"
	"edgenas/searcher/internal/searchtest"
	"edgenas/space"
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
	a, err := space.MustLookup("spnas-fmnist").Parse(tinyArch)
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
	a, err := space.MustLookup("spnas-fmnist").Parse(tinyArch)
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
