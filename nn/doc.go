// Package nn is the training engine every search method and the fixed
// training recipe share: a small NHWC float32 network library with explicit per-layer forward/backward,
// batch-norm running statistics, SGD/RMSProp/Adam with weight decay, cosine
// and exponential schedules, and crash-safe checkpoints (Trainer).
//
// # Why not gorgonia
//
// gorgonia.org/gorgonia v0.9.18 (with go4.org/unsafe/assume-no-moving-gc
// raised to v0.0.0-20231121144256-b99613f794b6) has no depthwise
// convolution, and its convolution path (im2col, layout shuffles, per-step
// allocation) dominates its time. Measured on this 2-core AMD EPYC (Zen 5)
// machine, shared with other jobs, on the 3-layer net (3x3 1->16,
// 1x1 16->96, 1x1 96->24, 28x28, batch 64, training):
//
//	gorgonia v0.9.18 (testdata/gorgonia_bench)   121-142 images/s   1.1-1.3 GMAC/s
//	this package (BenchmarkThreeLayerConv)       1504 images/s      14.1 GMAC/s
//
// # Design
//
// Activations are batch-first NHWC, so a 1x1 convolution or a dense layer
// is one GEMM over N*H*W rows (OpenBLAS cblas_sgemm through cgo, run
// single-threaded and split across cores by this package, because
// OpenBLAS's own threads spin between calls and starve the Go-side loops),
// and a depthwise convolution is a direct loop whose inner loop runs over
// contiguous channels. The depthwise, batch-norm+activation and activation
// loops are C compiled by cgo with GCC function multi-versioning
// (AVX-512 / AVX2+FMA / baseline); the pure-Go loops they replace ran
// 5-8x slower (1.5-2.9 vs 11-16 GMAC/s single-threaded for a 5x5
// depthwise). Every C kernel has a pure-Go reference (kernels.go), which is
// what a CGO_ENABLED=0 build uses and what the tests compare the C against.
//
// Each layer owns its output and input-gradient tensors and reuses them
// across steps; a step allocates only the small closures of its parallel
// loops (about 2,300 allocations, 85 KB per supernet step).
//
// Batch norm is fused with the activation that follows it (one pass
// forward, two backward). Padding is TensorFlow SAME (extra row/column at
// the bottom/right), and weight layouts follow TFLite (conv OHWI,
// depthwise [K][K][C], dense [Out][In]) so a trained network exports
// without transposes.
//
// For the Single-Path NAS superkernel, Depthwise and Conv implement Masked:
// the forward pass uses W*Mask, EffGrad exposes dL/d(W*Mask) for
// straight-through threshold gradients, and KernelNorm reads the norm of a
// centred sub-kernel over a channel range.
//
// # Speed
//
// BenchmarkSupernetTrain trains spnas-fmnist with every searchable layer at
// k5e6+se (31.1 MMAC forward per image; effective GMAC/s counts forward
// MACs x3). The machine is shared with other engineers, so figures swing
// 2-3x with load; best of several runs:
//
//	batch 32: 299 images/s, 27.9 GMAC/s  (174-229 under a load average of 4)
//	batch 64: 272 images/s, 25.4 GMAC/s  (110-213 under load)
//
// The 300 images/s target is met only at the edge, on a quiet machine.
// Remaining time goes to the GEMMs with few output channels (N=24..40,
// where OpenBLAS runs well below peak) and to the SE gating loops, which
// are still pure Go.
//
// Machine peak estimate: OpenBLAS sgemm 1024^3 on 2 threads reaches
// 96.6 GFLOP/s = 48 GMAC/s, so training runs at about 55-58% of sgemm peak.
package nn
