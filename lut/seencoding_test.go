package lut

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"edgenas/space"
)

// TestLegacySEEncoding checks that latencies and calibrations measured on the
// legacy squeeze-and-excitation encoding are never mixed with current ones:
// a table keyed by the old encoding misses every SE layer and says why, and
// a calibration of another encoding is refused.
func TestLegacySEEncoding(t *testing.T) {
	sp := space.MustLookup("spnas-fmnist")
	cur := syntheticTable(t, sp, rand.New(rand.NewPCG(5, 6)))
	legacy := map[string]float64{}
	for k, e := range cur.Entries {
		legacy[strings.Replace(k, fmt.Sprintf("-se:%d-", space.SEEncoding), "-se:1-", 1)] = e.Millis()
	}
	old, err := TableFromMillis("synth", "ref", 1, "test", legacy)
	if err != nil {
		t.Fatal(err)
	}
	if old.LegacySE() == 0 || cur.LegacySE() != 0 {
		t.Fatalf("LegacySE: old table %d, current table %d", old.LegacySE(), cur.LegacySE())
	}
	se, _ := space.ParseChoice("k5e6+se")
	a := sp.Uniform(se)
	p, _ := NewLUTPredictor(old)
	if _, err := p.Predict(a); err == nil || !strings.Contains(err.Error(), "SE encoding 1") {
		t.Errorf("SE architecture on a legacy table: error %v, want one naming SE encoding 1", err)
	}
	plain, _ := space.ParseChoice("k5e6")
	if _, err := p.Predict(sp.Uniform(plain)); err != nil {
		t.Errorf("architecture without SE on a legacy table: %v", err)
	}

	c, _ := NewCalibrated(cur, FormScale)
	var samples []Sample
	for i, tok := range []string{"k3e3", "k5e6+se", "k3e6", "k5e3+se"} {
		ch, _ := space.ParseChoice(tok)
		samples = append(samples, Sample{Arch: sp.Uniform(ch), Millis: 1 + float64(i)})
	}
	if err := c.Fit(samples); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCalibrated(bytes.NewReader(buf.Bytes()), cur); err != nil {
		t.Fatalf("current calibration refused: %v", err)
	}
	for _, enc := range []int{0, 1} {
		var raw map[string]any
		if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		if enc == 0 {
			delete(raw, "se_encoding")
		} else {
			raw["se_encoding"] = enc
		}
		b, _ := json.Marshal(raw)
		if _, err := ReadCalibrated(bytes.NewReader(b), cur); err == nil || !strings.Contains(err.Error(), "encoding") {
			t.Errorf("calibration with SE encoding %d: error %v, want a refusal naming the encoding", enc, err)
		}
	}
}
