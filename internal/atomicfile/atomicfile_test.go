package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAndFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "two" {
		t.Fatalf("content %q after failed write, want %q", got, "two")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		value   any
		want    string
		wantErr bool
	}{
		{name: "object", value: map[string]int{"a": 1}, want: "{\n  \"a\": 1\n}\n"},
		{name: "list", value: []string{"x"}, want: "[\n  \"x\"\n]\n"},
		{name: "unencodable", value: func() {}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			err := WriteJSON(p, tc.value)
			if tc.wantErr {
				if err == nil {
					t.Fatal("WriteJSON succeeded, want an error")
				}
				if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
					t.Fatalf("failed write left %s (stat: %v)", p, serr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != tc.want {
				t.Fatalf("wrote %q, want %q", got, tc.want)
			}
		})
	}
}
