package space

import (
	"fmt"
	"strings"
)

// Kind is what a concrete layer is.
type Kind string

// Layer kinds. Every kind but KindSkip becomes operators in a model.
const (
	KindConv   Kind = "conv"    // convolution + activation (stem, head)
	KindMBConv Kind = "mbconv"  // inverted residual block
	KindPool   Kind = "avgpool" // global average pooling
	KindFC     Kind = "fc"      // classifier
	KindSkip   Kind = "skip"    // identity: no operators, no cost
)

// Layer is one concrete layer of a decoded architecture, with its full
// configuration. Its Key states that configuration, Once-for-All style, so a
// latency table entry measured for one model applies to every model that
// contains the same layer.
type Layer struct {
	Kind       Kind
	InH, InW   int
	InC        int
	OutH, OutW int
	OutC       int
	Kernel     int
	Stride     int
	// Expand is the MBConv expansion ratio (1 means no expansion convolution).
	Expand int
	// SEChannels is the squeeze-and-excitation bottleneck width (0: no SE).
	SEChannels int
	// IDSkip is true when the block adds its input to its output.
	IDSkip bool
	Act    string
	// Slot is the searchable layer index, or -1 for a fixed layer.
	Slot int
}

// MidC is the expanded channel count of an MBConv block.
func (l Layer) MidC() int { return l.InC * l.Expand }

// SE reports whether the block has a squeeze-and-excitation path.
func (l Layer) SE() bool { return l.SEChannels > 0 }

// SEEncoding is the version of the operators a squeeze-and-excitation path
// becomes in the models edgenas writes, and so of every latency measured on
// them. It is the "se" field of an SE block's key and is recorded in
// calibrations, so that measurements of different encodings never mix:
//   - 1: MEAN, FULLY_CONNECTED keep_num_dims (x2), LOGISTIC, MUL. No longer
//     written; keys and calibrations made with it are refused by name.
//   - 2: MEAN keep_dims, 1x1 CONV_2D (x2) on the [1,1,1,C] squeeze,
//     LOGISTIC, MUL: what TFLite's converter emits for a Keras SE block.
const SEEncoding = 2

// legacySEEncoding is the SE encoding before SEEncoding.
const legacySEEncoding = 1

// IsLegacySEKey reports whether key names an SE block measured with an
// encoding older than SEEncoding: tables use it to say why such entries
// are never looked up.
func IsLegacySEKey(key string) bool {
	return strings.HasPrefix(key, string(KindMBConv)+"-") && strings.Contains(key, fmt.Sprintf("-se:%d-", legacySEEncoding))
}

// Key is the canonical latency-table key of the layer, for example
// "mbconv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0-se:0-act:relu6".
// The "se" field is 0 without squeeze-and-excitation and SEEncoding with it.
// Skip layers have the key "skip" and cost nothing.
func (l Layer) Key() string {
	b01 := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	se := 0
	if l.SE() {
		se = SEEncoding
	}
	switch l.Kind {
	case KindConv:
		return fmt.Sprintf("conv-input:%dx%dx%d-output:%dx%dx%d-kernel:%d-stride:%d-act:%s",
			l.InH, l.InW, l.InC, l.OutH, l.OutW, l.OutC, l.Kernel, l.Stride, l.Act)
	case KindMBConv:
		return fmt.Sprintf("mbconv-input:%dx%dx%d-output:%dx%dx%d-expand:%d-kernel:%d-stride:%d-idskip:%d-se:%d-act:%s",
			l.InH, l.InW, l.InC, l.OutH, l.OutW, l.OutC, l.Expand, l.Kernel, l.Stride, b01(l.IDSkip), se, l.Act)
	case KindPool:
		return fmt.Sprintf("avgpool-input:%dx%dx%d-output:1x1x%d", l.InH, l.InW, l.InC, l.OutC)
	case KindFC:
		return fmt.Sprintf("fc-input:%d-output:%d", l.InC, l.OutC)
	}
	if k, ok := dagKey(l); ok {
		return k
	}
	return "skip"
}

