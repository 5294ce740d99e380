package install

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"edgenas/agent/proto"
	"edgenas/profiler/benchmodel"
	"edgenas/runtime"
	"edgenas/runtime/backends"
	"edgenas/tflite"
)

// maxRefusalReason bounds the operator list of a refusal (proto.Install's
// Reason holds at most 4096 bytes).
const maxRefusalReason = 2000

// runnable checks, before anything is installed, that the agent's backend
// can run every operator of the downloaded model at path. The error names
// the operators it cannot run ("xnnpack backend cannot run SVDF (operators
// 1, 3: ...)"), or says the file is not a model edgenas reads. With
// benchmark_model the tool's own run in the health check decides: which
// operators a delegate and the tool's CPU kernels take is not known here.
func (s *Models) runnable(path string) error {
	m, err := tflite.ReadFile(path)
	if err != nil {
		return fmt.Errorf("not a model this agent reads: %w", err)
	}
	if s.cfg.Tool != nil {
		return nil
	}
	err = backends.Check(s.cfg.Backend, m)
	if err == nil {
		return nil
	}
	var un *runtime.UnsupportedError
	if !errors.As(err, &un) {
		return fmt.Errorf("cannot check the model on %s: %w", s.cfg.Backend, err)
	}
	msg := fmt.Sprintf("the %s backend cannot run operators %v: %s", s.cfg.Backend, un.OpNames(), un.Summary())
	if len(msg) > maxRefusalReason {
		msg = strings.ToValidUTF8(msg[:maxRefusalReason-3], "") + "..."
	}
	return errors.New(msg)
}

// acceptCheck refuses, before anything is downloaded, a manifest whose
// health check this agent cannot hold: benchmark_model prints timings,
// never outputs, so an output check is refused rather than silently
// downgraded (the host signs a timing check with `deploy --check timing`).
func (s *Models) acceptCheck(man proto.Manifest) error {
	if s.cfg.Tool == nil || man.HealthCheck() == proto.CheckTiming {
		return nil
	}
	return fmt.Errorf("this agent times models with benchmark_model (%s), which prints no outputs: it cannot hold the manifest's %s health check; deploy with a %s check",
		benchmodel.BackendName(s.cfg.Tool.WithDefaults().Delegate), man.HealthCheck(), proto.CheckTiming)
}

// healthCheck runs the install's health check on the tool or the backend.
func (s *Models) healthCheck(ctx context.Context, path string, man proto.Manifest) (float64, error) {
	if s.cfg.Tool != nil {
		return ToolHealthCheck(ctx, *s.cfg.Tool, path, man, s.cfg.Protocol)
	}
	return HealthCheck(ctx, s.be, path, man, s.cfg.Protocol)
}
