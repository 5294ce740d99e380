package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"edgenas/space"
	"edgenas/tflite"
)

// graph appends tensors and operators to a model under construction.
type graph struct {
	m    *tflite.Model
	axes int // the shared MEAN axes constant, or -1 before first use
}

func newGraph(name string) *graph {
	return &graph{m: &tflite.Model{Version: tflite.SchemaVersion, Name: "main", Description: name}, axes: -1}
}

func (g *graph) tensor(name string, typ tflite.TensorType, shape []int32, data []byte) int {
	g.m.Tensors = append(g.m.Tensors, tflite.Tensor{Name: name, Type: typ, Shape: shape, Data: data})
	return len(g.m.Tensors) - 1
}

func (g *graph) op(op tflite.Opcode, opts any, out int, in ...int) int {
	g.m.Operators = append(g.m.Operators, tflite.Operator{Op: op, Version: 1, Inputs: in, Outputs: []int{out}, Options: opts})
	return out
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func int32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

// weights adds a layer's weight and bias constants.
func (g *graph) weights(name string, w *Weights) (wi, bi int) {
	wi = g.tensor(name+"/weights", tflite.Float32, append([]int32(nil), w.Shape...), float32Bytes(w.W))
	bi = g.tensor(name+"/bias", tflite.Float32, []int32{int32(len(w.B))}, float32Bytes(w.B))
	return wi, bi
}

func (g *graph) conv(name string, in int, w *Weights, stride int, act tflite.Activation, out []int32) int {
	wi, bi := g.weights(name, w)
	o := g.tensor(name, tflite.Float32, out, nil)
	return g.op(tflite.OpConv2D, &tflite.Conv2DOptions{Padding: tflite.PaddingSame,
		StrideW: int32(stride), StrideH: int32(stride), Activation: act, DilationW: 1, DilationH: 1}, o, in, wi, bi)
}

func (g *graph) depthwise(name string, in int, w *Weights, stride int, act tflite.Activation, out []int32) int {
	wi, bi := g.weights(name, w)
	o := g.tensor(name, tflite.Float32, out, nil)
	return g.op(tflite.OpDepthwiseConv2D, &tflite.DepthwiseConv2DOptions{Padding: tflite.PaddingSame,
		StrideW: int32(stride), StrideH: int32(stride), DepthMultiplier: 1, Activation: act, DilationW: 1, DilationH: 1}, o, in, wi, bi)
}

func (g *graph) fc(name string, in int, w *Weights, act tflite.Activation, out []int32) int {
	wi, bi := g.weights(name, w)
	o := g.tensor(name, tflite.Float32, out, nil)
	return g.op(tflite.OpFullyConnected, &tflite.FullyConnectedOptions{Activation: act}, o, in, wi, bi)
}

// pointwise views dense [out, in] weights as the [out, 1, 1, in] filter of
// a 1x1 CONV_2D; the values are shared, their order is the same.
func pointwise(w *Weights) *Weights {
	return &Weights{Shape: []int32{w.Shape[0], 1, 1, w.Shape[1]}, W: w.W, B: w.B}
}

// mean is a global average pool: MEAN over axes [1,2], keep_dims=true.
func (g *graph) mean(name string, in int, c int) int {
	if g.axes < 0 {
		g.axes = g.tensor("mean/axes", tflite.Int32, []int32{2}, int32Bytes([]int32{1, 2}))
	}
	o := g.tensor(name, tflite.Float32, []int32{1, 1, 1, int32(c)}, nil)
	return g.op(tflite.OpMean, &tflite.ReducerOptions{KeepDims: true}, o, in, g.axes)
}

// FloatModel builds the network's FLOAT32 TFLite graph, with the operators
// TFLite's converter emits for a Keras MobileNetV2/EfficientNet-style model:
// stem and head CONV_2D (SAME, fused activation); MBConv as [expand CONV_2D
// 1x1] -> DEPTHWISE_CONV_2D -> [SE: MEAN keep_dims -> CONV_2D 1x1 (RELU) ->
// CONV_2D 1x1 -> LOGISTIC -> MUL] -> project CONV_2D 1x1 -> [ADD];
// pooling as MEAN over [1,2] with keep_dims; the classifier as
// FULLY_CONNECTED giving [1, classes] logits (then SOFTMAX when n.Softmax).
// Skip layers emit nothing. The input is [1, InH, InW, InC].
func (n *Net) FloatModel() (*tflite.Model, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	g := newGraph(n.Name)
	cur := g.tensor("input", tflite.Float32, []int32{1, int32(n.InH), int32(n.InW), int32(n.InC)}, nil)
	g.m.Inputs = []int{cur}
	for i := range n.Layers {
		cur = g.layer(&n.Layers[i], cur)
	}
	return g.finish(cur, n.Softmax)
}

// finish makes out (through a SOFTMAX when softmax is set) the graph's
// output, versions the operators and validates the model.
func (g *graph) finish(out int, softmax bool) (*tflite.Model, error) {
	if softmax {
		o := g.tensor("probs", tflite.Float32, append([]int32(nil), g.m.Tensors[out].Shape...), nil)
		out = g.op(tflite.OpSoftmax, &tflite.SoftmaxOptions{Beta: 1}, o, out)
	}
	g.m.Outputs = []int{out}
	setVersions(g.m)
	if err := g.m.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: float model: %w", err)
	}
	return g.m, nil
}

