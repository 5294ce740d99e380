package nn

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgenas/dataset/fmnist"
	"edgenas/space"
)

// smallNet is a 4-layer MBConv network small enough to train in seconds.
func smallNet(t testing.TB, seed uint64) *Net {
	rng := rand.New(rand.NewPCG(seed, 1))
	b1, err := NewMBConv("b1", MBConvConfig{In: 8, Out: 16, Expand: 3, Kernel: 3, Stride: 2, SEChannels: 2, Act: ActReLU6}, rng)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := NewMBConv("b2", MBConvConfig{In: 16, Out: 16, Expand: 3, Kernel: 5, Stride: 1, Residual: true, Act: ActHSwish}, rng)
	if err != nil {
		t.Fatal(err)
	}
	return NewNet(28, 28, 1, 10,
		NewConv("stem", 1, 8, 3, 2, rng), NewBatchNorm("stem_bn", 8, ActReLU6),
		b1, b2,
		NewConv("head", 16, 32, 1, 1, rng), NewBatchNorm("head_bn", 32, ActReLU6),
		&GlobalAvgPool{}, NewDense("fc", 32, 10, rng))
}

func syntheticSet(n int, seed uint64) *fmnist.Set {
	rng := rand.New(rand.NewPCG(seed, 2))
	s := &fmnist.Set{Images: make([]float32, n*fmnist.Pixels), Labels: make([]uint8, n)}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(10))
		for j := 0; j < fmnist.Pixels; j++ {
			s.Images[i*fmnist.Pixels+j] = rng.Float32() * float32(s.Labels[i]) / 9
		}
	}
	return s
}

