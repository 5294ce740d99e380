package foxnas

import (
	"strings"
	"testing"
)

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, csv, col, want string
	}{
		{"empty", "", "", "data.csv: empty file"},
		{"header only", "a,b\n", "", "header but no data rows"},
		{"duplicate", "a,b,a\n1,2,3\n", "", `column "a" appears twice (fields 1 and 3)`},
		{"ragged", "a,b\n1,2\n3\n", "", "wrong number of fields"},
		{"missing column", ",acc,tot_24\n0,72.8,2\n", "latency", `data.csv: no column "latency" (the file has 3 columns: , acc, tot_24)`},
		{"bad number", "acc,latency\n72.8,111\n73.2,fast\n", "latency", `data.csv: line 3 column "latency": "fast" is not a finite number`},
		{"nan", "acc\nNaN\n", "acc", `line 2 column "acc": "NaN" is not a finite number`},
	}
	for _, tc := range tests {
		tab, err := ReadCSV(strings.NewReader(tc.csv), "data.csv")
		if err == nil && tc.col != "" {
			_, err = tab.Column(tc.col)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestReadCSVColumns(t *testing.T) {
	tab, err := ReadCSV(strings.NewReader(",acc, latency,name\n0,72.8,111.5,x\n1,73.2, 142,y\n"), "d")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tab.Column("latency")
	if err != nil || len(got) != 2 || got[0] != 111.5 || got[1] != 142 {
		t.Errorf("latency = %v, %v", got, err)
	}
	if !tab.Has("acc") || tab.Has("") || tab.Len() != 2 {
		t.Errorf("Has/Len wrong")
	}
	// The design of a feature set names the term whose column is missing.
	fs := FeatureSet{Name: "fs", Target: "acc", Unit: "pp", Terms: []Term{{Name: "depth", Factors: []string{"tot_24"}}}}
	if _, _, err := fs.Design(tab); err == nil || !strings.Contains(err.Error(), `fs term depth: d: no column "tot_24"`) {
		t.Errorf("design err = %v", err)
	}
}
