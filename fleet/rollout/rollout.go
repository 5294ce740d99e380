// Package rollout is the host side of `edgenas deploy`: it keeps artifacts
// content-addressed and serves them over HTTP with Range support, builds and
// signs the manifest agents verify (expected output computed on the ref
// backend), resolves targets from the agents' retained announcements, and
// drives a canary-first rollout whose state is persisted atomically after
// every change so `edgenas deploy status` can show it at any time.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"edgenas/agent/proto"
	"edgenas/internal/progress"
)

// Fleet is how a rollout reaches devices. The MQTT implementation (Conn)
// publishes retained deploy messages; tests use a fake.
type Fleet interface {
	// Deploy publishes d for agent (retained: an offline agent gets it when
	// it reconnects) and returns once the broker has it.
	Deploy(ctx context.Context, agent string, d *proto.Deploy) error
	// Withdraw clears agent's retained deploy, so an agent that has not
	// fetched it yet never will and a failed one does not retry it on restart.
	Withdraw(ctx context.Context, agent string) error
	// Reports delivers the install reports that arrive, of every agent and
	// rollout; the engine ignores the ones that are not its own.
	Reports() <-chan *proto.Install
}

// ErrAborted is wrapped by Run's error when the failure threshold was passed.
var ErrAborted = errors.New("rollout aborted")

// Options tune how Run waits.
type Options struct {
	// Tick is how often silent devices are checked against the timeout
	// (default: a tenth of the timeout, at most 1 s).
	Tick time.Duration
	// Progress, if set, receives progress lines and every failure.
	Progress io.Writer
	Logger   *slog.Logger
	// Abort, if set, aborts the rollout by operator request: each value
	// received is the reason. Devices not sent yet are skipped and retained
	// deploys not acted upon withdrawn, as when the failure threshold passes.
	Abort <-chan string
}

type engine struct {
	st      *Store
	r       *Rollout
	f       Fleet
	o       Options
	log     *slog.Logger
	timeout time.Duration
	bar     *progress.Bar
	dirty   bool // progress (bytes) changed since the last save
	// abortedAt starts the grace given to withdrawn devices to report.
	abortedAt time.Time
}

// abortGrace bounds how long an aborted rollout waits for a device it
// withdrew the deploy from to say it had started anyway.
const abortGrace = 10 * time.Second

// Run drives r to its end: the deploy goes to the canaries, and only when
// they have all committed within the failure threshold to the rest. Failures
// (rolled back, refused, silent past the timeout) beyond r.MaxFailurePct of
// the devices sent so far abort the rollout: devices not yet sent are
// skipped, and retained deploys not yet acted upon are withdrawn. r is saved
// to st after every state change. A rollout interrupted earlier (ctx
// cancelled, host restarted) resumes: deploys in flight are re-published,
// which makes agents re-report (re-delivery is idempotent on the agent).
//
// The error is nil only when every device committed; it wraps ErrAborted
// when the rollout aborted, and ctx.Err() when interrupted.
func Run(ctx context.Context, st *Store, r *Rollout, f Fleet, o Options) error {
	if r.Phase == PhaseDone || r.Phase == PhaseAborted {
		return fmt.Errorf("rollout %s already ended (%s)", r.ID, r.Phase)
	}
	if r.TimeoutSecs <= 0 {
		return fmt.Errorf("rollout %s: timeout %gs, want > 0", r.ID, r.TimeoutSecs)
	}
	if len(r.Devices) == 0 {
		return fmt.Errorf("rollout %s: no devices", r.ID)
	}
	e := &engine{st: st, r: r, f: f, o: o, log: o.Logger, timeout: time.Duration(r.TimeoutSecs * float64(time.Second))}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.o.Tick <= 0 {
		e.o.Tick = min(e.timeout/10, time.Second)
	}
	e.bar = progress.New(o.Progress, "deploy "+r.ID, len(r.Devices))
	done := 0
	for _, d := range r.Devices {
		if d.Final() {
			done++
		}
	}
	if done > 0 {
		e.bar.Add(done, "resumed")
	}
	if r.Phase == PhaseInterrupted {
		r.Phase, r.Reason = PhaseCanary, ""
		for _, d := range r.Devices {
			if !d.Canary && d.State != DevicePending {
				r.Phase = PhaseRest
			}
		}
	}
	err := e.run(ctx)
	if ctx.Err() != nil && r.Phase != PhaseDone && r.Phase != PhaseAborted {
		r.Reason = fmt.Sprintf("host stopped in phase %s: %v", r.Phase, ctx.Err())
		r.Phase = PhaseInterrupted
	}
	if r.Phase == PhaseDone || r.Phase == PhaseAborted {
		r.Finished = time.Now().UTC()
	}
	if serr := st.Save(r); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	c := r.Counts()
	if r.Phase == PhaseAborted {
		return fmt.Errorf("%w: %s", ErrAborted, r.Reason)
	}
	if c.Failed > 0 {
		return fmt.Errorf("rollout %s: %d of %d devices failed", r.ID, c.Failed, c.Total)
	}
	return nil
}

