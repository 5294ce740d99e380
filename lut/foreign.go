package lut

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"edgenas/profiler"
	"edgenas/space"
)

// ImportOptions say whose table is imported: published tables name no device,
// backend or thread count, so the caller states them.
type ImportOptions struct {
	Device  string
	Backend string
	// Threads defaults to 1 (what the published tables were measured with).
	Threads int
	// Source is stored on every entry ("ofa-note10" becomes "import:ofa-note10").
	Source      string
	ToolVersion string
}

func (o ImportOptions) check(format string) (ImportOptions, error) {
	if o.Device == "" || o.Backend == "" || o.Source == "" {
		return o, fmt.Errorf("import %s: device, backend and source must be set", format)
	}
	if o.Threads == 0 {
		o.Threads = 1
	}
	if o.Threads < 0 {
		return o, fmt.Errorf("import %s: threads %d is negative", format, o.Threads)
	}
	o.Source = sourceTag(o.Source)
	return o, nil
}

// Unmapped is a foreign table key that has no edgenas equivalent, with the
// category of the reason (for counting) and the specifics.
type Unmapped struct {
	Key    string
	Reason string
	Detail string
}

// ImportReport accounts for every key of an imported table.
type ImportReport struct {
	Format   string
	Total    int
	Mapped   int
	Unmapped []Unmapped
}

// ReasonCounts counts the unmapped keys per reason.
func (r ImportReport) ReasonCounts() map[string]int {
	m := map[string]int{}
	for _, u := range r.Unmapped {
		m[u.Reason]++
	}
	return m
}

// String summarises the report in one line, reasons sorted.
func (r ImportReport) String() string {
	counts := r.ReasonCounts()
	reasons := make([]string, 0, len(counts))
	for k := range counts {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	s := fmt.Sprintf("%s: %d keys, %d mapped, %d unmapped", r.Format, r.Total, r.Mapped, len(r.Unmapped))
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, "; ") + ")"
	}
	return s
}

// Reasons a foreign key does not map.
const (
	ReasonSE         = "squeeze-excitation sized differently"
	ReasonRatio      = "expansion not an integer ratio"
	ReasonFusedPool  = "classifier includes pooling"
	ReasonUnknown    = "unknown layer type"
	ReasonBadKey     = "malformed key"
	ReasonShape      = "inconsistent shape"
	ReasonDuplicate  = "duplicate after mapping"
	ReasonBadNumbers = "bad statistics"
)

// foreignDialect is what differs between the Once-for-All and ProxylessNAS tables.
type foreignDialect struct {
	name string
	// expandIsMid: "expand:" holds the mid channel count (OFA), not the ratio.
	expandIsMid bool
	// convAct is the activation of the Conv/Conv_1/Conv_2 layers of the
	// network family (h-swish in MobileNetV3, ReLU6 in ProxylessNAS).
	convAct string
	// spread is the field holding the dispersion and whether it is a variance.
	spread   string
	variance bool
}

// ImportOFA reads a Once-for-All latency table (key: {count, mean, std} in ms;
// "expand:" is the mid channel count). Blocks map to mbconv keys when their
// mid channels are an integer multiple of their input channels; hs:0 blocks
// get act relu6 (OFA's ReLU and ReLU6 cost the same once fused into int8
// kernels) and hs:1 blocks act hswish, as do the Conv layers, which are
// h-swish in MobileNetV3. SE blocks are not mapped: OFA sizes the SE from the
// mid channels with an h-sigmoid gate, edgenas from the input channels.
func ImportOFA(r io.Reader, opt ImportOptions) ([]Entry, ImportReport, error) {
	return importForeign(r, opt, foreignDialect{name: "ofa", expandIsMid: true, convAct: "hswish", spread: "std"})
}

// ImportProxyless reads a ProxylessNAS latency table (key: {count, mean, var}
// in ms; "expand:" is the ratio). Blocks map to mbconv keys with act relu6,
// Conv layers to conv keys; "Logits" on a spatial input includes the global
// pooling, which edgenas keys separately, so it is reported, not mapped.
func ImportProxyless(r io.Reader, opt ImportOptions) ([]Entry, ImportReport, error) {
	return importForeign(r, opt, foreignDialect{name: "proxylessnas", convAct: "relu6", spread: "var", variance: true})
}

