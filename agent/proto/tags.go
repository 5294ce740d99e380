package proto

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MaxTags bounds the tags an agent may report: they travel in every info
// message and are matched against every lease and deploy target.
const MaxTags = 16

// tagRE is the syntax of a tag key and of a tag value: the id syntax, so a
// tag can be written on a command line and in a target without quoting.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidTags checks a tag set: at most MaxTags, each key and value 1-64
// characters of [A-Za-z0-9_.-] starting with a letter or digit.
func ValidTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%d tags, at most %d", len(tags), MaxTags)
	}
	for _, k := range sortedKeys(tags) {
		if err := validTag(k, tags[k]); err != nil {
			return err
		}
	}
	return nil
}

func validTag(k, v string) error {
	if !tagRE.MatchString(k) {
		return fmt.Errorf("tag key %.80q: want 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit", k)
	}
	if !tagRE.MatchString(v) {
		return fmt.Errorf("tag %s: value %.80q: want 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit", k, v)
	}
	return nil
}

// ParseTag parses one KEY=VALUE tag as given on a command line or in a
// tag:KEY=VALUE deploy target.
func ParseTag(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("tag %.80q: want KEY=VALUE", s)
	}
	if err := validTag(k, v); err != nil {
		return "", "", err
	}
	return k, v, nil
}

// AddTag parses KEY=VALUE into tags (allocating it if nil), refusing a
// repeated key and more than MaxTags; it is what a repeatable --tag flag calls.
func AddTag(tags *map[string]string, s string) error {
	k, v, err := ParseTag(s)
	if err != nil {
		return err
	}
	if *tags == nil {
		*tags = map[string]string{}
	}
	if old, ok := (*tags)[k]; ok {
		return fmt.Errorf("tag %s given twice (%s and %s)", k, old, v)
	}
	if len(*tags) >= MaxTags {
		return fmt.Errorf("tag %s: more than %d tags", k, MaxTags)
	}
	(*tags)[k] = v
	return nil
}

// HasTags reports whether have carries every tag in want with the same value
// (an empty want matches everything).
func HasTags(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// FormatTags renders tags as sorted KEY=VALUE pairs joined by commas, for
// tables and logs.
func FormatTags(tags map[string]string) string {
	parts := make([]string, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
