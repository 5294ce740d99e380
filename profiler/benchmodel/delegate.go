package benchmodel

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"edgenas/profiler"
)

// Backend is the --backend name that selects benchmark_model for timing.
const Backend = "benchmark-model"

// Delegate kinds accepted by --delegate. External delegates are written
// "external:LIB" with the path of the delegate library.
const (
	DelegateCPU      = "cpu" // builtin kernels: --use_xnnpack=false
	DelegateXNNPACK  = "xnnpack"
	DelegateNNAPI    = "nnapi"
	DelegateGPU      = "gpu"
	DelegateHexagon  = "hexagon"
	externalPrefix   = "external:"
	modeUnknown      = "unknown"
	backendNameStart = Backend + "-"
)

// toolNames are how benchmark_model names each delegate: in "Explicitly
// applied X delegate" and in "Replacing ... with delegate (Y) node".
var toolNames = map[string][2]string{
	DelegateXNNPACK: {"XNNPACK", "TfLiteXNNPackDelegate"},
	DelegateNNAPI:   {"NNAPI", "TfLiteNnapiDelegate"},
	DelegateGPU:     {"GPU", "TfLiteGpuDelegateV2"},
	DelegateHexagon: {"Hexagon", "TfLiteHexagonDelegate"},
}

// DelegateNames lists the --delegate values (external takes a library).
func DelegateNames() []string {
	return []string{DelegateCPU, DelegateXNNPACK, DelegateNNAPI, DelegateGPU, DelegateHexagon, externalPrefix + "LIB"}
}

// CheckDelegate validates a --delegate value.
func CheckDelegate(d string) error {
	if lib, ok := strings.CutPrefix(d, externalPrefix); ok {
		if lib == "" {
			return fmt.Errorf("delegate %q: external needs the library path (external:/path/libdelegate.so)", d)
		}
		return nil
	}
	if d == DelegateCPU {
		return nil
	}
	if _, ok := toolNames[d]; !ok {
		return fmt.Errorf("unknown delegate %q (known: %s)", d, strings.Join(DelegateNames(), ", "))
	}
	return nil
}

// BackendName is the latency-table backend of measurements taken with
// benchmark_model on delegate d ("benchmark-model-nnapi"): tables of
// different delegates never mix, and never mix with edgenas's own backends.
func BackendName(d string) string {
	if lib, ok := strings.CutPrefix(d, externalPrefix); ok {
		base := strings.TrimSuffix(filepath.Base(lib), filepath.Ext(lib))
		base = strings.TrimPrefix(base, "lib")
		var b strings.Builder
		for _, r := range base {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
				b.WriteRune(r)
			}
		}
		return backendNameStart + "external-" + b.String()
	}
	return backendNameStart + d
}

// DetectDelegate infers from a transcript which delegate was asked for: the
// logged parameters first, then what was created, then the profile's
// delegate kernels (for a profiling-only fragment).
func DetectDelegate(r *Result) string {
	on := func(k string) bool { v := r.Params[k]; return v == "1" || v == "true" }
	switch {
	case on("Use NNAPI") || on("Use nnapi"):
		return DelegateNNAPI
	case on("Use gpu") || on("Use GPU"):
		return DelegateGPU
	case on("Use Hexagon") || on("Use hexagon"):
		return DelegateHexagon
	case r.Params["External delegate path"] != "":
		return externalPrefix + r.Params["External delegate path"]
	}
	for _, c := range r.Created {
		switch strings.ToUpper(c) {
		case "NNAPI":
			return DelegateNNAPI
		case "GPU":
			return DelegateGPU
		case "HEXAGON":
			return DelegateHexagon
		}
	}
	if r.RunProfile != nil {
		for _, row := range r.RunProfile.RunOrder {
			for d, names := range toolNames {
				if d != DelegateXNNPACK && row.Type == names[1] {
					return d
				}
			}
		}
	}
	for _, c := range r.Created {
		if c == "XNNPACK" {
			return DelegateXNNPACK
		}
	}
	for _, rep := range r.Replacements {
		if rep.Delegate == toolNames[DelegateXNNPACK][1] {
			return DelegateXNNPACK
		}
	}
	return DelegateCPU
}

