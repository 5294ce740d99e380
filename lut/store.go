package lut

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Store is a latency table database in one SQLite file. It is safe for
// concurrent use; several processes may share the file (WAL mode, busy
// timeout), and every write is one transaction, so a crash loses at most the
// batch being written, never a committed one.
type Store struct {
	db   *sql.DB
	path string
}

// migrations are applied in order; schema_version records each one applied.
// Never edit a released migration: append a new one.
func migrations() []string {
	return []string{
		// 1: devices and entries with every statistic in its own column.
		`CREATE TABLE devices (
			id TEXT PRIMARY KEY,
			class TEXT NOT NULL DEFAULT '',
			description TEXT NOT NULL DEFAULT '{}'
		);
		CREATE TABLE entries (
			device TEXT NOT NULL REFERENCES devices(id),
			backend TEXT NOT NULL,
			threads INTEGER NOT NULL CHECK (threads >= 1),
			key TEXT NOT NULL,
			count INTEGER NOT NULL CHECK (count >= 1),
			min REAL NOT NULL, p10 REAL NOT NULL, p50 REAL NOT NULL CHECK (p50 > 0),
			p90 REAL NOT NULL, max REAL NOT NULL, mean REAL NOT NULL,
			std REAL NOT NULL, mad REAL NOT NULL, cv REAL NOT NULL,
			unstable INTEGER NOT NULL DEFAULT 0,
			conditions TEXT NOT NULL DEFAULT '{}',
			measured_at TEXT NOT NULL,
			tool_version TEXT NOT NULL,
			PRIMARY KEY (device, backend, threads, key)
		);`,
		// 2: the median's interval, the origin of imported rows, and lookups by key
		// across devices (class aggregation).
		`ALTER TABLE entries ADD COLUMN ci_rel REAL NOT NULL DEFAULT 0;
		ALTER TABLE entries ADD COLUMN source TEXT NOT NULL DEFAULT '';
		CREATE INDEX entries_by_key ON entries(key, backend, threads);`,
	}
}

// SchemaVersion is the schema version this package writes.
func SchemaVersion() int { return len(migrations()) }

// Open opens (creating if needed) the store at path and migrates it to the
// current schema. A file written by a newer edgenas is refused, and so is a
// file that is not an edgenas LUT (another SQLite database, or not SQLite at
// all): it is checked read-only first, so such a file is left unchanged. An
// empty file is taken as a new store.
func Open(path string) (*Store, error) { return openAt(path, SchemaVersion()) }

// OpenReadOnly opens an existing store for reading only: what commands that
// only show, export or predict use. The file is opened with SQLite's
// mode=ro and query_only, so its bytes are the same afterwards whatever it
// holds. An empty or foreign file is refused as "not an edgenas LUT", and a
// store of an older schema must first be migrated by a command that writes.
func OpenReadOnly(path string) (*Store, error) {
	s, v, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	if v == 0 {
		s.Close()
		return nil, fmt.Errorf("lut store %s: not an edgenas LUT (no schema applied yet)", path)
	}
	if v < SchemaVersion() {
		s.Close()
		return nil, fmt.Errorf("lut store %s: schema version %d predates this edgenas (%d); "+
			"migrate it by opening it once with a command that writes it (lut import, profile)", path, v, SchemaVersion())
	}
	return s, nil
}

