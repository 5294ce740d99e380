package backends

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/space"
	"edgenas/tflite"
)

// chain runs a model operator by operator on a tensor arena, each operator
// on the ref kernels or alone on XNNPACK (a one-operator model), so the
// whole-model divergence between the backends can be split by operator type
// and compared with controls. See AGREEMENT.md.
type chain struct {
	m    *tflite.Model
	refK []ref.Kernel
	xnn  []runtime.Interpreter
	subs []*tflite.Model
}

// opModel is the one-operator model of m's operator oi: its non-constant
// inputs become graph inputs, its output the graph output.
func opModel(m *tflite.Model, oi int) *tflite.Model {
	s := *m
	op := m.Operators[oi]
	s.Operators = []tflite.Operator{op}
	s.Inputs = nil
	for _, ti := range op.Inputs {
		if ti >= 0 && !m.Tensors[ti].IsConst() {
			s.Inputs = append(s.Inputs, ti)
		}
	}
	s.Outputs = []int{op.Outputs[0]}
	return &s
}

func newChain(t *testing.T, m *tflite.Model) *chain {
	c := &chain{m: m}
	for oi := range m.Operators {
		k, err := ref.NewKernel(m, oi)
		if err != nil {
			t.Fatalf("operator %d: %v", oi, err)
		}
		sub := opModel(m, oi)
		c.refK = append(c.refK, k)
		c.subs = append(c.subs, sub)
		c.xnn = append(c.xnn, load(t, "xnnpack", sub))
	}
	return c
}

// stepXNN runs operator oi on XNNPACK with the arena's inputs and returns its output.
func (c *chain) stepXNN(oi int, bufs [][]byte) ([]byte, error) {
	for ii, ti := range c.subs[oi].Inputs {
		if err := c.xnn[oi].SetInput(ii, bufs[ti]); err != nil {
			return nil, err
		}
	}
	if err := c.xnn[oi].Invoke(); err != nil {
		return nil, err
	}
	return c.xnn[oi].Output(0), nil
}

// chainRun says which operators run where and what else happens per step.
type chainRun struct {
	// onXNN reports whether operator op runs on XNNPACK.
	onXNN func(op tflite.Operator) bool
	// noise, when non-nil, moves each ref output element by one quantum up
	// or down with probability noiseRate (a rounding-seed control).
	noise     *rand.Rand
	noiseRate float64
	// local, when non-nil, counts how XNNPACK's output on the very same
	// inputs differs from each ref operator's output.
	local *opDiff
}

// run evaluates the model on in and returns the graph output.
func (c *chain) run(in []byte, r chainRun) ([]byte, error) {
	m := c.m
	bufs := make([][]byte, len(m.Tensors))
	for ti := range m.Tensors {
		if m.Tensors[ti].IsConst() {
			bufs[ti] = m.Tensors[ti].Data
		} else {
			bufs[ti] = make([]byte, m.Tensors[ti].Bytes())
		}
	}
	copy(bufs[m.Inputs[0]], in)
	for oi, op := range m.Operators {
		out := bufs[op.Outputs[0]]
		if r.onXNN != nil && r.onXNN(op) {
			x, err := c.stepXNN(oi, bufs)
			if err != nil {
				return nil, fmt.Errorf("operator %d (%v) on xnnpack: %w", oi, op.Op, err)
			}
			copy(out, x)
			continue
		}
		if err := c.refK[oi].Eval(bufs); err != nil {
			return nil, fmt.Errorf("operator %d (%v) on ref: %w", oi, op.Op, err)
		}
		if r.local != nil {
			x, err := c.stepXNN(oi, bufs)
			if err != nil {
				return nil, fmt.Errorf("operator %d (%v) on xnnpack: %w", oi, op.Op, err)
			}
			r.local.count(op.Op.String(), out, x)
		}
		if r.noise != nil {
			for j := range out {
				if r.noise.Float64() < r.noiseRate {
					v := int(int8(out[j])) + 2*r.noise.IntN(2) - 1
					out[j] = byte(int8(min(max(v, -128), 127)))
				}
			}
		}
	}
	return append([]byte(nil), bufs[m.Outputs[0]]...), nil
}

// floatOutput runs the float network the int8 model was quantized from on
// the dequantized input and quantizes its output with the model's output
// parameters: the int8 model's own quantization error, in output quanta.
func floatOutput(fm, m *tflite.Model, in []byte) ([]byte, error) {
	iq, oq := m.Input(0).Quant, m.Tensors[m.Outputs[0]].Quant
	q := make([]int8, len(in))
	for i := range in {
		q[i] = int8(in[i])
	}
	tr, err := quantize.Trace(fm, nil, quantize.Float32Bytes(quantize.Dequantize(q, iq.Scale[0], iq.ZeroPoint[0])))
	if err != nil {
		return nil, err
	}
	fo := quantize.QuantizeValues(quantize.Float32s(tr[fm.Outputs[0]]), oq.Scale[0], oq.ZeroPoint[0])
	out := make([]byte, len(fo))
	for i, v := range fo {
		out[i] = byte(v)
	}
	return out, nil
}

