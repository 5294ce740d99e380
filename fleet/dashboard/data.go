package dashboard

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"edgenas/lut"
	"edgenas/searcher"
)

// Page bounds: what one page lists at most.
const (
	maxDeviceEntries = 500
	maxSpreadRows    = 50
	maxRuns          = 500
)

// classCoverage is the LUT page's row for one device class.
type classCoverage struct {
	Class   string
	Keys    int // distinct keys measured on any device of the class
	Devices []deviceCoverage
	// Spread lists the keys whose median differs most between devices.
	Spread []keySpread
}

type deviceCoverage struct {
	ID                          string
	Measured, Missing, Unstable int
}

// keySpread is max/min of one key's median across a class's devices.
type keySpread struct {
	Key          string
	MinMS, MaxMS float64
	Ratio        float64
	Devices      int
}

// lutSummary reads the table and tallies it per class.
func lutSummary(path string) ([]classCoverage, int, error) {
	st, err := lut.OpenReadOnly(path)
	if err != nil {
		return nil, 0, fmt.Errorf("lut %s: %w", path, err)
	}
	defer st.Close()
	devs, err := st.Devices("")
	if err != nil {
		return nil, 0, err
	}
	entries, err := st.Entries(lut.Filter{})
	if err != nil {
		return nil, 0, err
	}
	return summarize(devs, entries), len(entries), nil
}

