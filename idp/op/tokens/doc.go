// Package tokens redeems grants — authorization codes (single use),
// rotating refresh tokens (a replay revokes the family), client
// credentials — and mints what they give: RFC 9068 access tokens (or
// opaque ones), ID tokens and refresh tokens.
package tokens