// openReadOnly opens path read-only and checks it is an edgenas LUT of a
// schema this package knows, returning its version.
func openReadOnly(path string) (*Store, int, error) {
	if err := checkStorePath(path); err != nil {
		return nil, 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("lut store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("lut store %s: not an edgenas LUT (not a regular file)", path)
	}
	if fi.Size() == 0 {
		return nil, 0, fmt.Errorf("lut store %s: not an edgenas LUT (empty file)", path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, 0, fmt.Errorf("lut store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	v, err := s.edgenasVersion()
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("lut store %s: %w", path, err)
	}
	return s, v, nil
}

// edgenasVersion checks the database is an edgenas LUT (or one whose
// creation was interrupted) and returns its schema version.
func (s *Store) edgenasVersion() (int, error) {
	rows, err := s.db.Query("SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return 0, fmt.Errorf("not an edgenas LUT: %w", err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, fmt.Errorf("not an edgenas LUT: %w", err)
		}
		have[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("not an edgenas LUT: %w", err)
	}
	// Only the version table is required: a store whose first migration
	// was interrupted has it alone, and Open resumes there.
	if !have["schema_version"] {
		return 0, errors.New("not an edgenas LUT (no schema_version table)")
	}
	v, err := s.Version()
	if err != nil {
		return 0, fmt.Errorf("not an edgenas LUT: %w", err)
	}
	if v > SchemaVersion() {
		return 0, fmt.Errorf("schema version %d is newer than this edgenas knows (%d)", v, SchemaVersion())
	}
	return v, nil
}

func checkStorePath(path string) error {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("lut store path %q: need a plain file path (no ':memory:', '?' or '#')", path)
	}
	return nil
}

func openAt(path string, target int) (*Store, error) {
	if err := checkStorePath(path); err != nil {
		return nil, err
	}
	// An existing file is checked read-only before anything writes to it
	// (even setting WAL mode rewrites its header).
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		ro, _, err := openReadOnly(path)
		if err != nil {
			return nil, err
		}
		ro.Close()
	}
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("lut store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("lut store %s: %w", path, err)
	}
	if mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("lut store %s: journal mode is %q, want wal", path, mode)
	}
	if err := s.migrate(target); err != nil {
		db.Close()
		return nil, fmt.Errorf("lut store %s: %w", path, err)
	}
	return s, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Version returns the schema version recorded in the file.
func (s *Store) Version() (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRow("SELECT MAX(version) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (s *Store) migrate(target int) error {
	if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("schema_version table: %w", err)
	}
	cur, err := s.Version()
	if err != nil {
		return err
	}
	all := migrations()
	if cur > len(all) {
		return fmt.Errorf("schema version %d is newer than this edgenas knows (%d)", cur, len(all))
	}
	for v := cur + 1; v <= target; v++ {
		// Each migration commits with its version row, so an interrupted
		// upgrade resumes at the first migration not recorded.
		err := s.inTx(func(tx *sql.Tx) error {
			if _, err := tx.Exec(all[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec("INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
				v, time.Now().UTC().Format(time.RFC3339Nano))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

func (s *Store) inTx(f func(*sql.Tx) error) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// PutDevice inserts or updates a device. Description must be valid JSON (or empty).
func (s *Store) PutDevice(d Device) error {
	if d.ID == "" {
		return errors.New("put device: empty id")
	}
	desc := "{}"
	if len(d.Description) > 0 {
		if !json.Valid(d.Description) {
			return fmt.Errorf("put device %s: description is not valid JSON", d.ID)
		}
		desc = string(d.Description)
	}
	_, err := s.db.Exec(`INSERT INTO devices(id, class, description) VALUES (?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET class = excluded.class, description = excluded.description`, d.ID, d.Class, desc)
	if err != nil {
		return fmt.Errorf("put device %s: %w", d.ID, err)
	}
	return nil
}

// Devices lists the known devices by id; class "" lists all, otherwise only that class.
func (s *Store) Devices(class string) ([]Device, error) {
	q := "SELECT id, class, description FROM devices"
	var args []any
	if class != "" {
		q += " WHERE class = ?"
		args = append(args, class)
	}
	rows, err := s.db.Query(q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		var desc string
		if err := rows.Scan(&d.ID, &d.Class, &desc); err != nil {
			return nil, fmt.Errorf("devices: %w", err)
		}
		d.Description = []byte(desc)
		out = append(out, d)
	}
	return out, rows.Err()
}

const entryCols = `device, backend, threads, key, count, min, p10, p50, p90, max, mean, std, mad, cv,
	ci_rel, unstable, conditions, measured_at, tool_version, source`

// Put writes a batch of entries in one transaction: all of them or, on any
// error, none. An entry with the same device, backend, threads and key
// replaces the stored one. Devices not yet known are created with no class.
func (s *Store) Put(entries ...Entry) error {
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("put entry %d: %w", i, err)
		}
	}
	return s.put(entries)
}

// put writes without validating, so tests can reach the database's own checks.
func (s *Store) put(entries []Entry) error {
	return s.inTx(func(tx *sql.Tx) error {
		dev, err := tx.Prepare("INSERT OR IGNORE INTO devices(id) VALUES (?)")
		if err != nil {
			return fmt.Errorf("put: %w", err)
		}
		defer dev.Close()
		ins, err := tx.Prepare("INSERT OR REPLACE INTO entries(" + entryCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("put: %w", err)
		}
		defer ins.Close()
		for i, e := range entries {
			cond, err := json.Marshal(e.Conditions)
			if err != nil {
				return fmt.Errorf("put entry %d (%s): conditions: %w", i, e.Key, err)
			}
			if _, err := dev.Exec(e.Device); err != nil {
				return fmt.Errorf("put entry %d (%s): device: %w", i, e.Key, err)
			}
			st := e.Stats
			_, err = ins.Exec(e.Device, e.Backend, e.Threads, e.Key, st.Count, st.Min, st.P10, st.P50, st.P90,
				st.Max, st.Mean, st.Std, st.MAD, st.CV, e.CIRel, e.Unstable, string(cond),
				e.MeasuredAt.UTC().Format(time.RFC3339Nano), e.ToolVersion, e.Source)
			if err != nil {
				return fmt.Errorf("put entry %d (%s): %w", i, e.Key, err)
			}
		}
		return nil
	})
}

// Filter selects entries; zero fields match everything.
type Filter struct {
	Device    string
	Backend   string
	Threads   int
	KeyPrefix string
	// Source matches exactly; Native restricts to entries measured here (Source "").
	Source string
	Native bool
	// Stable drops entries flagged unstable.
	Stable bool
}

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(c string, a any) {
		conds = append(conds, c)
		args = append(args, a)
	}
	if f.Device != "" {
		add("device = ?", f.Device)
	}
	if f.Backend != "" {
		add("backend = ?", f.Backend)
	}
	if f.Threads != 0 {
		add("threads = ?", f.Threads)
	}
	if f.KeyPrefix != "" {
		// instr instead of LIKE: keys may contain '_' and '%'.
		add("instr(key, ?) = 1", f.KeyPrefix)
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if f.Native {
		conds = append(conds, "source = ''")
	}
	if f.Stable {
		conds = append(conds, "unstable = 0")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (f Filter) empty() bool { return f == Filter{} }

// Entries returns the entries matching f, ordered by device, backend, threads, key.
func (s *Store) Entries(f Filter) ([]Entry, error) {
	w, args := f.where()
	rows, err := s.db.Query("SELECT "+entryCols+" FROM entries"+w+" ORDER BY device, backend, threads, key", args...)
	if err != nil {
		return nil, fmt.Errorf("entries: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("entries: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("entries: %w", err)
	}
	return out, nil
}

func scanEntry(r interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var cond, at string
	st := &e.Stats
	err := r.Scan(&e.Device, &e.Backend, &e.Threads, &e.Key, &st.Count, &st.Min, &st.P10, &st.P50, &st.P90,
		&st.Max, &st.Mean, &st.Std, &st.MAD, &st.CV, &e.CIRel, &e.Unstable, &cond, &at, &e.ToolVersion, &e.Source)
	if err != nil {
		return Entry{}, err
	}
	if err := json.Unmarshal([]byte(cond), &e.Conditions); err != nil {
		return Entry{}, fmt.Errorf("entry %s: conditions: %w", e.Key, err)
	}
	if e.MeasuredAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return Entry{}, fmt.Errorf("entry %s: measured_at: %w", e.Key, err)
	}
	// Rows can be edited outside edgenas (and the schema's CHECKs let an
	// infinite p50 through): what Put would refuse is refused on read too.
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("stored %w (device %s, backend %s, %d threads)", err, e.Device, e.Backend, e.Threads)
	}
	return e, nil
}

// Get returns one entry; ok is false when it is not stored.
func (s *Store) Get(device, backend string, threads int, key string) (e Entry, ok bool, err error) {
	row := s.db.QueryRow("SELECT "+entryCols+" FROM entries WHERE device = ? AND backend = ? AND threads = ? AND key = ?",
		device, backend, threads, key)
	e, err = scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("get %s: %w", key, err)
	}
	return e, true, nil
}

// Has reports whether an entry is stored: what a resumed profiling run checks
// before measuring a key again.
func (s *Store) Has(device, backend string, threads int, key string) (bool, error) {
	var one int
	err := s.db.QueryRow("SELECT 1 FROM entries WHERE device = ? AND backend = ? AND threads = ? AND key = ?",
		device, backend, threads, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("has %s: %w", key, err)
	}
	return true, nil
}

// Delete removes the entries matching f and returns how many went. An empty
// filter is refused, so a forgotten field cannot wipe the table.
func (s *Store) Delete(f Filter) (int, error) {
	if f.empty() {
		return 0, errors.New("delete: empty filter would delete every entry")
	}
	w, args := f.where()
	res, err := s.db.Exec("DELETE FROM entries"+w, args...)
	if err != nil {
		return 0, fmt.Errorf("delete: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// View loads one device's table for a backend and thread count.
func (s *Store) View(device, backend string, threads int) (*Table, error) {
	es, err := s.Entries(Filter{Device: device, Backend: backend, Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("view %s/%s/%d: %w", device, backend, threads, err)
	}
	return NewTable(device, backend, threads, es)
}
