// Package ident owns the syntax of the identifiers that several packages
// exchange as plain strings: sha256 content digests (manifests, bundle file
// lists, artifact URLs) and GOOS/GOARCH build targets. It is a leaf, so the
// protocol, the firmware builder and the rollout server all check them the
// same way without importing each other.
package ident

import (
	"fmt"
	"regexp"
)

var (
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	targetRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)
)

// IsSHA256 reports whether s is a sha256 digest as edgenas writes it: 64
// lower-case hex digits. Artifacts are stored and served under that name, so
// one spelling per digest keeps a path from aliasing another.
func IsSHA256(s string) bool { return sha256RE.MatchString(s) }

// CheckSHA256 is IsSHA256 as an error that quotes s.
func CheckSHA256(s string) error {
	if !IsSHA256(s) {
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", s)
	}
	return nil
}

// CheckTarget checks a GOOS/GOARCH pair such as linux/arm64: two lower-case
// alphanumeric words, which is all Go's own targets use.
func CheckTarget(s string) error {
	if !targetRE.MatchString(s) {
		return fmt.Errorf("target %q: want GOOS/GOARCH such as linux/arm64", s)
	}
	return nil
}
