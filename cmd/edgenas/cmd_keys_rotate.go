package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
)

func keysRotateCommand() *command {
	var kf keysFlags
	var hf hostFlags
	var to string
	var retire, republish, asJSON bool
	var announce, wait time.Duration
	return &command{
		name: "rotate",
		summary: "replace the host signing key: agents are handed the new key signed by the old one (retained on their keys topic); " +
			"--retire later drops the old key from their trusted set",
		usage: "[--dir DIR] [--retire | --republish] [--to all|AGENT|class:C|tag:K=V] [--broker URL] [--wait D] [--json]",
		example: "edgenas keys rotate --dir ~/.edgenas --to all --wait 30s     # new key; agents trust old and new\n" +
			"edgenas keys rotate --dir ~/.edgenas --retire --to all         # once every agent has it: drop the old key",
		flags: func(fs *flag.FlagSet) {
			kf.register(fs)
			hf.register(fs)
			fs.StringVar(&to, "to", "all", "agents to hand the rotation to: an agent id, class:CLASS, tag:KEY=VALUE, or all")
			fs.BoolVar(&retire, "retire", false, "rotate the agents' set down to the current signing key alone (deploys signed by older keys are refused after)")
			fs.BoolVar(&republish, "republish", false, "no new rotation: hand the agents the rotations made so far again")
			fs.DurationVar(&announce, "announce", time.Second, "how long to collect the agents' retained announcements")
			fs.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the agents to report the new set (offline ones get it when they connect)")
			fs.BoolVar(&asJSON, "json", false, "print the new set and every agent's status as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("keys rotate takes no arguments")
			}
			if retire && republish {
				return usagef("--retire and --republish exclude each other")
			}
			dir, err := kf.path()
			if err != nil {
				return err
			}
			// The broker and the targets first: a key rotated with nobody
			// to hand it to would only make the agents refuse new deploys.
			log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			cc, err := hf.conn()
			if err != nil {
				return err
			}
			conn, err := rollout.Dial(ctx, cc, log)
			if err != nil {
				return fmt.Errorf("keys rotate: nothing rotated: %w", err)
			}
			defer conn.Close()
			agents, err := conn.Agents(ctx, announce)
			if err != nil {
				return err
			}
			targets, err := rollout.Resolve(to, agents)
			if err != nil {
				return fmt.Errorf("keys rotate: nothing rotated: %w", err)
			}
			ht, err := rotateKeys(dir, retire, republish)
			if err != nil {
				return err
			}
			if len(ht.Chain) == 0 {
				return fmt.Errorf("keys rotate --republish: %s records no rotation yet", dir)
			}
			signer := signing.KeyID(ht.Signer)
			fmt.Fprintf(e.stderr, "trusted set %d: %s; signing key now %s\n", ht.Set.Serial, strings.Join(ht.Set.IDs(), " "), signer)
			want := rollout.KeyTarget{Serial: ht.Set.Serial, Keys: ht.Set.IDs(), Signer: signer}
			sts, err := conn.HandKeys(ctx, targets, ht.Chain, want, wait)
			if err != nil {
				return fmt.Errorf("keys rotate: the key directory is rotated; hand it to the agents with `keys rotate --republish`: %w", err)
			}
			return printKeyStatus(e, ht.Set, sts, asJSON)
		},
	}
}

// rotateKeys makes the rotation the flags ask for in dir.
func rotateKeys(dir string, retire, republish bool) (signing.HostTrust, error) {
	now := time.Now().UTC()
	switch {
	case republish:
		return signing.LoadHostTrust(dir)
	case retire:
		return signing.RetireHostKeys(dir, now)
	default:
		return signing.RotateHostKey(dir, now)
	}
}

// printKeyStatus prints each agent's trusted set; an agent that refused the
// rotation fails the command.
func printKeyStatus(e *env, set signing.TrustSet, sts []rollout.KeyStatus, asJSON bool) error {
	refused, pending := 0, 0
	for _, s := range sts {
		switch {
		case s.Applied:
		case s.Refused != "":
			refused++
		default:
			pending++
		}
	}
	if asJSON {
		if err := writeJSON(e.stdout, struct {
			Serial uint64              `json:"serial"`
			Keys   []string            `json:"keys"`
			Agents []rollout.KeyStatus `json:"agents"`
		}{set.Serial, set.IDs(), sts}); err != nil {
			return err
		}
	} else {
		for _, s := range sts {
			state := "applied"
			switch {
			case s.Applied:
			case s.Refused != "":
				state = "REFUSED: " + s.Refused
			default:
				state = fmt.Sprintf("pending (at serial %d; it is retained for when the agent connects)", s.Serial)
			}
			fmt.Fprintf(e.stdout, "%-20s %s\n", s.Agent, state)
		}
		fmt.Fprintf(e.stdout, "%d agents: %d applied set %d, %d pending, %d refused\n", len(sts), len(sts)-pending-refused, set.Serial, pending, refused)
	}
	if refused > 0 {
		return fmt.Errorf("keys rotate: %d agents refused the rotation", refused)
	}
	return nil
}

// warnUntrusted says which targets announce a trusted set without the key
// a deploy is signed with: they will refuse it until they get the rotation.
func warnUntrusted(e *env, targets []rollout.Agent, key ed25519.PrivateKey) {
	id := signing.KeyID(key.Public().(ed25519.PublicKey))
	for _, t := range targets {
		if t.Trust != nil && !slices.Contains(t.Trust.Keys, id) {
			fmt.Fprintf(e.stderr, "warning: %s trusts %s (set %d), not the signing key %s: it will refuse this deploy until it has the rotation (`edgenas keys rotate --republish`)\n",
				t.ID, strings.Join(t.Trust.Keys, " "), t.Trust.Serial, id)
		}
	}
}
