// Package phc owns the argon2id PHC string format
// ("$argon2id$v=19$m=…,t=…,p=…$salt$hash"): writing it and parsing it
// strictly, while the bounds on costs and lengths stay with each caller.
package phc
