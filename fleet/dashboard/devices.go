package dashboard

import (
	"maps"
	"sort"
	"sync"
	"time"

	"edgenas/agent/proto"
	"edgenas/profiler"
)

// maxDevices bounds the devices the tracker remembers: agent ids come from
// the broker, and a misbehaving peer must not grow serve's memory forever.
const maxDevices = 100000

// maxHistory bounds the status changes kept per device.
const maxHistory = 20

// Device is what the dashboard knows of one agent, from its retained info
// and status and the install reports it sent.
type Device struct {
	ID           string
	Class        string
	State        string // proto.StateOnline, StateBusy, StateOffline, or "" before any status
	LastSeen     time.Time
	AgentVersion string
	Backend      string
	Backends     []string
	Arch         string
	CPUModel     string
	CoreClusters []profiler.CoreCluster
	// Tags are the device's labels (agent --tag).
	Tags map[string]string
	// Model and Version are the last install the device committed.
	Model   string
	Version uint64
	// Install is the last install report (any state).
	Install *proto.Install
	Job     string
	Queued  int
	Unacked int
	// History is the latest status changes, newest last.
	History []StatusChange
}

// StatusChange is one state transition of a device.
type StatusChange struct {
	Time  time.Time
	State string
	Job   string
}

// Online reports whether the device's last status says it is connected.
func (d Device) Online() bool { return d.State == proto.StateOnline || d.State == proto.StateBusy }

// Devices tracks the fleet from the agents' messages. It is safe for
// concurrent use: the broker delivers on its own goroutines while pages read.
type Devices struct {
	mu      sync.Mutex
	devs    map[string]*Device
	dropped int
}

// NewDevices returns an empty tracker.
func NewDevices() *Devices { return &Devices{devs: map[string]*Device{}} }

// device returns id's entry, creating it unless the tracker is full.
func (t *Devices) device(id string) *Device {
	d, ok := t.devs[id]
	if !ok {
		if len(t.devs) >= maxDevices {
			t.dropped++
			return nil
		}
		d = &Device{ID: id}
		t.devs[id] = d
	}
	return d
}

// Observe records one decoded agent message (*proto.Info, *proto.Status or
// *proto.Install); other kinds are ignored. now stamps messages without a time.
func (t *Devices) Observe(msg any, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch m := msg.(type) {
	case *proto.Info:
		d := t.device(m.Agent)
		if d == nil {
			return
		}
		d.Class, d.AgentVersion, d.Backend, d.Backends = m.Class, m.AgentVersion, m.Backend, m.Backends
		d.Arch, d.CPUModel, d.CoreClusters, d.Tags = m.Arch, m.CPUModel, m.CoreClusters, m.Tags
		d.seen(stamp(m.Time, now))
	case *proto.Status:
		d := t.device(m.Agent)
		if d == nil {
			return
		}
		if m.Class != "" {
			d.Class = m.Class
		}
		at := stamp(m.Time, now)
		if d.State != m.State || d.Job != m.Job {
			d.History = append(d.History, StatusChange{Time: at, State: m.State, Job: m.Job})
			if len(d.History) > maxHistory {
				d.History = d.History[len(d.History)-maxHistory:]
			}
		}
		d.State, d.Job, d.Queued, d.Unacked = m.State, m.Job, len(m.Queued), m.Unacked
		d.seen(at)
	case *proto.Install:
		d := t.device(m.Agent)
		if d == nil {
			return
		}
		c := *m
		d.Install = &c
		if m.State == proto.InstallCommitted {
			d.Model, d.Version = m.Name, m.Version
		}
		d.seen(stamp(m.Time, now))
	}
}

func stamp(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

func (d *Device) seen(t time.Time) {
	if t.After(d.LastSeen) {
		d.LastSeen = t
	}
}

// List returns a copy of every device, sorted by class then id.
func (t *Devices) List() []Device {
	t.mu.Lock()
	out := make([]Device, 0, len(t.devs))
	for _, d := range t.devs {
		out = append(out, d.clone())
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns a copy of one device.
func (t *Devices) Get(id string) (Device, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.devs[id]
	if !ok {
		return Device{}, false
	}
	return d.clone(), true
}

// Dropped counts devices not tracked because the tracker was full.
func (t *Devices) Dropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

func (d *Device) clone() Device {
	c := *d
	c.Backends = append([]string(nil), d.Backends...)
	c.CoreClusters = append([]profiler.CoreCluster(nil), d.CoreClusters...)
	c.History = append([]StatusChange(nil), d.History...)
	c.Tags = maps.Clone(d.Tags)
	return c
}
