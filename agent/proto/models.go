package proto

import (
	"fmt"
	"net/url"

	"edgenas/internal/ident"
)

// JobKindModels is the Job.Kind of a whole-model job: the agent fetches
// every model from the host, verifies its sha256, and times them together
// with the job's protocol. Each model's result carries its sha256 as key.
const JobKindModels = "models"

// MaxModelBytes bounds a model a whole-model job may carry (256 MiB: an int8
// mobile network is a few MB).
const MaxModelBytes = 256 << 20

// MaxModelsPerJob bounds the models timed together in one job: they are
// loaded at once, interleaved.
const MaxModelsPerJob = 16

// ModelRef names one model of a whole-model job by its content: the agent
// refuses a download that does not hash to SHA256.
type ModelRef struct {
	// Name is the host's label for reports ("m.tflite"); the agent does not use it.
	Name   string `json:"name,omitempty"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// validateModels checks the model list against the job kind: a key job
// carries none, a model job one per key, keyed by its sha256.
func (m *Job) validateModels() error {
	switch m.Kind {
	case "":
		if len(m.Models) > 0 {
			return fmt.Errorf("a job of layer keys carries %d models", len(m.Models))
		}
		return nil
	case JobKindModels:
	default:
		return fmt.Errorf("job kind %q: want \"\" or %q", m.Kind, JobKindModels)
	}
	if len(m.Models) == 0 || len(m.Models) > MaxModelsPerJob || len(m.Models) != len(m.Keys) {
		return fmt.Errorf("%d models for %d keys: want 1 to %d, one per key", len(m.Models), len(m.Keys), MaxModelsPerJob)
	}
	for i, r := range m.Models {
		if err := ident.CheckSHA256(r.SHA256); err != nil {
			return fmt.Errorf("model %d: %w", i, err)
		}
		if m.Keys[i] != r.SHA256 {
			return fmt.Errorf("model %d: key %q is not its sha256 %s", i, m.Keys[i], r.SHA256)
		}
		if r.Size <= 0 || r.Size > MaxModelBytes {
			return fmt.Errorf("model %d: size %d out of 1..%d", i, r.Size, MaxModelBytes)
		}
		if err := checkLen("model name", r.Name, 256); err != nil {
			return err
		}
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(r.URL) > 2048 {
			return fmt.Errorf("model %d: url %q: want http(s)://HOST/...", i, r.URL)
		}
	}
	return nil
}
