package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"edgenas/agent/proto"
	"edgenas/internal/atomicfile"
)

// Auditor is implemented by installers that keep, next to what they
// installed, the manifest it was installed with, so the manager can re-hash
// installed files and refuse a manifest that reuses an installed version
// for other bytes.
type Auditor interface {
	// Installed returns the manifest version v of name was installed with;
	// ok is false when v is not in the store.
	Installed(name string, v uint64) (man proto.Manifest, ok bool, err error)
	// Audit re-hashes the committed version of name ("" for every name),
	// sets aside each that no longer matches its manifest (the previous
	// intact version, if any, becomes current) and returns what it found.
	Audit(name string) ([]Tamper, error)
}

// Tamper is an installed file that no longer matches its manifest.
type Tamper struct {
	Manifest proto.Manifest
	// Envelope is the signed manifest the version was installed with.
	Envelope []byte
	// File is relative to the agent's data dir.
	File     string
	Expected string
	// Actual is the sha256 of the bytes on disk ("" when the file is gone).
	Actual string
	// Reason says what differs, for the report.
	Reason string
}

// fill copies the tampering details into a report.
func (tp *Tamper) fill(r *proto.Install) {
	r.Reason, r.File, r.ExpectedSHA256, r.ActualSHA256 = tp.Reason, tp.File, tp.Expected, tp.Actual
}

// hashFile returns the size and hex sha256 of a file.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// tamperOf re-hashes an installed file against man; nil means it matches.
func (s *Models) tamperOf(path string, man proto.Manifest, env []byte) *Tamper {
	size, sum, err := hashFile(path)
	if err == nil && size == man.Size && sum == man.SHA256 {
		return nil
	}
	rel, rerr := filepath.Rel(s.cfg.Dir, path)
	if rerr != nil {
		rel = path
	}
	tp := &Tamper{Manifest: man, Envelope: env, File: rel, Expected: man.SHA256, Actual: sum}
	switch {
	case errors.Is(err, os.ErrNotExist):
		tp.Reason = fmt.Sprintf("%s is missing; manifest says sha256 %s", rel, man.SHA256)
	case err != nil:
		tp.Reason = fmt.Sprintf("%s cannot be read: %v", rel, err)
	default:
		tp.Reason = fmt.Sprintf("%s has sha256 %s (%d bytes); manifest says %s (%d bytes)", rel, sum, size, man.SHA256, man.Size)
	}
	return tp
}

