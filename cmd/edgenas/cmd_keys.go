package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"edgenas/internal/signing"
)

func keysCommand() *command {
	return &command{
		name:    "keys",
		summary: "the host's keys: the Ed25519 signing key agents trust for deploys, its rotation, the fleet CA and device certificates, password hashes",
		subs:    []*command{keysInitCommand(), keysShowCommand(), keysRotateCommand(), keysCACommand(), keysDeviceCommand(), keysPasswordCommand()},
	}
}

// keysFlags selects the key directory: --dir and --keys are synonyms.
type keysFlags struct{ dir string }

func (k *keysFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.dir, "dir", "", "key directory (default ~/.edgenas); holds host.key and host.pub")
	fs.StringVar(&k.dir, "keys", "", "same as --dir")
}

// path resolves the key directory, defaulting to ~/.edgenas.
func (k *keysFlags) path() (string, error) {
	if k.dir != "" {
		return k.dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --dir and no home directory: %w", err)
	}
	return filepath.Join(home, ".edgenas"), nil
}

func keysInitCommand() *command {
	var kf keysFlags
	var force, asJSON bool
	return &command{
		name:    "init",
		summary: "create the host signing key (host.key, mode 0600) and its public key (host.pub)",
		usage:   "[--dir DIR] [--force] [--json]",
		example: "edgenas keys init --dir ~/.edgenas\nscp ~/.edgenas/host.pub pi@device:   # then: edgenas agent --trust host.pub ...",
		flags: func(fs *flag.FlagSet) {
			kf.register(fs)
			fs.BoolVar(&force, "force", false, "replace an existing key (agents trusting the old one will refuse new deploys)")
			fs.BoolVar(&asJSON, "json", false, "print the key id and paths as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("keys init takes no arguments")
			}
			dir, err := kf.path()
			if err != nil {
				return err
			}
			pub, err := signing.GenerateKey(dir, force)
			if err != nil {
				return err
			}
			return printKey(e, dir, pub, asJSON)
		},
	}
}

func keysShowCommand() *command {
	var kf keysFlags
	var asJSON bool
	return &command{
		name:    "show",
		summary: "show the host's public key: its id, fingerprint and file to give agents",
		usage:   "[--dir DIR] [--json]",
		example: "edgenas keys show --json",
		flags: func(fs *flag.FlagSet) {
			kf.register(fs)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("keys show takes no arguments")
			}
			dir, err := kf.path()
			if err != nil {
				return err
			}
			key, err := signing.LoadPrivate(filepath.Join(dir, signing.PrivateFile))
			if err != nil {
				return fmt.Errorf("%w (create one with `edgenas keys init --dir %s`)", err, dir)
			}
			pub, err := signing.LoadPublic(filepath.Join(dir, signing.PublicFile))
			if err != nil {
				return err
			}
			if !pub.Equal(key.Public()) {
				return fmt.Errorf("%s does not match %s: agents given this public key would refuse every deploy; re-create it with `edgenas keys init --force`",
					filepath.Join(dir, signing.PublicFile), filepath.Join(dir, signing.PrivateFile))
			}
			return printKey(e, dir, pub, asJSON)
		},
	}
}

func printKey(e *env, dir string, pub []byte, asJSON bool) error {
	pubPath, privPath := filepath.Join(dir, signing.PublicFile), filepath.Join(dir, signing.PrivateFile)
	if asJSON {
		return writeJSON(e.stdout, struct {
			KeyID       string `json:"key_id"`
			Fingerprint string `json:"fingerprint"`
			Public      string `json:"public_key_file"`
			Private     string `json:"private_key_file"`
			PEM         string `json:"public_key_pem"`
		}{signing.KeyID(pub), signing.Fingerprint(pub), pubPath, privPath, string(signing.EncodePublic(pub))})
	}
	fmt.Fprintf(e.stdout, "key id       %s\nfingerprint  %s\npublic key   %s (give it to agents: edgenas agent --trust %s)\nprivate key  %s\n",
		signing.KeyID(pub), signing.Fingerprint(pub), pubPath, signing.PublicFile, privPath)
	return nil
}
