// Package firmware puts the edgenas agent on phones and edge boards and
// keeps it updated: build (reproducible cross builds: cgo + XNNPACK for
// linux/arm64, pure Go for any target), bundle (signed, self-contained
// bundles with their shared libraries and loader), setup (first install
// into a directory, over adb or over ssh) and slots (A/B slots, the
// supervisor, and the agent-side installer of over-the-air updates). This
// package itself holds the end-to-end test that runs the cross-built arm64
// agent under qemu-user against a fleet host.
package firmware
