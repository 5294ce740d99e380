package install

import (
	"errors"
	"fmt"
	"strings"

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
// 1, 3: ...)"), or says the file is not a model edgenas reads.
func (s *Models) runnable(path string) error {
	m, err := tflite.ReadFile(path)
	if err != nil {
		return fmt.Errorf("not a model this agent reads: %w", err)
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
