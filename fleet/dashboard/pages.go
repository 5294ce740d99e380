package dashboard

import (
	"errors"
	"net/http"
	"os"
	"sort"
	"strings"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
)

// classSummary is one row of the fleet page's per-class tally.
type classSummary struct {
	Class         string
	Online, Total int
}

func (d *Dashboard) fleetPage(w http.ResponseWriter, r *http.Request) {
	devs := d.cfg.Devices.List()
	var classes []classSummary
	for _, dv := range devs {
		if len(classes) == 0 || classes[len(classes)-1].Class != dv.Class {
			classes = append(classes, classSummary{Class: dv.Class})
		}
		c := &classes[len(classes)-1]
		c.Total++
		if dv.Online() {
			c.Online++
		}
	}
	d.render(w, r, "fleet", "Fleet", map[string]any{"Devices": devs, "Classes": classes, "Dropped": d.cfg.Devices.Dropped()})
}

func (d *Dashboard) devicePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := proto.ValidID(id); err != nil {
		d.fail(w, http.StatusBadRequest, "device id %q: %v", id, err)
		return
	}
	dv, ok := d.cfg.Devices.Get(id)
	if !ok {
		d.fail(w, http.StatusNotFound, "no device %q has announced itself", id)
		return
	}
	entries, err := d.deviceEntries(id)
	if err != nil {
		d.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	d.render(w, r, "device", "Device "+id, map[string]any{"Device": dv, "Entries": entries, "LUT": d.cfg.LUT})
}

// rolloutRow is a rollout with its tallies.
type rolloutRow struct {
	*rollout.Rollout
	Counts rollout.Counts
}

func (d *Dashboard) rolloutsPage(w http.ResponseWriter, r *http.Request) {
	if d.cfg.Rollouts == nil {
		d.render(w, r, "rollouts", "Rollouts", map[string]any{})
		return
	}
	all, err := d.cfg.Rollouts.List()
	if err != nil {
		d.fail(w, http.StatusInternalServerError, "rollouts: %v", err)
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Created.After(all[j].Created) })
	rows := make([]rolloutRow, len(all))
	for i, ro := range all {
		rows[i] = rolloutRow{Rollout: ro, Counts: ro.Counts()}
	}
	d.render(w, r, "rollouts", "Rollouts", map[string]any{"Rollouts": rows})
}

func (d *Dashboard) loadRollout(w http.ResponseWriter, id string) *rollout.Rollout {
	if err := proto.ValidJobID(id); err != nil {
		d.fail(w, http.StatusBadRequest, "rollout id %q: %v", id, err)
		return nil
	}
	if d.cfg.Rollouts == nil {
		d.fail(w, http.StatusNotFound, "this serve has no rollout store")
		return nil
	}
	ro, err := d.cfg.Rollouts.Load(id)
	if errors.Is(err, os.ErrNotExist) {
		d.fail(w, http.StatusNotFound, "no rollout %q", id)
		return nil
	}
	if err != nil {
		d.fail(w, http.StatusInternalServerError, "rollout %s: %v", id, err)
		return nil
	}
	return ro
}

func (d *Dashboard) rolloutPage(w http.ResponseWriter, r *http.Request) {
	ro := d.loadRollout(w, r.PathValue("id"))
	if ro == nil {
		return
	}
	ended := ro.Phase == rollout.PhaseDone || ro.Phase == rollout.PhaseAborted
	d.render(w, r, "rollout", "Rollout "+ro.ID, map[string]any{"R": rolloutRow{Rollout: ro, Counts: ro.Counts()},
		"CanAbort": d.cfg.Abort != nil && !ended, "Notice": r.URL.Query().Get("notice")})
}

// maxReason bounds an operator's abort reason.
const maxReason = 200

// abort stops a rollout: logged-in session, CSRF token, then serve's abort.
func (d *Dashboard) abort(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.authorized(w, r); !ok {
		return
	}
	ro := d.loadRollout(w, r.PathValue("id"))
	if ro == nil {
		return
	}
	if d.cfg.Abort == nil {
		d.fail(w, http.StatusNotImplemented, "this serve cannot abort rollouts")
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	if reason == "" {
		reason = "no reason given"
	}
	if err := d.cfg.Abort(ro.ID, reason); err != nil {
		d.fail(w, http.StatusConflict, "abort %s: %v", ro.ID, err)
		return
	}
	d.log.Warn("dashboard: rollout aborted by operator", "rollout", ro.ID, "reason", reason, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/rollouts/"+ro.ID+"?notice=abort+requested", http.StatusSeeOther)
}
