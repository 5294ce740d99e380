package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgenas/fleet"
	"edgenas/internal/atomicfile"
	"edgenas/lut"
	"edgenas/space"
)

// demoReport is everything report.md says, also written as report.json.
type demoReport struct {
	Started       time.Time          `json:"started"`
	Seconds       float64            `json:"seconds"`
	Out           string             `json:"out"`
	Failed        string             `json:"failed,omitempty"`
	EvalImages    int                `json:"eval_images,omitempty"`
	Broker        string             `json:"broker"`
	Agents        []string           `json:"agents"`
	Class         string             `json:"class"`
	LUT           demoLUT            `json:"lut"`
	Calibration   *lut.Calibrated    `json:"calibration,omitempty"`
	CalibCheck    []lut.Accuracy     `json:"calibration_check,omitempty"`
	SpaceLoMS     float64            `json:"space_lo_ms,omitempty"`
	SpaceHiMS     float64            `json:"space_hi_ms,omitempty"`
	Method        string             `json:"method,omitempty"`
	Search        demoSearch         `json:"search"`
	SearchSeconds float64            `json:"search_seconds"`
	Train         demoTrain          `json:"train"`
	Quant         demoQuant          `json:"quantize"`
	LocalMS       float64            `json:"local_measured_ms"`
	LocalCV       float64            `json:"local_cv"`
	Deploy        json.RawMessage    `json:"deploy,omitempty"`
	AgentState    map[string]string  `json:"agent_state,omitempty"`
	AgentMS       map[string]float64 `json:"agent_measured_ms,omitempty"`
	// FleetBench is the pick timed by every agent of the class.
	FleetBench *fleet.BenchReport `json:"fleet_bench,omitempty"`
	Validate   []lut.Accuracy     `json:"validate,omitempty"`
	// ValidatedOn and CalibratedOn say where validate's and the
	// calibration's whole models were timed.
	ValidatedOn  string     `json:"validated_on,omitempty"`
	CalibratedOn string     `json:"calibrated_on,omitempty"`
	Steps        []demoStep `json:"steps"`
	// Dashboard are the commands that serve the results on the dashboard.
	Dashboard []string `json:"dashboard,omitempty"`
}

type demoStep struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

type demoLUT struct {
	Path    string  `json:"path"`
	Entries int     `json:"entries_ingested"`
	Seconds float64 `json:"seconds"`
}

// demoSearch is the part of `search spnas --json` the report uses.
type demoSearch struct {
	Arch      string  `json:"arch"`
	TableMS   float64 `json:"table_ms"`
	FormulaMS float64 `json:"formula_ms"`
	TargetMS  float64 `json:"target_ms"`
	Within    bool    `json:"within_tolerance"`
	Lambda    float64 `json:"lambda"`
	Steps     int     `json:"steps"`
}

// demoTrain is the part of `train --json` the report uses.
type demoTrain struct {
	Arch    string  `json:"arch"`
	ValAcc  float64 `json:"val_accuracy"`
	TestAcc float64 `json:"test_accuracy"`
	Seconds float64 `json:"seconds"`
	MACs    int64   `json:"macs"`
}

// demoQuant is the part of `quantize --json` the report uses.
type demoQuant struct {
	Model      string             `json:"model"`
	FloatAcc   float64            `json:"float_accuracy"`
	Int8Acc    map[string]float64 `json:"int8_accuracy"`
	GapPP      map[string]float64 `json:"gap_pp"`
	Calibrated int                `json:"calib"`
	RefImages  int                `json:"ref_test_images,omitempty"`
}

