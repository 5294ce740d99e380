// Command edgenas designs ConvNets for phones and edge boards by measurement:
// it profiles devices into latency tables (locally or over a fleet of
// agents), searches architectures against them, trains, quantizes and times
// the int8 models, and rolls them out. It is the one CLI and only parses
// flags and prints: the work is done by the packages it calls.
//
// Usage: edgenas <command> [subcommand] [flags] [args]; edgenas help lists commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one CLI verb. Commands with subcommands set subs instead of run.
type command struct {
	name    string
	summary string
	usage   string // the argument synopsis after the command path
	example string
	// flags registers the command's flags; run executes with parsed flags and positional args.
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, env *env, args []string) error
	subs  []*command
}

// env is what a command may touch: its output streams.
type env struct {
	stdout, stderr io.Writer
}

// usageError marks a command-line mistake: it prints usage and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func commands() []*command {
	return []*command{
		modelCommand(),
		runCommand(),
		benchCommand(),
		spaceCommand(),
		profileCommand(),
		lutCommand(),
		brokerCommand(),
		agentCommand(),
		fleetCommand(),
		searchCommand(),
		trainCommand(),
		quantizeCommand(),
		evaluateCommand(),
		predictorsCommand(),
		demoCommand(),
		keysCommand(),
		deployCommand(),
		serveCommand(),
		firmwareCommand(),
		versionCommand(),
	}
}

func main() {
	ctx, stop := signalContext(context.Background())
	code := execute(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// signalContext is cancelled on SIGINT or SIGTERM, so every command shuts
// down through its context. The first signal also restores the default
// action, so a second one ends the process even while a step that cannot
// be interrupted (a single inference, a blocking system call) is running.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// execute runs the CLI and returns the process exit code.
func execute(ctx context.Context, e *env, args []string) int {
	root := &command{name: "edgenas", summary: "hardware-aware NAS for phones and edge boards, by measurement", subs: commands()}
	err := dispatch(ctx, e, root, nil, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "edgenas: %s\n", ue.msg)
		return 2
	}
	fmt.Fprintf(e.stderr, "edgenas: %v\n", err)
	return 1
}

func dispatch(ctx context.Context, e *env, c *command, path []string, args []string) error {
	path = append(path, c.name)
	if len(c.subs) > 0 {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			if len(args) > 1 && args[0] == "help" {
				return dispatch(ctx, e, c, path[:len(path)-1], append([]string{args[1], "--help"}, args[2:]...))
			}
			printGroupHelp(e.stdout, c, path)
			if len(args) == 0 {
				return usagef("%s needs a subcommand", strings.Join(path, " "))
			}
			return nil
		}
		for _, s := range c.subs {
			if s.name == args[0] {
				return dispatch(ctx, e, s, path, args[1:])
			}
		}
		return usagef("unknown command %q for %s (try '%s help')", args[0], strings.Join(path, " "), strings.Join(path, " "))
	}
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(e.stdout, c, path, fs)
		return flag.ErrHelp
	}
	if err != nil {
		return usagef("%s: %v (see '%s --help')", strings.Join(path, " "), err, strings.Join(path, " "))
	}
	return c.run(ctx, e, pos)
}

// parseInterspersed lets flags come after positional arguments
// ("edgenas model inspect m.tflite --json"), which the flag package alone does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func printGroupHelp(w io.Writer, c *command, path []string) {
	fmt.Fprintf(w, "%s: %s\n\nUsage: %s <command> [flags]\n\nCommands:\n", strings.Join(path, " "), c.summary, strings.Join(path, " "))
	subs := append([]*command(nil), c.subs...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	for _, s := range subs {
		fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags and an example.\n", strings.Join(path, " "))
}

func printCommandHelp(w io.Writer, c *command, path []string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s: %s\n\nUsage: %s %s\n", strings.Join(path, " "), c.summary, strings.Join(path, " "), c.usage)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(c.example), "\n", "\n  "))
	}
}