// layer emits one layer's operators after Check accepted it, and returns
// the tensor holding its output.
func (g *graph) layer(l *Layer, in int) int {
	s := l.Spec
	act, _ := activation(s.Act) // Check rejected unknown activations
	shape := func(h, w, c int) []int32 { return []int32{1, int32(h), int32(w), int32(c)} }
	switch s.Kind {
	case space.KindConv:
		return g.conv(l.Name+"/conv", in, l.Conv, s.Stride, act, shape(s.OutH, s.OutW, s.OutC))
	case space.KindMBConv:
		mid := s.MidC()
		x := in
		if l.Expand != nil {
			x = g.conv(l.Name+"/expand", x, l.Expand, 1, act, shape(s.InH, s.InW, mid))
		}
		x = g.depthwise(l.Name+"/dw", x, l.Depthwise, s.Stride, act, shape(s.OutH, s.OutW, mid))
		if l.SEReduce != nil {
			sq := g.mean(l.Name+"/se/mean", x, mid)
			// The converter's encoding of a Keras SE block (space.SEEncoding):
			// the squeeze stays [1,1,1,C] and its dense layers are 1x1
			// convolutions, which every TFLite consumer and delegate takes;
			// FULLY_CONNECTED with keep_num_dims is refused by several.
			sq = g.conv(l.Name+"/se/reduce", sq, pointwise(l.SEReduce), 1, tflite.ActRelu, shape(1, 1, s.SEChannels))
			sq = g.conv(l.Name+"/se/expand", sq, pointwise(l.SEExpand), 1, tflite.ActNone, shape(1, 1, mid))
			gate := g.tensor(l.Name+"/se/gate", tflite.Float32, shape(1, 1, mid), nil)
			sq = g.op(tflite.OpLogistic, nil, gate, sq)
			o := g.tensor(l.Name+"/se/mul", tflite.Float32, shape(s.OutH, s.OutW, mid), nil)
			x = g.op(tflite.OpMul, &tflite.MulOptions{}, o, x, sq)
		}
		x = g.conv(l.Name+"/project", x, l.Project, 1, tflite.ActNone, shape(s.OutH, s.OutW, s.OutC))
		if s.IDSkip {
			o := g.tensor(l.Name+"/add", tflite.Float32, shape(s.OutH, s.OutW, s.OutC), nil)
			x = g.op(tflite.OpAdd, &tflite.AddOptions{}, o, x, in)
		}
		return x
	case space.KindPool:
		return g.mean(l.Name, in, s.OutC)
	case space.KindFC:
		return g.fc(l.Name, in, l.FC, tflite.ActNone, []int32{1, int32(s.OutC)})
	}
	return in // skip
}