// demoTarget picks the default latency target: the middle of the space's
// range on the measured (and, given calibFile, calibrated) table, a target
// every run can reach.
func demoTarget(store, class, backend, spaceName, calibFile string) (target, lo, hi float64, err error) {
	if space.IsDAG(spaceName) {
		return dagTarget(&tableFlags{store: store, class: class, backend: backend, threads: 1, minDevices: 1,
			disagree: lut.DefaultDisagreement}, spaceName, calibFile)
	}
	rt, err := spaceRuntime(&tableFlags{store: store, class: class, backend: backend, threads: 1, minDevices: 1,
		disagree: lut.DefaultDisagreement}, spaceName, calibFile)
	if err != nil {
		return 0, 0, 0, err
	}
	lo, hi = rt.Range()
	return (lo + hi) / 2, lo, hi, nil
}

func (d *demo) quantize(ctx context.Context) error {
	d.announce("int8 post-training quantization (accuracy on both backends)")
	var q demoQuant
	err := d.cliJSON(ctx, &q, "quantize", "quantize", "--checkpoint", d.path("train"),
		"--calib", fmt.Sprint(d.cfg.calib), "--ref-test-images", fmt.Sprint(d.cfg.refImages), "--test-images", fmt.Sprint(d.cfg.evalImages), "-o", d.path("model.tflite"))
	q.Model = d.path("model.tflite")
	d.r.Quant = q
	return err
}

