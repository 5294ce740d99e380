package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckBrokerHost(t *testing.T) {
	tests := []struct {
		name, broker string
		resolvConf   bool
		hosts        string
		wantErr      string
	}{
		{name: "IPv4 without resolv.conf", broker: "tcp://192.168.1.10:1883"},
		{name: "IPv6 without resolv.conf", broker: "tcp://[fe80::1]:1883"},
		{name: "name with resolv.conf", broker: "tcp://broker.lan:1883", resolvConf: true},
		{name: "name in hosts", broker: "tcp://broker.lan:1883", hosts: "127.0.0.1 localhost\n10.0.0.2  Broker.lan other # lab\n"},
		{name: "Android: name, no resolv.conf", broker: "tcp://broker.lan:1883", hosts: "127.0.0.1 localhost\n# broker.lan\n",
			wantErr: `broker host "broker.lan" is a name, but this system has no`},
		{name: "malformed URL", broker: "http://x:1", wantErr: "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			etc := t.TempDir()
			if tc.resolvConf {
				if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 10.0.0.1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.hosts != "" {
				if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(tc.hosts), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := checkBrokerHost(tc.broker, etc)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkBrokerHost(%q) = %v, want error %q", tc.broker, err, tc.wantErr)
			}
			if err != nil && tc.wantErr != "scheme" && !strings.Contains(err.Error(), "adb reverse tcp:1883 tcp:1883") {
				t.Errorf("the error does not say how: %v", err)
			}
		})
	}
}

func FuzzInHosts(f *testing.F) {
	for _, s := range []string{"127.0.0.1 localhost\n", "10.0.0.2 broker.lan # x\n", "", "#\n \t\n1.2.3.4"} {
		f.Add(s, "broker.lan")
	}
	f.Fuzz(func(t *testing.T, hosts, name string) {
		p := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(p, []byte(hosts), 0o644); err != nil {
			t.Fatal(err)
		}
		if inHosts(p, name) && !strings.Contains(strings.ToLower(hosts), strings.ToLower(name)) {
			t.Fatalf("inHosts found %q in %q", name, hosts)
		}
	})
}
