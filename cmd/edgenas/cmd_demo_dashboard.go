package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"edgenas/fleet/serve"
)

// dashboardCommands are the commands that bring the demo's broker back and
// serve its results on the dashboard: the demo stops its own processes when
// it ends, so it prints them instead of leaving them running.
func (d *demo) dashboardCommands() []string {
	addr := "127.0.0.1:0"
	if u, err := url.Parse(d.broker); err == nil && u.Host != "" {
		addr = u.Host
	}
	broker := []string{"edgenas", "broker", "--listen", `""`, "--tls-listen", addr,
		"--tls-cert", d.path("keys", "broker", "broker.crt"), "--tls-key", d.path("keys", "broker", "broker.key"),
		"--client-ca", d.path("keys", "ca", "ca.crt"), "--require-cert", "&"}
	srv := append([]string{"edgenas", "serve", "--state", d.path("rollouts"), "--keys", d.path("keys")}, d.hostConn()...)
	srv = append(srv, "--lut", d.path("lut.db"), "--lut-validate", d.path("validate"), "--runs", d.out)
	return []string{strings.Join(broker, " "), strings.Join(srv, " ")}
}

// dashboardURL is where the printed serve command puts the dashboard.
func dashboardURL() string { return "http://" + serve.DefaultListen + "/" }

// printDashboard tells the user how to look at the demo in the dashboard.
func (d *demo) printDashboard(w io.Writer) {
	fmt.Fprintf(w, "dashboard: run\n")
	for _, c := range d.dashboardCommands() {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "then open %s (fleet), %srollouts/, %sluts, %ssearches/\n", dashboardURL(), dashboardURL(), dashboardURL(), dashboardURL())
}

// mdDashboard is the report's section on the dashboard: cmds start it.
func mdDashboard(b *mdText, cmds []string) {
	if len(cmds) == 0 {
		return
	}
	u := dashboardURL()
	b.p("")
	b.p("## Dashboard")
	b.p("")
	b.p("Start the broker again and serve the results:")
	b.p("")
	b.p("```")
	for _, c := range cmds {
		b.p("%s", c)
	}
	b.p("```")
	b.p("")
	b.p("Pages: [fleet](%s), [rollouts](%srollouts/), [latency table](%sluts), [search and validation runs](%ssearches/), [metrics](%smetrics).",
		u, u, u, u, u)
}
