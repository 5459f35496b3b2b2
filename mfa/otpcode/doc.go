// Package otpcode owns the numeric one-time codes Twofold sends by email and
// SMS (NIST SP 800-63B §5.1.3 out-of-band secrets): it draws them from the
// CSPRNG, reads them back as people type them, and hashes them under a key
// so that only the keyed hash is stored. It imports no project package.
package otpcode
