package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgenas/fleet/broker"
	"edgenas/internal/atomicfile"
	"edgenas/internal/pki"
)

// caDir is the CA directory under the key directory.
func (k *keysFlags) caDir() (string, error) {
	dir, err := k.path()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ca"), nil
}

func keysCACommand() *command {
	var kf keysFlags
	var name string
	var force, asJSON bool
	caInit := &command{
		name:    "init",
		summary: "create the fleet CA (ca/ca.key mode 0600, ca/ca.crt) that issues device, host and broker certificates",
		usage:   "[--dir DIR] [--name NAME] [--force] [--json]",
		example: "edgenas keys ca init --dir ~/.edgenas",
		flags: func(fs *flag.FlagSet) {
			kf.register(fs)
			fs.StringVar(&name, "name", "edgenas fleet CA", "the CA's common name")
			fs.BoolVar(&force, "force", false, "replace an existing CA (every certificate it issued stops working)")
			fs.BoolVar(&asJSON, "json", false, "print the CA's paths and fingerprint as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("keys ca init takes no arguments")
			}
			dir, err := kf.caDir()
			if err != nil {
				return err
			}
			ca, err := pki.InitCA(dir, name, force)
			if err != nil {
				return err
			}
			out := struct {
				Cert        string    `json:"ca_cert"`
				Key         string    `json:"ca_key"`
				Fingerprint string    `json:"fingerprint"`
				NotAfter    time.Time `json:"not_after"`
			}{filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CAKeyFile), pki.Fingerprint(ca.Cert), ca.Cert.NotAfter}
			if asJSON {
				return writeJSON(e.stdout, out)
			}
			fmt.Fprintf(e.stdout, "CA certificate  %s (give it to the broker as --client-ca)\nCA key          %s (keep it on the host)\nfingerprint     %s\nvalid until     %s\n",
				out.Cert, out.Key, out.Fingerprint, out.NotAfter.Format(time.DateOnly))
			return nil
		},
	}
	return &command{name: "ca", summary: "the fleet's certificate authority", subs: []*command{caInit}}
}

func keysDeviceCommand() *command {
	var kf keysFlags
	var id, role, outDir string
	var hosts stringList
	var validity time.Duration
	var asJSON bool
	issue := &command{
		name:    "issue",
		summary: "issue a key and certificate: a device (its agent id), a host account, or a broker (--role server)",
		usage:   "--id ID [--role agent|host|server] [--host NAME_OR_IP]... [--out DIR] [--dir KEYDIR] [--valid D] [--json]",
		example: "edgenas keys device issue --id pixel7-01 --out ./pixel7-01       # then copy the three files to the device\n" +
			"edgenas keys device issue --id host --role host\n" +
			"edgenas keys device issue --id broker --role server --host 192.168.1.10 --host broker.lan",
		flags: func(fs *flag.FlagSet) {
			kf.register(fs)
			fs.StringVar(&id, "id", "", "agent id, host account or broker name (the certificate's common name)")
			fs.StringVar(&role, "role", string(pki.RoleAgent), "agent, host or server")
			fs.Var(&hosts, "host", "DNS name or IP address clients dial (server certificates; repeatable)")
			fs.StringVar(&outDir, "out", "", "directory for ID.crt, ID.key and ca.crt (default KEYDIR/ID)")
			fs.DurationVar(&validity, "valid", pki.CertValidity, "how long the certificate is valid")
			fs.BoolVar(&asJSON, "json", false, "print the paths and fingerprint as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usagef("keys device issue takes no arguments")
			}
			if id == "" {
				return usagef("keys device issue needs --id")
			}
			if validity <= 0 {
				return usagef("--valid must be positive")
			}
			dir, err := kf.caDir()
			if err != nil {
				return err
			}
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			is, err := ca.Issue(pki.Request{Name: id, Role: pki.Role(role), Hosts: hosts, Validity: validity})
			if err != nil {
				return usagef("%v", err)
			}
			if outDir == "" {
				outDir = filepath.Join(filepath.Dir(dir), id)
			}
			cert, key, caCert, err := ca.WriteBundle(outDir, is)
			if err != nil {
				return err
			}
			out := struct {
				ID          string    `json:"id"`
				Role        string    `json:"role"`
				Cert        string    `json:"cert"`
				Key         string    `json:"key"`
				CA          string    `json:"ca_cert"`
				Fingerprint string    `json:"fingerprint"`
				NotAfter    time.Time `json:"not_after"`
			}{id, role, cert, key, caCert, pki.Fingerprint(is.Cert), is.Cert.NotAfter}
			if asJSON {
				return writeJSON(e.stdout, out)
			}
			fmt.Fprintf(e.stdout, "%s certificate for %q\ncert         %s\nkey          %s (mode 0600; install it only on that %s)\nCA           %s\nfingerprint  %s\nvalid until  %s\n",
				role, id, cert, key, role, caCert, out.Fingerprint, out.NotAfter.Format(time.DateOnly))
			return nil
		},
	}
	return &command{name: "device", summary: "device, host and broker certificates signed by the fleet CA", subs: []*command{issue}}
}