func importForeign(r io.Reader, opt ImportOptions, d foreignDialect) ([]Entry, ImportReport, error) {
	opt, err := opt.check(d.name)
	if err != nil {
		return nil, ImportReport{}, err
	}
	recs, err := readYAMLTable(r)
	if err != nil {
		return nil, ImportReport{}, fmt.Errorf("import %s: %w", d.name, err)
	}
	rep := ImportReport{Format: d.name, Total: len(recs)}
	var out []Entry
	from := map[string]string{}
	for _, rec := range recs {
		skip := func(reason, detail string) {
			rep.Unmapped = append(rep.Unmapped, Unmapped{Key: rec.Key, Reason: reason, Detail: detail})
		}
		stats, err := foreignStats(rec, d)
		if err != nil {
			skip(ReasonBadNumbers, err.Error())
			continue
		}
		l, reason, detail := mapForeignKey(rec.Key, d)
		if reason != "" {
			skip(reason, detail)
			continue
		}
		key := l.Key()
		if prev, dup := from[key]; dup {
			skip(ReasonDuplicate, fmt.Sprintf("maps to %s like %s", key, prev))
			continue
		}
		from[key] = rec.Key
		out = append(out, Entry{Device: opt.Device, Backend: opt.Backend, Threads: opt.Threads, Key: key,
			Stats: stats, Conditions: profiler.Conditions{Backend: opt.Backend, Threads: opt.Threads},
			ToolVersion: opt.ToolVersion, Source: opt.Source})
	}
	rep.Mapped = len(out)
	return out, rep, nil
}

// foreignStats converts {count, mean, std|var} in ms into Stats in µs; the
// mean goes into Mean and P50 both (see the package comment).
func foreignStats(rec yamlRecord, d foreignDialect) (profiler.Stats, error) {
	mean, ok := rec.Fields["mean"]
	if !ok {
		return profiler.Stats{}, fmt.Errorf("line %d: no mean", rec.Line)
	}
	count, ok := rec.Fields["count"]
	if !ok || count < 1 || count != math.Trunc(count) {
		return profiler.Stats{}, fmt.Errorf("line %d: count %v is not a positive integer", rec.Line, rec.Fields["count"])
	}
	spread := rec.Fields[d.spread]
	if mean <= 0 || spread < 0 || math.IsNaN(mean+spread) || math.IsInf(mean+spread, 0) {
		return profiler.Stats{}, fmt.Errorf("line %d: mean %g / %s %g out of range", rec.Line, mean, d.spread, spread)
	}
	std := spread
	if d.variance {
		std = math.Sqrt(spread)
	}
	return profiler.Stats{Count: int(count), P50: mean * 1000, Mean: mean * 1000, Std: std * 1000, CV: std / mean}, nil
}

// foreignKey is a parsed "type-field:value-..." key.
type foreignKey struct {
	typ    string
	fields map[string]string
}

func parseForeignKey(key string) (foreignKey, error) {
	parts := strings.Split(key, "-")
	fk := foreignKey{typ: parts[0], fields: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return fk, fmt.Errorf("field %q has no ':'", p)
		}
		fk.fields[k] = v
	}
	return fk, nil
}

