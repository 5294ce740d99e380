package nn

import (
	"os"
	"testing"

	"edgenas/dataset/fmnist"
	"edgenas/quantize"
	"edgenas/runtime"
	"edgenas/runtime/ref"
	"edgenas/space"
)

// Post-training quantization of a trained space architecture keeps its
// accuracy: the int8 model (TFLite reference kernels) against the float
// engine on the same validation images, and every layer's int8 output
// against the float network's.
func TestPTQAccuracyGap(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a network")
	}
	d, err := fmnist.LoadDefault()
	if err != nil {
		if _, serr := os.Stat(fmnist.DefaultDir); serr != nil && os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	a, err := space.MustLookup("spnas-fmnist").Parse("k3e3,skip,skip,k3e3+se,skip,skip,k3e3,skip,skip,k3e3,skip,skip")
	if err != nil {
		t.Fatal(err)
	}
	net, err := Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := NewOptimizer(OptConfig{Kind: "adam"}, net.Params())
	data, _ := fmnist.NewBatcher(d.Train.Slice(0, 10000), 64, 1)
	tr, err := NewTrainer(a.String(), net, opt, Schedule{Kind: "cosine", Base: 0.01, Warmup: 20, Total: 250, Min: 0.0005}, data)
	if err != nil {
		t.Fatal(err)
	}
	for range 250 {
		if _, _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	val := d.Val.Slice(0, 1000)
	facc, _, err := net.Evaluate(val.Images, val.Labels, 250)
	if err != nil {
		t.Fatal(err)
	}
	var calib [][]float32
	for i := 0; i < 64; i++ {
		calib = append(calib, d.Train.Image(20000+i))
	}
	m, err := Quantize(net, a, calib, quantize.CalibOptions{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := ref.Backend{}.Load(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	qacc, err := quantize.Accuracy(it, val.Images, val.Labels)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("float %.2f%%, int8 %.2f%% on 1000 validation images (gap %+.2f pp)", 100*facc, 100*qacc, 100*(qacc-facc))
	if facc < 0.7 {
		t.Fatalf("float accuracy %.3f: the network did not train", facc)
	}
	if qacc < facc-0.01 {
		t.Errorf("int8 accuracy %.2f%% more than 1 pp below float %.2f%%", 100*qacc, 100*facc)
	}
}