func newTrainer(t *testing.T, seed uint64, set *fmnist.Set) *Trainer {
	net := smallNet(t, seed)
	opt, err := NewOptimizer(OptConfig{Kind: "rmsprop", Momentum: 0.9, WeightDecay: 1e-4}, net.Params())
	if err != nil {
		t.Fatal(err)
	}
	data, err := fmnist.NewBatcher(set, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer("small", net, opt, Schedule{Kind: "cosine", Base: 0.01, Warmup: 2, Total: 20}, data)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCheckpointResume: training 3 steps, saving, and resuming into a
// differently initialised trainer then training 3 more gives bit-identical
// weights to 6 uninterrupted steps.
func TestCheckpointResume(t *testing.T) {
	set := syntheticSet(40, 1) // 2 batches of 16 per epoch: resume crosses an epoch
	path := filepath.Join(t.TempDir(), "ckpt")
	ref := newTrainer(t, 1, set)
	for range 6 {
		if _, _, err := ref.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	a := newTrainer(t, 1, set)
	if ok, err := a.Resume(path); ok || err != nil {
		t.Fatalf("resume without checkpoint: %v, %v; want false, nil", ok, err)
	}
	for range 3 {
		a.TrainStep()
	}
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	b := newTrainer(t, 99, set)
	if ok, err := b.Resume(path); !ok || err != nil {
		t.Fatalf("resume: %v, %v", ok, err)
	}
	for range 3 {
		b.TrainStep()
	}
	if b.Step != 6 {
		t.Fatalf("step %d after resume+3, want 6", b.Step)
	}
	all := func(n *Net) []*Param { return append(n.Params(), n.Buffers()...) }
	rp, bp := all(ref.Net), all(b.Net)
	for i := range rp {
		for j := range rp[i].W {
			if rp[i].W[j] != bp[i].W[j] {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", rp[i].Name, j, bp[i].W[j], rp[i].W[j])
			}
		}
	}

	// Refusals: other architecture, corrupt file, wrong optimizer.
	other := newTrainer(t, 1, set)
	other.Arch = "big"
	if _, err := other.Resume(path); err == nil || !strings.Contains(err.Error(), `checkpoint is for "small"`) {
		t.Errorf("wrong arch: %v", err)
	}
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, data, 0o644)
	if _, err := LoadCheckpoint(bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupt checkpoint: %v", err)
	}
	if _, err := LoadCheckpoint(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("missing checkpoint: %v", err)
	}
	ck, _ := LoadCheckpoint(path)
	sgd, _ := NewOptimizer(OptConfig{Kind: "sgd"}, b.Net.Params())
	if err := ck.Restore(b.Net, sgd); err == nil {
		t.Errorf("restore into a different optimizer accepted")
	}
	if err := ck.Restore(smallNetWithout(t), nil); err == nil {
		t.Errorf("restore into a different network accepted")
	}
}

func smallNetWithout(t *testing.T) *Net {
	n := smallNet(t, 1)
	n.Layers = append(n.Layers[:len(n.Layers)-1], NewDense("fc2", 32, 10, rand.New(rand.NewPCG(1, 1))))
	return n
}

// TestLearnsFashionMNIST: the small net gets well above chance on held-out
// validation images after a few hundred steps on a training subset.
func TestLearnsFashionMNIST(t *testing.T) {
	d, err := fmnist.LoadDefault()
	if err != nil {
		if _, serr := os.Stat(fmnist.DefaultDir); serr != nil {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	net := smallNet(t, 1)
	opt, _ := NewOptimizer(OptConfig{Kind: "adam"}, net.Params())
	data, _ := fmnist.NewBatcher(d.Train.Slice(0, 10000), 64, 1)
	tr, err := NewTrainer("small", net, opt, Schedule{Kind: "cosine", Base: 0.01, Warmup: 20, Total: 300, Min: 0.0005}, data)
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		if _, _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	val := d.Val.Slice(0, 2000)
	acc, loss, err := net.Evaluate(val.Images, val.Labels, 250)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("validation accuracy %.3f, loss %.3f after 300 steps of batch 64", acc, loss)
	if acc < 0.7 {
		t.Errorf("validation accuracy %.3f, want > 0.70", acc)
	}
}

func TestBuildSpaceArchs(t *testing.T) {
	s := space.MustLookup("spnas-fmnist")
	for _, str := range []string{"k3e3,skip,skip,k5e6+se,skip,k3e6,k5e3,skip,k3e3+se,k3e3,skip,skip", strings.Join(strings.Split(supernetArch(t).String(), ","), ",")} {
		a, err := s.Parse(str)
		if err != nil {
			t.Fatal(err)
		}
		net, err := Build(a, 1)
		if err != nil {
			t.Fatal(err)
		}
		var params int64
		for _, p := range net.Params() {
			params += int64(len(p.W))
		}
		// space counts folded-BN params: one bias per BN; we have gamma and
		// beta per BN and no conv biases, so ours = space's + BN channels.
		var bn int64
		for _, p := range net.Params() {
			if strings.HasSuffix(p.Name, "/gamma") {
				bn += int64(len(p.W))
			}
		}
		if params-bn != a.Params() {
			t.Errorf("%s: %d params (%d BN gammas), space says %d", str, params, bn, a.Params())
		}
		x := make([]float32, 2*28*28)
		logits, err := net.Forward(x, 2, false)
		if err != nil || logits.N != 2 || logits.C != 10 {
			t.Fatalf("forward: %v %v", logits, err)
		}
	}
	if _, err := Build(space.Arch{}, 1); err == nil {
		t.Errorf("arch without space accepted")
	}
	net, _ := Build(s.Uniform(space.Choice{Kernel: 3, Expand: 3}), 1)
	if _, err := net.Forward(make([]float32, 5), 1, true); err == nil {
		t.Errorf("wrong input size accepted")
	}
	if _, _, err := net.TrainStep(make([]float32, 784), []int{10}); err == nil {
		t.Errorf("label 10 accepted")
	}
}

// TestEvalMatchesTrainStats: with momentum 0 the running statistics are the
// last batch's, so eval mode on that batch must reproduce train mode.
func TestEvalMatchesTrainStats(t *testing.T) {
	net := smallNet(t, 3)
	setMomentum(net.Layers, 0)
	set := syntheticSet(8, 4)
	tr, err := net.Forward(set.Images, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), tr.Data...)
	ev, _ := net.Forward(set.Images, 8, false)
	for i := range want {
		if d := want[i] - ev.Data[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("logit %d: eval %v, train %v", i, ev.Data[i], want[i])
		}
	}
}

func setMomentum(ls []Layer, m float32) {
	for _, l := range ls {
		switch l := l.(type) {
		case *BatchNorm:
			l.Momentum = m
		case *MBConv:
			setMomentum(l.chain(), m)
		}
	}
}
