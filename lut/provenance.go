package lut

import (
	"context"
	"fmt"
	"os"

	"edgenas/profiler"
	"edgenas/tflite"
)

// Measurement sources of whole-model times.
const (
	// SourceHost: timed on the machine that ran the command.
	SourceHost = "host"
	// SourceFleet: timed by the agents of a device class.
	SourceFleet = "fleet"
)

// Provenance says where whole-model times were measured: on the host, or by
// which devices of which class.
type Provenance struct {
	Source  string   `json:"source"`
	Host    string   `json:"host,omitempty"`
	Class   string   `json:"class,omitempty"`
	Devices []string `json:"devices,omitempty"`
}

// HostProvenance is this machine.
func HostProvenance() Provenance {
	h, _ := os.Hostname()
	return Provenance{Source: SourceHost, Host: h}
}

// String names the place ("host ci-box", "class pixel7 (devices [p1 p2])").
func (p Provenance) String() string {
	switch p.Source {
	case SourceFleet:
		return fmt.Sprintf("class %s (devices %v)", p.Class, p.Devices)
	case SourceHost, "":
		if p.Host == "" {
			return "the host"
		}
		return "host " + p.Host
	}
	return p.Source
}

// ModelTimer times whole int8 models, in the order given, and says where it
// did: model i is named names[i] and built by build(i).
type ModelTimer interface {
	TimeModels(ctx context.Context, names []string, build func(i int) (*tflite.Model, error)) ([]profiler.Measurement, Provenance, error)
}

// setProvenance records where the calibration's models were measured.
func (c *Calibrated) setProvenance(p Provenance) {
	c.Source, c.Host, c.Class, c.Devices = p.Source, p.Host, p.Class, p.Devices
}

// provenance is where the calibration's models were measured (a file
// written before sources were recorded was fitted on the host).
func (c *Calibrated) provenance() Provenance {
	p := Provenance{Source: c.Source, Host: c.Host, Class: c.Class, Devices: c.Devices}
	if p.Source == "" {
		p.Source = SourceHost
	}
	return p
}

// checkMeasuredLike refuses a calibration measured elsewhere than the table
// it corrects: a class table needs whole models timed by that class's
// devices, a device table models timed on the host.
func (c *Calibrated) checkMeasuredLike(t *Table) error {
	p := c.provenance()
	switch {
	case t.Class != "" && p.Source != SourceFleet:
		return fmt.Errorf("calibration measured on %s, but table %s is class %s measured by its devices: "+
			"fit it on them with 'edgenas lut validate --class %s --broker URL'", p, t, t.Class, t.Class)
	case t.Class != "" && p.Class != t.Class:
		return fmt.Errorf("calibration measured by %s, but table %s is class %s", p, t, t.Class)
	case t.Class == "" && p.Source == SourceFleet:
		return fmt.Errorf("calibration measured by %s, but table %s is one device's: give the class table with --class %s",
			p, t, p.Class)
	case p.Source != SourceHost && p.Source != SourceFleet:
		return fmt.Errorf("calibration source %q unknown (want %q or %q)", p.Source, SourceHost, SourceFleet)
	}
	return nil
}
