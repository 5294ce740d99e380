//go:build !linux

package evaluate

// legacySearchSeconds is unknown (0) where file creation times are not read.
func legacySearchSeconds(dir string) float64 { return 0 }