// TestAgreementAttribution explains TestWholeModelAgreement's gap. On the
// first three spnas-fmnist models of that test (one without SE) it checks that
//   - XNNPACK run whole equals XNNPACK run one operator at a time (so the
//     per-operator view accounts for everything, no fusion effects);
//   - the backends diverge no more than a control does: ref with random
//     one-quantum changes at the per-operator difference rate measured on
//     the same inputs (a kernel bug would diverge more than rounding seeds);
//   - the backends are closer to each other than the int8 model is to its
//     own float network (the output quantum is below the model's noise).
//
// It logs how far the output moves when only one operator type runs on
// XNNPACK, which is the attribution in AGREEMENT.md.
func TestAgreementAttribution(t *testing.T) {
	if testing.Short() {
		t.Skip("attribution runs every operator on both backends (~15 s)")
	}
	if !xnnpackAvailable() {
		t.Fatal("xnnpack backend not available in this build")
	}
	const models, inputs = 3, 8
	types := []string{"CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "MEAN", "FULLY_CONNECTED", "ADD", "LOGISTIC"}
	var all, noise, float, whole agreement
	byType := make([]agreement, len(types))
	var local opDiff
	s := space.MustLookup("spnas-fmnist")
	for i := 0; i < models; i++ {
		a := s.RandomSeed(uint64(100 + i))
		if i%3 == 2 {
			for j := range a.Choices {
				a.Choices[j].SE = false
			}
		}
		m, err := quantize.ArchModel(a, uint64(i))
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		net, err := quantize.RandomNet(a.Layers(), uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		fm, err := net.FloatModel()
		if err != nil {
			t.Fatal(err)
		}
		c := newChain(t, m)
		x := load(t, "xnnpack", m)
		rng := rand.New(rand.NewPCG(uint64(i), 13))
		for k := 0; k < inputs; k++ {
			in := make([]byte, m.Input(0).Bytes())
			for j := range in {
				in[j] = byte(rng.UintN(256))
			}
			var here opDiff
			refOut, err := c.run(in, chainRun{local: &here})
			if err != nil {
				t.Fatal(err)
			}
			local.merge(&here)
			xOut, err := c.run(in, chainRun{onXNN: func(tflite.Operator) bool { return true }})
			if err != nil {
				t.Fatal(err)
			}
			all.add(xOut, refOut)
			if err := x.SetInput(0, in); err != nil {
				t.Fatal(err)
			}
			if err := x.Invoke(); err != nil {
				t.Fatal(err)
			}
			whole.add(x.Output(0), xOut)
			rate := float64(here.differ) / float64(here.total)
			nOut, err := c.run(in, chainRun{noise: rand.New(rand.NewPCG(uint64(i), uint64(k))), noiseRate: rate})
			if err != nil {
				t.Fatal(err)
			}
			noise.add(nOut, refOut)
			fOut, err := floatOutput(fm, m, in)
			if err != nil {
				t.Fatal(err)
			}
			float.add(fOut, refOut)
			for ti, typ := range types {
				o, err := c.run(in, chainRun{onXNN: func(op tflite.Operator) bool { return op.Op.String() == typ }})
				if err != nil {
					t.Fatal(err)
				}
				byType[ti].add(o, refOut)
			}
		}
	}
	local.check(t, "spnas-fmnist (ref's inputs)")
	t.Logf("xnnpack vs ref:                 %s", &all)
	t.Logf("ref+rounding-seed noise vs ref: %s", &noise)
	t.Logf("float network vs ref:           %s", &float)
	for ti, typ := range types {
		t.Logf("only %-17s on xnnpack vs ref: %s", typ, &byType[ti])
	}
	if whole.within0() != whole.elems {
		t.Errorf("xnnpack whole model differs from xnnpack one operator at a time: %s", &whole)
	}
	if all.within1Frac() < noise.within1Frac()-0.10 || all.maxDiff > 2*noise.maxDiff {
		t.Errorf("backends diverge more than rounding seeds at the measured rate would make them: %s; control: %s", &all, &noise)
	}
	if all.within1Frac() < float.within1Frac() {
		t.Errorf("backends diverge more than the int8 model differs from its float network: %s; float: %s", &all, &float)
	}
}
