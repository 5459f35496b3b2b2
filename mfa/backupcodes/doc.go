// Package backupcodes owns look-up secrets (NIST SP 800-63B §5.1.2):
// generating, normalising, hashing and comparing backup codes.
package backupcodes
