// Package policy owns the step-up policy model: the named policies an
// administrator configures, the pure decision of what a login must still
// prove (Decide), and the same decision with every rule that shaped it
// (Explain). It imports no other project package.
package policy
