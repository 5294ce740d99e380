package lut

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// yamlRecord is one top-level key of a published latency table with its
// numeric fields, in file order.
type yamlRecord struct {
	Key    string
	Line   int
	Fields map[string]float64
}

// readYAMLTable parses the subset of YAML the Once-for-All and ProxylessNAS
// tables use: top-level "key:" lines each followed by indented "name: number"
// lines. Anything else (lists, nested maps, flow style, anchors) is an error
// naming the line, so a file of another shape is not half-read.
func readYAMLTable(r io.Reader) ([]yamlRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []yamlRecord
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		raw := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(raw, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || raw == "---" {
			continue
		}
		if strings.HasPrefix(raw, "\t") {
			return nil, fmt.Errorf("yaml line %d: tab indentation", line)
		}
		if trimmed == raw { // top level
			if !strings.HasSuffix(raw, ":") {
				return nil, fmt.Errorf("yaml line %d: top-level line %q is not a \"key:\" line", line, raw)
			}
			key := unquoteYAML(strings.TrimSuffix(raw, ":"))
			if key == "" {
				return nil, fmt.Errorf("yaml line %d: empty key", line)
			}
			if prev, dup := seen[key]; dup {
				return nil, fmt.Errorf("yaml line %d: key %s already defined on line %d", line, key, prev)
			}
			seen[key] = line
			out = append(out, yamlRecord{Key: key, Line: line, Fields: map[string]float64{}})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("yaml line %d: indented line before any key", line)
		}
		name, val, ok := strings.Cut(trimmed, ":")
		if !ok || strings.TrimSpace(val) == "" {
			return nil, fmt.Errorf("yaml line %d: %q is not \"name: number\"", line, trimmed)
		}
		name = strings.TrimSpace(name)
		v, err := strconv.ParseFloat(unquoteYAML(strings.TrimSpace(val)), 64)
		if err != nil {
			return nil, fmt.Errorf("yaml line %d: field %s: %q is not a number", line, name, strings.TrimSpace(val))
		}
		rec := &out[len(out)-1]
		if _, dup := rec.Fields[name]; dup {
			return nil, fmt.Errorf("yaml line %d: field %s repeated in %s", line, name, rec.Key)
		}
		rec.Fields[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	return out, nil
}

func unquoteYAML(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}
