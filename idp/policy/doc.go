// Package policy owns the step-up policy model: the named policies an
// administrator configures and, later, the pure decision of what a login must
// still prove. It imports no other project package.
package policy
