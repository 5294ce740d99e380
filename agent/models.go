package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// maxModelCacheBytes bounds the models kept in DATA/modelcache: beyond it
// the least recently used ones go (a host re-sends the same models across
// validate, evaluate and bench runs, so keeping some saves downloads).
const maxModelCacheBytes = 1 << 30

// ErrModelHash marks a model whose download does not hash to the sha256 the
// job names: it is refused, never timed.
var ErrModelHash = errors.New("model does not match its sha256")

func (a *Agent) modelCacheDir() string { return filepath.Join(a.cfg.DataDir, "modelcache") }

// measureModels runs a whole-model job: every model fetched (or taken from
// the cache) and verified, then timed with the job's protocol: together,
// interleaved, on the agent's backend, or one after the other by
// benchmark_model when the agent measures with it. Each result's key is the
// model's sha256.
func (a *Agent) measureModels(ctx context.Context, job *proto.Job, progress func(done, total int)) ([]profiler.LayerResult, error) {
	total := len(job.Models) + 1 // fetching each model, then timing them
	paths := make([]string, len(job.Models))
	for i, ref := range job.Models {
		path, err := a.fetchModel(ctx, ref)
		if err != nil {
			return nil, err
		}
		paths[i] = path
		progress(i+1, total)
	}
	var ms []profiler.Measurement
	var err error
	if bm := a.cfg.BenchmarkModel; bm != nil {
		ms, err = timeWithBenchmarkModel(ctx, bm.WithDefaults(), job, paths)
	} else {
		ms, err = timeOnBackend(ctx, a.cfg.Backend, job, paths)
	}
	if err != nil {
		return nil, err
	}
	out := make([]profiler.LayerResult, len(ms))
	for i, m := range ms {
		out[i] = profiler.LayerResult{Key: job.Models[i].SHA256, Measurement: m}
	}
	progress(total, total)
	a.trimModelCache(job)
	return out, nil
}

// timeOnBackend loads the models on the backend and times them together
// with the profiler's interleaved protocol.
func timeOnBackend(ctx context.Context, backend string, job *proto.Job, paths []string) ([]profiler.Measurement, error) {
	be, err := backends.Lookup(backend)
	if err != nil {
		return nil, err
	}
	var its []runtime.Interpreter
	defer func() {
		for _, it := range its {
			it.Close()
		}
	}()
	cands := make([]profiler.Candidate, len(paths))
	for i, path := range paths {
		sha := job.Models[i].SHA256
		m, err := tflite.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", sha, err)
		}
		it, err := be.Load(m, runtime.Options{Threads: job.Threads})
		if err != nil {
			return nil, fmt.Errorf("load model %s on %s: %w", sha, be.Name(), err)
		}
		its = append(its, it)
		if err := profiler.FillRandomInputs(it, 1); err != nil {
			return nil, fmt.Errorf("model %s: %w", sha, err)
		}
		cands[i] = profiler.Candidate{Name: sha, Invoke: it.Invoke}
	}
	return profiler.Measure(ctx, cands, job.Protocol.Profiler(), be.Name(), job.Threads)
}

// timeWithBenchmarkModel times each model with TFLite's benchmark_model
// (one process per model: the tool cannot interleave).
func timeWithBenchmarkModel(ctx context.Context, o benchmodel.Options, job *proto.Job, paths []string) ([]profiler.Measurement, error) {
	out := make([]profiler.Measurement, len(paths))
	for i, path := range paths {
		m, err := benchmodel.TimeModel(ctx, o, path, job.Threads, job.Protocol.Profiler())
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", job.Models[i].SHA256, err)
		}
		m.Name = job.Models[i].SHA256
		out[i] = m
	}
	return out, nil
}

// fetchModel returns the cached copy of ref, downloading it first if
// needed. A download that does not hash to ref.SHA256 is deleted and
// refused (ErrModelHash); so is a cached copy that no longer does.
func (a *Agent) fetchModel(ctx context.Context, ref proto.ModelRef) (string, error) {
	dir := a.modelCacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	path := filepath.Join(dir, ref.SHA256)
	if got, err := fileSHA256(path); err == nil {
		if got == ref.SHA256 {
			now := time.Now()
			os.Chtimes(path, now, now) // recently used: kept by trimModelCache
			return path, nil
		}
		a.log.Warn("cached model changed on disk; fetching it again", "sha256", ref.SHA256)
		os.Remove(path)
	}
	part := path + ".part"
	d := install.Download{URL: ref.URL, Path: part, Size: ref.Size}
	if err := d.Run(ctx); err != nil {
		return "", fmt.Errorf("model %s: %w", ref.SHA256, err)
	}
	got, err := fileSHA256(part)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", ref.SHA256, err)
	}
	if got != ref.SHA256 {
		os.Remove(part)
		return "", fmt.Errorf("model %s from %s: %w: the download hashes to %s; refused", ref.SHA256, ref.URL, ErrModelHash, got)
	}
	if err := os.Rename(part, path); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	a.log.Info("model fetched", "sha256", ref.SHA256, "bytes", ref.Size)
	return path, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, proto.MaxModelBytes+1)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// trimModelCache removes the least recently used models beyond
// maxModelCacheBytes, never one of job's.
func (a *Agent) trimModelCache(job *proto.Job) {
	ents, err := os.ReadDir(a.modelCacheDir())
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, r := range job.Models {
		keep[r.SHA256] = true
	}
	type file struct {
		name string
		size int64
		used int64
	}
	var files []file
	var total int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, file{e.Name(), fi.Size(), fi.ModTime().UnixNano()})
		total += fi.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].used < files[j].used })
	for _, f := range files {
		if total <= maxModelCacheBytes {
			return
		}
		if keep[f.name] {
			continue
		}
		if os.Remove(filepath.Join(a.modelCacheDir(), f.name)) == nil {
			total -= f.size
		}
	}
}
