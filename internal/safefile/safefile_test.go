package safefile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadFileRefusesWhatItCannotSafelyRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "m.bin")
	if err := os.WriteFile(regular, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		limit   int64
		want    string // "" means success
		wantErr error
	}{
		{name: "regular within limit", path: regular, limit: 10},
		{name: "no limit", path: regular, limit: 0},
		{name: "symlink to regular", path: link, limit: 10},
		{name: "over limit", path: regular, limit: 9, want: "limit is 9", wantErr: ErrTooLarge},
		{name: "fifo", path: fifo, limit: 10, want: "named pipe (FIFO)", wantErr: ErrNotRegular},
		{name: "directory", path: dir, limit: 10, want: "directory", wantErr: ErrNotRegular},
		{name: "socket", path: sock, limit: 10, want: "socket", wantErr: ErrNotRegular},
		{name: "char device", path: "/dev/zero", limit: 10, want: "character device", wantErr: ErrNotRegular},
		{name: "missing", path: filepath.Join(dir, "nope"), limit: 10, want: "no such file", wantErr: os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() { defer close(done); b, err = ReadFile(tc.path, tc.limit) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("ReadFile(%s) blocked", tc.path)
			}
			if tc.want == "" {
				if err != nil || string(b) != "0123456789" {
					t.Fatalf("got %q, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("error %v, want one naming %s, containing %q and wrapping %v", err, tc.path, tc.want, tc.wantErr)
			}
		})
	}
}
