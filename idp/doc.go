// Package idp is the authorization server: accounts, clients and policies as
// services over storage, the login flow, sessions, signing keys, claims and
// the admin API. HTTP rendering lives in package ui; storage details live in
// package storage.
package idp
