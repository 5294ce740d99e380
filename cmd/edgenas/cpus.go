package main

import (
	"fmt"
	"io"

	"edgenas/profiler"
)

// parseCPUsFlag parses a --cpus value (profile, bench, agent) against this
// machine's CPUs; "" means not pinned (nil).
func parseCPUsFlag(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	cpus, err := profiler.ParseCPUs(s)
	if err != nil {
		return nil, usagef("--cpus %q: %v", s, err)
	}
	return cpus, nil
}

// pinnedCPUs is parseCPUsFlag for a command that measures with threads
// threads, warning on w when they outnumber the CPUs.
func pinnedCPUs(w io.Writer, s string, threads int) ([]int, error) {
	cpus, err := parseCPUsFlag(s)
	if err == nil {
		warnOversubscribed(w, threads, cpus)
	}
	return cpus, err
}

// warnOversubscribed tells the user when more measuring threads than pinned
// CPUs were asked for: XNNPACK's thread pool spin-waits, so two threads on one
// CPU measured about 700x slower than one here (bench --cpus 0 --threads 2:
// p50 440 ms against 0.62 ms).
func warnOversubscribed(w io.Writer, threads int, cpus []int) {
	if len(cpus) > 0 && threads > len(cpus) {
		fmt.Fprintf(w, "warning: %d threads pinned to %d CPU(s) %s: the thread pool spin-waits, so timings are far slower than on %d CPUs\n",
			threads, len(cpus), profiler.FormatCPUList(cpus), threads)
	}
}
