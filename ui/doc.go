// Package ui owns the hosted pages (html/template with embedded static assets) and the HTTP handlers, router and
// middleware that serve them by calling package idp.
package ui
