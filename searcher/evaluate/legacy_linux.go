package evaluate

import (
	"path/filepath"

	"golang.org/x/sys/unix"

	"edgenas/searcher/spnas"
)

// legacySearchSeconds estimates a legacy run's search cost from its files:
// the search log is created when the search starts and result.json is
// written when it ends. A search resumed after a crash rewrites its log, so
// only the last invocation counts; 0 when the filesystem keeps no creation
// time.
func legacySearchSeconds(dir string) float64 {
	var logSt, resSt unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, filepath.Join(dir, spnas.LogFile), 0, unix.STATX_BTIME, &logSt) != nil || logSt.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	if unix.Statx(unix.AT_FDCWD, filepath.Join(dir, spnas.ResultFile), 0, unix.STATX_MTIME, &resSt) != nil {
		return 0
	}
	s := float64(resSt.Mtime.Sec-logSt.Btime.Sec) + 1e-9*float64(int64(resSt.Mtime.Nsec)-int64(logSt.Btime.Nsec))
	return max(s, 0)
}
