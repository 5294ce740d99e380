// Package spnas is Single-Path NAS (Stamoulis et al. 2019) on edgenas
// spaces, trained with the nn engine on Fashion-MNIST: the superkernel
// supernet, the differentiable runtime model over a latency table, the
// search (run through searcher.Loop) and the random baseline drawn from
// the same runtime model, which a search is judged against.
//
// # Superkernel
//
// Each searchable slot is a Block: expand 1x1 to 6x, one 5x5 depthwise
// kernel, SE, project 1x1, with thresholds t5, t50, t100, tSE (initialised
// 0, so the search starts from k5e6+se) and hard indicators
// D = Ind(n - t) whose backward pass is sigmoid'(n - t) (straight-through),
// to the threshold and, through the norm n, to the weights. The norms are
// RMS norms (see Block.norms for why). d5 masks the kernel's outer ring,
// d100 the second half of the expansion channels, d50 the whole residual
// branch (skip, only where the slot may skip), dSE the SE gate. Decoding:
// [d5,d50,d100] = [0,1,0] k3e3, [0,1,1] k3e6, [1,1,0] k5e3, [1,1,1] k5e6,
// d50 = 0 skip (TestDecodeTable; TestBlockMatchesFixedMBConv checks each
// forced choice computes exactly the stand-alone block of that choice).
//
// # Loss and schedule
//
// CE (label smoothing 0.1) + lambda*log(R), R from Runtime (the paper's
// formula over the measured table plus SE increments times dSE), its
// gradient lambda/R*dR/dD added to each block's dL/dD before the
// straight-through step. One RMSProp (momentum 0.9) for weights and
// thresholds; indicator dropout (keep 0.6) and lambda = 0 for the first 5
// of 8 epochs, as in the paper. The default recipe uses 10% of the training
// split per epoch (about 620 steps of batch 64, ~4 minutes on 2 cores).
//
// # Finding lambda for a target: dual ascent
//
// With --target-ms T, lambda is the multiplier of the constraint
// log R <= log T and follows dual ascent once the latency loss is on:
// lambda <- max(0, lambda + eta*(log R - log T)) every step, with R the
// table runtime of the architecture the thresholds decode to at that step.
// Why this rather than a bisection over lambda: a bisection needs one full
// search per probe (5-8 searches, each minutes here, hours in the paper),
// and lambda's effect is not even monotone across searches because weight
// training and threshold dynamics interact; dual ascent adjusts lambda
// inside a single search, costs nothing, and reacts to what the thresholds
// actually do. Using log R makes the step scale-free across devices. The
// decoded runtime moves in discrete jumps, so the controller oscillates
// around T; Landing returns the last decoded architecture within the
// tolerance (or the closest one, flagged as outside). TestDualAscentReachesTarget
// checks the controller on a synthetic problem (a toy differentiable
// "accuracy" preferring big layers against a synthetic table): 20 targets
// from 25% to 80% of the range land within 5%. At 20% of the range one of
// four synthetic tables missed (-6%): near the extremes few architectures
// are within 5% and the oscillation can skip over them.
package spnas
