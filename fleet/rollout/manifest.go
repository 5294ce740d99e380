package rollout

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"edgenas/agent/install"
	"edgenas/agent/proto"
	"edgenas/internal/signing"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// DefaultInputSeed seeds the fixed health-check input when none is given.
const DefaultInputSeed = 0x5eed

// DefaultMaxDiff is the default tolerance (in quanta) between a device's
// output and the host's ref-backend output. XNNPACK rounds requantization
// once where TFLite's reference kernels round twice; over a whole
// spnas-fmnist network that compounds to at most 7 quanta on the logits
// (runtime/backends/AGREEMENT.md: 200 inputs, 20 models), so 8 admits every
// correct kernel while a wrong model or a broken kernel is still far off
// (and must also keep the top-1 class).
const DefaultMaxDiff = 8

// ExpectedOutput runs the model at path on the named backend ("" is ref)
// with every input filled by profiler.FillRandomInputs(seed) and returns
// output tensor 0's raw int8 bytes: what a healthy device on that backend
// must reproduce.
func ExpectedOutput(path string, seed uint64, backend string) ([]byte, error) {
	if backend == "" {
		backend = "ref"
	}
	m, err := tflite.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("expected output: %w", err)
	}
	be, err := backends.Lookup(backend)
	if err != nil {
		return nil, fmt.Errorf("expected output: %w", err)
	}
	out, err := install.FixedOutput(be, m, seed)
	if err != nil {
		return nil, fmt.Errorf("expected output of %s: %w", path, err)
	}
	return out, nil
}

// ManifestOptions are the choices behind one model manifest.
type ManifestOptions struct {
	Name      string
	Version   uint64
	URL       string
	InputSeed uint64
	MaxDiff   int
	// Backend computes Expected ("" is ref); give the backend the target
	// agents run, so their check is held to MaxDiff.
	Backend string
	// Check is the health check asked for: proto.CheckOutput,
	// proto.CheckTiming, or "" to choose (see ChooseCheck).
	Check           string
	MinAgentVersion string
	Created         time.Time
}

// CheckChoice is the health check a model's manifest gets.
type CheckChoice struct {
	// Mode is proto.CheckOutput or proto.CheckTiming.
	Mode string
	// Why is set when Mode is timing without being asked for: it names the
	// host backend and the operators it cannot run, or the targets that
	// cannot compare outputs.
	Why string
}