func summarize(devs []lut.Device, entries []lut.Entry) []classCoverage {
	classOf := map[string]string{}
	for _, dv := range devs {
		classOf[dv.ID] = dv.Class
	}
	type agg struct {
		keys    map[string][]float64
		perDev  map[string]*deviceCoverage
		devKeys map[string]map[string]bool
	}
	byClass := map[string]*agg{}
	for _, e := range entries {
		c := classOf[e.Device]
		a := byClass[c]
		if a == nil {
			a = &agg{keys: map[string][]float64{}, perDev: map[string]*deviceCoverage{}, devKeys: map[string]map[string]bool{}}
			byClass[c] = a
		}
		a.keys[e.Key] = append(a.keys[e.Key], e.Millis())
		dc := a.perDev[e.Device]
		if dc == nil {
			dc = &deviceCoverage{ID: e.Device}
			a.perDev[e.Device] = dc
			a.devKeys[e.Device] = map[string]bool{}
		}
		if !a.devKeys[e.Device][e.Key] {
			a.devKeys[e.Device][e.Key] = true
			dc.Measured++
		}
		if e.Unstable {
			dc.Unstable++
		}
	}
	var out []classCoverage
	for c, a := range byClass {
		cc := classCoverage{Class: c, Keys: len(a.keys)}
		for _, dc := range a.perDev {
			dc.Missing = cc.Keys - dc.Measured
			cc.Devices = append(cc.Devices, *dc)
		}
		sort.Slice(cc.Devices, func(i, j int) bool { return cc.Devices[i].ID < cc.Devices[j].ID })
		for k, v := range a.keys {
			if len(v) < 2 {
				continue
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, x := range v {
				lo, hi = min(lo, x), max(hi, x)
			}
			if lo > 0 {
				cc.Spread = append(cc.Spread, keySpread{Key: k, MinMS: lo, MaxMS: hi, Ratio: hi / lo, Devices: len(v)})
			}
		}
		sort.Slice(cc.Spread, func(i, j int) bool {
			if cc.Spread[i].Ratio != cc.Spread[j].Ratio {
				return cc.Spread[i].Ratio > cc.Spread[j].Ratio
			}
			return cc.Spread[i].Key < cc.Spread[j].Key
		})
		if len(cc.Spread) > maxSpreadRows {
			cc.Spread = cc.Spread[:maxSpreadRows]
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

// lutCache keeps the last summary of the table with the size and time of
// its files: reading 10,000 entries from SQLite costs a couple of hundred
// milliseconds, and the table changes only when a profile writes to it.
type lutCache struct {
	mu      sync.Mutex
	stamp   string
	classes []classCoverage
	entries int
}

// fileStamp identifies the state of a SQLite table: the database and its
// write-ahead log, where recent commits live until a checkpoint.
func fileStamp(path string) string {
	var b strings.Builder
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// summary returns the table's summary, read again only when it changed.
func (c *lutCache) summary(path string) ([]classCoverage, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := fileStamp(path)
	if stamp != "" && stamp == c.stamp {
		return c.classes, c.entries, nil
	}
	classes, n, err := lutSummary(path)
	if err != nil {
		return nil, 0, err
	}
	c.stamp, c.classes, c.entries = stamp, classes, n
	return classes, n, nil
}

func (d *Dashboard) lutPage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Path": d.cfg.LUT}
	if d.cfg.LUT != "" {
		classes, n, err := d.luts.summary(d.cfg.LUT)
		if err != nil {
			d.fail(w, http.StatusInternalServerError, "%v", err)
			return
		}
		data["Classes"], data["Entries"] = classes, n
	}
	if d.cfg.Validate != "" {
		if _, err := os.Stat(filepath.Join(d.cfg.Validate, "scatter.png")); err == nil {
			data["Scatter"] = true
		}
	}
	d.render(w, r, "luts", "Latency tables", data)
}

func (d *Dashboard) scatter(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Validate == "" {
		d.fail(w, http.StatusNotFound, "serve was started without --lut-validate")
		return
	}
	http.ServeFile(w, r, filepath.Join(d.cfg.Validate, "scatter.png"))
}

// deviceEntries lists up to maxDeviceEntries of a device's LUT entries.
func (d *Dashboard) deviceEntries(id string) ([]lut.Entry, error) {
	if d.cfg.LUT == "" {
		return nil, nil
	}
	st, err := lut.OpenReadOnly(d.cfg.LUT)
	if err != nil {
		return nil, fmt.Errorf("lut %s: %w", d.cfg.LUT, err)
	}
	defer st.Close()
	es, err := st.Entries(lut.Filter{Device: id})
	if err != nil {
		return nil, err
	}
	if len(es) > maxDeviceEntries {
		es = es[:maxDeviceEntries]
	}
	return es, nil
}

// run is one search run directory.
type run struct {
	Name  string
	Cands searcher.RunCandidates
	Err   string
	Plots []string
}

// validRunName: a run is a direct child of the runs directory.
func validRunName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && len(name) <= 255
}

// readRun reads a run's candidates (if it has them: an evaluation directory
// has only its plots) and lists its plots.
func readRun(dir, name string) run {
	rn := run{Name: name}
	if _, err := os.Stat(filepath.Join(dir, name, searcher.CandidatesFile)); err == nil {
		c, err := searcher.ReadCandidates(filepath.Join(dir, name))
		if err != nil {
			rn.Err = err.Error()
		}
		rn.Cands = c
	}
	ents, _ := os.ReadDir(filepath.Join(dir, name))
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".png") {
			rn.Plots = append(rn.Plots, e.Name())
		}
	}
	return rn
}

func (d *Dashboard) runs() ([]run, error) {
	if d.cfg.Runs == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(d.cfg.Runs)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	var out []run
	for _, e := range ents {
		if !e.IsDir() || !validRunName(e.Name()) {
			continue
		}
		rn := readRun(d.cfg.Runs, e.Name())
		if rn.Cands.Method == "" && rn.Err == "" && len(rn.Plots) == 0 {
			continue // neither a search run nor an evaluation
		}
		out = append(out, rn)
		if len(out) == maxRuns {
			break
		}
	}
	return out, nil
}

func (d *Dashboard) searchesPage(w http.ResponseWriter, r *http.Request) {
	runs, err := d.runs()
	if err != nil {
		d.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	d.render(w, r, "searches", "Searches", map[string]any{"Runs": runs, "Dir": d.cfg.Runs})
}

func (d *Dashboard) searchPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("run")
	if d.cfg.Runs == "" || !validRunName(name) {
		d.fail(w, http.StatusNotFound, "no run %q", name)
		return
	}
	if fi, err := os.Stat(filepath.Join(d.cfg.Runs, name)); err != nil || !fi.IsDir() {
		d.fail(w, http.StatusNotFound, "no run %q", name)
		return
	}
	d.render(w, r, "search", "Search "+name, readRun(d.cfg.Runs, name))
}

// runFile serves a run's plots and candidates, nothing else.
func (d *Dashboard) runFile(w http.ResponseWriter, r *http.Request) {
	name, file := r.PathValue("run"), r.PathValue("file")
	ok := d.cfg.Runs != "" && validRunName(name) && validRunName(file) &&
		(strings.HasSuffix(file, ".png") || file == searcher.CandidatesFile)
	if !ok {
		d.fail(w, http.StatusNotFound, "no file %q in run %q", file, name)
		return
	}
	http.ServeFile(w, r, filepath.Join(d.cfg.Runs, name, file))
}
