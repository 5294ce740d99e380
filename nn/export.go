package nn

import (
	"fmt"

	"edgenas/quantize"
	"edgenas/space"
	"edgenas/tflite"
)

// Export converts a network made by Build(arch) into the quantizer's float
// network, with every batch norm folded into the convolution before it
// (running statistics: the network as evaluated, not as trained). The
// weight layouts already match TFLite's, so nothing is transposed.
func Export(n *Net, arch space.Arch) (*quantize.Net, error) {
	qn, err := quantize.NewNet(arch.Layers())
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	i := 0
	next := func() (Layer, error) {
		if i >= len(n.Layers) {
			return nil, fmt.Errorf("export: network has %d layers, architecture needs more", len(n.Layers))
		}
		l := n.Layers[i]
		i++
		return l, nil
	}
	for k := range qn.Layers {
		ql := &qn.Layers[k]
		switch ql.Spec.Kind {
		case space.KindSkip:
			continue
		case space.KindConv:
			c, err1 := next()
			bn, err2 := next()
			conv, ok1 := c.(*Conv)
			norm, ok2 := bn.(*BatchNorm)
			if err1 != nil || err2 != nil || !ok1 || !ok2 {
				return nil, fmt.Errorf("export %s: want conv + batch norm at layer %d", ql.Name, i-2)
			}
			if err := convInto(ql.Conv, conv, norm); err != nil {
				return nil, fmt.Errorf("export %s: %w", ql.Name, err)
			}
		case space.KindMBConv:
			l, err := next()
			b, ok := l.(*MBConv)
			if err != nil || !ok {
				return nil, fmt.Errorf("export %s: want an MBConv block at layer %d", ql.Name, i-1)
			}
			if err := mbconvInto(ql, b); err != nil {
				return nil, fmt.Errorf("export %s: %w", ql.Name, err)
			}
		case space.KindPool:
			l, err := next()
			if _, ok := l.(*GlobalAvgPool); err != nil || !ok {
				return nil, fmt.Errorf("export %s: want global average pooling at layer %d", ql.Name, i-1)
			}
		case space.KindFC:
			l, err := next()
			d, ok := l.(*Dense)
			if err != nil || !ok {
				return nil, fmt.Errorf("export %s: want the classifier at layer %d", ql.Name, i-1)
			}
			if err := denseInto(ql.FC, d); err != nil {
				return nil, fmt.Errorf("export %s: %w", ql.Name, err)
			}
		default:
			return nil, fmt.Errorf("export %s: layer kind %q", ql.Name, ql.Spec.Kind)
		}
	}
	if i != len(n.Layers) {
		return nil, fmt.Errorf("export: %d network layers left over after the architecture", len(n.Layers)-i)
	}
	return qn, nil
}

func copyW(dst *quantize.Weights, src []float32, what string) error {
	if len(dst.W) != len(src) {
		return fmt.Errorf("%s: %d weights, quantizer expects %d", what, len(src), len(dst.W))
	}
	copy(dst.W, src)
	return nil
}

func convInto(w *quantize.Weights, c *Conv, bn *BatchNorm) error {
	if err := copyW(w, c.Weight.W, "conv"); err != nil {
		return err
	}
	for j := range w.B {
		w.B[j] = 0
	}
	return w.FoldBatchNorm(bn.Gamma.W, bn.Beta.W, bn.RunMean.W, bn.RunVar.W, bn.Eps)
}

// depthwiseInto copies a depthwise convolution with its batch norm folded.
// The engine stores depthwise weights [K][K][C]; TFLite's [1][K][K][C] is
// the same order.
func depthwiseInto(w *quantize.Weights, d *Depthwise, bn *BatchNorm) error {
	if err := copyW(w, d.Weight.W, "depthwise"); err != nil {
		return err
	}
	for j := range w.B {
		w.B[j] = 0
	}
	if err := w.FoldBatchNorm(bn.Gamma.W, bn.Beta.W, bn.RunMean.W, bn.RunVar.W, bn.Eps); err != nil {
		return fmt.Errorf("depthwise: %w", err)
	}
	return nil
}

func denseInto(w *quantize.Weights, d *Dense) error {
	if err := copyW(w, d.Weight.W, "dense"); err != nil {
		return err
	}
	if len(w.B) != len(d.Bias.W) {
		return fmt.Errorf("dense: %d biases, quantizer expects %d", len(d.Bias.W), len(w.B))
	}
	copy(w.B, d.Bias.W)
	return nil
}

func mbconvInto(ql *quantize.Layer, b *MBConv) error {
	if (ql.Expand == nil) != (b.Expand == nil) || (ql.SEReduce == nil) != (b.SE == nil) {
		return fmt.Errorf("block structure differs from the architecture (expand %v/%v, SE %v/%v)",
			ql.Expand != nil, b.Expand != nil, ql.SEReduce != nil, b.SE != nil)
	}
	if b.Expand != nil {
		if err := convInto(ql.Expand, b.Expand, b.ExpandBN); err != nil {
			return fmt.Errorf("expand: %w", err)
		}
	}
	if err := depthwiseInto(ql.Depthwise, b.DW, b.DWBN); err != nil {
		return err
	}
	if b.SE != nil {
		if err := denseInto(ql.SEReduce, b.SE.Reduce); err != nil {
			return fmt.Errorf("se reduce: %w", err)
		}
		if err := denseInto(ql.SEExpand, b.SE.Expand); err != nil {
			return fmt.Errorf("se expand: %w", err)
		}
	}
	if err := convInto(ql.Project, b.Project, b.ProjBN); err != nil {
		return fmt.Errorf("project: %w", err)
	}
	return nil
}

// Quantize is post-training int8 quantization of a trained network: export
// with batch norm folded, calibrate activation ranges on calib (images, each
// InH*InW*InC floats), and quantize to TFLite's int8 spec.
func Quantize(n *Net, arch space.Arch, calib [][]float32, opts quantize.CalibOptions) (*tflite.Model, error) {
	return quantizeExported(calib, opts, func() (floatModeler, error) { return Export(n, arch) })
}

// floatModeler is an exported float network (quantize.Net, quantize.DAGNet).
type floatModeler interface {
	FloatModel() (*tflite.Model, error)
}

// quantizeExported exports a network, builds its float graph and quantizes
// it on calib images.
func quantizeExported(calib [][]float32, opts quantize.CalibOptions, export func() (floatModeler, error)) (*tflite.Model, error) {
	if len(calib) == 0 {
		return nil, fmt.Errorf("quantize: no calibration images")
	}
	qn, err := export()
	if err != nil {
		return nil, err
	}
	fm, err := qn.FloatModel()
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	return quantizeFloat(fm, calib, opts)
}

// quantizeFloat calibrates a float model on images and quantizes it.
func quantizeFloat(fm *tflite.Model, calib [][]float32, opts quantize.CalibOptions) (*tflite.Model, error) {
	samples := make([][][]float32, len(calib))
	for i, img := range calib {
		samples[i] = [][]float32{img}
	}
	ranges, err := quantize.Calibrate(fm, samples, opts)
	if err != nil {
		return nil, err
	}
	return quantize.Quantize(fm, ranges, quantize.Options{})
}