// Delegation reads how delegate d took the graph. It fails, naming the
// delegate, when the tool says the delegate was not used (or cannot have
// been): a timing labelled with a delegate must be that delegate's.
func (r *Result) Delegation(d string, options map[string]string) (*profiler.DelegateInfo, error) {
	info := &profiler.DelegateInfo{Name: d, Options: options, Mode: modeUnknown}
	if d == DelegateCPU {
		if len(r.Replacements) > 0 {
			rep := r.Replacements[0]
			return nil, &RunError{Delegate: "CPU", Reason: fmt.Sprintf("builtin kernels asked for, but %s took %d node(s)", rep.Delegate, rep.Replaced)}
		}
		info.Mode = ModeComplete
		return info, nil
	}
	applied, replacing := "EXTERNAL", ""
	if names, ok := toolNames[d]; ok {
		applied, replacing = names[0], names[1]
	}
	for _, a := range r.Applications {
		if !strings.EqualFold(a.Delegate, applied) {
			continue
		}
		if a.Mode == ModeNone {
			return nil, &RunError{Delegate: applied, Reason: "the model graph will not be executed by the delegate" + r.warningsSuffix()}
		}
		info.Mode, info.Kernels = a.Mode, a.Kernels
	}
	r.fillCounts(info, replacing)
	if info.Mode == modeUnknown {
		r.modeFromProfile(info, replacing)
	}
	if info.Mode == modeUnknown && d != DelegateXNNPACK && !r.created(applied) {
		// Without any sign of the delegate the run was on the CPU (the tool
		// only warns when a delegate cannot be created).
		return nil, &RunError{Delegate: applied, Reason: "not applied: the tool never created or applied it" + r.warningsSuffix()}
	}
	return info, nil
}

// fillCounts takes node and partition counts from the delegate's own lines.
func (r *Result) fillCounts(info *profiler.DelegateInfo, replacing string) {
	for _, rep := range r.Replacements {
		if replacing != "" && rep.Delegate != replacing {
			continue
		}
		if replacing == "" && isKnownKernel(rep.Delegate) {
			continue // the lazy XNNPACK delegate taking the CPU remainder
		}
		info.Nodes, info.TotalNodes, info.Partitions = rep.Replaced, rep.Total, rep.Partitions
		if info.Mode == modeUnknown && rep.Total > 0 {
			info.Mode = ModePartial
			if rep.Replaced == rep.Total {
				info.Mode = ModeComplete
			}
		}
		break
	}
	if h := r.Hexagon; h != nil && replacing == toolNames[DelegateHexagon][1] {
		info.Nodes, info.TotalNodes, info.Partitions = h.Replaced, h.Total, h.Partitions
		if info.Mode == modeUnknown {
			info.Mode = ModePartial
			if h.Replaced == h.Total {
				info.Mode = ModeComplete
			}
		}
	}
	if r.GPUKernels > 0 && replacing == toolNames[DelegateGPU][1] && info.Kernels == 0 {
		info.Kernels = r.GPUKernels
	}
}

// modeFromProfile decides from the regular runs' op table: rows typed with
// the delegate's kernel name ran on it, other rows on the CPU.
func (r *Result) modeFromProfile(info *profiler.DelegateInfo, replacing string) {
	if r.RunProfile == nil || len(r.RunProfile.RunOrder) == 0 || replacing == "" {
		return
	}
	kernels, other := 0, 0
	for _, row := range r.RunProfile.RunOrder {
		if row.Type == replacing {
			kernels++
		} else {
			other++
		}
	}
	if kernels == 0 {
		return
	}
	info.Kernels = kernels
	info.Mode = ModeComplete
	if other > 0 {
		info.Mode = ModePartial
	}
}

func isKnownKernel(name string) bool {
	for _, n := range toolNames {
		if n[1] == name {
			return true
		}
	}
	return false
}

func (r *Result) created(name string) bool {
	for _, c := range r.Created {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

func (r *Result) warningsSuffix() string {
	if len(r.Warnings) == 0 {
		return ""
	}
	return " (" + strings.Join(r.Warnings, "; ") + ")"
}

// Threads is the CPU thread count the tool logged, or 0.
func (r *Result) Threads() int {
	for _, k := range []string{"Num threads", "#threads used for CPU inference"} {
		if n, err := strconv.Atoi(r.Params[k]); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// DelegateOptions are the delegate settings a transcript logged, keyed by
// the tool's flag names.
func (r *Result) DelegateOptions() map[string]string {
	keys := map[string]string{
		"NNAPI accelerator name":     "nnapi_accelerator_name",
		"NNAPI execution preference": "nnapi_execution_preference",
		"NNAPI allow fp16":           "nnapi_allow_fp16",
		"GPU precision loss allowed": "gpu_precision_loss_allowed",
		"GPU backend":                "gpu_backend",
		"External delegate options":  "external_delegate_options",
		"Hexagon lib path":           "hexagon_lib_path",
	}
	out := map[string]string{}
	for label, flag := range keys {
		if v, ok := r.Params[label]; ok && v != "" {
			out[flag] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
