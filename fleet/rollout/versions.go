package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
	"edgenas/internal/filelock"
	"edgenas/internal/ident"
)

// VersionsFile is the host's record of every version it gave each artifact
// name, kept in the key directory: the key is the host's identity, so the
// record outlives any --state directory, and a version once signed is never
// signed again for other bytes.
const VersionsFile = "versions.json"

// maxVersionsFile bounds the record a host reads (about 10,000 versions).
const maxVersionsFile = 4 << 20

// versionRecord maps name -> version -> sha256.
type versionRecord map[string]map[uint64]string

// AssignVersion picks the version of artifact sha under name and records it
// in path (see VersionsFile). The latest bytes of name deployed again keep
// their version; any other bytes get one more than every version this host ever gave name and
// than floor (the rollout state's NextVersion - 1). want != 0 asks for that
// version: it is refused if it was given to other bytes, or if it is below
// the latest (agents refuse a lower version as a replay).
func AssignVersion(path, name, sha string, want, floor uint64) (uint64, error) {
	if err := proto.ValidID(name); err != nil {
		return 0, fmt.Errorf("version: name: %w", err)
	}
	if err := ident.CheckSHA256(sha); err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	lock, err := filelock.Acquire(path + ".lock")
	if err != nil {
		return 0, fmt.Errorf("version: another deploy is choosing a version: %w", err)
	}
	defer lock.Release()
	rec, err := loadVersions(path)
	if err != nil {
		return 0, err
	}
	given := rec[name]
	last := floor
	var same uint64
	for v, s := range given {
		last = max(last, v)
		if s == sha {
			same = max(same, v)
		}
	}
	v := want
	switch {
	case want != 0:
		if s, ok := given[want]; ok && s != sha {
			return 0, fmt.Errorf("--version %d of %s was signed for sha256 %s; this artifact is %s, and a version is never reused for other bytes (omit --version to get %d)",
				want, name, s, sha, last+1)
		}
		if want < last && given[want] != sha {
			return 0, fmt.Errorf("--version %d of %s is below the latest %d this host gave it; agents would refuse it as a replay (omit --version to get %d)",
				want, name, last, last+1)
		}
	case same != 0 && same == last:
		// The latest bytes again (a re-run): agents that have them say
		// committed; going back to older bytes needs a new version.
		v = same
	default:
		v = last + 1
	}
	if given == nil {
		given = map[uint64]string{}
		rec[name] = given
	}
	if given[v] == sha {
		return v, nil
	}
	given[v] = sha
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	return v, nil
}

func loadVersions(path string) (versionRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return versionRecord{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("version record: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxVersionsFile+1))
	if err != nil {
		return nil, fmt.Errorf("version record: %w", err)
	}
	if len(b) > maxVersionsFile {
		return nil, fmt.Errorf("version record %s: larger than %d bytes", path, maxVersionsFile)
	}
	rec := versionRecord{}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("version record %s: %w (it lists the versions this host signed; repair or remove it knowing that agents refuse reused versions)", path, err)
	}
	return rec, nil
}
