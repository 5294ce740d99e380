// Package slots keeps an agent's firmware in two A/B slots under its data
// directory and switches between them safely. DATA/firmware/slots/{a,b} each
// hold one unpacked, verified bundle; DATA/firmware/state.json (written only
// by the supervisor, or by the first install) says which slot is active and
// which update is on trial; DATA/firmware/journal.json (written only by the
// agent's "agent" installer) tracks an update from download to "staged";
// DATA/firmware/good is how the agent on trial says it connected and is
// healthy. Every write is atomic, so a process killed at any point leaves a
// state the next start can finish or roll back. The agent's own state
// (identity, credentials, unacknowledged results) lives in DATA/agent,
// outside the slots, and is never touched by a switch.
package slots

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edgenas/firmware/bundle"
	"edgenas/internal/atomicfile"
	"edgenas/internal/signing"
)

// Layout names under the data directory.
const (
	Dir      = "firmware"     // DATA/firmware
	AgentDir = "agent"        // DATA/agent: the agent's data dir, shared by both slots
	Current  = "current"      // DATA/firmware/current -> slots/X, the active slot
	slotsDir = "slots"        // DATA/firmware/slots/{a,b}
	partDir  = "partial"      // DATA/firmware/partial/<sha256>: downloads in progress
	stateF   = "state.json"   // supervisor's record
	journalF = "journal.json" // installer's record
	goodF    = "good"         // "SLOT VERSION" written by a healthy agent on trial
)

// Slot names.
const (
	SlotA = "a"
	SlotB = "b"
)

// Outcomes of a trial.
const (
	OutcomeCommitted  = "committed"
	OutcomeRolledBack = "rolled_back"
)

// Environment variables the supervisor sets for the agent it starts.
const (
	EnvDir  = "EDGENAS_FIRMWARE_DIR" // DATA/firmware
	EnvSlot = "EDGENAS_SLOT"         // the slot the agent runs from
)

// MaxTrialAttempts is how many times an interrupted trial (the supervisor
// killed while the new agent was on trial) is retried before it is rolled back.
const MaxTrialAttempts = 2

// State is the supervisor's record: the active slot and the update on trial.
type State struct {
	Active   string          `json:"active"`
	Version  uint64          `json:"version"`
	Manifest bundle.Manifest `json:"manifest"`
	Previous string          `json:"previous,omitempty"`
	PrevVer  uint64          `json:"previous_version,omitempty"`
	Trial    *Trial          `json:"trial,omitempty"`
	Updated  time.Time       `json:"updated"`
}

