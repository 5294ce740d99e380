package dashboard

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
)

// Metrics is serve's Prometheus registry (its own, never the global
// default): the fleet and rollouts as gauges computed at each scrape, and
// counters of what serve's broker subscription received.
type Metrics struct {
	reg      *prometheus.Registry
	messages *prometheus.CounterVec
	rejected prometheus.Counter
	health   prometheus.Histogram
	acks     *prometheus.CounterVec
	reissued prometheus.Counter
	jobTime  prometheus.Histogram
	turnTime prometheus.Histogram

	mu   sync.Mutex
	sent map[string]time.Time // job/attempt -> when the host sent it, until its result
}

// maxInFlight bounds the jobs whose send time is kept for the turnaround
// histogram; jobs past it are not timed.
const maxInFlight = 100000

// NewMetrics builds the registry over the dashboard's sources.
func NewMetrics(devs *Devices, rollouts RolloutSource) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgenas_agent_messages_total",
			Help: "Agent messages serve received from the broker, by kind."}, []string{"kind"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgenas_agent_messages_rejected_total",
			Help: "Agent messages serve refused (failed validation)."}),
		health: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgenas_install_health_check_ms",
			Help:    "Health-check median latency of committed installs, in milliseconds.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16)}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgenas_results_acked_total",
			Help: "Results the host acknowledged, by outcome (stored = ingested, duplicate, rejected, failed)."}, []string{"outcome"}),
		reissued: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgenas_leases_reissued_total",
			Help: "Jobs handed out again after a lease ran out (attempt > 1)."}),
		jobTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgenas_job_seconds",
			Help:    "Time an agent spent on a job, from its result's started and finished times.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16)}),
		turnTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgenas_job_turnaround_seconds",
			Help:    "From the host sending a job (its sent time) to serve receiving the result.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		sent: map[string]time.Time{},
	}
	m.reg.MustRegister(m.messages, m.rejected, m.health, m.acks, m.reissued, m.jobTime, m.turnTime, &fleetCollector{devs: devs, rollouts: rollouts},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe counts one message the subscription received (nil: refused).
func (m *Metrics) Observe(msg any) {
	switch v := msg.(type) {
	case nil:
		m.rejected.Inc()
	case *proto.Info:
		m.messages.WithLabelValues(proto.KindInfo).Inc()
	case *proto.Status:
		m.messages.WithLabelValues(proto.KindStatus).Inc()
	case *proto.Install:
		m.messages.WithLabelValues(proto.KindInstall).Inc()
		if v.State == proto.InstallCommitted && v.LatencyMS > 0 {
			m.health.Observe(v.LatencyMS)
		}
	case *proto.Job:
		m.messages.WithLabelValues(proto.KindJob).Inc()
		if v.Attempt > 1 {
			m.reissued.Inc()
		}
		m.mu.Lock()
		if len(m.sent) < maxInFlight && !v.Sent.IsZero() {
			m.sent[fmt.Sprintf("%s/%d", v.ID, v.Attempt)] = v.Sent
		}
		m.mu.Unlock()
	case *proto.Result:
		m.messages.WithLabelValues(proto.KindResult).Inc()
		if d := v.Finished.Sub(v.Started); d > 0 {
			m.jobTime.Observe(d.Seconds())
		}
		key := fmt.Sprintf("%s/%d", v.Job, v.Attempt)
		m.mu.Lock()
		sent, ok := m.sent[key]
		delete(m.sent, key)
		m.mu.Unlock()
		if ok {
			m.turnTime.Observe(time.Since(sent).Seconds())
		}
	case *proto.Ack:
		m.messages.WithLabelValues(proto.KindAck).Inc()
		m.acks.WithLabelValues(v.Outcome).Inc()
	}
}

// Registry is the registry, for serve to add its own collectors to.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var (
	devicesDesc = prometheus.NewDesc("edgenas_devices", "Devices known to serve, by class and state (online, busy, offline).",
		[]string{"class", "state"}, nil)
	rolloutsDesc       = prometheus.NewDesc("edgenas_rollouts", "Rollouts in the store, by phase.", []string{"phase"}, nil)
	rolloutDevicesDesc = prometheus.NewDesc("edgenas_rollout_devices",
		"Devices of rollouts that have not ended, by state.", []string{"state"}, nil)
	scrapeErrDesc = prometheus.NewDesc("edgenas_rollout_store_errors", "1 when the rollout store could not be read at this scrape.", nil, nil)
)

// fleetCollector computes the gauges from the tracker and the store at
// scrape time, so they cannot drift from what the pages show.
type fleetCollector struct {
	devs     *Devices
	rollouts RolloutSource
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- devicesDesc
	ch <- rolloutsDesc
	ch <- rolloutDevicesDesc
	ch <- scrapeErrDesc
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	type cs struct{ class, state string }
	n := map[cs]int{}
	for _, d := range c.devs.List() {
		st := d.State
		if st == "" {
			st = "unknown"
		}
		n[cs{d.Class, st}]++
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(v), k.class, k.state)
	}
	if c.rollouts == nil {
		return
	}
	all, err := c.rollouts.List()
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
	phases, states := map[string]int{}, map[string]int{}
	for _, r := range all {
		phases[r.Phase]++
		if r.Phase == rollout.PhaseDone || r.Phase == rollout.PhaseAborted {
			continue
		}
		for _, d := range r.Devices {
			states[d.State]++
		}
	}
	for k, v := range phases {
		ch <- prometheus.MustNewConstMetric(rolloutsDesc, prometheus.GaugeValue, float64(v), k)
	}
	for k, v := range states {
		ch <- prometheus.MustNewConstMetric(rolloutDevicesDesc, prometheus.GaugeValue, float64(v), k)
	}
}
