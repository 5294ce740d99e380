package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"edgenas/agent/proto"
	"edgenas/profiler"
	"edgenas/space"
)

// NewSpec defines a fleet profile of every latency-table key of a space.
func NewSpec(spaceName, class string, chunk, replicas, threads int, p profiler.Protocol) (RunSpec, error) {
	ls, err := space.KeysOf(spaceName)
	if err != nil {
		return RunSpec{}, err
	}
	var keys []string
	for _, l := range ls {
		keys = append(keys, l.Key())
	}
	spec := RunSpec{Run: NewRunID(), Space: spaceName, Class: class, Keys: keys, Chunk: chunk, Replicas: replicas,
		Threads: threads, Protocol: proto.FromProfiler(p), Created: time.Now().UTC()}
	if err := spec.validate(); err != nil {
		return RunSpec{}, err
	}
	return spec, nil
}

// NewRunID returns a fresh run id ("r" + 12 hex digits).
func NewRunID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("r%x", time.Now().UnixNano())
	}
	return "r" + hex.EncodeToString(b[:])
}

// JournalPath is where a profile writing out keeps its job table.
func JournalPath(out string) string { return out + ".jobs" }
