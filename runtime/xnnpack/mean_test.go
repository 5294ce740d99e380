package xnnpack

import "testing"

// TestMeanRounding checks the two int8 MEAN formulas of mean.go on
// hand-worked sums, and which parameter sets XNNPACK's global average
// pooling may keep.
func TestMeanRounding(t *testing.T) {
	cases := []struct {
		name         string
		p            meanParams
		sum          int32
		wantDelegate int8 // round(fl(sum*S) + B), half to even
		wantGavgpool int8 // round((sum - n*zi) * S') + zo
		wantKeep     bool // gavgpool equals the delegate on every sum
	}{
		// mean 0.5: the delegate rounds 1.5 (to 2), global average pooling
		// rounds 0.5 (to 0) and adds 1.
		{name: "tie, odd output zero point", p: meanParams{si: 0.1, so: 0.1, zi: 0, zo: 1, n: 2}, sum: 1,
			wantDelegate: 2, wantGavgpool: 1},
		{name: "tie, even output zero point", p: meanParams{si: 0.1, so: 0.1, zi: 0, zo: 2, n: 2}, sum: 1,
			wantDelegate: 2, wantGavgpool: 2, wantKeep: true},
		// (13 - 4*3)/4 = 0.25 quanta, plus 2.
		{name: "no tie, input zero point", p: meanParams{si: 0.05, so: 0.05, zi: 3, zo: 2, n: 4}, sum: 13,
			wantDelegate: 2, wantGavgpool: 2, wantKeep: true},
		// -128 * 2 (input scale twice the output's) is below the int8 range;
		// with zero points 0 and exact scales both round alike everywhere.
		{name: "clamped", p: meanParams{si: 0.2, so: 0.1, zi: 0, zo: 0, n: 4}, sum: -512,
			wantDelegate: -128, wantGavgpool: -128, wantKeep: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, b := c.p.scaleBias()
			if got := c.p.delegate(c.sum, s, b); got != c.wantDelegate {
				t.Errorf("delegate %d, want %d", got, c.wantDelegate)
			}
			sd := c.p.si / float32(c.p.so*float32(c.p.n))
			if got := c.p.gavgpool(c.sum, sd); got != c.wantGavgpool {
				t.Errorf("global average pooling %d, want %d", got, c.wantGavgpool)
			}
			if keep := c.p.gavgpoolDiffers() == 0; keep != c.wantKeep {
				t.Errorf("global average pooling kept: %v, want %v", keep, c.wantKeep)
			}
		})
	}
}
