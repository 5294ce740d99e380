package ref_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/runtime/runtimetest"
	"edgenas/tflite"
)

// hugeModel is a LOGISTIC over an int8 input of h x w: two activation
// tensors of h*w bytes each, and nothing constant, so the file is tiny
// whatever it declares.
func hugeModel(h, w int32) *tflite.Model {
	g := runtimetest.NewGraph(1)
	g.Output(g.Logistic(in(g, h, w, 1)))
	return g.Model()
}

// A model declaring tensors past MaxArenaBytes is refused at Load with an
// error naming the tensor, before anything is allocated.
func TestLoadRefusesHugeTensors(t *testing.T) {
	tests := []struct {
		name string
		m    *tflite.Model
		want string
	}{
		{name: "one tensor of 2 GiB", m: hugeModel(46340, 46340), want: "MaxArenaBytes"},
		{name: "two tensors of 600 MB", m: hugeModel(20000, 30000), want: "the model's tensors need more than the 1024 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tflite.Write(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			m, err := tflite.Read(data) // through the file format, as a crafted file would come
			if err != nil {
				t.Fatal(err)
			}
			_, err = ref.Backend{}.Load(m, runtime.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tensor ") {
				t.Fatalf("Load: %v, want an error naming a tensor and %q", err, tc.want)
			}
			if len(data) > 4096 {
				t.Errorf("the crafted file is %d bytes; the point is that it is small", len(data))
			}
		})
	}
}

const rlimitHelper = "EDGENAS_REF_RLIMIT_HELPER"

// Under an address-space limit (ulimit -v) that leaves less room than the
// arena needs, Load returns a clear error instead of the process dying in
// the allocator with a stack trace. The load runs in a child process that
// lowers its own limit.
func TestLoadUnderAddressSpaceLimit(t *testing.T) {
	if mode := os.Getenv(rlimitHelper); mode != "" {
		rlimitChild(mode)
		return
	}
	tests := []struct {
		name, mode, want string
	}{
		{name: "arena of 600 MB, 256 MiB of room", mode: "600MB", want: "address-space limit (ulimit -v) leaves"},
		{name: "small model loads", mode: "small", want: "loaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoadUnderAddressSpaceLimit$")
			cmd.Env = append(os.Environ(), rlimitHelper+"="+tc.mode)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("child: %v\n%s\nwant output containing %q", err, out, tc.want)
			}
		})
	}
}

// rlimitChild sets RLIMIT_AS to the current size plus 256 MiB and loads a
// model; it prints what happened.
func rlimitChild(mode string) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Println("statm:", err)
		os.Exit(1)
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
	lim := uint64(pages*int64(os.Getpagesize())) + 256<<20
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		fmt.Println("setrlimit:", err)
		os.Exit(1)
	}
	m := hugeModel(20000, 15000) // 2 x 300 MB
	if mode == "small" {
		m = hugeModel(100, 100)
	}
	if _, err := (ref.Backend{}).Load(m, runtime.Options{}); err != nil {
		fmt.Println("load:", err)
		os.Exit(0)
	}
	fmt.Println("loaded")
	os.Exit(0)
}
