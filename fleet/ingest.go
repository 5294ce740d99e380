package fleet

import (
	"context"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
	"edgenas/lut"
)

type pendingAck struct {
	agent   string
	r       *proto.Result
	outcome string
	reason  string
}

// ingest applies a batch of results: the table decides, the store gets every
// accepted entry in one transaction, the journal records the outcomes and is
// fsynced, and only then do the acks go out. A crash anywhere before the acks
// makes the agents re-send, and the re-sent results are then duplicates.
func (h *Host) ingest(ctx context.Context, evs []event) error {
	d, err := h.decide(evs)
	if err != nil {
		return err
	}
	if h.tab.spec.Kind == proto.JobKindModels {
		h.mu.Lock()
		h.sum.Timings = append(h.sum.Timings, d.entries...)
		h.mu.Unlock()
		d.entries, d.newDevices = nil, nil
	}
	for _, dev := range d.newDevices {
		if err := h.cfg.Store.PutDevice(dev); err != nil {
			return fmt.Errorf("fleet: register device: %w", err)
		}
	}
	if len(d.entries) > 0 {
		if err := h.cfg.Store.Put(d.entries...); err != nil {
			return fmt.Errorf("fleet: store %d entries: %w", len(d.entries), err)
		}
		h.mu.Lock()
		h.sum.Entries += len(d.entries)
		h.mu.Unlock()
	}
	if err := h.journal.sync(); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	var toks []paho.Token
	for _, a := range d.acks {
		if t := h.sendAck(ctx, a.agent, a.r, a.outcome, a.reason); t != nil {
			toks = append(toks, t)
		}
	}
	if h.tabFinished() {
		// The last acks are worth waiting for: nobody will ack a re-send.
		for _, t := range toks {
			t.WaitTimeout(5 * time.Second)
		}
	}
	return nil
}

// decided is what a batch of results comes to once the table judged it.
type decided struct {
	acks       []pendingAck
	entries    []lut.Entry
	newDevices []lut.Device
}

// decide judges every result of a batch and journals the outcome (without
// fsync). A record the journal cannot take ends the batch with an error.
func (h *Host) decide(evs []event) (decided, error) {
	var d decided
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		r := ev.msg.(*proto.Result)
		if r.Run != h.tab.spec.Run {
			// Another run's result: that host will ack it.
			continue
		}
		v := h.tab.judge(r)
		switch {
		case v.outcome == proto.AckDuplicate:
			h.sum.Dupes++
			d.acks = append(d.acks, pendingAck{ev.agent, r, v.outcome, v.reason})
			continue
		case v.outcome != "":
			h.log.Warn("result rejected", "agent", ev.agent, "job", r.Job, "reason", v.reason)
			h.sum.Rejected++
			d.acks = append(d.acks, pendingAck{ev.agent, r, v.outcome, v.reason})
			continue
		case r.Error != "":
			final := h.tab.fail(v.job, ev.agent, r.Error)
			h.log.Warn("job failed on an agent", "agent", ev.agent, "job", r.Job, "err", r.Error, "final", final)
			if err := h.journal.append(record{Event: "fail", Job: r.Job, Agent: ev.agent, Attempt: r.Attempt, Seq: r.Seq, Error: r.Error, Final: final}); err != nil {
				return d, fmt.Errorf("fleet: %w", err) // unrecorded, so unacked: the agent re-sends
			}
			if final {
				h.bar.Add(1, "failed "+r.Job)
			}
			d.acks = append(d.acks, pendingAck{ev.agent, r, proto.AckFailed, ""})
			continue
		}
		es, err := h.entries(ev, r)
		if err != nil {
			h.log.Warn("result rejected", "agent", ev.agent, "job", r.Job, "reason", err)
			h.sum.Rejected++
			d.acks = append(d.acks, pendingAck{ev.agent, r, proto.AckRejected, err.Error()})
			continue
		}
		a := h.agent(ev.agent)
		if !a.registered {
			a.registered = true
			d.newDevices = append(d.newDevices, lut.Device{ID: ev.agent, Class: h.tab.spec.Class, Description: a.info})
		}
		if lat, ok := v.job.latency(r.Attempt, ev.at); ok {
			h.sum.Latencies = append(h.sum.Latencies, lat)
		}
		h.tab.complete(v.job, ev.agent)
		d.entries = append(d.entries, es...)
		if err := h.journal.append(record{Event: "done", Job: r.Job, Agent: ev.agent, Attempt: r.Attempt, Seq: r.Seq}); err != nil {
			return d, fmt.Errorf("fleet: %w", err)
		}
		h.bar.Add(1, r.Job+" from "+ev.agent)
		d.acks = append(d.acks, pendingAck{ev.agent, r, proto.AckStored, ""})
	}
	return d, nil
}

func (h *Host) tabFinished() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tab.finished()
}

// entries converts a result into LUT entries, validated so that one bad
// entry cannot fail the whole batch's transaction.
func (h *Host) entries(ev event, r *proto.Result) ([]lut.Entry, error) {
	out := make([]lut.Entry, 0, len(r.Results))
	for _, m := range r.Results {
		e := lut.FromMeasurement(ev.agent, m.Key, m.Measurement, ev.at, h.cfg.ToolVersion)
		if e.Backend == "" {
			e.Backend = r.Backend
		}
		if e.Threads == 0 {
			e.Threads = h.tab.spec.Threads
		}
		if e.ToolVersion == "" {
			e.ToolVersion = "unknown"
		}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// reconcile credits jobs whose entries reached the store but whose "done"
// never reached the journal (a host crash between the two): a device that
// has every key of the job, measured during this run, completed it.
func (h *Host) reconcile() error {
	if h.tab.spec.Kind == proto.JobKindModels {
		return nil // a bench keeps its timings in memory: nothing to find in a store
	}
	es, err := h.cfg.Store.Entries(lut.Filter{Native: true})
	if err != nil {
		return fmt.Errorf("fleet: reconcile with the store: %w", err)
	}
	created := h.tab.spec.Created
	has := map[string]map[string]bool{} // device -> key
	for _, e := range es {
		if e.MeasuredAt.Before(created) {
			continue
		}
		if has[e.Device] == nil {
			has[e.Device] = map[string]bool{}
		}
		has[e.Device][e.Key] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, j := range h.tab.jobs {
		if j.State == Done || j.State == Failed {
			continue
		}
		for dev, keys := range has {
			all := true
			for _, k := range j.Keys {
				all = all && keys[k]
			}
			if all && !h.tab.conflicts(j, dev) {
				h.tab.complete(j, dev)
				if err := h.journal.append(record{Event: "done", Job: j.ID, Agent: dev, Attempt: j.Attempt}); err != nil {
					return fmt.Errorf("fleet: reconcile with the store: %w", err)
				}
				h.log.Info("job found complete in the store", "job", j.ID, "agent", dev)
				break
			}
		}
	}
	return h.journal.sync()
}