// ParseKey decodes a key produced by Layer.Key back into a layer (Slot -1).
// It lets tools that only see a latency table (the profiler, importers)
// rebuild the layer a key names.
func ParseKey(key string) (Layer, error) {
	if key == "skip" {
		return Layer{Kind: KindSkip, Slot: -1}, nil
	}
	parts := strings.Split(key, "-")
	l := Layer{Kind: Kind(parts[0]), Slot: -1}
	fields := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return Layer{}, fmt.Errorf("layer key %q: field %q has no ':'", key, p)
		}
		fields[k] = v
	}
	f := &keyFields{key: key, fields: fields}
	switch l.Kind {
	case KindConv:
		f.window(&l)
		l.Act = fields["act"]
	case KindMBConv:
		f.dims("input", &l.InH, &l.InW, &l.InC)
		f.dims("output", &l.OutH, &l.OutW, &l.OutC)
		f.num("expand", &l.Expand)
		f.num("kernel", &l.Kernel)
		f.num("stride", &l.Stride)
		var idskip, se int
		f.num("idskip", &idskip)
		f.num("se", &se)
		l.IDSkip = idskip == 1
		switch {
		case f.err != nil || se == 0:
		case se == SEEncoding:
			l.SEChannels = seChannels(l.InC, 0.25)
		case se == legacySEEncoding:
			return Layer{}, fmt.Errorf("layer key %q was measured with SE encoding %d (FULLY_CONNECTED keep_num_dims), "+
				"which edgenas no longer writes; re-measure it (its key is now se:%d)", key, se, SEEncoding)
		default:
			return Layer{}, fmt.Errorf("layer key %q: SE encoding %d unknown (this edgenas writes %d)", key, se, SEEncoding)
		}
		l.Act = fields["act"]
	case KindPool:
		var one1, one2 int
		f.dims("input", &l.InH, &l.InW, &l.InC)
		f.dims("output", &one1, &one2, &l.OutC)
		l.OutH, l.OutW = 1, 1
	case KindFC:
		f.num("input", &l.InC)
		f.num("output", &l.OutC)
		l.InH, l.InW, l.OutH, l.OutW = 1, 1, 1, 1
	default:
		if !dagParseKey(&l, f) {
			return Layer{}, fmt.Errorf("layer key %q: unknown layer kind %q", key, parts[0])
		}
	}
	if f.err != nil {
		return Layer{}, f.err
	}
	if l.Key() != key {
		return Layer{}, fmt.Errorf("layer key %q is not canonical (canonical form %q)", key, l.Key())
	}
	return l, nil
}

// keyFields decodes the fields of one layer key, keeping the first error.
type keyFields struct {
	key    string
	fields map[string]string
	err    error
}

func (f *keyFields) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf("layer key %q: "+format, append([]any{f.key}, args...)...)
	}
}

// dims reads a field of len(out) positive dimensions ("28x28x1").
func (f *keyFields) dims(name string, out ...*int) {
	v, ok := f.fields[name]
	if !ok {
		f.fail("missing %s", name)
		return
	}
	ds := strings.Split(v, "x")
	if len(ds) != len(out) {
		f.fail("%s %q wants %d dimensions", name, v, len(out))
		return
	}
	for i, d := range ds {
		if _, err := fmt.Sscanf(d, "%d", out[i]); err != nil || *out[i] <= 0 {
			f.fail("%s %q: bad dimension %q", name, v, d)
			return
		}
	}
}

// num reads a non-negative integer field.
func (f *keyFields) num(name string, out *int) {
	v, ok := f.fields[name]
	if !ok {
		f.fail("missing %s", name)
		return
	}
	if _, err := fmt.Sscanf(v, "%d", out); err != nil || *out < 0 {
		f.fail("bad %s %q", name, v)
	}
}

// window reads the fields of a windowed layer (conv, sepconv, avgpool2d):
// input and output shapes, kernel and stride.
func (f *keyFields) window(l *Layer) {
	f.dims("input", &l.InH, &l.InW, &l.InC)
	f.dims("output", &l.OutH, &l.OutW, &l.OutC)
	f.num("kernel", &l.Kernel)
	f.num("stride", &l.Stride)
}

// seChannels is the SE bottleneck width, as EfficientNet sizes it from the
// block's input channels.
func seChannels(inC int, ratio float64) int {
	n := int(float64(inC) * ratio)
	if n < 1 {
		n = 1
	}
	return n
}

// MACs is the number of multiply-accumulates of the layer.
func (l Layer) MACs() int64 {
	switch l.Kind {
	case KindConv:
		return int64(l.OutH*l.OutW*l.OutC) * int64(l.Kernel*l.Kernel*l.InC)
	case KindMBConv:
		mid := l.MidC()
		var m int64
		if l.Expand != 1 {
			m += int64(l.InH*l.InW) * int64(l.InC*mid)
		}
		m += int64(l.OutH*l.OutW*mid) * int64(l.Kernel*l.Kernel)
		if l.SE() {
			m += 2 * int64(mid*l.SEChannels)
			m += int64(l.OutH * l.OutW * mid) // the gating multiply
		}
		m += int64(l.OutH*l.OutW) * int64(mid*l.OutC)
		return m
	case KindFC:
		return int64(l.InC * l.OutC)
	}
	return dagMACs(l)
}

// Params is the number of weights and biases of the layer (batch norm folded).
func (l Layer) Params() int64 {
	switch l.Kind {
	case KindConv:
		return int64(l.Kernel*l.Kernel*l.InC*l.OutC + l.OutC)
	case KindMBConv:
		mid := l.MidC()
		var p int
		if l.Expand != 1 {
			p += l.InC*mid + mid
		}
		p += l.Kernel*l.Kernel*mid + mid
		if l.SE() {
			p += mid*l.SEChannels + l.SEChannels + l.SEChannels*mid + mid
		}
		p += mid*l.OutC + l.OutC
		return int64(p)
	case KindFC:
		return int64(l.InC*l.OutC + l.OutC)
	}
	return dagParams(l)
}
