// Package apptest owns the whole-app test harness: a real Twofold server
// (real storage, services and hosted pages, built through the same wire.Build
// as `twofold serve`) on a loopback httptest server, a settable clock, and a
// scripted browser that fills the hosted forms by their ids. Test support
// only: nothing but tests imports it.
package apptest
