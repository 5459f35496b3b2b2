package demo

import (
	"crypto/rand"
	"sync"
	"time"
)

const (
	// sessionLifetime is how long the demo remembers a sign-in.
	sessionLifetime = 12 * time.Hour
	// maxSessions bounds the in-memory store; the oldest sign-in is forgotten first.
	maxSessions = 10000
)

// session is one browser's sign-in to the demo. The demo keeps it in memory (it is a demo: a restart signs
// everyone out of it, not out of Twofold): ID and access tokens together do not fit in one cookie.
type session struct {
	id          string
	created     time.Time
	claims      idClaims
	idToken     string
	accessToken string
	request     loginRequest // what the sign-in asked Twofold for
	signOut     string       // the secret in this session's sign-out link, so another site cannot sign it out
	api         *apiResult   // the last call to the protected API, if any
}

// sessionStore holds the sessions by their random id.
type sessionStore struct {
	now func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessionStore(now func() time.Time) *sessionStore {
	return &sessionStore{now: now, byID: make(map[string]*session)}
}

// create stores a new session for the given sign-in and returns its id.
func (st *sessionStore) create(s session) string {
	now := st.now()
	s.id = rand.Text()
	s.created = now
	s.signOut = rand.Text()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.evictLocked(now)
	st.byID[s.id] = &s
	return s.id
}

// get returns a copy of the session, or false when it is unknown or too old.
func (st *sessionStore) get(id string) (session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byID[id]
	if !ok {
		return session{}, false
	}
	if st.now().Sub(s.created) > sessionLifetime {
		delete(st.byID, id)
		return session{}, false
	}
	return *s, true
}

// setAPIResult records the last call to the protected API.
func (st *sessionStore) setAPIResult(id string, res *apiResult) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.byID[id]; ok {
		s.api = res
	}
}

func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.byID, id)
}

// evictLocked drops expired sessions and, when the store is full, the oldest one.
func (st *sessionStore) evictLocked(now time.Time) {
	if len(st.byID) < maxSessions {
		return
	}
	var oldest *session
	for id, s := range st.byID {
		if now.Sub(s.created) > sessionLifetime {
			delete(st.byID, id)
			continue
		}
		if oldest == nil || s.created.Before(oldest.created) {
			oldest = s
		}
	}
	if len(st.byID) >= maxSessions && oldest != nil {
		delete(st.byID, oldest.id)
	}
}
