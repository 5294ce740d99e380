package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"go.etcd.io/bbolt"
)

// addStorage makes srv keep its retained messages, sessions, subscriptions
// and in-flight QoS messages in a bbolt file at path, so a restarted broker
// still hands an agent that reconnects the deploy retained for it. bbolt is
// pure Go and commits every write with fsync, so a broker killed at any
// point reopens the file in its last committed state. Empty path: memory
// only.
func addStorage(srv *mqtt.Server, path string) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("broker store %s: %w", path, err)
	}
	// The file is locked while open; a second broker on it fails within the
	// timeout instead of waiting for ever.
	opts := &bolt.Options{Path: path, Options: &bbolt.Options{Timeout: time.Second}}
	if err := srv.AddHook(new(bolt.Hook), opts); err != nil {
		return fmt.Errorf("broker store %s (another broker using it?): %w", path, err)
	}
	return nil
}