// measure times the int8 model on the class's agents (fleet bench) and on
// this machine with the same backend, independently of the rollout's
// health check.
func (d *demo) measure(ctx context.Context) error {
	d.announce("time the int8 model on every agent of class %s, and on this machine", demoClass)
	var fb fleet.BenchReport
	args := append([]string{"fleet", "bench", "--class", demoClass, "--json"}, d.fleetArgs()...)
	fbOut, err := d.cli(ctx, "fleet-bench", append(args, d.path("model.tflite"))...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(fbOut, &fb); err != nil {
		return fmt.Errorf("fleet bench: reading its JSON output: %w", err)
	}
	d.r.FleetBench = &fb
	var b struct {
		Inference struct {
			P50 float64 `json:"p50_us"`
			CV  float64 `json:"cv"`
		} `json:"inference"`
	}
	err = d.cliJSON(ctx, &b, "bench", "bench", "--backend", d.cfg.backend, "--threads", "1", d.path("model.tflite"))
	d.r.LocalMS, d.r.LocalCV = b.Inference.P50/1000, b.Inference.CV
	return err
}

func (d *demo) deploy(ctx context.Context) error {
	d.announce("signed rollout of the int8 model to the agents")
	args := append([]string{"deploy", "--model", d.path("model.tflite"), "--to", "all", "--name", "demo",
		"--keys", d.path("keys"), "--state", d.path("rollouts"),
		"--artifact-tls-cert", d.path("keys", "artifacts", "artifacts.crt"), "--artifact-tls-key", d.path("keys", "artifacts", "artifacts.key")},
		d.hostConn()...)
	b, err := d.cli(ctx, "deploy", append(args, "--timeout", "3m", "--json")...)
	if len(b) > 0 && json.Valid(b) {
		d.r.Deploy = json.RawMessage(b)
		d.r.AgentState, d.r.AgentMS = deployAgentStates(b)
	}
	return err
}

// deployAgentStates reads every agent's final state and measured latency
// from the deploy command's JSON output.
func deployAgentStates(b []byte) (map[string]string, map[string]float64) {
	var out struct {
		Devices []struct {
			Agent     string  `json:"agent"`
			State     string  `json:"state"`
			LatencyMS float64 `json:"latency_ms"`
		} `json:"devices"`
	}
	if json.Unmarshal(b, &out) != nil {
		return nil, nil
	}
	states, ms := map[string]string{}, map[string]float64{}
	for _, dv := range out.Devices {
		states[dv.Agent], ms[dv.Agent] = dv.State, dv.LatencyMS
	}
	return states, ms
}

// calibrate measures a few random whole models right after the table, so
// the search's target means measured milliseconds: a sum of isolated blocks
// misses inter-layer costs, and this machine's speed drifts between
// sittings, so a calibration is only good when measured alongside its table.
func (d *demo) calibrate(ctx context.Context) error {
	if d.cfg.calibModels == 0 {
		return nil
	}
	d.announce("calibrate the class table on %d random models timed end to end by the agents", d.cfg.calibModels)
	var rep lut.ValidateReport
	args := append(append([]string{"lut", "validate", "--space", d.cfg.space}, d.tableArgs()...), d.fleetArgs()...)
	args = append(args, "--models", "4", "--calib", fmt.Sprint(d.cfg.calibModels), "--seed", "2", "--out", d.path("calibrate"))
	if err := d.cliJSON(ctx, &rep, "calibrate", args...); err != nil {
		return err
	}
	if rep.Calibrated == nil {
		return fmt.Errorf("lut validate wrote no calibration")
	}
	d.r.Calibration, d.r.CalibCheck, d.r.CalibratedOn = rep.Calibrated, rep.Accuracy, rep.Measured.String()
	return nil
}

// calibration is the calibration file the search uses, or "" for none.
func (d *demo) calibration() string {
	if d.cfg.calibModels == 0 {
		return ""
	}
	return d.path("calibrate", "calibrated.json")
}

func (d *demo) validatePredictor(ctx context.Context) error {
	if d.cfg.validate == 0 {
		return nil
	}
	d.announce("check the class table against %d random models timed end to end by the agents", d.cfg.validate)
	var rep lut.ValidateReport
	args := append(append([]string{"lut", "validate", "--space", d.cfg.space}, d.tableArgs()...), d.fleetArgs()...)
	args = append(args, "--models", fmt.Sprint(d.cfg.validate), "--calib", "5", "--seed", "1", "--out", d.path("validate"))
	err := d.cliJSON(ctx, &rep, "validate", args...)
	d.r.Validate, d.r.ValidatedOn = rep.Accuracy, rep.Measured.String()
	return err
}

func (d *demo) writeReport() error {
	if err := atomicfile.Write(d.path("report.json"), func(w io.Writer) error { return writeJSON(w, d.r) }); err != nil {
		return err
	}
	return atomicfile.Write(d.path("report.md"), func(w io.Writer) error { return d.r.markdown(w, d.out) })
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// rel names a file relative to the report, and says when it is missing.
func rel(out string, elem ...string) string {
	p := filepath.Join(append([]string{out}, elem...)...)
	r, _ := filepath.Rel(out, p)
	if _, err := os.Stat(p); err != nil {
		return "`" + r + "` (not written)"
	}
	return "`" + r + "`"
}

// mdText accumulates report.md one line at a time.
type mdText struct{ strings.Builder }

func (b *mdText) p(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }

// markdown renders report.md; out is the demo's output directory, which the
// report names and whose files it links.
func (r *demoReport) markdown(w io.Writer, out string) error {
	var b mdText
	b.p("# edgenas demo report")
	b.p("")
	b.p("Started %s, took %s. Everything below is in `%s`.", r.Started.Format(time.RFC3339), time.Duration(r.Seconds*float64(time.Second)).Round(time.Second), out)
	if r.Failed != "" {
		b.p("")
		b.p("**The demo failed at %s.** The sections below show what finished.", r.Failed)
	}
	r.mdArchitecture(&b)
	r.mdAccuracy(&b)
	r.mdLatency(&b)
	b.p("")
	b.p("## Rollout")
	b.p("")
	if len(r.AgentState) > 0 {
		for _, a := range r.Agents {
			b.p("- agent `%s`: **%s**", a, r.AgentState[a])
		}
	} else {
		b.p("No rollout result (see `logs/deploy.out`).")
	}
	mdFiles(&b, out, r.Calibration != nil, r.Agents)
	mdDashboard(&b, r.Dashboard)
	b.p("")
	b.p("## Steps")
	b.p("")
	b.p("| step | seconds |")
	b.p("|---|---|")
	for _, s := range r.Steps {
		b.p("| %s | %.1f |", s.Name, s.Seconds)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdArchitecture is the found architecture, the search that found it and
// the calibration its target was measured against.
func (r *demoReport) mdArchitecture(b *mdText) {
	b.p("")
	b.p("## Architecture")
	b.p("")
	b.p("`%s`", r.Search.Arch)
	b.p("")
	model := fmt.Sprintf("the table of class `%s` (per-key median over agents %v)", r.Class, r.Agents)
	if c := r.Calibration; c != nil {
		model += ", calibrated"
	}
	if r.Method == "autoshrink" {
		b.p("AutoShrink on `autoshrink-fmnist` at a target of %.3f ms (the space spans %.3f to %.3f ms on %s): %d edge removals kept, %.0f s.",
			r.Search.TargetMS, r.SpaceLoMS, r.SpaceHiMS, model, r.Search.Steps, r.SearchSeconds)
	} else {
		b.p("Single-Path NAS on `spnas-fmnist` at a target of %.3f ms (the space spans %.3f to %.3f ms on %s): %d steps, %.0f s, final lambda %.3g.",
			r.Search.TargetMS, r.SpaceLoMS, r.SpaceHiMS, model, r.Search.Steps, r.SearchSeconds, r.Search.Lambda)
	}
	if c := r.Calibration; c != nil {
		b.p("")
		b.p("The table was calibrated on %d whole models timed right after it by %s (%s = %.4g, in-sample RMSE %.4f ms), so the target and the predictions below are measured milliseconds, not sums of blocks. On 4 more models:",
			c.Samples, r.CalibratedOn, strings.Join(c.Features, ", "), c.Coef, c.RMSE)
		b.p("")
		for _, a := range r.CalibCheck {
			b.p("- %s", a.String())
		}
	}
	if r.Search.TargetMS > 0 {
		b.p("")
		verdict := "within 5%"
		if r.Method == "autoshrink" {
			verdict = "at or under it"
		}
		b.p("The architecture's predicted latency is %.3f ms, %+.1f%% from the target (%s: %v).",
			r.Search.TableMS, 100*(r.Search.TableMS/r.Search.TargetMS-1), verdict, r.Search.Within)
	}
}

// mdAccuracy is the top-1 table: float, then int8 on each backend.
func (r *demoReport) mdAccuracy(b *mdText) {
	b.p("")
	if r.EvalImages > 0 {
		b.p("## Accuracy (first %d Fashion-MNIST test images)", r.EvalImages)
	} else {
		b.p("## Accuracy (Fashion-MNIST test set, 10,000 images)")
	}
	b.p("")
	b.p("| model | top-1 |")
	b.p("|---|---|")
	b.p("| float (trained %.0f s, validation %s) | %s |", r.Train.Seconds, pct(r.Train.ValAcc), pct(r.Train.TestAcc))
	if r.Quant.FloatAcc > 0 {
		b.p("| float, as quantize re-measured it | %s |", pct(r.Quant.FloatAcc))
	}
	for _, be := range []string{"xnnpack", "ref"} {
		if v, ok := r.Quant.Int8Acc[be]; ok {
			subset := ""
			if be == "ref" && r.Quant.RefImages > 0 {
				subset = fmt.Sprintf(", on the first %d images", r.Quant.RefImages)
			}
			b.p("| int8 on `%s` | %s (%+.2f pp vs float%s) |", be, pct(v), r.Quant.GapPP[be], subset)
		}
	}
}

// mdLatency sets the predictions beside the measurements, here and on the agent.
func (r *demoReport) mdLatency(b *mdText) {
	b.p("")
	b.p("## Latency: predicted vs measured")
	b.p("")
	b.p("| figure | ms |")
	b.p("|---|---|")
	b.p("| target | %.3f |", r.Search.TargetMS)
	spnas := r.Method != "autoshrink"
	if r.Calibration != nil {
		b.p("| predicted by the calibrated table | %.3f |", r.Search.TableMS)
		if spnas {
			b.p("| predicted by the calibrated Single-Path formula | %.3f |", r.Search.FormulaMS)
		}
	} else {
		b.p("| predicted by the latency table (sum of blocks) | %.3f |", r.Search.TableMS)
		if spnas {
			b.p("| predicted by the Single-Path formula | %.3f |", r.Search.FormulaMS)
		}
	}
	measured := r.LocalMS
	if fb := r.FleetBench; fb != nil && len(fb.Models) == 1 {
		m := fb.Models[0]
		for _, dv := range m.Devices {
			b.p("| measured by agent `%s` (fleet bench, whole int8 model, median, CI %.1f%%) | %.3f |", dv.Device, 100*dv.CIRel, dv.Millis)
		}
		b.p("| **measured by class `%s`** (median over its %d agents) | %.3f |", fb.Class, len(m.Devices), m.ClassMs)
		measured = m.ClassMs
	}
	b.p("| measured on the host running the demo, whole int8 model, median (CV %.1f%%) | %.3f |", 100*r.LocalCV, r.LocalMS)
	for _, a := range r.Agents {
		if ms := r.AgentMS[a]; ms > 0 {
			b.p("| measured by agent `%s` in its rollout health check | %.3f |", a, ms)
		}
	}
	if r.Search.TableMS > 0 && measured > 0 {
		where := "the host"
		if measured != r.LocalMS {
			where = "the class's agents"
		}
		b.p("")
		b.p("Prediction error on this model: %+.1f%%; measured vs target: %+.1f%% (measured by %s).",
			100*(r.Search.TableMS/measured-1), 100*(measured/r.Search.TargetMS-1), where)
	}
	if len(r.Validate) > 0 {
		b.p("")
		b.p("Latency predictors on random architectures measured end to end by %s:", r.ValidatedOn)
		b.p("")
		for _, a := range r.Validate {
			b.p("- %s", a.String())
		}
	}
}

// agentDataDir is where the demo's i-th agent keeps its state, relative to
// the output directory.
func agentDataDir(i int, id string) string {
	if i == 0 {
		return "agent"
	}
	return "agent-" + id
}

// mdFiles lists the plots and files the demo leaves in out, marking those
// a failed step did not write.
func mdFiles(b *mdText, out string, calibrated bool, agents []string) {
	b.p("")
	b.p("## Plots")
	b.p("")
	b.p("- search progress (predicted runtime and accuracy per step, target line): %s", rel(out, "search", "progress.png"))
	b.p("- latency table: predicted vs measured on random models: %s", rel(out, "validate", "scatter.png"))
	if calibrated {
		b.p("- the calibration's models, predicted vs measured: %s", rel(out, "calibrate", "scatter.png"))
	}
	b.p("")
	b.p("## Files")
	b.p("")
	b.p("| what | where |")
	b.p("|---|---|")
	b.p("| latency table (SQLite; `edgenas lut show --lut ...`) | %s |", rel(out, "lut.db"))
	b.p("| search run: architecture, step log, supernet checkpoint | %s, %s, %s |", rel(out, "search", "arch.txt"), rel(out, "search", "log.jsonl"), rel(out, "search", "supernet.ckpt"))
	b.p("| trained network | %s |", rel(out, "train"))
	b.p("| int8 model | %s |", rel(out, "model.tflite"))
	b.p("| host signing key (public part given to agents) | %s |", rel(out, "keys", "host.pub"))
	b.p("| rollout state (`edgenas deploy status --state ...`) | %s |", rel(out, "rollouts"))
	for i, id := range agents {
		b.p("| agent `%s` data: installed models | %s |", id, rel(out, agentDataDir(i, id), "models"))
	}
	b.p("| logs of the broker, the agent and every step | %s |", rel(out, "logs"))
	b.p("| this report as JSON | %s |", rel(out, "report.json"))
}
