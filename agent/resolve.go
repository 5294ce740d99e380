package agent

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"edgenas/agent/proto"
)

// checkBrokerHost reports, without network traffic, whether the broker's
// host can be resolved on this system. An IP address always can; a name
// needs a DNS configuration (etcDir/resolv.conf) or an entry in
// etcDir/hosts. Android has no /etc/resolv.conf: its resolver is a system
// service (netd) that neither glibc (which the XNNPACK agent bundles) nor
// Go's resolver talks to, so both would ask a DNS server on localhost that
// is not there and fail on every reconnect. Saying so at start is kinder.
func checkBrokerHost(broker, etcDir string) error {
	norm, err := proto.NormalizeBroker(broker)
	if err != nil {
		return err
	}
	u, err := url.Parse(norm)
	if err != nil {
		return fmt.Errorf("broker URL %q: %w", broker, err)
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(etcDir, "resolv.conf")); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil // unreadable: let the resolver decide
	}
	if inHosts(filepath.Join(etcDir, "hosts"), host) {
		return nil
	}
	return fmt.Errorf("broker host %q is a name, but this system has no %s (Android has none) and %s does not list it: "+
		"give the broker's IP address (--broker tcp://192.168.1.10:1883), or on a USB-connected phone run "+
		"`adb reverse tcp:1883 tcp:1883` and use --broker tcp://127.0.0.1:1883",
		host, filepath.Join(etcDir, "resolv.conf"), filepath.Join(etcDir, "hosts"))
}

// inHosts reports whether a hosts(5) file maps name.
func inHosts(path, name string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		for _, h := range fields[min(1, len(fields)):] {
			if strings.EqualFold(h, name) {
				return true
			}
		}
	}
	return false
}