// TimingOnly lists the targets that can hold only a timing check: agents
// timing with TFLite's benchmark_model, which prints no outputs.
func TimingOnly(targets []Agent) []string {
	var ids []string
	for _, a := range targets {
		if strings.HasPrefix(a.Backend, benchmodel.Backend+"-") {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// ChooseCheck decides the health check of the model at path for targets
// (nil when not known). The output check needs the host to compute the
// expected output on backend ("" is ref) and the targets to compare it, so
// a model with operators that backend cannot run, or targets timing with
// benchmark_model, get a timing check when requested is "" (Why says so, to
// be shown to the user) and an error naming the operators or the agents
// when requested is proto.CheckOutput.
func ChooseCheck(path, backend, requested string, targets []Agent) (CheckChoice, error) {
	switch requested {
	case "", proto.CheckOutput, proto.CheckTiming:
	default:
		return CheckChoice{}, fmt.Errorf("health check %q: want %s or %s", requested, proto.CheckOutput, proto.CheckTiming)
	}
	m, err := tflite.ReadFile(path)
	if err != nil {
		return CheckChoice{}, fmt.Errorf("health check: %w", err)
	}
	if requested == proto.CheckTiming {
		return CheckChoice{Mode: proto.CheckTiming}, nil
	}
	if backend == "" {
		backend = "ref"
	}
	err = backends.Check(backend, m)
	var un *runtime.UnsupportedError
	if err != nil && !errors.As(err, &un) {
		return CheckChoice{}, fmt.Errorf("health check: %w", err)
	}
	if un == nil {
		return outputCheckFor(requested, TimingOnly(targets))
	}
	why := fmt.Sprintf("the host's %s backend cannot run operators %v (%s), so it cannot compute the expected output",
		backend, un.OpNames(), un.Summary())
	if requested == proto.CheckOutput {
		return CheckChoice{}, fmt.Errorf("%s for an output health check; deploy it with a timing check", why)
	}
	return CheckChoice{Mode: proto.CheckTiming,
		Why: why + ": the health check is timing-only (the device runs the model and records its latency; its output is not compared)"}, nil
}

// outputCheckFor keeps the output check of a model the host runs unless
// some targets cannot compare outputs.
func outputCheckFor(requested string, timingOnly []string) (CheckChoice, error) {
	if len(timingOnly) == 0 {
		return CheckChoice{Mode: proto.CheckOutput}, nil
	}
	why := fmt.Sprintf("agents %s time models with benchmark_model, which prints no outputs, so they cannot compare the expected output",
		strings.Join(timingOnly, ", "))
	if requested == proto.CheckOutput {
		return CheckChoice{}, fmt.Errorf("%s of an output health check; deploy to them with a timing check", why)
	}
	return CheckChoice{Mode: proto.CheckTiming, Why: why + ": the health check is timing-only for every target " +
		"(deploy to the others separately to keep their output check)"}, nil
}

// ModelManifest describes the model artifact a (already in the store) for
// agents: its size, digest, URL, and its health check: the expected output
// on the fixed input, or timing only (o.Check, chosen by ChooseCheck when
// ""). The manifest is validated as an agent would.
func ModelManifest(a Artifact, o ManifestOptions) (proto.Manifest, error) {
	ch, err := ChooseCheck(a.Path, o.Backend, o.Check, nil)
	if err != nil {
		return proto.Manifest{}, err
	}
	var exp []byte
	maxDiff, backend, check := 0, "", ch.Mode
	if ch.Mode == proto.CheckOutput {
		// Absent means output, and agents from before the field refuse
		// unknown fields: an output manifest stays readable to them, while
		// a timing one is refused by them rather than misread.
		check = ""
		if exp, err = ExpectedOutput(a.Path, o.InputSeed, o.Backend); err != nil {
			return proto.Manifest{}, err
		}
		maxDiff, backend = o.MaxDiff, o.Backend
	}
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := proto.Manifest{Kind: proto.ManifestModel, Name: o.Name, Version: o.Version, Size: a.Size, SHA256: a.SHA256,
		URL: o.URL, InputSeed: o.InputSeed, Expected: exp, Backend: backend, MaxDiff: maxDiff, Check: check,
		MinAgentVersion: o.MinAgentVersion, Created: created.UTC()}
	if err := m.Validate(); err != nil {
		return proto.Manifest{}, err
	}
	return m, nil
}

// AgentManifest describes an agent bundle (firmware/bundle) for agents
// running under the A/B supervisor: its version is the bundle's own and its
// target the bundle's GOOS/GOARCH, so a device of another kind refuses it
// before downloading. The bundle's health check is the new agent coming up
// and reporting healthy, not an expected output.
func AgentManifest(a Artifact, o ManifestOptions, target string) (proto.Manifest, error) {
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := proto.Manifest{Kind: proto.ManifestAgent, Name: o.Name, Version: o.Version, Size: a.Size, SHA256: a.SHA256,
		URL: o.URL, Target: target, MinAgentVersion: o.MinAgentVersion, Created: created.UTC()}
	if err := m.Validate(); err != nil {
		return proto.Manifest{}, err
	}
	return m, nil
}

// SignManifest signs m with the host key and checks that the envelope fits
// a Deploy message.
func SignManifest(key ed25519.PrivateKey, m proto.Manifest) ([]byte, error) {
	env, err := signing.SignJSON(key, m)
	if err != nil {
		return nil, fmt.Errorf("sign manifest %s v%d: %w", m.Name, m.Version, err)
	}
	if len(env) > proto.MaxManifest {
		return nil, fmt.Errorf("sign manifest %s v%d: envelope of %d bytes exceeds %d (output tensor 0 too large?)",
			m.Name, m.Version, len(env), proto.MaxManifest)
	}
	return env, nil
}