func keysPasswordCommand() *command {
	var usersFile, name, role string
	return &command{
		name:    "password",
		summary: "add or replace a password account in a broker users file, stored as a bcrypt hash (password from stdin or $EDGENAS_PASSWORD)",
		usage:   "--users FILE --name NAME [--role agent|host]  < password",
		example: "printf '%s' \"$PW\" | edgenas keys password --users broker.users --name pixel7-01\nedgenas broker --users broker.users",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&usersFile, "users", "", "users file to update (created if missing)")
			fs.StringVar(&name, "name", "", "account name (an agent's is its id)")
			fs.StringVar(&role, "role", string(broker.RoleAgent), "agent or host")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 || usersFile == "" || name == "" {
				return usagef("keys password needs --users and --name and takes no arguments")
			}
			pw := os.Getenv("EDGENAS_PASSWORD")
			if pw == "" {
				line, err := bufio.NewReader(io.LimitReader(os.Stdin, maxSecretFile)).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("read the password from stdin: %w", err)
				}
				pw = strings.TrimRight(line, "\r\n")
			}
			if pw == "" {
				return usagef("no password: pipe it on stdin or set EDGENAS_PASSWORD")
			}
			return addUser(usersFile, broker.User{Name: name, Password: pw, Role: broker.Role(role)}, e)
		},
	}
}

// addUser hashes u's password into the users file, replacing any account of that name.
func addUser(path string, u broker.User, e *env) error {
	var users []broker.User
	if _, err := os.Stat(path); err == nil {
		if users, err = broker.LoadUsers(path); err != nil {
			return err
		}
	}
	hash, err := broker.HashPassword(u.Password)
	if err != nil {
		return err
	}
	u.Password, u.Hash = "", hash
	var lines []string
	replaced := false
	for _, o := range users {
		if o.Name == u.Name {
			o, replaced = u, true
		}
		lines = append(lines, broker.FormatUser(o))
	}
	if !replaced {
		lines = append(lines, broker.FormatUser(u))
	}
	text := "# edgenas broker accounts: ROLE NAME BCRYPT-HASH\n" + strings.Join(lines, "\n") + "\n"
	// Validate what is about to be written with the same parser the broker uses.
	if _, err := broker.ParseUsers(strings.NewReader(text)); err != nil {
		return err
	}
	if err := atomicfile.WritePrivate(path, []byte(text)); err != nil {
		return err
	}
	verb := "added"
	if replaced {
		verb = "replaced"
	}
	fmt.Fprintf(e.stdout, "%s %s account %q in %s (bcrypt hash)\n", verb, u.Role, u.Name, path)
	return nil
}
