package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

const (
	sessionCookie = "edgenas_session"
	sessionTTL    = 12 * time.Hour
	// maxSessions bounds the logins kept; the oldest goes first.
	maxSessions = 256
	// maxForm bounds a form body (login, abort).
	maxForm = 16 << 10
)

type session struct {
	id, csrf string
	expires  time.Time
}

// sessions are the logged-in browsers, in memory: a restarted serve asks
// for the credential again.
type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *sessions) create() *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, id)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest *session
		for _, v := range s.m {
			if oldest == nil || v.expires.Before(oldest.expires) {
				oldest = v
			}
		}
		delete(s.m, oldest.id)
	}
	v := &session{id: token(), csrf: token(), expires: now.Add(sessionTTL)}
	s.m[v.id] = v
	return v
}

// get returns the request's live session, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[c.Value]
	if v == nil || s.now().After(v.expires) {
		return nil
	}
	return v
}

func (s *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "login", "Log in", map[string]string{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a redirect target on this site.
func safeNext(next string) string {
	if len(next) < 1 || next[0] != '/' || (len(next) > 1 && (next[1] == '/' || next[1] == '\\')) {
		return "/"
	}
	return next
}

// login checks the host credential and starts a session.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.fail(w, http.StatusBadRequest, "login: bad form: %v", err)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	pw := r.PostForm.Get("password")
	if d.cfg.Password == "" || subtle.ConstantTimeCompare([]byte(pw), []byte(d.cfg.Password)) != 1 {
		d.log.Warn("dashboard: login refused", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		msg := "wrong host credential"
		if d.cfg.Password == "" {
			msg = "this serve has no host credential (start it with EDGENAS_HOST_PASSWORD): logins are off"
		}
		d.render(w, r, "login", "Log in", map[string]string{"Next": next, "Error": msg})
		return
	}
	s := d.sessions.create()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true, Secure: d.cfg.SecureCookies,
		SameSite: http.SameSiteStrictMode, Expires: s.expires})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.authorized(w, r); ok {
		d.sessions.drop(r)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
}

// authorized checks a state-changing POST: a live session and its CSRF
// token in the form. It answers the request itself when not.
func (d *Dashboard) authorized(w http.ResponseWriter, r *http.Request) (*session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.fail(w, http.StatusBadRequest, "bad form: %v", err)
		return nil, false
	}
	s := d.sessions.get(r)
	if s == nil {
		d.fail(w, http.StatusUnauthorized, "log in with the host credential first (/login)")
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
		d.fail(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
		return nil, false
	}
	return s, true
}
