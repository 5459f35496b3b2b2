// Package idptest owns the end-to-end harness: a real Twofold server (real
// storage, provider, hosted pages) on a loopback httptest server, a fake
// clock, and a scripted browser that fills the hosted forms by their ids.
package idptest