func (e *engine) run(ctx context.Context) error {
	r := e.r
	// Re-publish to devices a previous run sent to and heard nothing final
	// from: reports sent while the host was away are gone (not retained).
	now := time.Now().UTC()
	for _, d := range r.Devices {
		if d.State != DevicePending && !d.Final() {
			if err := e.send(ctx, d); err != nil {
				return err
			}
			d.Heard = now
		}
	}
	if err := e.st.Save(r); err != nil {
		return err
	}
	if r.Phase == PhaseCanary {
		if err := e.phase(ctx, true); err != nil {
			return err
		}
		if r.Phase != PhaseAborted {
			r.Phase = PhaseRest
			if e.o.Progress != nil {
				c := r.Counts()
				fmt.Fprintf(e.o.Progress, "deploy %s: canaries done (%d committed, %d failed); sending to the %d others\n",
					r.ID, c.Committed, c.Failed, c.Pending)
			}
		}
	}
	if r.Phase == PhaseRest {
		if err := e.phase(ctx, false); err != nil {
			return err
		}
		if r.Phase != PhaseAborted {
			r.Phase = PhaseDone
		}
	}
	// A device that refused or rolled back would retry the retained deploy
	// on every restart; it failed, so take it back. After an abort, so is a
	// silent one's: the rollout is over for it.
	for _, d := range r.Devices {
		if d.State == proto.InstallRolledBack || d.State == proto.InstallRefused || d.State == proto.InstallTampered ||
			(r.Phase == PhaseAborted && d.State == DeviceTimeout) {
			e.withdraw(ctx, d)
		}
	}
	return nil
}

// phase sends to the canaries (or everyone else) and waits until every
// device sent so far is final. When the failures pass the threshold it
// aborts at once (nothing more is sent) but still waits for the devices
// already installing, so the recorded state says how each one ended.
func (e *engine) phase(ctx context.Context, canary bool) error {
	for _, d := range e.r.Devices {
		if d.State == DevicePending && (d.Canary || !canary) {
			if err := e.send(ctx, d); err != nil {
				return err
			}
		}
	}
	if err := e.st.Save(e.r); err != nil {
		return err
	}
	tick := time.NewTicker(e.o.Tick)
	defer tick.Stop()
	for {
		if e.checkAbort(ctx) {
			if err := e.st.Save(e.r); err != nil {
				return err
			}
		}
		if e.settled() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reason := <-e.o.Abort:
			if e.r.Phase != PhaseAborted {
				e.abort(ctx, "aborted by operator: "+reason)
				if err := e.st.Save(e.r); err != nil {
					return err
				}
			}
		case m := <-e.f.Reports():
			// Final states are saved at once; intermediate ones with the
			// next tick, so a large fleet does not fsync every report.
			if e.apply(m, time.Now().UTC()) {
				e.dirty = true
				if e.r.Device(m.Agent).Final() {
					if err := e.st.Save(e.r); err != nil {
						return err
					}
					e.dirty = false
				}
			}
		case now := <-tick.C:
			if e.expire(now.UTC()) || e.dirty {
				if err := e.st.Save(e.r); err != nil {
					return err
				}
				e.dirty = false
			}
		}
	}
}

// settled: no device that was sent the deploy is still working on it.
func (e *engine) settled() bool {
	for _, d := range e.r.Devices {
		if d.State != DevicePending && !d.Final() {
			return false
		}
	}
	return true
}

// checkAbort aborts when failures among the devices sent so far pass the
// threshold. Failures only accumulate, so aborting early cannot be wrong.
func (e *engine) checkAbort(ctx context.Context) bool {
	r := e.r
	if r.Phase == PhaseAborted {
		return false
	}
	sent, failed := 0, 0
	for _, d := range r.Devices {
		if d.State != DevicePending && d.State != DeviceSkipped {
			sent++
		}
		if d.Failed() {
			failed++
		}
	}
	if sent == 0 || float64(failed)*100 <= r.MaxFailurePct*float64(sent) {
		return false
	}
	group := "devices"
	if r.Phase == PhaseCanary {
		group = "canaries"
	}
	e.abort(ctx, fmt.Sprintf("%d of %d %s failed (%.0f%% > --max-failure-pct %g)", failed, sent, group,
		100*float64(failed)/float64(sent), r.MaxFailurePct))
	return true
}

