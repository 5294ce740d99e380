package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"edgenas/space"
)

func spaceCommand() *command {
	return &command{
		name:    "space",
		summary: "list search spaces, decode architectures, sample random ones",
		subs:    []*command{spaceListCommand(), spaceShowCommand(), spaceArchCommand(), spaceSampleCommand()},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func spaceListCommand() *command {
	var asJSON bool
	return &command{
		name: "list", summary: "list the built-in search spaces", usage: "[--json]",
		example: "edgenas space list",
		flags:   func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, e *env, args []string) error {
			type row struct {
				Name   string  `json:"name"`
				Layers int     `json:"searchable_layers"`
				Size   float64 `json:"size"`
				Input  string  `json:"input"`
			}
			var rows []row
			for _, n := range space.Names() {
				s := space.MustLookup(n)
				rows = append(rows, row{n, s.NumSearchable(), s.Size(), fmt.Sprintf("%dx%dx%d", s.InputH, s.InputW, s.InputC)})
			}
			for _, d := range dagSpaceRows() {
				rows = append(rows, row{d.name, d.searchable, d.size, d.input})
			}
			if asJSON {
				return writeJSON(e.stdout, rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SPACE\tINPUT\tSEARCHABLE LAYERS\tARCHITECTURES")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.3g\n", r.Name, r.Input, r.Layers, r.Size)
			}
			return tw.Flush()
		},
	}
}

func spaceShowCommand() *command {
	var name string
	var asJSON bool
	return &command{
		name: "show", summary: "show a space's searchable slots and every latency-table key it needs",
		usage: "--space S [--json]", example: "edgenas space show --space spnas-fmnist",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "space", "spnas-fmnist", "search space")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if space.IsDAG(name) {
				return dagSpaceShow(e, name, asJSON)
			}
			s, err := space.Lookup(name)
			if err != nil {
				return usagef("%v", err)
			}
			type slot struct {
				Index   int      `json:"index"`
				Input   string   `json:"input"`
				Out     int      `json:"out_channels"`
				Stride  int      `json:"stride"`
				Options []string `json:"options"`
			}
			var slots []slot
			for _, sl := range s.Slots() {
				var opts []string
				for _, c := range s.Options(sl) {
					opts = append(opts, c.String())
				}
				slots = append(slots, slot{sl.Index, fmt.Sprintf("%dx%dx%d", sl.InH, sl.InW, sl.InC), sl.OutC, sl.Stride, opts})
			}
			var keys []string
			for _, l := range s.UniqueKeys() {
				keys = append(keys, l.Key())
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"space": s.Name, "size": s.Size(), "slots": slots, "keys": keys})
			}
			fmt.Fprintf(e.stdout, "%s: %d searchable layers, %.3g architectures\n\n", s.Name, len(slots), s.Size())
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLOT\tINPUT\tOUT\tSTRIDE\tOPTIONS")
			for _, sl := range slots {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%v\n", sl.Index, sl.Input, sl.Out, sl.Stride, sl.Options)
			}
			tw.Flush()
			fmt.Fprintf(e.stdout, "\n%d latency-table keys:\n", len(keys))
			for _, k := range keys {
				fmt.Fprintln(e.stdout, "  "+k)
			}
			return nil
		},
	}
}

func spaceArchCommand() *command {
	var name string
	var seed uint64
	var asJSON bool
	return &command{
		name: "arch", summary: "decode an architecture string into layers, keys, MACs and parameters",
		usage:   "--space S [--seed N] ARCH|random [--json]",
		example: "edgenas space arch --space spnas-fmnist k5e6,k3e3+se,skip,k3e6,k5e3,skip,k5e6,k5e6,skip,k3e3,skip,k3e6+se",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "space", "spnas-fmnist", "search space")
			fs.Uint64Var(&seed, "seed", 0, "seed when ARCH is 'random'")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("space arch takes one architecture string (or 'random'), got %d arguments", len(args))
			}
			if space.IsDAG(name) {
				return dagSpaceArch(e, name, args[0], seed, asJSON)
			}
			s, err := space.Lookup(name)
			if err != nil {
				return usagef("%v", err)
			}
			a, err := s.ParseOrRandom(args[0], seed)
			if err != nil {
				return usagef("%v", err)
			}
			type layer struct {
				Slot   int    `json:"slot"`
				Key    string `json:"key"`
				MACs   int64  `json:"macs"`
				Params int64  `json:"params"`
			}
			var ls []layer
			for _, l := range a.Layers() {
				ls = append(ls, layer{l.Slot, l.Key(), l.MACs(), l.Params()})
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"space": s.Name, "arch": a.String(), "macs": a.MACs(), "params": a.Params(), "layers": ls})
			}
			fmt.Fprintf(e.stdout, "%s %s\n%.1f MMACs, %.3f M parameters\n\n", s.Name, a, float64(a.MACs())/1e6, float64(a.Params())/1e6)
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLOT\tMMACS\tKEY")
			for _, l := range ls {
				slot := "-"
				if l.Slot >= 0 {
					slot = fmt.Sprint(l.Slot)
				}
				fmt.Fprintf(tw, "%s\t%.2f\t%s\n", slot, float64(l.MACs)/1e6, l.Key)
			}
			return tw.Flush()
		},
	}
}

func spaceSampleCommand() *command {
	var name string
	var seed uint64
	var count int
	return &command{
		name: "sample", summary: "print uniformly random architectures, one per line",
		usage: "--space S [--seed N] [--count K]", example: "edgenas space sample --space spnas-imagenet --seed 1 --count 3",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "space", "spnas-fmnist", "search space")
			fs.Uint64Var(&seed, "seed", 0, "first seed; architecture i uses seed+i")
			fs.IntVar(&count, "count", 1, "how many")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if count < 1 {
				return usagef("--count must be at least 1")
			}
			if space.IsDAG(name) {
				return dagSpaceSample(e, name, seed, count)
			}
			s, err := space.Lookup(name)
			if err != nil {
				return usagef("%v", err)
			}
			for i := 0; i < count; i++ {
				fmt.Fprintln(e.stdout, s.RandomSeed(seed+uint64(i)))
			}
			return nil
		},
	}
}
