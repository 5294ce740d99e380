package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"edgenas/fleet/broker"
	"edgenas/fleet/dashboard"
	"edgenas/fleet/serve"
)

// serveBrokerMetrics serves the broker's Prometheus metrics on addr
// (loopback only: they are unauthenticated) at /metrics until stop.
func serveBrokerMetrics(addr string, b *broker.Broker) (url string, stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-listen %q: %w", addr, err)
	}
	if !serve.IsLoopback(host) {
		return "", nil, fmt.Errorf("--metrics-listen %s: the metrics are unauthenticated; listen on loopback", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", dashboard.BrokerHandler(b.Stats))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("broker metrics: %v", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/metrics", func() { srv.Close(); <-done }, nil
}
