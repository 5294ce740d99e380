package evaluate

import (
	"context"
	"fmt"
	"sync"

	"edgenas/dataset/fmnist"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/searcher/recipe"
	"edgenas/tflite"
)

// Trained is a network restored from an `edgenas train` directory.
type Trained struct{ *recipe.Trained }

// LoadTrained restores the network a finished training left in dir (chain
// or DAG: its result.json names the space and architecture, model.ckpt
// holds the weights and batch-norm statistics).
func LoadTrained(dir string) (*Trained, error) {
	t, err := recipe.LoadTrained(dir)
	if err != nil {
		return nil, err
	}
	return &Trained{t}, nil
}

// PTQ is the post-training quantization recipe.
type PTQ struct {
	// Calib is the number of training images the activation ranges are
	// calibrated on, spread evenly over the training split.
	Calib int
	Opts  quantize.CalibOptions
}

// String names the recipe (cache keys, reports).
func (p PTQ) String() string {
	if p.Opts.Method == quantize.Percentile {
		pc := p.Opts.Percentile
		if pc == 0 {
			pc = 99.99
		}
		return fmt.Sprintf("calib=%d:percentile=%g", p.Calib, pc)
	}
	return fmt.Sprintf("calib=%d:minmax", p.Calib)
}

// ParseMethod maps a --calib-method value to a calibration method.
func ParseMethod(s string) (quantize.Method, error) {
	switch s {
	case "minmax":
		return quantize.MinMax, nil
	case "percentile":
		return quantize.Percentile, nil
	}
	return 0, fmt.Errorf("calibration method %q: want minmax or percentile", s)
}

// Quantize folds the trained network's batch norms, calibrates on p.Calib
// training images and returns the int8 model (int8 input and output).
func (t *Trained) Quantize(train *fmnist.Set, p PTQ) (*tflite.Model, error) {
	return t.Trained.Quantize(train, p.Calib, p.Opts)
}

// accuracyChunk is how many images a worker runs between cancellation
// checks and progress updates.
const accuracyChunk = 250

// Int8Accuracy runs m on backend over set and returns top-1 accuracy.
// workers interpreters (one thread each) share the images, since the
// reference kernels run only tens of images per second. onChunk (may be
// nil) sees the number of images done so far, one call at a time.
func Int8Accuracy(ctx context.Context, m *tflite.Model, backend string, set *fmnist.Set, workers int, onChunk func(done int)) (float64, error) {
	be, err := backends.Lookup(backend)
	if err != nil {
		return 0, err
	}
	n := set.Len()
	if n == 0 {
		return 0, fmt.Errorf("accuracy on %s: no images", backend)
	}
	chunks := (n + accuracyChunk - 1) / accuracyChunk
	workers = max(1, min(workers, chunks))
	var (
		mu      sync.Mutex
		next    int
		done    int
		correct float64
		first   error
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || next >= chunks {
			return 0, false
		}
		next++
		return next - 1, true
	}
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, err := be.Load(m, runtime.Options{Threads: 1})
			if err != nil {
				fail(fmt.Errorf("accuracy on %s: %w", backend, err))
				return
			}
			defer it.Close()
			for {
				c, ok := take()
				if !ok {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				lo, hi := c*accuracyChunk, min(n, (c+1)*accuracyChunk)
				part := set.Slice(lo, hi)
				acc, err := quantize.Accuracy(it, part.Images, part.Labels)
				if err != nil {
					fail(fmt.Errorf("accuracy on %s: %w", backend, err))
					return
				}
				mu.Lock()
				correct += acc * float64(hi-lo)
				done += hi - lo
				if onChunk != nil {
					onChunk(done) // under the lock: callers see one call at a time
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return correct / float64(n), nil
}