// Trial is an update being tried: the new slot runs and must mark itself
// good before the deadline, or the active slot is restored.
type Trial struct {
	Slot     string          `json:"slot"`
	Version  uint64          `json:"version"`
	Manifest bundle.Manifest `json:"manifest"`
	Attempts int             `json:"attempts"`
	// Outcome is "" while the trial runs, then OutcomeCommitted or OutcomeRolledBack.
	Outcome string    `json:"outcome,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Ended   time.Time `json:"ended,omitzero"`
}

// Journal phases.
const (
	PhaseDownloading = "downloading" // fetching the bundle into partial/
	PhaseStaged      = "staged"      // unpacked and verified into the inactive slot; waiting for the switch
)

// Journal is the installer's record of one update in progress.
type Journal struct {
	Rollout  string          `json:"rollout"`
	Envelope []byte          `json:"envelope"`
	Version  uint64          `json:"version"`
	Slot     string          `json:"slot"`
	Phase    string          `json:"phase"`
	Bundle   bundle.Manifest `json:"bundle,omitzero"`
}

// Store is the firmware directory of one device.
type Store struct {
	data, root string
}

// Open opens (creating it if needed) DATA/firmware.
func Open(data string) (*Store, error) {
	root := filepath.Join(data, Dir)
	if err := os.MkdirAll(filepath.Join(root, slotsDir), 0o755); err != nil {
		return nil, fmt.Errorf("firmware store: %w", err)
	}
	return &Store{data: data, root: root}, nil
}

// OpenRoot opens an existing DATA/firmware directory (as named by EnvDir).
func OpenRoot(root string) (*Store, error) {
	if _, err := os.Stat(filepath.Join(root, slotsDir)); err != nil {
		return nil, fmt.Errorf("firmware store %s: %w", root, err)
	}
	return &Store{data: filepath.Dir(root), root: root}, nil
}

// Root is DATA/firmware.
func (s *Store) Root() string { return s.root }

// Data is DATA.
func (s *Store) Data() string { return s.data }

// SlotDir is the directory of slot a or b.
func (s *Store) SlotDir(slot string) string { return filepath.Join(s.root, slotsDir, slot) }

// Other returns the slot that is not slot.
func Other(slot string) string {
	if slot == SlotA {
		return SlotB
	}
	return SlotA
}

// ErrNoFirmware: nothing was installed in this data directory yet.
var ErrNoFirmware = errors.New("no firmware installed (run `edgenas firmware install --dir` first)")

// State reads the supervisor's record.
func (s *Store) State() (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(s.root, stateF))
	if errors.Is(err, fs.ErrNotExist) {
		return st, ErrNoFirmware
	}
	if err != nil {
		return st, fmt.Errorf("firmware state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("firmware state %s: %w", filepath.Join(s.root, stateF), err)
	}
	if st.Active != SlotA && st.Active != SlotB {
		return st, fmt.Errorf("firmware state: active slot %q", st.Active)
	}
	return st, nil
}

func (s *Store) saveState(st State) error {
	st.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.root, stateF), append(b, '\n')); err != nil {
		return fmt.Errorf("save firmware state: %w", err)
	}
	return nil
}

// Journal reads the installer's record (nil when no update is in progress).
func (s *Store) Journal() (*Journal, error) {
	b, err := os.ReadFile(filepath.Join(s.root, journalF))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firmware journal: %w", err)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("firmware journal %s: %w", filepath.Join(s.root, journalF), err)
	}
	return &j, nil
}

func (s *Store) saveJournal(j *Journal) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.root, journalF), append(b, '\n')); err != nil {
		return fmt.Errorf("save firmware journal: %w", err)
	}
	return nil
}

func (s *Store) removeJournal() error {
	if err := os.Remove(filepath.Join(s.root, journalF)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("firmware journal: %w", err)
	}
	return nil
}

// MarkGood records that the agent running from slot at version connected
// and is healthy; the supervisor commits the trial when it sees it.
func (s *Store) MarkGood(slot string, version uint64) error {
	return atomicfile.WriteFile(filepath.Join(s.root, goodF), []byte(slot+" "+strconv.FormatUint(version, 10)+"\n"))
}

func (s *Store) good() (string, uint64, bool) {
	b, err := os.ReadFile(filepath.Join(s.root, goodF))
	if err != nil {
		return "", 0, false
	}
	slot, v, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.ParseUint(v, 10, 64)
	return slot, n, ok && err == nil
}

// setCurrent points DATA/firmware/current at slot, atomically (a new
// symlink renamed over the old one).
func (s *Store) setCurrent(slot string) error {
	link := filepath.Join(s.root, Current)
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(slotsDir, slot), tmp); err != nil {
		return fmt.Errorf("switch current slot: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("switch current slot: %w", err)
	}
	return nil
}

// InstallFirst verifies a bundle and installs it into slot a of a data
// directory that has no firmware yet. target, if set, is the GOOS/GOARCH the
// bundle must be for.
func (s *Store) InstallFirst(bundlePath string, trust ed25519.PublicKey, target string) (bundle.Manifest, error) {
	if st, err := s.State(); err == nil {
		return bundle.Manifest{}, fmt.Errorf("install: %s already has firmware (slot %s, version %d); later updates go over the fleet (edgenas deploy --agent-bundle)", s.data, st.Active, st.Version)
	} else if !errors.Is(err, ErrNoFirmware) {
		return bundle.Manifest{}, err
	}
	dir := s.SlotDir(SlotA)
	// A slot without a state is what an earlier, interrupted first install left.
	if err := os.RemoveAll(dir); err != nil {
		return bundle.Manifest{}, fmt.Errorf("install: %w", err)
	}
	f, err := os.Open(bundlePath)
	if err != nil {
		return bundle.Manifest{}, fmt.Errorf("install: %w", err)
	}
	defer f.Close()
	m, err := bundle.Extract(f, signing.Only(trust), bundle.Expect{Target: target}, dir)
	if err != nil {
		return m, fmt.Errorf("install %s: %w", bundlePath, err)
	}
	if err := s.setCurrent(SlotA); err != nil {
		return m, err
	}
	return m, s.saveState(State{Active: SlotA, Version: m.Version, Manifest: m})
}