// Installed reads the manifest stored with version v of name.
func (s *Models) Installed(name string, v uint64) (proto.Manifest, bool, error) {
	env, err := os.ReadFile(filepath.Join(s.versionDir(name, v), ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return proto.Manifest{}, false, nil
	}
	if err != nil {
		return proto.Manifest{}, false, fmt.Errorf("models: %w", err)
	}
	m, err := manifestOf(env)
	if err != nil {
		return proto.Manifest{}, false, fmt.Errorf("models: %s/%d: %w", name, v, err)
	}
	return m, true, nil
}

// Audit re-hashes committed models (see Auditor). An install in progress is
// left to recovery, which verifies its own files.
func (s *Models) Audit(name string) ([]Tamper, error) {
	names := []string{name}
	if name == "" {
		entries, err := os.ReadDir(s.root)
		if err != nil {
			return nil, fmt.Errorf("models: %w", err)
		}
		names = names[:0]
		for _, e := range entries {
			if e.IsDir() && proto.ValidID(e.Name()) == nil {
				names = append(names, e.Name())
			}
		}
	}
	var out []Tamper
	for _, n := range names {
		if j, err := s.loadJournal(n); err != nil || j != nil {
			continue
		}
		cur, err := s.Committed(n)
		if err != nil {
			return out, err
		}
		if cur == 0 {
			continue
		}
		tp, err := s.auditVersion(n, cur)
		if err != nil {
			return out, err
		}
		if tp != nil {
			out = append(out, *tp)
		}
	}
	return out, nil
}

// auditVersion checks version v of name and, when it is damaged, sets it
// aside as .V.tampered and falls back to the newest intact older version.
func (s *Models) auditVersion(name string, v uint64) (*Tamper, error) {
	vdir := s.versionDir(name, v)
	env, err := os.ReadFile(filepath.Join(vdir, ManifestFile))
	var tp *Tamper
	if err != nil {
		rel, _ := filepath.Rel(s.cfg.Dir, filepath.Join(vdir, ManifestFile))
		tp = &Tamper{Manifest: proto.Manifest{Kind: proto.ManifestModel, Name: name, Version: v}, File: rel,
			Reason: fmt.Sprintf("%s unreadable: %v", rel, err)}
	} else if man, merr := manifestOf(env); merr != nil {
		rel, _ := filepath.Rel(s.cfg.Dir, filepath.Join(vdir, ManifestFile))
		tp = &Tamper{Manifest: proto.Manifest{Kind: proto.ManifestModel, Name: name, Version: v}, Envelope: env, File: rel,
			Reason: fmt.Sprintf("%s unreadable: %v", rel, merr)}
	} else {
		tp = s.tamperOf(filepath.Join(vdir, ModelFile), man, env)
	}
	if tp == nil {
		return nil, nil
	}
	s.log.Error("installed model tampered with; setting it aside", "name", name, "version", v, "reason", tp.Reason)
	aside := filepath.Join(s.dir(name), "."+strconv.FormatUint(v, 10)+".tampered")
	if err := os.RemoveAll(aside); err != nil {
		return tp, fmt.Errorf("models: %w", err)
	}
	if err := os.Rename(vdir, aside); err != nil {
		return tp, fmt.Errorf("models: set aside %s: %w", vdir, err)
	}
	prev := s.intactBefore(name, v)
	cur := filepath.Join(s.dir(name), CurrentFile)
	if prev > 0 {
		err = atomicfile.WriteFile(cur, []byte(strconv.FormatUint(prev, 10)+"\n"))
	} else if rerr := os.Remove(cur); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	if err != nil {
		return tp, fmt.Errorf("models: %w", err)
	}
	return tp, syncDir(s.dir(name))
}

// intactBefore is the newest version of name below v whose model matches
// its manifest, or 0.
func (s *Models) intactBefore(name string, v uint64) uint64 {
	entries, _ := os.ReadDir(s.dir(name))
	var best uint64
	for _, e := range entries {
		n, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() || n >= v || n <= best {
			continue
		}
		if man, ok, err := s.Installed(name, n); err == nil && ok && s.tamperOf(filepath.Join(s.versionDir(name, n), ModelFile), man, nil) == nil {
			best = n
		}
	}
	return best
}

// auditRollout is the rollout id of a tampered report found at start for a
// version whose install record is gone.
const auditRollout = "audit"

// audit re-hashes what every auditing installer has committed, at start:
// damage done while the agent was down is reported before anything runs.
func (m *Manager) audit(ctx context.Context) {
	for kind, in := range m.installers {
		a, ok := in.(Auditor)
		if !ok || ctx.Err() != nil {
			continue
		}
		tps, err := a.Audit("")
		if err != nil {
			m.log.Error("audit of installed files failed", "kind", kind, "err", err)
		}
		for i := range tps {
			tp := &tps[i]
			rollout := auditRollout
			if prev, err := m.loadFinal(tp.Manifest); err == nil && prev != nil {
				rollout = prev.Rollout
			}
			m.tampered(rollout, tp, tp.Envelope)
		}
	}
}

// sameVersionCheck answers a Deploy of the committed version when the
// installer can audit, and reports whether it did: a manifest naming other
// bytes for that version is refused, and an installed file that changed is
// reported tampered (and set aside). Otherwise the caller re-confirms the
// install.
func (m *Manager) sameVersionCheck(rollout string, in Installer, man proto.Manifest, env []byte) bool {
	a, ok := in.(Auditor)
	if !ok {
		return false
	}
	have, ok, err := a.Installed(man.Name, man.Version)
	if err != nil {
		m.refuse(rollout, man, fmt.Sprintf("store: %v", err))
		return true
	}
	if ok && (have.SHA256 != man.SHA256 || have.Size != man.Size) {
		m.refuse(rollout, man, fmt.Sprintf("version %d of %s is installed with sha256 %s (%d bytes); this manifest names sha256 %s (%d bytes) for the same version, and a version is never reused for other bytes",
			man.Version, man.Name, have.SHA256, have.Size, man.SHA256, man.Size))
		return true
	}
	tps, err := a.Audit(man.Name)
	if err != nil {
		m.log.Error("audit of installed files failed", "name", man.Name, "err", err)
	}
	for i := range tps {
		m.tampered(rollout, &tps[i], env)
	}
	return len(tps) > 0
}

// tampered reports tp and records it as the final outcome of the manifest
// env, so a re-delivered Deploy of that manifest is answered the same way
// instead of being trusted or retried.
func (m *Manager) tampered(rollout string, tp *Tamper, env []byte) {
	r := m.report(rollout, tp.Manifest, proto.InstallTampered, tp.fill)
	if env == nil {
		return
	}
	if err := m.saveFinal(tp.Manifest, env, r); err != nil {
		m.log.Error("cannot record the tampered install", "err", err)
	}
}

// pruneTampered keeps only the newest set-aside version of name: evidence
// of the last tampering, without letting repeated damage fill the disk.
func (s *Models) pruneTampered(name string) {
	ms, _ := filepath.Glob(filepath.Join(s.dir(name), ".*.tampered"))
	var newest uint64
	var keep string
	for _, p := range ms {
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "."), ".tampered"), 10, 64)
		if err == nil && v >= newest {
			newest, keep = v, p
		}
	}
	for _, p := range ms {
		if p != keep {
			os.RemoveAll(p)
		}
	}
}
