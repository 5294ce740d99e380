package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"edgenas/agent/proto"
)

// ErrUnreachable marks a download that kept failing in ways waiting can fix
// (no connection, a 5xx, a cut transfer): the host may be restarting or the
// device offline. RunPatient keeps trying; such a failure is never a reason
// to roll an install back.
var ErrUnreachable = errors.New("artifact unreachable")

// maxUnreachableWait caps the pause between rounds of attempts at an
// unreachable artifact, so a device that has waited long still notices a
// returning host within a minute.
const maxUnreachableWait = time.Minute

// RunPatient runs the download in rounds of Attempts tries; while it fails
// with ErrUnreachable it waits (starting at five times Backoff, doubling up
// to a minute) and tries again, until it succeeds, fails for a reason
// waiting cannot fix (the artifact does not match the manifest, a 4xx), or
// ctx ends. wait, if set, is told each failure and the pause that follows,
// so the device can say why it is still downloading.
func (d *Download) RunPatient(ctx context.Context, wait func(err error, next time.Duration)) error {
	pause := 5 * d.Backoff
	if pause <= 0 {
		pause = time.Second
	}
	for {
		err := d.Run(ctx)
		if err == nil || ctx.Err() != nil || !errors.Is(err, ErrUnreachable) {
			return err
		}
		if wait != nil {
			wait(err, pause)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, maxUnreachableWait)
	}
}

// ErrWithdrawn marks a download given up because the host withdrew the
// deploy (cleared the retained message, or replaced it with a newer
// version): the install ends as proto.InstallCancelled.
var ErrWithdrawn = errors.New("deploy withdrawn by the host")

// Download runs d patiently (RunPatient, reporting each retry) until it
// succeeds, fails for good, ctx ends, or the host withdraws the task's
// deploy; the last returns an error wrapping ErrWithdrawn with the reason.
// Only the download is cut short: once the artifact is here the install
// runs to its end, so a withdrawal never interrupts a health check or a
// commit.
func (t *Task) Download(ctx context.Context, d *Download) error {
	dctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if t.withdrawn != nil {
		unhook := context.AfterFunc(t.withdrawn, func() { stop(context.Cause(t.withdrawn)) })
		defer unhook()
	}
	err := d.RunPatient(dctx, ReportRetries(t))
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(dctx); errors.Is(cause, ErrWithdrawn) {
			return cause
		}
	}
	return err
}

// ReportRetries is the wait function of RunPatient for an install: each
// pause is reported as `downloading` with the reason, so the host sees why
// the device has not finished.
func ReportRetries(t *Task) func(err error, next time.Duration) {
	return func(err error, next time.Duration) {
		t.Report(proto.InstallDownloading, func(r *proto.Install) { r.Reason = fmt.Sprintf("%v; retrying in %s", err, next) })
	}
}
