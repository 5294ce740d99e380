// Package dashboard is the web interface of `edgenas serve`: server-rendered
// pages (html/template, assets embedded, no CDN) on the fleet, the rollouts,
// the latency tables and the search runs, and the Prometheus metrics. Pages
// read without JavaScript; a small script refreshes them in place. The one
// action that changes state, aborting a rollout, needs a login with the host
// credential and a CSRF token.
package dashboard

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"edgenas/fleet/rollout"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// RolloutSource is where the rollout pages read from (fleet/rollout's Store).
type RolloutSource interface {
	List() ([]*rollout.Rollout, error)
	Load(id string) (*rollout.Rollout, error)
}

// Config is what the dashboard shows and how it authenticates.
type Config struct {
	// Devices is the fleet as serve observes it.
	Devices *Devices
	// Rollouts is the rollout store.
	Rollouts RolloutSource
	// Abort stops a running rollout by operator request; nil hides the action.
	Abort func(id, reason string) error
	// Password is the host credential the login checks; empty refuses every
	// login (and so every action).
	Password string
	// SecureCookies marks the session cookie Secure (serve over TLS).
	SecureCookies bool
	// LUT is a latency table (lut.Store SQLite file) opened read-only per
	// page; "" hides the page's content.
	LUT string
	// Validate is a `lut validate --out` directory whose scatter plot the
	// LUT page shows.
	Validate string
	// Runs is a directory of search run directories.
	Runs string
	// Metrics, if set, is exposed at /metrics.
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Dashboard serves the pages.
type Dashboard struct {
	cfg      Config
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessions
	luts     lutCache
}

var pageNames = []string{"fleet", "device", "rollouts", "rollout", "luts", "searches", "search", "login"}

// New parses the templates and returns the dashboard.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Devices == nil {
		cfg.Devices = NewDevices()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{cfg: cfg, log: log, pages: map[string]*template.Template{}, sessions: newSessions(cfg.Now)}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs(cfg.Now)).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		d.pages[name] = t
	}
	return d, nil
}

// Register adds the pages to mux under / (the fleet page), /devices/,
// /rollouts/, /luts, /searches/, /static/, /login and /metrics.
func (d *Dashboard) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", d.fleetPage)
	mux.HandleFunc("GET /devices/{id}", d.devicePage)
	mux.HandleFunc("GET /rollouts/{$}", d.rolloutsPage)
	mux.HandleFunc("GET /rollouts/{id}", d.rolloutPage)
	mux.HandleFunc("POST /rollouts/{id}/abort", d.abort)
	mux.HandleFunc("GET /luts", d.lutPage)
	mux.HandleFunc("GET /luts/scatter.png", d.scatter)
	mux.HandleFunc("GET /searches/{$}", d.searchesPage)
	mux.HandleFunc("GET /searches/{run}", d.searchPage)
	mux.HandleFunc("GET /searches/{run}/{file}", d.runFile)
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("POST /logout", d.logout)
	if d.cfg.Metrics != nil {
		mux.Handle("GET /metrics", d.cfg.Metrics.Handler())
	}
}

// page is what every template gets: the page's data plus the session.
type page struct {
	Title    string
	Nav      string
	LoggedIn bool
	CSRF     string
	Error    string
	Data     any
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	p := page{Title: title, Nav: name, Data: data}
	if s := d.sessions.get(r); s != nil {
		p.LoggedIn, p.CSRF = true, s.csrf
	}
	var buf bytes.Buffer
	if err := d.pages[name].Execute(&buf, p); err != nil {
		d.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(buf.Bytes())
}

func (d *Dashboard) fail(w http.ResponseWriter, status int, format string, a ...any) {
	http.Error(w, fmt.Sprintf(format, a...), status)
}

func funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return now().Sub(t).Round(time.Second).String() + " ago"
		},
		"ms": func(v float64) string {
			switch {
			case v == 0:
				return "–"
			case v < 1:
				return fmt.Sprintf("%.3f ms", v) // small models check in microseconds
			}
			return fmt.Sprintf("%.2f ms", v)
		},
		"pct": func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	}
}
