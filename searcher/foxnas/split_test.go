package foxnas

import (
	"strings"
	"testing"

	"edgenas/dataset/fmnist"
	"edgenas/space"
)

// idSet is n images whose first pixel holds first+i (their identity) on
// a background that encodes the label.
func idSet(first, n int) *fmnist.Set {
	s := &fmnist.Set{Images: make([]float32, n*fmnist.Pixels), Labels: make([]uint8, n)}
	for i := range n {
		c := (first + i) % fmnist.Classes
		s.Labels[i] = uint8(c)
		img := s.Image(i)
		for p := range img {
			img[p] = float32(c) / 10
		}
		img[0] = float32(first + i)
	}
	return s
}

func idsOf(images []float32, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = int(images[i*fmnist.Pixels])
	}
	return out
}

// The images a search's supernet trains on (one whole epoch of its
// batcher), those that recalibrate batch norm, those that score the
// sub-networks and the test set are what the split says: the scoring
// images are the last SubnetVal of the training files, and none of them is
// trained on or in the test set.
func TestSubnetSplitDisjoint(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	rt := syntheticRuntime(t, s)
	data := &fmnist.Data{Train: idSet(0, 200), Val: idSet(200, 40), Test: idSet(10000, 30)}
	tests := []struct {
		name      string
		subnetVal int
		frac      float64
		err       string
	}{
		{name: "the standard validation part", subnetVal: 40, frac: 1},
		{name: "a larger hold-out", subnetVal: 100, frac: 1},
		{name: "a smaller hold-out, part of the rest per epoch", subnetVal: 16, frac: 0.5},
		{name: "all training images", subnetVal: 240, frac: 1, err: "want 1 to 239"},
	}
	tags := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := SearchJob{RT: rt, Data: data, SubnetVal: tc.subnetVal, CalibBatches: 2,
				OneShot: OneShotConfig{Epochs: 1, DataFrac: tc.frac, Batch: 8, LR: 0.01, Seed: 1}}
			o, d, split, err := j.stage()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev, err := j.evaluator(o, d)
			if err != nil {
				t.Fatal(err)
			}
			if want := (fmnist.Split{TrainCount: 240 - tc.subnetVal, ValFirst: 240 - tc.subnetVal, ValCount: tc.subnetVal}); split != want {
				t.Errorf("split %+v, want %+v", split, want)
			}
			trained := map[int]bool{}
			x, y := make([]float32, 8*fmnist.Pixels), make([]int, 8)
			for range o.images / 8 {
				o.Data.Next(x, y)
				for _, id := range idsOf(x, 8) {
					trained[id] = true
				}
			}
			if len(trained) != o.images/8*8 {
				t.Errorf("one epoch drew %d distinct images, want %d", len(trained), o.images/8*8)
			}
			for id := range trained {
				if id >= split.ValFirst {
					t.Errorf("supernet trains on image %d, held out from %d", id, split.ValFirst)
				}
			}
			for _, id := range idsOf(ev.Calib.Images, ev.CalibBatches*ev.Batch) {
				if id >= split.ValFirst {
					t.Errorf("batch norm recalibrates on held-out image %d", id)
				}
			}
			scored := idsOf(ev.Val.Images, ev.Val.Len())
			if len(scored) != tc.subnetVal {
				t.Fatalf("%d scoring images, want %d", len(scored), tc.subnetVal)
			}
			for i, id := range scored {
				if id != split.ValFirst+i || id >= 10000 {
					t.Errorf("scoring image %d is %d, want training-file image %d", i, id, split.ValFirst+i)
				}
			}
			tags[o.tag()] = tc.name
		})
	}
	if len(tags) != 3 {
		t.Errorf("supernets on different training parts share a checkpoint tag: %v", tags)
	}
}