// abort ends the rollout for reason: nothing more is sent, and deploys
// still waiting on the broker are withdrawn.
func (e *engine) abort(ctx context.Context, reason string) {
	r := e.r
	r.Reason = reason
	r.Phase = PhaseAborted
	e.abortedAt = time.Now().UTC()
	e.log.Warn("rollout aborted", "rollout", r.ID, "reason", r.Reason)
	if e.o.Progress != nil {
		fmt.Fprintf(e.o.Progress, "deploy %s: ABORTED: %s\n", r.ID, r.Reason)
	}
	for _, d := range r.Devices {
		switch {
		case d.State == DevicePending:
			d.State, d.Reason = DeviceSkipped, "rollout aborted before this device was sent"
			e.bar.Add(1, d.Agent+" skipped")
		case d.State == DeviceSent:
			// Nothing heard yet: withdraw the retained deploy, so an offline
			// device never gets it. An online one may have it already; its
			// reports are still recorded for a short grace (expire).
			e.withdraw(ctx, d)
		}
	}
}

func (e *engine) send(ctx context.Context, d *Device) error {
	dep := &proto.Deploy{Rollout: e.r.ID, Manifest: e.r.Manifest}
	if err := e.f.Deploy(ctx, d.Agent, dep); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The broker did not confirm: leave the device sent; if the deploy
		// never arrived, the timeout counts it as failed.
		e.log.Warn("deploy not confirmed", "agent", d.Agent, "err", err)
	}
	d.State, d.Reason = DeviceSent, ""
	d.Sent = time.Now().UTC()
	return nil
}

func (e *engine) withdraw(ctx context.Context, d *Device) {
	if err := e.f.Withdraw(ctx, d.Agent); err != nil {
		e.log.Warn("withdraw failed", "agent", d.Agent, "err", err)
	}
}

// apply records one install report and reports whether a state changed.
// Reports of other rollouts, unknown agents or other versions are ignored;
// a non-final report arriving after a final one (reordered or re-sent) is
// too.
func (e *engine) apply(m *proto.Install, now time.Time) bool {
	r := e.r
	if m == nil || m.Rollout != r.ID {
		return false
	}
	d := r.Device(m.Agent)
	if d == nil {
		e.log.Warn("install report from an agent outside the rollout", "agent", m.Agent, "rollout", m.Rollout)
		return false
	}
	if m.Version != 0 && m.Version != r.Version {
		e.log.Warn("install report for another version", "agent", m.Agent, "version", m.Version, "want", r.Version)
		return false
	}
	if d.State == DevicePending {
		return false // never sent by this host: a stale retained message elsewhere
	}
	if proto.IsFinalInstall(d.State) && !proto.IsFinalInstall(m.State) {
		return false
	}
	d.Heard = now
	if m.Bytes > 0 || m.Size > 0 {
		d.Bytes, d.Size = m.Bytes, m.Size
		e.dirty = true
	}
	if m.LatencyMS > 0 {
		d.LatencyMS = m.LatencyMS
	}
	if m.Version != 0 {
		d.Version = m.Version
	}
	if d.State == m.State && d.Reason == m.Reason {
		return false
	}
	wasFinal, wasFailed := d.Final(), d.Failed()
	d.State, d.Reason = m.State, m.Reason
	e.log.Info("install", "agent", d.Agent, "state", d.State, "reason", d.Reason)
	if !wasFinal && d.Final() {
		note := d.Agent + " " + d.State
		if d.Reason != "" {
			note += ": " + d.Reason
		}
		e.bar.Add(1, note)
	}
	if d.Failed() && !wasFailed && e.o.Progress != nil {
		fmt.Fprintf(e.o.Progress, "deploy %s: %s %s: %s\n", r.ID, d.Agent, d.State, d.Reason)
	}
	return true
}

// expire marks devices silent for longer than the timeout as failed.
func (e *engine) expire(now time.Time) bool {
	changed := false
	for _, d := range e.r.Devices {
		if d.State == DevicePending || d.Final() {
			continue
		}
		last := d.Sent
		if d.Heard.After(last) {
			last = d.Heard
		}
		if d.State == DeviceSent && e.r.Phase == PhaseAborted {
			if grace := min(e.timeout, abortGrace); now.Sub(e.abortedAt) > grace && now.Sub(last) > grace {
				d.State, d.Reason = DeviceSkipped, "rollout aborted; deploy withdrawn before the device reported"
				changed = true
				e.bar.Add(1, d.Agent+" withdrawn")
			}
			continue
		}
		if now.Sub(last) <= e.timeout {
			continue
		}
		d.Reason = fmt.Sprintf("silent for %s (last state: %s)", e.timeout, d.State)
		d.State = DeviceTimeout
		changed = true
		e.bar.Add(1, d.Agent+" timeout")
		if e.o.Progress != nil {
			fmt.Fprintf(e.o.Progress, "deploy %s: %s timeout: %s\n", e.r.ID, d.Agent, d.Reason)
		}
	}
	return changed
}
