// Package backupcodes owns look-up secrets (NIST SP 800-63B §5.1.2):
// generating, normalising, tagging, hashing and comparing backup codes. It
// has no storage: the caller keeps each code's tag and hash and consumes a
// code with one conditional statement.
package backupcodes
