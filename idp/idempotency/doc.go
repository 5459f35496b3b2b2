// Package idempotency makes creates safe to retry: a request carrying a
// client-supplied key runs once, and a retry with the same key and the same
// request gets the first response again (draft-ietf-httpapi-idempotency-key-header).
package idempotency
