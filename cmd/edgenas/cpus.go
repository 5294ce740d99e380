package main

import "edgenas/profiler"

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
