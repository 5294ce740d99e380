package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"edgenas/fleet/broker"
)

func TestBrokerMetricsListen(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", AgentPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tests := []struct {
		name, addr, wantErr string
	}{
		{name: "loopback", addr: "127.0.0.1:0"},
		{name: "every interface", addr: "0.0.0.0:0", wantErr: "listen on loopback"},
		{name: "no port", addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, stop, err := serveBrokerMetrics(tc.addr, b)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "edgenas_broker_clients_connected 0") {
				t.Errorf("metrics:\n%s", body)
			}
		})
	}
}
