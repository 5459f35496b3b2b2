// Package adminapi is the admin JSON API at /api/admin/v1 and its OpenAPI
// 3.1 document: it authenticates bearer access tokens Twofold issued, turns
// HTTP into calls of the idp packages that own each operation, and their
// answers and errors back into JSON and application/problem+json.
package adminapi
