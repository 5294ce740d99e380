package space

import "fmt"

// Layer kinds of DAG spaces.
const (
	// KindSepConv is a depthwise KxK convolution + BN, then a pointwise 1x1
	// convolution + BN + activation (a depthwise-separable convolution).
	KindSepConv Kind = "sepconv"
	// KindAdd is an elementwise ADD of two tensors of the layer's shape.
	KindAdd Kind = "add"
	// KindAvgPool2D is a VALID average pool with a KernelxKernel window and stride Stride.
	KindAvgPool2D Kind = "avgpool2d"
)

// dagKey is Layer.Key for the DAG kinds.
func dagKey(l Layer) (string, bool) {
	switch l.Kind {
	case KindSepConv:
		return fmt.Sprintf("sepconv-input:%dx%dx%d-output:%dx%dx%d-kernel:%d-stride:%d-act:%s",
			l.InH, l.InW, l.InC, l.OutH, l.OutW, l.OutC, l.Kernel, l.Stride, l.Act), true
	case KindAdd:
		return fmt.Sprintf("add-input:%dx%dx%d", l.InH, l.InW, l.InC), true
	case KindAvgPool2D:
		return fmt.Sprintf("avgpool2d-input:%dx%dx%d-output:%dx%dx%d-kernel:%d-stride:%d",
			l.InH, l.InW, l.InC, l.OutH, l.OutW, l.OutC, l.Kernel, l.Stride), true
	}
	return "", false
}

// dagParseKey fills l (Kind set) from a DAG key's fields; it is false for
// other kinds.
func dagParseKey(l *Layer, f *keyFields) bool {
	switch l.Kind {
	case KindSepConv:
		f.window(l)
		l.Act = f.fields["act"]
	case KindAdd:
		f.dims("input", &l.InH, &l.InW, &l.InC)
		l.OutH, l.OutW, l.OutC, l.Stride = l.InH, l.InW, l.InC, 1
	case KindAvgPool2D:
		f.window(l)
	default:
		return false
	}
	return true
}

// dagMACs is Layer.MACs for the DAG kinds (ADD and 2x2 average pool count none).
func dagMACs(l Layer) int64 {
	if l.Kind == KindSepConv {
		return int64(l.OutH*l.OutW*l.InC)*int64(l.Kernel*l.Kernel) + int64(l.OutH*l.OutW)*int64(l.InC*l.OutC)
	}
	return 0
}

// dagParams is Layer.Params for the DAG kinds (BN folded into the biases).
func dagParams(l Layer) int64 {
	if l.Kind == KindSepConv {
		return int64(l.Kernel*l.Kernel*l.InC + l.InC + l.InC*l.OutC + l.OutC)
	}
	return 0
}