func (fk foreignKey) dims(name string) ([]int, error) {
	v, ok := fk.fields[name]
	if !ok {
		return nil, fmt.Errorf("no %s field", name)
	}
	var out []int
	for _, s := range strings.Split(v, "x") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s %q: bad dimension %q", name, v, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (fk foreignKey) num(name string) (int, error) {
	v, ok := fk.fields[name]
	if !ok {
		return 0, fmt.Errorf("no %s field", name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// strideFor finds the SAME-padding stride that maps in to out.
func strideFor(in, out int) (int, bool) {
	for s := 1; s <= 4; s++ {
		if (in+s-1)/s == out {
			return s, true
		}
	}
	return 0, false
}

// mapForeignKey maps one foreign key to an edgenas layer, or says why not.
func mapForeignKey(key string, d foreignDialect) (space.Layer, string, string) {
	fk, err := parseForeignKey(key)
	if err != nil {
		return space.Layer{}, ReasonBadKey, err.Error()
	}
	in, errIn := fk.dims("input")
	out, errOut := fk.dims("output")
	if errIn != nil {
		return space.Layer{}, ReasonBadKey, errIn.Error()
	}
	if errOut != nil {
		return space.Layer{}, ReasonBadKey, errOut.Error()
	}
	spatial := func() (h, w, c, oh, ow, oc, stride int, reason, detail string) {
		if len(in) != 3 || len(out) != 3 {
			return 0, 0, 0, 0, 0, 0, 0, ReasonBadKey, "input and output must be HxWxC"
		}
		s, ok := strideFor(in[0], out[0])
		s2, ok2 := strideFor(in[1], out[1])
		if !ok || !ok2 || s != s2 {
			return 0, 0, 0, 0, 0, 0, 0, ReasonShape, fmt.Sprintf("no common stride maps %dx%d to %dx%d", in[0], in[1], out[0], out[1])
		}
		return in[0], in[1], in[2], out[0], out[1], out[2], s, "", ""
	}
	l := space.Layer{Slot: -1}
	switch fk.typ {
	case "Conv", "Conv_1", "Conv_2":
		h, w, c, oh, ow, oc, s, reason, detail := spatial()
		if reason != "" {
			return l, reason, detail
		}
		// The stem ("Conv") is a 3x3 convolution; the later ones are 1x1.
		k := 1
		if fk.typ == "Conv" {
			k = 3
		}
		l = space.Layer{Kind: space.KindConv, InH: h, InW: w, InC: c, OutH: oh, OutW: ow, OutC: oc,
			Kernel: k, Stride: s, Act: d.convAct, Slot: -1}
	case "AvgPool2D":
		if len(in) != 3 || len(out) != 3 || out[0] != 1 || out[1] != 1 || out[2] != in[2] {
			return l, ReasonShape, "global pooling must map HxWxC to 1x1xC"
		}
		l = space.Layer{Kind: space.KindPool, InH: in[0], InW: in[1], InC: in[2], OutH: 1, OutW: 1, OutC: in[2], Slot: -1}
	case "Logits":
		if len(in) != 3 || len(out) != 1 {
			return l, ReasonBadKey, "Logits wants an HxWxC input and a class count"
		}
		if in[0] != 1 || in[1] != 1 {
			return l, ReasonFusedPool, fmt.Sprintf("%dx%d input: the entry times pooling and classifier together", in[0], in[1])
		}
		l = space.Layer{Kind: space.KindFC, InH: 1, InW: 1, InC: in[2], OutH: 1, OutW: 1, OutC: out[0], Slot: -1}
	case "expanded_conv":
		return mapBlock(fk, d, spatial)
	default:
		return l, ReasonUnknown, fmt.Sprintf("type %q", fk.typ)
	}
	return l, "", ""
}

func mapBlock(fk foreignKey, d foreignDialect,
	spatial func() (h, w, c, oh, ow, oc, stride int, reason, detail string)) (space.Layer, string, string) {
	h, w, c, oh, ow, oc, s, reason, detail := spatial()
	if reason != "" {
		return space.Layer{}, reason, detail
	}
	var nums [3]int
	for i, f := range []string{"expand", "kernel", "stride"} {
		n, err := fk.num(f)
		if err != nil {
			return space.Layer{}, ReasonBadKey, err.Error()
		}
		nums[i] = n
	}
	exp, kernel, stride := nums[0], nums[1], nums[2]
	if stride != s {
		return space.Layer{}, ReasonShape, fmt.Sprintf("stride %d but shapes imply %d", stride, s)
	}
	idskip, err := fk.num("idskip")
	if err != nil {
		return space.Layer{}, ReasonBadKey, err.Error()
	}
	if idskip == 1 && (stride != 1 || c != oc) {
		return space.Layer{}, ReasonShape, "identity skip on a block that changes shape"
	}
	if d.expandIsMid {
		if exp%c != 0 {
			return space.Layer{}, ReasonRatio, fmt.Sprintf("%d mid channels over %d input channels", exp, c)
		}
		exp /= c
	}
	if exp < 1 || kernel < 1 {
		return space.Layer{}, ReasonBadKey, "expand and kernel must be positive"
	}
	if se, ok := fk.fields["se"]; ok && se != "0" {
		return space.Layer{}, ReasonSE, "se:" + se
	}
	act := "relu6"
	if hs, ok := fk.fields["hs"]; ok && hs != "0" {
		act = "hswish"
	}
	return space.Layer{Kind: space.KindMBConv, InH: h, InW: w, InC: c, OutH: oh, OutW: ow, OutC: oc,
		Kernel: kernel, Stride: stride, Expand: exp, IDSkip: idskip == 1, Act: act, Slot: -1}, "", ""
}
