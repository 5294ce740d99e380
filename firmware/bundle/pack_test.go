package bundle

import (
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"edgenas/firmware/build"
	"edgenas/internal/signing"
)

// buildDir lays out a firmware/build output directory around an ELF
// binary (this test's own executable) and returns it with its record.
func buildDir(t *testing.T, edit func(*build.Info)) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, build.BinaryName), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, size, err := build.FileSHA256(filepath.Join(dir, build.BinaryName))
	if err != nil {
		t.Fatal(err)
	}
	info := build.Info{Version: "v-test", Target: goruntime.GOOS + "/" + goruntime.GOARCH, Backend: "ref", Package: "./cmd/edgenas", SHA256: sum, Size: size}
	if edit != nil {
		edit(&info)
	}
	rec, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, build.InfoName), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPackBuild(t *testing.T) {
	pub, priv := testKey(t)
	here := goruntime.GOOS + "/" + goruntime.GOARCH
	created := time.Unix(1700000000, 0).UTC()
	tests := []struct {
		name    string
		edit    func(*build.Info)
		target  string
		wantErr string
	}{
		{name: "packs and verifies", target: here},
		{name: "any target", target: ""},
		{name: "binary not its record's", edit: func(i *build.Info) { i.SHA256 = strings.Repeat("0", 64) }, wantErr: "does not match its build record"},
		{name: "other target", target: "plan9/mips", wantErr: "but the build in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "agent.bundle")
			m, err := PackBuild(PackOptions{BuildDir: buildDir(t, tc.edit), Target: tc.target, Out: out, Key: priv,
				Version: 7, MinHostProtocol: 1, Created: created})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a refused pack left %s behind (%v)", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyFile(out, signing.Only(pub), Expect{Target: here})
			if err != nil {
				t.Fatal(err)
			}
			var rec build.Info
			if err := json.Unmarshal(got.Build, &rec); err != nil || rec.Version != "v-test" {
				t.Errorf("build record in the manifest: %v %+v", err, rec)
			}
			if got.Version != 7 || got.AgentVersion != "v-test" || !got.Created.Equal(created) || got.Binary != BinDir+"/"+build.BinaryName {
				t.Errorf("manifest %+v", got)
			}
			if got.Files[0].SHA256 != m.Files[0].SHA256 || got.Files[0].Path != got.Binary {
				t.Errorf("binary entry %+v, returned manifest %+v", got.Files[0], m.Files[0])
			}
		})
	}
}
