package quantize

import (
	"testing"

	"edgenas/space"
)

// TestActivationsHealthy checks that random networks on the generator's
// input distribution have non-degenerate activations: few values at the
// ReLU6 ceiling, no all-dead tensors, and logits that vary between inputs
// without saturating the calibrated output range on fresh inputs.
func TestActivationsHealthy(t *testing.T) {
	type tc struct {
		space string
		seed  uint64
	}
	cases := []tc{{"spnas-fmnist", 0}, {"spnas-fmnist", 1}, {"spnas-fmnist", 2}, {"spnas-fmnist", 3}}
	if !testing.Short() {
		cases = append(cases, tc{"spnas-imagenet", 0})
	}
	for _, c := range cases {
		a := space.MustLookup(c.space).RandomSeed(c.seed)
		n, err := RandomNet(a.Layers(), c.seed)
		if err != nil {
			t.Fatal(err)
		}
		fm, err := n.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		// Calibrate as Generate does (4 samples; 2 for ImageNet), check on fresh ones.
		nCal := GenOptions{}.samples(a.Layers())
		samples := RandomInputs(fm, nCal+3, c.seed, Range{-1, 1})
		ranges, err := Calibrate(fm, samples[:nCal], CalibOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := fm.Outputs[0]
		scale, zp, err := ActivationParams(ranges[out])
		if err != nil {
			t.Fatal(err)
		}
		var first []int8
		var differ, saturated, total int
		for s, smp := range samples[nCal:] {
			bufs, err := Trace(fm, nil, Float32Bytes(smp[0]))
			if err != nil {
				t.Fatal(err)
			}
			if s == 0 {
				for i, tt := range fm.Tensors {
					if _, ok := ranges[i]; !ok || i == fm.Inputs[0] {
						continue
					}
					var at6, at0 int
					v := Float32s(bufs[i])
					for _, x := range v {
						if x >= 5.999 {
							at6++
						}
						if x == 0 {
							at0++
						}
					}
					if f := float64(at6) / float64(len(v)); f > 0.05 {
						t.Errorf("%s seed %d: %s has %.1f%% values at 6", c.space, c.seed, tt.Name, 100*f)
					}
					if at0 == len(v) {
						t.Errorf("%s seed %d: %s is all zero", c.space, c.seed, tt.Name)
					}
				}
			}
			q := QuantizeValues(Float32s(bufs[out]), scale, zp)
			if first == nil {
				first = q
				continue
			}
			for i := range q {
				total++
				if q[i] != first[i] {
					differ++
				}
				if q[i] == 127 || q[i] == -128 {
					saturated++
				}
			}
		}
		t.Logf("%s seed %d: logits range %v, %d/%d quantized logits differ from sample 0's, %d saturated",
			c.space, c.seed, ranges[out], differ, total, saturated)
		if differ < total/2 {
			t.Errorf("%s seed %d: logits hardly vary between inputs (%d/%d differ)", c.space, c.seed, differ, total)
		}
		if saturated > total/10 {
			t.Errorf("%s seed %d: %d/%d logits saturate on fresh inputs", c.space, c.seed, saturated, total)
		}
	}
}
