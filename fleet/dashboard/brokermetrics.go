package dashboard

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"edgenas/fleet/broker"
)

// brokerCollector turns the embedded broker's counters into metrics at
// each scrape.
type brokerCollector struct {
	stats func() broker.Stats
	descs map[string]*prometheus.Desc
}

var brokerMetrics = []struct {
	name, help string
	counter    bool
	get        func(broker.Stats) int64
}{
	{"edgenas_broker_clients_connected", "MQTT clients connected now.", false, func(s broker.Stats) int64 { return s.ClientsConnected }},
	{"edgenas_broker_messages_received_total", "PUBLISH messages received.", true, func(s broker.Stats) int64 { return s.MessagesReceived }},
	{"edgenas_broker_messages_sent_total", "PUBLISH messages sent.", true, func(s broker.Stats) int64 { return s.MessagesSent }},
	{"edgenas_broker_messages_dropped_total", "PUBLISH messages dropped for slow subscribers.", true, func(s broker.Stats) int64 { return s.MessagesDropped }},
	{"edgenas_broker_retained", "Retained messages held.", false, func(s broker.Stats) int64 { return s.Retained }},
	{"edgenas_broker_subscriptions", "Active subscriptions.", false, func(s broker.Stats) int64 { return s.Subscriptions }},
	{"edgenas_broker_received_bytes_total", "Bytes received.", true, func(s broker.Stats) int64 { return s.BytesReceived }},
	{"edgenas_broker_sent_bytes_total", "Bytes sent.", true, func(s broker.Stats) int64 { return s.BytesSent }},
}

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, m := range brokerMetrics {
		t := prometheus.GaugeValue
		if m.counter {
			t = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], t, float64(m.get(s)))
	}
}

// BrokerHandler serves the broker's metrics from its own registry (the
// broker runs as its own process, apart from serve).
func BrokerHandler(stats func() broker.Stats) http.Handler {
	c := &brokerCollector{stats: stats, descs: map[string]*prometheus.Desc{}}
	for _, m := range brokerMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
