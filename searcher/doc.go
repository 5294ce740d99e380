// Package searcher is what every architecture search shares: the
// run-directory contract (CandidatesFile, written by every search method
// and read by `edgenas evaluate`) and the one resumable step loop (Loop)
// that Single-Path NAS search, FOX-NAS supernet training and the fixed
// training recipe all run in.
//
// The methods live in subpackages on top of it: searcher/spnas
// (Single-Path NAS and the random baseline), searcher/foxnas (FOX-NAS),
// searcher/recipe (the fixed training recipe every compared architecture
// is trained with) and searcher/evaluate (judging search runs).
package searcher
