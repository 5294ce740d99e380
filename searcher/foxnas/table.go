package foxnas

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Table is a CSV file of sampled architectures: a header row naming the
// columns, then one row per architecture. Cells are parsed as numbers only
// when a column is asked for, so that unused text columns do no harm and a
// bad cell is reported with the column that needed it.
type Table struct {
	// Name identifies the source in error messages (usually the file path).
	Name    string
	Columns []string
	index   map[string]int
	rows    [][]string
}

// LoadCSV reads a table from a file.
func LoadCSV(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCSV(f, path)
}

// ReadCSV reads a table; name labels it in error messages.
func ReadCSV(r io.Reader, name string) (*Table, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file, want a header row", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &Table{Name: name, Columns: head, index: map[string]int{}}
	for i, h := range head {
		h = strings.TrimSpace(h)
		if h == "" {
			continue // the unnamed row-index column R and pandas write
		}
		if j, dup := t.index[h]; dup {
			return nil, fmt.Errorf("%s: column %q appears twice (fields %d and %d)", name, h, j+1, i+1)
		}
		t.index[h] = i
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t.rows = append(t.rows, rec)
	}
	if len(t.rows) == 0 {
		return nil, fmt.Errorf("%s: header but no data rows", name)
	}
	return t, nil
}

// Len is the number of data rows.
func (t *Table) Len() int { return len(t.rows) }

// Has reports whether the table has a column.
func (t *Table) Has(col string) bool { _, ok := t.index[col]; return ok }

// Column parses one column as numbers. A missing column or a cell that is not
// a finite number is an error naming the file, the line and the column.
func (t *Table) Column(col string) ([]float64, error) {
	j, ok := t.index[col]
	if !ok {
		return nil, fmt.Errorf("%s: no column %q (the file has %d columns: %s)", t.Name, col, len(t.Columns), abbreviate(t.Columns, 12))
	}
	out := make([]float64, len(t.rows))
	for i, rec := range t.rows {
		s := strings.TrimSpace(rec[j])
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v != v || v > maxFinite || v < -maxFinite {
			// Line i+2: the header is line 1.
			return nil, fmt.Errorf("%s: line %d column %q: %q is not a finite number", t.Name, i+2, col, rec[j])
		}
		out[i] = v
	}
	return out, nil
}

const maxFinite = 1.7976931348623157e308

func abbreviate(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(", ... (%d more)", len(s)-n)
}
